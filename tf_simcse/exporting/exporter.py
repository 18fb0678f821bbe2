"""`export_model`: an `Encoder` -> the export directory (the way back, `load_exported_encoder`, is
`tf_simcse.encoders.exported`: loading a model never imports the exporting code).

The directory's layout and its names are those of `tf_simcse.encoders.exported`.

The export directory is written next to its final place under a temporary name (`.<name>.tmp-*`) and renamed into
place at the end, so a failed export (a full disk included) never leaves a half-written directory, and an earlier
export at the same path stays intact until the new one is complete.

Any TensorFlow filesystem works (`gs://`, `s3://` / `hdfs://` with tensorflow-io, `ram://`; see
`tf_simcse.fileio`). The final rename is atomic on a local disk only. On object stores (gs://, s3://) a rename is
a copy of every object, so there the guarantee is: the new export is complete before the earlier one is touched,
its marker files (`tf_simcse_export.json`, README.md) are copied last, and a swap that fails restores the earlier
export; but a reader listing the directory during the swap may see it partly copied, and a process killed during
the swap can leave the earlier export under `.<name>.old-*` and the new one under `.<name>.tmp-*`.
"""

import contextlib
import errno

import keras
import numpy as np
import tensorflow as tf

from tf_simcse import fileio
from tf_simcse.encoders.exported import (
    ENCODER_DIR,
    EXPORT_CONFIG_FILE,
    FORMAT,
    FORMAT_VERSION,
    KERAS_HUB_DIR,
    PREPROCESSOR_DIR,
    PREPROCESSOR_FILES_DIR,
    SENTENCE_ENCODER_DIR,
    is_export_dir,
)
from tf_simcse.errors import DiskFullError, UserInputError, is_disk_full
from tf_simcse.exporting import model_card as model_card_lib
from tf_simcse.exporting.encoder_module import EncoderModule
from tf_simcse.exporting.preprocessor_module import PreprocessorModule
from tf_simcse.exporting.sentence_encoder_module import SentenceEncoderModule



def export_model(encoder, output_dir, *, seq_length=None, model_card=None):
    """Exports `encoder` as TF Hub-style SavedModels plus a model card; returns the export directory.

    Args:
        encoder: a `tf_simcse.encoders.encoder.Encoder` with a `preprocessor` (as `Encoder.from_pretrained`
            builds it). It may have been trained under a mixed-precision policy or a distribution strategy: the
            export is a float32 single-device copy of its weights. Call this outside any strategy scope.
        output_dir: the export directory to create, on any TensorFlow filesystem. An earlier export there is
            replaced (see the module docstring for what "atomically" means where); any other existing non-empty
            directory, or a file, is refused.
        seq_length: the preprocessor's default packed length; default: the encoder's `max_seq_length`.
        model_card: facts for README.md, a dict with keys from `tf_simcse.exporting.model_card.MODEL_CARD_KEYS`
            (`training_model_card(run_dir)` builds it for a training run).

    Returns:
        The export directory, a string (an absolute local path, or the URL).

    Raises:
        tf_simcse.errors.DiskFullError: the disk filled up while writing; the partial export was removed and an
            earlier export at `output_dir` is unchanged.
    """
    from tf_simcse.preprocessing import TextPreprocessor

    output_dir = fileio.absolute(output_dir)
    card = model_card_lib.check_model_card(model_card)
    if encoder.preprocessor is None:
        raise ValueError("export_model needs an Encoder with a preprocessor (build it with Encoder.from_pretrained).")
    if tf.distribute.has_strategy():
        # The float32 copy would get distributed variables; an encoder trained under a strategy exports fine
        # from outside its scope.
        raise ValueError(
            f"call export_model outside the {type(tf.distribute.get_strategy()).__name__} scope "
            "(the encoder's weights are copied into a fresh single-device model)."
        )
    seq_length = _check_seq_length(encoder, encoder.max_seq_length if seq_length is None else seq_length)
    if fileio.exists(output_dir) and not fileio.isdir(output_dir):
        raise FileExistsError(
            errno.EEXIST, "is a file; --output names the export directory to write (a new or an earlier export)",
            output_dir,
        )
    if fileio.exists(output_dir) and not is_export_dir(output_dir) and fileio.listdir(output_dir):
        raise UserInputError(f"--output {output_dir} exists and is not a tf_simcse export; choose a new directory.")

    fileio.makedirs(fileio.dirname(output_dir))
    staging = fileio.temp_sibling(output_dir, "tmp")
    try:
        fileio.makedirs(staging)
        exported = float32_copy(encoder)
        files_dir = fileio.join(staging, PREPROCESSOR_FILES_DIR)
        encoder.preprocessor.save(files_dir)
        # Rebuilt from the written files, so that the vocabulary asset is the export's own copy.
        static = TextPreprocessor.load(files_dir, seq_length=seq_length, dynamic=False)
        dynamic = TextPreprocessor.load(files_dir, seq_length=seq_length, dynamic=True)

        preprocessor_module = PreprocessorModule(static)
        tf.saved_model.save(
            preprocessor_module,
            fileio.join(staging, PREPROCESSOR_DIR),
            signatures={"serving_default": preprocessor_module.__call__.get_concrete_function()},
        )
        with _float32_policy():  # the view models EncoderModule builds, like the copy, compute in float32
            encoder_module = EncoderModule(exported)
        tf.saved_model.save(
            encoder_module,
            fileio.join(staging, ENCODER_DIR),
            signatures={"serving_default": encoder_module.serve.get_concrete_function()},
        )
        sentence_module = SentenceEncoderModule(exported, dynamic)
        tf.saved_model.save(
            sentence_module,
            fileio.join(staging, SENTENCE_ENCODER_DIR),
            signatures={"serving_default": sentence_module.serve.get_concrete_function()},
        )

        # The same float32 model as a keras-hub preset (keras_hub.models.TextEmbedder.from_preset), with the
        # preprocessor of the SavedModels' files (its default: dynamic padding, as Encoder.encode).
        exported.preprocessor = dynamic
        with _float32_policy():  # the task's own layers, like the copy's, in float32
            exported.save_pretrained(fileio.join(staging, KERAS_HUB_DIR))

        info = _export_info(exported, static, seq_length, fileio.basename(output_dir), card)
        fileio.write_json(fileio.join(staging, EXPORT_CONFIG_FILE), info)
        # The card's example runs the written sentence_encoder: a failed round trip fails the export.
        example = _example_similarities(fileio.join(staging, SENTENCE_ENCODER_DIR), card)
        readme = model_card_lib.render_model_card(card, info, example)
        fileio.write_text(fileio.join(staging, "README.md"), readme)
        fileio.replace_dir(staging, output_dir)
    except BaseException as error:
        _remove_quietly(staging)
        if is_disk_full(error):
            earlier = "an earlier export there is unchanged" if is_export_dir(output_dir) else "nothing was kept"
            raise DiskFullError(
                errno.ENOSPC,
                f"no space left on device while writing the export; the partial export was removed and {earlier}",
                output_dir,
            ) from None
        raise
    return output_dir


def _remove_quietly(path):
    try:
        fileio.remove(path)
    except Exception:  # noqa: BLE001 -- cleanup must not hide the error that caused it
        pass


def float32_copy(encoder):
    """A new `Encoder` with float32 layers and `encoder`'s weights, outside any distribution strategy's variables.

    Built under a float32 global policy, so that the Encoder's own layers (pooler, MLP head) compute in float32
    too; the weights are copied (mixed-precision training keeps float32 weights, so nothing is rounded).
    """
    from tf_simcse.encoders.encoder import Encoder

    backbone = encoder.backbone
    config = backbone.get_config()
    config["dtype"] = "float32"
    with _float32_policy():
        copy_backbone = type(backbone).from_config(config)
        copy = Encoder(copy_backbone, pooler=encoder.pooler, mlp_only_train=encoder.mlp_only_train, preprocessor=None)
    _assign(copy_backbone.weights, backbone.weights, "backbone")
    if encoder.mlp is not None:
        _assign(copy.mlp.weights, encoder.mlp.weights, "MLP head")
    return copy


@contextlib.contextmanager
def _float32_policy():
    """Keras' global dtype policy set to float32 for the duration (layers built inside default to it)."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float32")
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def _check_seq_length(encoder, seq_length):
    seq_length = int(seq_length)
    limit = getattr(encoder.backbone, "max_sequence_length", None)
    if seq_length < 3:
        raise UserInputError(f"seq_length must be >= 3 ([CLS], [SEP] and one token), got {seq_length}.")
    if limit is not None and seq_length > limit:
        raise UserInputError(f"seq_length {seq_length} exceeds the model's {limit} position embeddings.")
    return seq_length


def _assign(targets, sources, what):
    if len(targets) != len(sources):
        raise ValueError(f"float32 copy of the {what}: {len(targets)} weights vs {len(sources)} in the encoder.")
    for target, source in zip(targets, sources):
        if tuple(target.shape) != tuple(source.shape):
            raise ValueError(
                f"float32 copy of the {what}: {target.path} {target.shape} vs {source.path} {source.shape}."
            )
        target.assign(np.asarray(source.numpy(), np.float32))


def _export_info(encoder, preprocessor, seq_length, name, card):
    import keras_hub

    import tf_simcse

    backbone = encoder.backbone
    tokenizer_type = preprocessor.get_config()["tokenizer_type"]
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "name": name,
        "pooler": encoder.pooler,
        "mlp_only_train": encoder.mlp_only_train,
        "has_mlp_head": encoder.mlp is not None,
        "mlp_at_inference": encoder.uses_mlp(training=False),
        "seq_length": seq_length,
        "pair_style": preprocessor.pair_style,
        "hidden_dim": encoder.hidden_dim,
        "num_layers": len(backbone.transformer_layers),
        "vocab_size": preprocessor.vocab_size,
        "tokenizer_type": tokenizer_type,
        "backbone_class": type(backbone).__name__,
        "backbone": keras.saving.serialize_keras_object(backbone),
        "artifacts": {
            "preprocessor": PREPROCESSOR_DIR,
            "encoder": ENCODER_DIR,
            "sentence_encoder": SENTENCE_ENCODER_DIR,
        },
        "versions": {
            "tf_simcse": tf_simcse.__version__,
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "keras_hub": keras_hub.__version__,
        },
        "model_card": card,
    }


def _example_similarities(sentence_encoder_dir, card):
    sentences = card.get("example_sentences") or list(model_card_lib.DEFAULT_EXAMPLE_SENTENCES)
    if not sentences:
        return None
    module = tf.saved_model.load(sentence_encoder_dir)
    embeddings = module(tf.constant(sentences)).numpy().astype(np.float64)
    return sentences, embeddings @ embeddings.T
