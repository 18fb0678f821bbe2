"""Tokenizer + packer: the one strings -> ids path (tf.data, encode, export)."""

import tensorflow as tf

from tf_simcse import fileio
from tf_simcse.errors import UserInputError
from tf_simcse.preprocessing import byte_level_bpe
from tf_simcse.preprocessing import keras_hub_tokenizers
from tf_simcse.preprocessing.byte_level_bpe import ByteLevelBPETokenizer
from tf_simcse.preprocessing.packing import InputPacker
from tf_simcse.preprocessing.sentencepiece import SentencePieceTokenizer, find_model_file
from tf_simcse.preprocessing.wordpiece import WordPieceTokenizer

CONFIG_FILE = "preprocessor.json"
_FORMAT_VERSION = 1
# Model types whose checkpoints pack pairs as `<s> a </s></s> b </s>`.
_ROBERTA_MODEL_TYPES = ("roberta", "xlm-roberta", "camembert", "longformer", "xlm-roberta-xl")
_TOKENIZER_KINDS = {
    "wordpiece": WordPieceTokenizer,
    "sentencepiece": SentencePieceTokenizer,
    "byte_level_bpe": ByteLevelBPETokenizer,
}


class TextPreprocessor(tf.Module):
    """Maps strings (or string pairs) to `{input_word_ids, input_mask, input_type_ids}`.

    Args:
        tokenizer: a `WordPieceTokenizer`, `SentencePieceTokenizer` or `ByteLevelBPETokenizer`.
        seq_length: packed length (special tokens included).
        pair_style: "bert" or "roberta" (see `InputPacker`); `None` picks
            "roberta" for fairseq-style SentencePiece vocabs and byte-level BPE, else "bert".
        dynamic: pad to the batch's longest row instead of `seq_length`.

    Call it on a tf.string tensor `[batch]` (or a scalar) or on a pair
    `(first, second)` of such tensors; it is pure TensorFlow, so it runs inside
    `tf.data.Dataset.map`, `tf.function` and SavedModels.
    """

    def __init__(self, tokenizer, seq_length=128, *, pair_style=None, dynamic=False, name=None):
        super().__init__(name=name)
        if pair_style is None:
            roberta = getattr(tokenizer, "fairseq_offset", False) or isinstance(tokenizer, ByteLevelBPETokenizer)
            pair_style = "roberta" if roberta else "bert"
        ids = tokenizer.special_token_ids
        self.tokenizer = tokenizer
        self.packer = InputPacker(
            seq_length,
            cls_id=ids["cls_id"],
            sep_id=ids["sep_id"],
            pad_id=ids["pad_id"],
            pair_style=pair_style,
            dynamic=dynamic,
        )

    @classmethod
    def from_pretrained(cls, path, seq_length=128, dynamic=False, pair_style=None, **tokenizer_overrides):
        """Builds the preprocessor a Hugging Face checkpoint directory describes.

        WordPiece when the directory holds vocab.txt (or a WordPiece
        tokenizer.json), byte-level BPE when it holds vocab.json + merges.txt
        (or a BPE tokenizer.json; RoBERTa, GPT-2), else SentencePiece
        (sentencepiece.bpe.model, spiece.model, tokenizer.model). Pairs are
        packed RoBERTa-style for roberta/xlm-roberta checkpoints and byte-level
        BPE, except when the vocabulary is WordPiece with [CLS]/[SEP]
        (KLUE-RoBERTa), which packs BERT-style.
        """
        path = fileio.as_path(path)
        if not fileio.isdir(path):
            raise FileNotFoundError(f"not a checkpoint directory: {path}")
        model_type = ""
        config = fileio.read_json_if_exists(fileio.join(path, "config.json"), {})
        if isinstance(config, dict):
            model_type = config.get("model_type", "")
        if fileio.exists(fileio.join(path, "vocab.txt")) or _is_wordpiece_json(fileio.join(path, "tokenizer.json")):
            tokenizer = WordPieceTokenizer.from_pretrained(path, **tokenizer_overrides)
            has_bert_specials = all(
                tokenizer.token_to_id(t) is not None for t in (tokenizer.cls_token, tokenizer.sep_token)
            ) and (tokenizer.cls_token, tokenizer.sep_token) == ("[CLS]", "[SEP]")
            default_style = "roberta" if model_type in _ROBERTA_MODEL_TYPES and not has_bert_specials else "bert"
        elif byte_level_bpe.has_vocab_and_merges(path) or byte_level_bpe.is_byte_level_bpe_json(
            fileio.join(path, "tokenizer.json")
        ):
            tokenizer = ByteLevelBPETokenizer.from_pretrained(path, **tokenizer_overrides)
            default_style = "roberta"
        elif find_model_file(path) is not None:
            tokenizer = SentencePieceTokenizer.from_pretrained(path, **tokenizer_overrides)
            default_style = "roberta" if model_type in _ROBERTA_MODEL_TYPES or tokenizer.fairseq_offset else "bert"
        else:
            raise FileNotFoundError(
                f"{path} has no tokenizer files: expected vocab.txt, a WordPiece tokenizer.json, vocab.json + "
                "merges.txt (byte-level BPE), or a SentencePiece model (sentencepiece.bpe.model / spiece.model / "
                "tokenizer.model)"
            )
        return cls(tokenizer, seq_length, pair_style=pair_style or default_style, dynamic=dynamic)

    @classmethod
    def from_keras_hub_preset(cls, path, seq_length=128, dynamic=False):
        """Builds the preprocessor of a keras-hub preset directory from its tokenizer (see
        `tf_simcse.preprocessing.keras_hub_tokenizers`); pairs are packed as the tokenizer's model family does."""
        tokenizer = keras_hub_tokenizers.load_tokenizer(path)
        return cls(tokenizer, seq_length, dynamic=dynamic)

    # -- properties other modules read ---------------------------------------------------------

    @property
    def seq_length(self):
        return self.packer.seq_length

    @property
    def pair_style(self):
        return self.packer.pair_style

    @property
    def dynamic(self):
        return self.packer.dynamic

    @property
    def vocab_size(self):
        return self.tokenizer.vocab_size

    @property
    def special_token_ids(self):
        return self.tokenizer.special_token_ids

    # -- the strings -> ids path ---------------------------------------------------------------

    def tokenize(self, strings):
        """tf.string `[batch]` -> int32 RaggedTensor `[batch, (pieces)]`."""
        return self.tokenizer.tokenize(strings)

    def pack(self, segments, seq_length=None):
        """Packs 1-2 token segments (RaggedTensors) into the model's input dict."""
        return self.packer(segments, seq_length=seq_length)

    @tf.autograph.experimental.do_not_convert
    def __call__(self, strings_or_pair, seq_length=None):
        """A string tensor `[batch]` / scalar, or a `(first, second)` pair of them -> packed dict."""
        if (
            isinstance(strings_or_pair, (tuple, list))
            and strings_or_pair
            and not isinstance(strings_or_pair[0], (str, bytes))
        ):
            texts = [tf.convert_to_tensor(t, tf.string) for t in strings_or_pair]
        else:
            texts = [tf.convert_to_tensor(strings_or_pair, tf.string)]
        if not 1 <= len(texts) <= 2:
            raise ValueError(f"expected one string tensor or a pair, got {len(texts)} tensors")
        ranks = {t.shape.rank for t in texts}
        if len(ranks) != 1 or ranks.pop() not in (0, 1):
            raise ValueError(
                f"inputs must all be string scalars or all [batch] vectors, got {[t.shape for t in texts]}"
            )
        scalar = texts[0].shape.rank == 0
        if scalar:
            texts = [t[tf.newaxis] for t in texts]
        packed = self.pack([self.tokenize(t) for t in texts], seq_length=seq_length)
        if scalar:
            packed = {k: v[0] for k, v in packed.items()}
        return packed

    # -- persistence -----------------------------------------------------------------------------

    def get_config(self):
        kind = next(k for k, c in _TOKENIZER_KINDS.items() if isinstance(self.tokenizer, c))
        return {
            "format_version": _FORMAT_VERSION,
            "tokenizer_type": kind,
            "tokenizer": self.tokenizer.get_config(),
            "seq_length": self.seq_length,
            "pair_style": self.pair_style,
            "dynamic": self.dynamic,
        }

    def save(self, directory):
        """Writes the vocabulary (vocab.txt, the SentencePiece model, or vocab.json + merges.txt) and
        preprocessor.json into `directory` (any filesystem)."""
        fileio.makedirs(directory)
        config = self.get_config()
        config["vocabulary_file"] = fileio.basename(self.tokenizer.save_vocabulary(directory))
        fileio.write_json(fileio.join(directory, CONFIG_FILE), config)
        return directory

    @classmethod
    def load(cls, directory, **overrides):
        """Rebuilds a preprocessor written by `save` (overrides: seq_length, dynamic, pair_style)."""
        path = fileio.join(directory, CONFIG_FILE)
        if not fileio.exists(path):
            raise FileNotFoundError(f"{directory} has no {CONFIG_FILE} (not written by TextPreprocessor.save)")
        config = fileio.read_json(path)
        kind = config.get("tokenizer_type") if isinstance(config, dict) else None
        if kind not in _TOKENIZER_KINDS:
            raise UserInputError(f"{path}: tokenizer_type {kind!r} is not one of {sorted(_TOKENIZER_KINDS)}")
        required = ("vocabulary_file", "tokenizer", "seq_length", "pair_style", "dynamic")
        missing = [k for k in required if k not in config]
        if missing:
            raise UserInputError(f"{path}: missing {', '.join(missing)}")
        vocab_file = fileio.join(directory, config["vocabulary_file"])
        try:
            if kind == "byte_level_bpe":  # merges.txt is written beside vocab.json
                tokenizer = ByteLevelBPETokenizer(
                    vocab_file, fileio.join(directory, byte_level_bpe.MERGES_FILE), **config["tokenizer"]
                )
            else:
                tokenizer = _TOKENIZER_KINDS[kind](vocab_file, **config["tokenizer"])
        except TypeError as e:  # an unknown tokenizer setting
            raise UserInputError(f"{path}: bad tokenizer settings ({e})") from None
        settings = {k: config[k] for k in ("seq_length", "pair_style", "dynamic")}
        settings.update(overrides)
        seq_length = settings.pop("seq_length")
        return cls(tokenizer, seq_length, **settings)


def vocabulary_files(config):
    """The files besides preprocessor.json that `TextPreprocessor.load` reads, from a saved config."""
    files = [config["vocabulary_file"]]
    if config.get("tokenizer_type") == "byte_level_bpe":
        files.append(byte_level_bpe.MERGES_FILE)
    return files


def _is_wordpiece_json(path):
    data = fileio.read_json_if_exists(path, {})
    return isinstance(data, dict) and (data.get("model") or {}).get("type") == "WordPiece"
