"""`PreprocessorModule`: the root object of the exported `preprocessor` SavedModel (TF Hub text preprocessor API).

Loaded with `tf.saved_model.load` (after `import tensorflow_text`, which registers the tokenizer ops) or
`hub.KerasLayer`, it offers:

- `preprocessor(sentences)`: tf.string `[batch]` -> int32 `{input_word_ids, input_mask, input_type_ids}`, each
  `[batch, default_seq_length]` (also the `serving_default` signature);
- `preprocessor.tokenize(sentences)`: tf.string `[batch]` -> int32 RaggedTensor `[batch, (pieces)]`, no special
  tokens, and `preprocessor.tokenize.get_special_tokens_dict()` -> int32 scalars `vocab_size`,
  `start_of_sequence_id`, `end_of_segment_id`, `padding_id` (and `mask_id` when the vocabulary has one);
- `preprocessor.bert_pack_inputs(segments, seq_length=default_seq_length)`: a list of 1 or 2 int32 RaggedTensors
  (ragged rank 1 or 2, int64 row splits) -> the packed dict at `seq_length`, which is a tensor argument, so any
  length can be asked for after loading;
- `vocab_file` (WordPiece; byte-level BPE with `merges_file`) or `sp_model_file` (SentencePiece): the
  vocabulary, as a SavedModel asset.

Everything is TensorFlow ops, so the loaded functions run inside `tf.data.Dataset.map`.
"""

import itertools

import tensorflow as tf

from tf_simcse import features
from tf_simcse.preprocessing.byte_level_bpe import ByteLevelBPETokenizer
from tf_simcse.preprocessing.packing import InputPacker, _num_special_tokens, longest_first_lengths
from tf_simcse.preprocessing.wordpiece import WordPieceTokenizer

# The packer that `pack_inputs` runs after truncating: long enough never to truncate again.
_NO_TRUNCATION_LENGTH = 2**30
_SENTENCES_SPEC = tf.TensorSpec([None], tf.string, name="sentences")


def _segment_spec(ragged_rank):
    return tf.RaggedTensorSpec([None] * (ragged_rank + 1), tf.int32, ragged_rank=ragged_rank, row_splits_dtype=tf.int64)


def pack_inputs(packer, segments, seq_length):
    """`packer(segments)` at a `seq_length` that may be a scalar tensor (`InputPacker` needs a Python int).

    Truncation (first `budget` pieces of one segment; Hugging Face "longest_first" for a pair) and special
    tokens are the packer's own; this function only decides the kept lengths from a tensor budget and pads the
    dynamically packed rows to `seq_length`.
    """
    segments = [s.merge_dims(1, -1) if s.ragged_rank > 1 else s for s in segments]
    segments = [tf.cast(s, tf.int32) for s in segments]
    seq_length = tf.convert_to_tensor(seq_length, tf.int32)
    budget = seq_length - _num_special_tokens(packer.pair_style, len(segments))
    check = tf.debugging.assert_non_negative(
        budget, message=f"bert_pack_inputs: seq_length is too short for the special tokens of {len(segments)} segments"
    )
    with tf.control_dependencies([check]):
        lengths = [tf.cast(s.row_lengths(), tf.int32) for s in segments]
    if len(segments) == 1:
        kept = [tf.minimum(lengths[0], budget)]
    else:
        kept = list(longest_first_lengths(lengths[0], lengths[1], budget))
    truncated = [_first_pieces(s, k) for s, k in zip(segments, kept)]
    unbounded = InputPacker(
        _NO_TRUNCATION_LENGTH,
        cls_id=packer.cls_id,
        sep_id=packer.sep_id,
        pad_id=packer.pad_id,
        pair_style=packer.pair_style,
        dynamic=True,
    )
    packed = unbounded(truncated)
    padding = [[0, 0], [0, seq_length - tf.shape(packed[features.WORD_IDS])[1]]]
    return {
        features.WORD_IDS: tf.pad(packed[features.WORD_IDS], padding, constant_values=packer.pad_id),
        features.MASK: tf.pad(packed[features.MASK], padding),
        features.TYPE_IDS: tf.pad(packed[features.TYPE_IDS], padding),
    }


def _first_pieces(segment, counts):
    """The first `counts[i]` values of each row of a ragged `[batch, (n)]` segment (counts <= row lengths)."""
    starts = segment.row_starts()
    index = tf.ragged.range(starts, starts + tf.cast(counts, starts.dtype))
    return tf.RaggedTensor.from_row_splits(tf.gather(segment.values, index.values), index.row_splits, validate=False)


class _SpecialTokensDict(tf.train.Checkpoint):
    """`tokenize.get_special_tokens_dict()`: the ids a custom packer needs (TF Model Garden key names)."""

    def __init__(self, values):
        super().__init__()

        @tf.function(input_signature=[])
        def call():
            return {k: tf.constant(v, tf.int32) for k, v in values.items()}

        self.__call__ = call


class _Tokenize(tf.train.Checkpoint):
    """`tokenize(sentences)`: string `[batch]` -> int32 RaggedTensor `[batch, (pieces)]`."""

    def __init__(self, tokenizer, special_tokens):
        super().__init__()
        self.get_special_tokens_dict = _SpecialTokensDict(special_tokens)

        @tf.function(input_signature=[_SENTENCES_SPEC])
        def call(sentences):
            return tokenizer.tokenize(sentences)

        self.__call__ = call


class _BertPackInputs(tf.train.Checkpoint):
    """`bert_pack_inputs(segments, seq_length=default)`; traced for 1-2 segments, each of ragged rank 1 or 2."""

    def __init__(self, packer):
        super().__init__()
        default_seq_length = packer.seq_length

        @tf.function(autograph=False)
        def call(inputs, seq_length=default_seq_length):
            if not isinstance(inputs, (list, tuple)):
                inputs = [inputs]
            return pack_inputs(packer, list(inputs), seq_length)

        self.__call__ = call
        for num_segments in (1, 2):
            for ranks in itertools.product((1, 2), repeat=num_segments):
                call.get_concrete_function([_segment_spec(r) for r in ranks], seq_length=tf.TensorSpec([], tf.int32))


class PreprocessorModule(tf.train.Checkpoint):
    """Wraps a static-length `TextPreprocessor` for `tf.saved_model.save`.

    Args:
        preprocessor: a `tf_simcse.preprocessing.TextPreprocessor` with `dynamic=False`; its `seq_length` becomes
            the default length. Its tokenizer should have been built from a vocabulary file, which becomes the
            SavedModel asset.
    """

    def __init__(self, preprocessor):
        super().__init__()
        if preprocessor.dynamic:
            raise ValueError("PreprocessorModule needs a static-length TextPreprocessor (dynamic=False).")
        tokenizer = preprocessor.tokenizer
        self.text_preprocessor = preprocessor
        if isinstance(tokenizer, WordPieceTokenizer):
            if tokenizer.vocab_path is not None:
                self.vocab_file = tokenizer.vocab_file
        elif isinstance(tokenizer, ByteLevelBPETokenizer):
            for name in ("vocab_file", "merges_file"):
                if hasattr(tokenizer, name):
                    setattr(self, name, getattr(tokenizer, name))
        elif tokenizer.model_path is not None:
            self.sp_model_file = tokenizer.model_file
        self.tokenize = _Tokenize(tokenizer, special_tokens_dict(preprocessor))
        self.bert_pack_inputs = _BertPackInputs(preprocessor.packer)

        @tf.function(input_signature=[_SENTENCES_SPEC])
        def call(sentences):
            return preprocessor(sentences)

        self.__call__ = call


def special_tokens_dict(preprocessor):
    """The TF Hub `get_special_tokens_dict()` values of a `TextPreprocessor`."""
    ids = preprocessor.special_token_ids
    values = {
        "vocab_size": preprocessor.vocab_size,
        "start_of_sequence_id": ids["cls_id"],
        "end_of_segment_id": ids["sep_id"],
        "padding_id": ids["pad_id"],
    }
    if ids.get("mask_id") is not None:
        values["mask_id"] = ids["mask_id"]
    return values
