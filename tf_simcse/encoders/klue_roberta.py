"""KLUE-RoBERTa checkpoints (RoBERTa weights, BERT-style WordPiece vocabulary) as keras-hub backbones.

KLUE-RoBERTa (`klue/roberta-small|base|large`) is a RoBERTa model (`model_type: roberta`) whose tokenizer is a
cased WordPiece `vocab.txt` with `[CLS]=0, [PAD]=1, [SEP]=2, [UNK]=3`, not RoBERTa's byte-level BPE. keras-hub's
RoBERTa converter cannot load it: it builds a byte-level BPE tokenizer, ignores the token-type embedding that
transformers adds to every RoBERTa token (zero only in checkpoints converted from fairseq), and drops the pooler.

Here it becomes a `BertFamilyBackbone`:
- position rows `[pad_token_id + 1:]` (= `[2:]`), because RoBERTa numbers the first real token `pad_token_id + 1`.
  This equals transformers' numbering for right-padded batches only (transformers counts positions over
  non-`[PAD]` tokens, so with left padding the first real token would still get position 2 there but not here).
  Pad on the right.
- its single token-type row is added to every token (no `segment_ids` input, so a two-segment packer cannot feed
  an out-of-range type id);
- LayerNorm epsilon and activation from config.json (1e-5 and exact GELU for KLUE);
- the pooler only if the checkpoint has one (`RobertaModel` saves it, `RobertaForMaskedLM` -- KLUE's release --
  does not).
"""

from tf_simcse import fileio
from tf_simcse.encoders import _hf_checkpoint
from tf_simcse.errors import UserInputError


def is_klue_roberta(path):
    """True for a Hugging Face RoBERTa checkpoint directory whose tokenizer is a WordPiece `vocab.txt`."""
    config_file = fileio.join(path, "config.json")
    if not fileio.isfile(config_file):
        return False
    config = fileio.read_json(config_file)
    if not isinstance(config, dict) or config.get("model_type") != "roberta":
        return False
    byte_level = fileio.isfile(fileio.join(path, "vocab.json")) or fileio.isfile(fileio.join(path, "merges.txt"))
    return fileio.isfile(fileio.join(path, "vocab.txt")) and not byte_level


def load_klue_roberta(path, *, dropout=None, dtype=None):
    """Load a KLUE-RoBERTa-style checkpoint directory as a `BertFamilyBackbone`.

    Args:
        path: a directory with `config.json` (model_type roberta), `model.safetensors` and `vocab.txt`.
        dropout: None keeps the checkpoint's `hidden_dropout_prob`; a float overrides it.
        dtype: the dtype policy of the backbone's layers.

    Raises:
        tf_simcse.errors.UserInputError (a ValueError): if the directory is not a WordPiece RoBERTa checkpoint, or
            `vocab.txt` and `config.json` disagree on the vocabulary size, or the weights do not match the config.
    """
    path = fileio.as_path(path)
    if not is_klue_roberta(path):
        raise UserInputError(
            f"{path}: not a KLUE-RoBERTa-style checkpoint (needs config.json with model_type 'roberta', a "
            "WordPiece vocab.txt, and no byte-level vocab.json/merges.txt)"
        )
    config = _hf_checkpoint.read_config(path)
    from tf_simcse.preprocessing.wordpiece import read_vocabulary

    vocab_file = fileio.join(path, "vocab.txt")
    vocab_size = len(read_vocabulary(vocab_file))
    # A vocab.txt longer than the embedding would produce ids the model cannot look up.
    if "vocab_size" in config and vocab_size > config["vocab_size"]:
        raise UserInputError(
            f"{vocab_file} has {vocab_size} tokens but config.json says vocab_size={config['vocab_size']}"
        )
    return _hf_checkpoint.load(path, dropout=dropout, dtype=dtype)
