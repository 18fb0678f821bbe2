"""`Encoder`: backbone + pooler (+ text preprocessor) — the one path from sentences to embeddings.

Training, evaluation, the CLIs and export all call this class; nothing else re-derives an embedding.
"""

import io
import math
import sys

import keras
import numpy as np
import tensorflow as tf

from tf_simcse import features
from tf_simcse import fileio
from tf_simcse.encoders import checkpoints
from tf_simcse.encoders.poolers import LAYERS_NEEDED, MLPHead, SentencePooler, check_pooler
from tf_simcse.errors import UserInputError

ENCODER_CONFIG_FILE = "tf_simcse_encoder.json"
_FORMAT_VERSION = 1


@keras.saving.register_keras_serializable(package="tf_simcse")
class Encoder(keras.Model):
    """A sentence encoder: `{input_word_ids, input_mask, input_type_ids}` -> float32 `[batch, hidden]`.

    Args:
        backbone: a keras-hub text backbone (see `tf_simcse.encoders.checkpoints`).
        pooler: one of `tf_simcse.encoders.poolers.POOLERS`.
        mlp_only_train: the official SimCSE flag: with `pooler="cls"`, apply the MLP head during training only
            (the unsupervised recipe). Without it, `cls` applies the MLP at inference too.
        preprocessor: a `tf_simcse.preprocessing.TextPreprocessor`; needed by `encode()` (strings in).

    `call(inputs, training)` applies the MLP head when `pooler == "cls"` and (`training` or not
    `mlp_only_train`) — exactly the rule of princeton-nlp/SimCSE (`cl_forward` vs `sentemb_forward`).
    """

    def __init__(self, backbone, pooler="cls", mlp_only_train=False, preprocessor=None, **kwargs):
        super().__init__(**kwargs)
        self.backbone = backbone
        self.pooler = check_pooler(pooler)
        self.mlp_only_train = bool(mlp_only_train)
        self.preprocessor = preprocessor
        self.hidden_dim = int(backbone.hidden_dim)

        wanted = LAYERS_NEEDED[self.pooler]
        layers = backbone.transformer_layers
        if len(layers) < 2 and any(i not in (-1, len(layers) - 1) for i in wanted):
            raise ValueError(f"pooler {pooler!r} needs at least 2 transformer layers; the backbone has {len(layers)}.")
        last = backbone.output["sequence_output"]
        states = [last if i in (-1, len(layers) - 1) else layers[i].output for i in wanted]
        # A view of the backbone that also exposes the intermediate layers the pooler reads (shared weights).
        self._hidden_states = keras.Model(backbone.input, states, name="hidden_states")
        self._backbone_names = checkpoints.backbone_input_names(backbone)  # ours -> the backbone's (features)
        self.pool = SentencePooler(self.pooler, name="pool")
        self.mlp = MLPHead(self.hidden_dim, name="mlp") if self.pooler == "cls" else None
        if self.mlp is not None:
            self.mlp.build((None, self.hidden_dim))
        self._embed_strings = None

    # ----------------------------------------------------------------------------------------------- model
    def backbone_inputs(self, inputs):
        """Maps the packed TF Hub-style dict onto the backbone's input names."""
        missing = [ours for ours in self._backbone_names if ours not in inputs]
        if missing:
            raise ValueError(f"Encoder inputs lack {missing}; got keys {sorted(inputs)}.")
        return {theirs: inputs[ours] for ours, theirs in self._backbone_names.items()}

    def uses_mlp(self, training):
        return self.mlp is not None and (bool(training) or not self.mlp_only_train)

    def call(self, inputs, training=False):
        backbone_inputs = self.backbone_inputs(inputs)
        states = self._hidden_states(backbone_inputs, training=training)
        if not isinstance(states, (list, tuple)):
            states = [states]
        embedding = self.pool(list(states), inputs[features.MASK])
        if self.uses_mlp(training):
            embedding = self.mlp(embedding)
        return embedding

    def init_mlp_from_backbone_pooler(self):
        """Copies a BERT-style pretrained pooler (dense + tanh on [CLS]) into the MLP head.

        Released SimCSE checkpoints in Hugging Face format store the trained MLP as BERT's pooler, so loading it
        this way reproduces their `cls` embeddings. Returns False when there is nothing to copy.
        """
        pooled_dense = getattr(self.backbone, "pooled_dense", None)
        if self.mlp is None or pooled_dense is None:
            return False
        self.mlp.dense.kernel.assign(tf.cast(pooled_dense.kernel, "float32"))
        self.mlp.dense.bias.assign(tf.cast(pooled_dense.bias, "float32"))
        return True

    # ---------------------------------------------------------------------------------------------- encode
    @property
    def max_seq_length(self):
        return None if self.preprocessor is None else int(self.preprocessor.seq_length)

    def encode(self, sentences, batch_size=64, show_progress=None):
        """Embeds a list of strings; returns float32 `[n, hidden]` in input order, not normalized.

        Sentences are batched longest-first so that dynamic padding wastes little; padding never changes a
        sentence's embedding (attention and pooling are masked).
        """
        if self.preprocessor is None:
            raise ValueError("This Encoder has no preprocessor: build it with one or use Encoder.from_pretrained().")
        sentences = list(sentences)
        for i, s in enumerate(sentences):
            if not isinstance(s, str):
                raise TypeError(f"encode() takes strings; item {i} is {type(s).__name__}: {s!r:.80}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
        output = np.zeros((len(sentences), self.hidden_dim), dtype=np.float32)
        if not sentences:
            return output
        if self._embed_strings is None:
            self._embed_strings = tf.function(
                lambda strings: self(self.preprocessor(strings), training=False),
                input_signature=[tf.TensorSpec([None], tf.string)],
            )
        order = np.argsort([-len(s.encode("utf-8")) for s in sentences], kind="stable")
        num_batches = math.ceil(len(sentences) / batch_size)
        if show_progress is None:
            show_progress = num_batches >= 8 and sys.stderr.isatty()
        batches = range(num_batches)
        if show_progress:
            from tqdm.auto import tqdm

            batches = tqdm(batches, desc="encode", unit="batch")
        for b in batches:
            idx = order[b * batch_size : (b + 1) * batch_size]
            strings = tf.constant([sentences[i] for i in idx], dtype=tf.string)
            output[idx] = self._embed_strings(strings).numpy()
        return output

    # --------------------------------------------------------------------------------------- save / load
    def encoder_config(self):
        return {
            "format": "tf_simcse.Encoder",
            "format_version": _FORMAT_VERSION,
            "pooler": self.pooler,
            "mlp_only_train": self.mlp_only_train,
            "max_seq_length": self.max_seq_length,
            "hidden_dim": self.hidden_dim,
        }

    def save_pretrained(self, directory):
        """Writes backbone (keras-hub preset layout), MLP head, preprocessor and settings to `directory`.

        `directory` may be on any TensorFlow filesystem (`gs://...`, see `tf_simcse.fileio`). The settings file,
        which marks a complete directory, is written last.
        """
        directory = fileio.as_path(directory)
        fileio.makedirs(directory)
        checkpoints.save_backbone(self.backbone, fileio.join(directory, "backbone"))
        if self.mlp is not None:
            buffer = io.BytesIO()
            np.savez(buffer, kernel=self.mlp.dense.kernel.numpy(), bias=self.mlp.dense.bias.numpy())
            fileio.write_bytes(fileio.join(directory, "mlp_head.npz"), buffer.getvalue())
        if self.preprocessor is not None:
            self.preprocessor.save(fileio.join(directory, "preprocessor"))
        fileio.write_json(fileio.join(directory, ENCODER_CONFIG_FILE), self.encoder_config(), ensure_ascii=True)

    @classmethod
    def from_pretrained(
        cls,
        path,
        *,
        pooler=None,
        max_seq_length=None,
        dropout=None,
        mlp_only_train=None,
        dynamic_padding=True,
    ):
        """Loads an Encoder from any model location users give `--model`.

        `path` may be: a directory written by `save_pretrained` (or a training output directory, whose `best/`
        is used), a `tf_simcse.export` directory, a local Hugging Face checkpoint directory, or a keras-hub preset
        directory, on any TensorFlow filesystem (`gs://...`, see `tf_simcse.fileio`). Settings saved with the
        model (pooler, max_seq_length) are the defaults; arguments given here override them.

        Raises:
            FileNotFoundError: `path` or a file the model needs does not exist.
            tf_simcse.errors.UserInputError: a file of the model cannot be read (not JSON, truncated weights, a
                config that does not match the weights, ...); the message names the file.
        """
        from tf_simcse.encoders.exported import is_export_dir, load_exported_encoder
        from tf_simcse.preprocessing import TextPreprocessor

        path = resolve_model_dir(path)
        if is_export_dir(path):
            # A `tf_simcse.export` directory: the Keras Encoder is rebuilt from its files (see tf_simcse.exporting).
            return load_exported_encoder(
                path,
                encoder_class=cls,
                pooler=pooler,
                max_seq_length=max_seq_length,
                dropout=dropout,
                mlp_only_train=mlp_only_train,
                dynamic_padding=dynamic_padding,
            )
        saved = read_encoder_config(path)
        if saved is not None:
            backbone = checkpoints.load_backbone(fileio.join(path, "backbone"), dropout=dropout)
            seq_length = checkpoints.sequence_length(backbone, max_seq_length, saved.get("max_seq_length"))
            preprocessor = None
            preprocessor_dir = fileio.join(path, "preprocessor")
            if fileio.exists(preprocessor_dir):
                preprocessor = TextPreprocessor.load(preprocessor_dir, seq_length=seq_length, dynamic=dynamic_padding)
            encoder = cls(
                backbone,
                pooler=pooler or saved["pooler"],
                mlp_only_train=saved["mlp_only_train"] if mlp_only_train is None else mlp_only_train,
                preprocessor=preprocessor,
            )
            if encoder.mlp is not None:
                head_file = fileio.join(path, "mlp_head.npz")
                if fileio.exists(head_file):
                    head = _read_mlp_head(head_file, encoder.hidden_dim)
                    encoder.mlp.dense.kernel.assign(head["kernel"])
                    encoder.mlp.dense.bias.assign(head["bias"])
                else:
                    encoder.init_mlp_from_backbone_pooler()
            return encoder

        backbone = checkpoints.load_backbone(path, dropout=dropout)
        defaults = sentence_transformers_defaults(path)
        seq_length = checkpoints.sequence_length(backbone, max_seq_length, defaults.get("max_seq_length"))
        preprocessor = TextPreprocessor.from_pretrained(path, seq_length=seq_length, dynamic=dynamic_padding)
        encoder = cls(
            backbone,
            pooler=pooler or defaults.get("pooler") or "cls",
            mlp_only_train=bool(mlp_only_train),
            preprocessor=preprocessor,
        )
        # A pretrained checkpoint's own pooler is the best MLP init available (and IS the MLP of released
        # SimCSE checkpoints); training recipes that follow the paper re-initialise it.
        encoder.init_mlp_from_backbone_pooler()
        return encoder


def _read_mlp_head(path, hidden_dim):
    try:
        with np.load(io.BytesIO(fileio.read_bytes(path))) as npz:
            head = {key: npz[key] for key in ("kernel", "bias")}
    except (OSError, ValueError, KeyError, EOFError) as e:  # not a zip, truncated, or without the arrays
        raise UserInputError(f"{path}: cannot read the MLP head ({type(e).__name__}: {e})") from None
    if head["kernel"].shape != (hidden_dim, hidden_dim) or head["bias"].shape != (hidden_dim,):
        raise UserInputError(
            f"{path}: MLP head of shapes {head['kernel'].shape} / {head['bias'].shape}, but the backbone's hidden "
            f"size is {hidden_dim}"
        )
    return head


def resolve_model_dir(path):
    """Returns the directory holding the model (a string); a training output dir resolves to its `best/`."""
    path = fileio.as_path(path)
    if not fileio.exists(path):
        raise FileNotFoundError(f"--model {path}: no such file or directory.")
    if not fileio.isdir(path):
        raise UserInputError(
            f"--model {path}: expected a directory (HF checkpoint, keras-hub preset, training output, export)."
        )
    best = fileio.join(path, "best")
    if fileio.exists(fileio.join(best, ENCODER_CONFIG_FILE)):
        return best
    # One SavedModel of an export (<export>/encoder, .../sentence_encoder): the export it belongs to.
    parent = fileio.dirname(path)
    if fileio.exists(fileio.join(path, "saved_model.pb")) and fileio.exists(
        fileio.join(parent, "tf_simcse_export.json")
    ):
        return parent
    return path


def read_encoder_config(path):
    """The settings file of a `save_pretrained` directory, or None if `path` is not one."""
    config_file = fileio.join(path, ENCODER_CONFIG_FILE)
    if not fileio.exists(config_file):
        return None
    config = fileio.read_json(config_file)
    if not isinstance(config, dict) or config.get("format") != "tf_simcse.Encoder":
        raise UserInputError(f"{config_file} is not a tf_simcse Encoder config.")
    missing = [key for key in ("pooler", "mlp_only_train") if key not in config]
    if missing:
        raise UserInputError(f"{config_file}: missing {', '.join(missing)}")
    return config


def sentence_transformers_defaults(path):
    """Pooler / max length declared by a sentence-transformers checkpoint directory, if it is one."""
    defaults = {}
    st_config = fileio.read_json_if_exists(fileio.join(path, "sentence_bert_config.json"), {})
    max_len = st_config.get("max_seq_length") if isinstance(st_config, dict) else None
    if max_len:
        defaults["max_seq_length"] = int(max_len)
    pooling_file = fileio.join(path, "1_Pooling", "config.json")
    if fileio.exists(pooling_file):
        pooling = fileio.read_json(pooling_file)
        if not isinstance(pooling, dict):
            raise UserInputError(f"{pooling_file}: expected a JSON object, found {type(pooling).__name__}")
        if pooling.get("pooling_mode_mean_tokens"):
            defaults["pooler"] = "avg"
        elif pooling.get("pooling_mode_cls_token"):
            defaults["pooler"] = "cls_before_pooler"
    return defaults
