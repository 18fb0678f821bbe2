"""The tokenizer of a keras-hub preset (its `tokenizer.json` and `assets/tokenizer/`) as a tf_simcse tokenizer.

keras-hub presets of the architectures tf_simcse trains carry one of these tokenizers; each maps onto the
tf_simcse tokenizer that computes the same ids (tested against keras-hub's own tokenizers):

| keras-hub class                               | assets/tokenizer/               | tf_simcse tokenizer              |
|-----------------------------------------------|---------------------------------|----------------------------------|
| `BertTokenizer`, `DistilBertTokenizer`        | vocabulary.txt                  | `WordPieceTokenizer`             |
| `XLMRobertaTokenizer`                         | vocabulary.spm                  | `SentencePieceTokenizer`, fairseq ids |
| `RobertaTokenizer`                            | vocabulary.json, merges.txt     | `ByteLevelBPETokenizer`          |
"""

import posixpath

from tf_simcse import fileio
from tf_simcse.errors import UserInputError
from tf_simcse.preprocessing.byte_level_bpe import ByteLevelBPETokenizer
from tf_simcse.preprocessing.sentencepiece import SentencePieceTokenizer
from tf_simcse.preprocessing.wordpiece import WordPieceTokenizer

TOKENIZER_CONFIG_FILE = "tokenizer.json"
_ASSETS = posixpath.join("assets", "tokenizer")
_WORDPIECE_CLASSES = ("BertTokenizer", "DistilBertTokenizer")


def is_keras_hub_tokenizer(path):
    """Whether `path` holds a keras-hub tokenizer config (keras-hub's `tokenizer.json` is a serialized layer,
    not the Hugging Face `tokenizers` file of the same name)."""
    config = fileio.read_json_if_exists(fileio.join(path, TOKENIZER_CONFIG_FILE), {})
    return isinstance(config, dict) and "class_name" in config and "config" in config


def load_tokenizer(path):
    """The tf_simcse tokenizer equal to the keras-hub tokenizer saved in preset directory `path`."""
    config_file = fileio.join(path, TOKENIZER_CONFIG_FILE)
    saved = fileio.read_json(config_file)
    name, config = saved.get("class_name"), saved.get("config") or {}
    assets = fileio.join(path, _ASSETS)
    if name in _WORDPIECE_CLASSES:
        if not config.get("split", True):
            raise UserInputError(f"{config_file}: a WordPiece tokenizer with split=False is not supported")
        return WordPieceTokenizer(
            fileio.join(assets, "vocabulary.txt"),
            lower_case=bool(config.get("lowercase", False)),
            strip_accents=bool(config.get("strip_accents", False)),
            tokenize_chinese_chars=bool(config.get("split_on_cjk", True)),
            suffix_indicator=config.get("suffix_indicator", "##"),
            unk_token=config.get("oov_token", "[UNK]"),
            # keras-hub reads "[SEP]" in a string as text unless told otherwise (Hugging Face: as the token).
            split_special_tokens=not config.get("special_tokens_in_strings", False),
        )
    if name == "XLMRobertaTokenizer":
        return SentencePieceTokenizer(fileio.join(assets, "vocabulary.spm"), fairseq_offset=True)
    if name == "RobertaTokenizer":
        return ByteLevelBPETokenizer(fileio.join(assets, "vocabulary.json"), fileio.join(assets, "merges.txt"))
    raise UserInputError(
        f"{config_file}: keras-hub tokenizer {name!r} is not supported; tf_simcse reads "
        f"{', '.join(_WORDPIECE_CLASSES)}, XLMRobertaTokenizer and RobertaTokenizer presets"
    )
