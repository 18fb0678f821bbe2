"""What the server embeds with: an `EmbeddingBackend` (a callable plus facts), e.g. an export's SavedModels.

`load_export_backend(path)` loads the `sentence_encoder` SavedModel of a tf_simcse export (strings ->
L2-normalized embeddings, the `Encoder.encode` embedding normalized), with `tf.io.gfile` paths (local, gs://...).
Any other model can be served by the same app through an `EmbeddingBackend` of its own (the load benchmark serves
sentence-transformers this way).
"""

import dataclasses
import os
import typing

import numpy as np

from tf_simcse import features
from tf_simcse.errors import UserInputError


@dataclasses.dataclass(frozen=True)
class EmbeddingBackend:
    """A model the server can call.

    Attributes:
        embed: `embed(list[str]) -> float32 [n, dim]`; called from one worker thread, one call at a time.
        name: the model's name, shown by `/healthz`.
        dim: the embedding size.
        max_seq_length: tokens per sentence incl. special tokens (longer sentences are truncated), or None.
        normalized: whether `embed` returns L2-normalized rows; if not, the server normalizes them itself for
            cosines and `"normalize": true`, and also serves `"normalize": false`.
        path: where the model was loaded from (or None).
    """

    embed: typing.Callable[[list], np.ndarray]
    name: str
    dim: int
    max_seq_length: int | None = None
    normalized: bool = False
    path: str | None = None


def resolve_export_dir(model):
    """The export directory `--model` means: an export, a training output dir (its `export/`), or one SavedModel
    of an export (its parent). Paths go through `tf.io.gfile`."""
    import tensorflow as tf

    from tf_simcse.exporting import EXPORT_CONFIG_FILE

    model = str(model)
    path = model.rstrip("/") or model
    if "://" not in path:
        path = os.path.expanduser(path)
    if not tf.io.gfile.exists(path):
        raise FileNotFoundError(f"--model {model}: no such directory.")
    for candidate in (path, f"{path}/export"):
        if tf.io.gfile.exists(f"{candidate}/{EXPORT_CONFIG_FILE}"):
            return candidate
    parent = path.rsplit("/", 1)[0] if "/" in path else "."
    if tf.io.gfile.exists(f"{path}/saved_model.pb") and tf.io.gfile.exists(f"{parent}/{EXPORT_CONFIG_FILE}"):
        return parent
    raise UserInputError(
        f"--model {model}: not a tf_simcse export (no {EXPORT_CONFIG_FILE}) nor a training output directory "
        f"with one in export/. Export the model first: python -m tf_simcse.export --model {model} --output DIR"
    )


def load_export_backend(model, *, raw_embeddings=False):
    """An `EmbeddingBackend` over a tf_simcse export (see `resolve_export_dir` for what `model` may be).

    Args:
        model: the export (or training output) directory.
        raw_embeddings: run the export's `preprocessor` + `encoder` SavedModels instead of `sentence_encoder`,
            so that the embeddings are `Encoder.encode`'s un-normalized ones (`"normalize": false` becomes
            available; normalized results equal `sentence_encoder`'s up to float32 rounding).
    """
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (registers the tokenizer ops the SavedModels use)

    from tf_simcse.exporting import read_export_config

    export_dir = resolve_export_dir(model)
    info = read_export_config(export_dir)
    if raw_embeddings:
        preprocessor = tf.saved_model.load(f"{export_dir}/preprocessor")
        encoder = tf.saved_model.load(f"{export_dir}/encoder")

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def call(sentences):
            packed = preprocessor(sentences)  # padded to the export's seq_length: cut to the longest row
            length = tf.reduce_max(tf.reduce_sum(packed[features.MASK], axis=1))
            return encoder({k: v[:, :length] for k, v in packed.items()}, training=False)["default"]

    else:
        sentence_encoder = tf.saved_model.load(f"{export_dir}/sentence_encoder")
        call = sentence_encoder.__call__

    def embed(sentences):
        return call(tf.constant(sentences, dtype=tf.string)).numpy()

    dim = int(info["hidden_dim"])
    warm = embed(["warm-up"])  # the first call is slow (kernels, thread pools): take it before serving
    if warm.shape != (1, dim):
        raise UserInputError(f"{export_dir}: the model returned shape {warm.shape}, expected (1, {dim}).")
    return EmbeddingBackend(
        embed=embed,
        name=_model_name(export_dir, info),
        dim=dim,
        max_seq_length=int(info["seq_length"]),
        normalized=not raw_embeddings,
        path=export_dir,
    )


def _model_name(export_dir, info):
    """The model card's title, else the export directory's name (a training run's: `<run>/export` -> `<run>`)."""
    name = (info.get("model_card") or {}).get("name") or info.get("name") or os.path.basename(export_dir)
    parent = os.path.basename(os.path.dirname(export_dir.rstrip("/")))
    return parent if name == "export" and parent else str(name)
