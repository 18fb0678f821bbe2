"""`Encoder`: backbone + pooler (+ text preprocessor) — the one path from sentences to embeddings.

Training, evaluation, the CLIs and export all call this class; nothing else re-derives an embedding.
"""

import io
import math
import os
import sys

import keras
import numpy as np
import tensorflow as tf

from tf_simcse import fileio
from tf_simcse.encoders import checkpoints
from tf_simcse.encoders.bert_family_text_embedder import BertFamilyTextEmbedder
from tf_simcse.encoders.bert_family_text_embedder_preprocessor import (
    ASSETS_DIR,
    BertFamilyTextEmbedderPreprocessor,
)
from tf_simcse.encoders.sentence_head import SentenceHead
from tf_simcse.errors import UserInputError
from tf_simcse.preprocessing import keras_hub_tokenizers
from tf_simcse.preprocessing.text_preprocessor import TextPreprocessor

ENCODER_CONFIG_FILE = "tf_simcse_encoder.json"
# 2: the directory is a keras-hub preset of BertFamilyTextEmbedder; 1: backbone/, mlp_head.npz, preprocessor/.
_FORMAT_VERSION = 2
TASK_CONFIG_FILE = "task.json"
TASK_WEIGHTS_FILE = "task.weights.h5"
PREPROCESSOR_CONFIG_FILE = "preprocessor.json"
# keras-hub's names for a task's pooling -> tf_simcse's poolers.
_KERAS_HUB_POOLING = {"mean": "avg", "cls": "cls_before_pooler"}


@keras.saving.register_keras_serializable(package="tf_simcse")
class Encoder(SentenceHead, keras.Model):
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
        self._build_head(backbone, pooler, mlp_only_train)
        self.preprocessor = preprocessor
        self._embed_strings = None

    def call(self, inputs, training=False):
        return self.embed(inputs, training=training)

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

    def as_text_embedder(self):
        """This encoder as a keras-hub `BertFamilyTextEmbedder` (sharing the backbone; the MLP head copied).

        A keras-hub `BertBackbone` is rebuilt as `BertFamilyBackbone` (`checkpoints.as_bert_family`), so that
        keras-hub finds the task class when it loads the preset.
        """
        preprocessor = None
        if self.preprocessor is not None:
            preprocessor = BertFamilyTextEmbedderPreprocessor(
                self.preprocessor, sequence_length=self.preprocessor.seq_length, dynamic=self.preprocessor.dynamic
            )
        embedder = BertFamilyTextEmbedder(
            checkpoints.as_bert_family(self.backbone),
            preprocessor=preprocessor,
            pooler=self.pooler,
            mlp_only_train=self.mlp_only_train,
        )
        if self.mlp is not None:
            embedder.mlp.set_weights(self.mlp.get_weights())
        return embedder

    def save_pretrained(self, directory):
        """Writes the encoder to `directory` as a keras-hub preset, plus tf_simcse's settings file.

        The preset is that of `as_text_embedder()`: `keras_hub.models.TextEmbedder.from_preset(directory)` loads
        it (after `import tf_simcse`), and so does `Encoder.from_pretrained`. Layout:

            config.json, model.weights.h5, metadata.json   the backbone (keras-hub's files)
            task.json, task.weights.h5                     the task: pooler, MLP rule; the MLP head's weights
            preprocessor.json, assets/tf_simcse_preprocessor/   the preprocessor (the TextPreprocessor files)
            tf_simcse_encoder.json                         pooler, max_seq_length; written last

        `directory` may be on any TensorFlow filesystem (`gs://...`, see `tf_simcse.fileio`); the settings file
        marks a complete directory.
        """
        directory = fileio.as_path(directory)
        with fileio.local_dir_for_writing(directory) as local:
            self.as_text_embedder().save_to_preset(local)
        stale = fileio.join(directory, TASK_WEIGHTS_FILE)
        if self.mlp is None and fileio.exists(stale):  # an earlier save's head: keras-hub would try to load it
            fileio.remove(stale)
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
        is used), a `tf_simcse.export` directory, a local Hugging Face checkpoint directory, a keras-hub preset
        directory (of a `TextEmbedder` or a bare backbone + tokenizer), on any TensorFlow filesystem (`gs://...`,
        see `tf_simcse.fileio`), or a keras-hub preset handle (`multilingual_e5_base`, `kaggle://...`,
        `hf://...`; downloaded by keras-hub). Settings saved with the model (pooler, max_seq_length) are the
        defaults; arguments given here override them.

        Raises:
            FileNotFoundError: `path` or a file the model needs does not exist.
            tf_simcse.errors.UserInputError: a file of the model cannot be read (not JSON, truncated weights, a
                config that does not match the weights, ...); the message names the file.
        """
        from tf_simcse.encoders.exported import is_export_dir, load_exported_encoder

        path = resolve_model_dir(path)
        options = dict(pooler=pooler, max_seq_length=max_seq_length, dropout=dropout, mlp_only_train=mlp_only_train,
                       dynamic_padding=dynamic_padding)
        if is_export_dir(path):
            # A `tf_simcse.export` directory: the Keras Encoder is rebuilt from its files (see tf_simcse.exporting).
            return load_exported_encoder(path, encoder_class=cls, **options)
        saved = read_encoder_config(path)
        if saved is not None and saved.get("format_version", 1) < 2:
            return _load_version_1(cls, path, saved, **options)
        if saved is not None or checkpoints.is_keras_hub_preset(path):
            return _load_keras_hub_preset(cls, path, saved, **options)
        return _load_hugging_face(cls, path, **options)


def _load_keras_hub_preset(cls, path, saved, *, pooler, max_seq_length, dropout, mlp_only_train, dynamic_padding):
    """A keras-hub preset: one `save_pretrained` wrote (`saved` is its settings), or one of keras-hub's own."""
    with fileio.local_dir_for_reading(path) as local:
        backbone = checkpoints.load_backbone(local, dropout=dropout)
        task = fileio.read_json_if_exists(os.path.join(local, TASK_CONFIG_FILE), {})
        task = task if isinstance(task, dict) else {}
        ours = task.get("registered_name") == keras.saving.get_registered_name(BertFamilyTextEmbedder)
        if saved is not None:
            defaults = {"pooler": saved["pooler"], "mlp_only_train": saved["mlp_only_train"],
                        "max_seq_length": saved.get("max_seq_length")}
        else:
            defaults = _keras_hub_task_defaults(local, task, ours, pooler)
        seq_length = checkpoints.sequence_length(backbone, max_seq_length, defaults.get("max_seq_length"))
        preprocessor = None
        if fileio.exists(os.path.join(local, ASSETS_DIR)):
            preprocessor = TextPreprocessor.load(os.path.join(local, ASSETS_DIR), seq_length=seq_length,
                                                 dynamic=dynamic_padding)
        elif keras_hub_tokenizers.is_keras_hub_tokenizer(local):
            preprocessor = TextPreprocessor.from_keras_hub_preset(local, seq_length=seq_length,
                                                                  dynamic=dynamic_padding)
        encoder = cls(
            backbone,
            pooler=pooler or defaults.get("pooler") or "cls",
            mlp_only_train=defaults.get("mlp_only_train", False) if mlp_only_train is None else mlp_only_train,
            preprocessor=preprocessor,
        )
        weights = os.path.join(local, TASK_WEIGHTS_FILE)
        if encoder.mlp is not None and ours and os.path.exists(weights):
            head = encoder.as_text_embedder()
            try:
                head.load_task_weights(weights)
            except (OSError, ValueError, KeyError) as e:  # h5py's OSError for a truncated file
                raise UserInputError(f"{fileio.join(path, TASK_WEIGHTS_FILE)}: cannot read the MLP head "
                                     f"({type(e).__name__}: {e})") from None
            encoder.mlp.set_weights(head.mlp.get_weights())
        elif encoder.mlp is not None:
            encoder.init_mlp_from_backbone_pooler()
    return encoder


def _keras_hub_task_defaults(local, task, ours, pooler):
    """Pooler and length declared by a keras-hub preset tf_simcse did not write: its task's pooling (keras-hub's
    `BertTextEmbedder`: mean or cls, L2 normalization left out: cosines are the same) and its preprocessor's
    sequence_length."""
    config = task.get("config") or {}
    defaults = {}
    if ours:
        defaults.update(pooler=config.get("pooler"), mlp_only_train=config.get("mlp_only_train", False))
    elif "pooling_mode" in config:
        mode = config["pooling_mode"]
        if mode not in _KERAS_HUB_POOLING and pooler is None:
            raise UserInputError(f"{os.path.join(local, TASK_CONFIG_FILE)}: pooling_mode {mode!r} has no tf_simcse "
                                 f"pooler (supported: {', '.join(_KERAS_HUB_POOLING)}); pass --pooler")
        defaults["pooler"] = _KERAS_HUB_POOLING.get(mode)
    preprocessor = fileio.read_json_if_exists(os.path.join(local, PREPROCESSOR_CONFIG_FILE), {})
    if isinstance(preprocessor, dict):
        defaults["max_seq_length"] = (preprocessor.get("config") or {}).get("sequence_length")
    return defaults


def _load_version_1(cls, path, saved, *, pooler, max_seq_length, dropout, mlp_only_train, dynamic_padding):
    """The layout of tf_simcse before keras-hub presets: backbone/, mlp_head.npz, preprocessor/."""
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


def _load_hugging_face(cls, path, *, pooler, max_seq_length, dropout, mlp_only_train, dynamic_padding):
    backbone = checkpoints.load_backbone(path, dropout=dropout)
    defaults = sentence_transformers_defaults(path, pooler)
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
    """Returns the directory holding the model (a string): a training output dir resolves to its `best/`, a
    keras-hub preset handle to the directory it is downloaded to."""
    path = fileio.as_path(path)
    if checkpoints.is_preset_handle(path) and not os.path.exists(path):  # kaggle:// is no TensorFlow filesystem
        return checkpoints.download_preset(path)
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


# sentence-transformers' pooling modes that tf_simcse has a pooler for (its "cls" is the raw [CLS] state).
_SENTENCE_TRANSFORMERS_POOLING = {"mean": "avg", "cls": "cls_before_pooler"}
# Before sentence-transformers 6, 1_Pooling/config.json held one boolean per mode instead of `pooling_mode`.
_SENTENCE_TRANSFORMERS_LEGACY_POOLING = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens": "weightedmean",
    "pooling_mode_lasttoken": "lasttoken",
}


def sentence_transformers_defaults(path, pooler=None):
    """Pooler / max length declared by a sentence-transformers checkpoint directory, if it is one.

    Raises UserInputError when its pooling has no tf_simcse pooler and `pooler` (the one asked for) is None.
    """
    defaults = {}
    st_config = fileio.read_json_if_exists(fileio.join(path, "sentence_bert_config.json"), {})
    max_len = st_config.get("max_seq_length") if isinstance(st_config, dict) else None
    if not max_len and fileio.exists(fileio.join(path, "modules.json")):
        # sentence-transformers 6 keeps the length as the tokenizer's model_max_length (a huge sentinel when
        # unset: `sequence_length` caps it at the position table, as sentence-transformers does).
        tokenizer = fileio.read_json_if_exists(fileio.join(path, "tokenizer_config.json"), {})
        max_len = tokenizer.get("model_max_length") if isinstance(tokenizer, dict) else None
        max_len = max_len if isinstance(max_len, int) and max_len > 0 else None
    if max_len:
        defaults["max_seq_length"] = int(max_len)
    pooling_file = fileio.join(path, "1_Pooling", "config.json")
    if fileio.exists(pooling_file):
        pooling = fileio.read_json(pooling_file)
        if not isinstance(pooling, dict):
            raise UserInputError(f"{pooling_file}: expected a JSON object, found {type(pooling).__name__}")
        modes = pooling.get("pooling_mode")
        if modes is None:
            modes = [mode for key, mode in _SENTENCE_TRANSFORMERS_LEGACY_POOLING.items() if pooling.get(key)]
        modes = [modes] if isinstance(modes, str) else list(modes)
        if len(modes) == 1 and modes[0] in _SENTENCE_TRANSFORMERS_POOLING:
            defaults["pooler"] = _SENTENCE_TRANSFORMERS_POOLING[modes[0]]
        elif modes and pooler is None:
            raise UserInputError(
                f"{pooling_file}: pooling {' + '.join(map(str, modes))} has no tf_simcse pooler (sentence-transformers' "
                f"{', '.join(_SENTENCE_TRANSFORMERS_POOLING)} have); pass --pooler"
            )
    return defaults
