"""Truncation and special-token packing of one or two token segments."""

import tensorflow as tf

from tf_simcse import features

_PAIR_STYLES = ("bert", "roberta")


def _num_special_tokens(pair_style, num_segments):
    if pair_style == "bert":  # [CLS] a [SEP] (b [SEP])
        return 1 + num_segments
    return 2 if num_segments == 1 else 4  # <s> a </s> (</s> b </s>)


def longest_first_lengths(n1, n2, budget):
    """Per-row kept lengths of Hugging Face's "longest_first" pair truncation.

    This is the closed form `tokenizers` (Rust) uses, not the one-token-at-a-
    time loop of older Python code: when both segments must shrink, the shorter
    one gets `budget // 2` and the longer one the rest (on a tie the second
    segment counts as the longer one); when only the longer one must shrink, it
    gets what the shorter one leaves.
    """
    first_longer = n1 > n2
    short = tf.minimum(n1, n2)
    long = tf.maximum(n1, n2)
    fits = short + long <= budget
    half = budget // 2
    short_new = tf.where(fits | (2 * short <= budget), short, half)
    long_new = tf.where(fits, long, tf.where(2 * short <= budget, budget - short, budget - half))
    return tf.where(first_longer, long_new, short_new), tf.where(first_longer, short_new, long_new)


def _take(segment, offsets):
    """`segment[i, offsets[i, j]]` for a ragged `[batch, (n)]` segment; out-of-row offsets
    give arbitrary values (callers mask them)."""
    values = tf.concat([segment.values, tf.zeros([1], segment.dtype)], 0)  # never empty
    index = segment.row_splits[:-1, tf.newaxis] + tf.cast(offsets, segment.row_splits.dtype)
    index = tf.clip_by_value(index, 0, tf.shape(values, out_type=index.dtype)[0] - 1)
    return tf.gather(values, index)


class InputPacker(tf.Module):
    """Packs token segments into `{input_word_ids, input_mask, input_type_ids}`.

    Args:
        seq_length: total length including special tokens.
        cls_id, sep_id, pad_id: special token ids (for RoBERTa-style vocabs:
            `<s>`, `</s>`, `<pad>`).
        pair_style: "bert" packs `[CLS] a [SEP] b [SEP]` with type ids 0 for
            the first part and 1 for `b [SEP]`; "roberta" packs
            `<s> a </s></s> b </s>` with all type ids 0.
        dynamic: False pads every batch to `seq_length` (static shapes for
            XLA/TPU); True pads to the longest packed row of the batch.

    Truncation is Hugging Face's default: a single segment keeps its first
    `seq_length - 2` tokens; a pair is cut with "longest_first".
    """

    def __init__(self, seq_length, *, cls_id, sep_id, pad_id, pair_style="bert", dynamic=False, name=None):
        super().__init__(name=name)
        if pair_style not in _PAIR_STYLES:
            raise ValueError(f"pair_style must be one of {_PAIR_STYLES}, got {pair_style!r}")
        for key, value in (("cls_id", cls_id), ("sep_id", sep_id), ("pad_id", pad_id)):
            if value is None:
                raise ValueError(f"InputPacker needs {key}, got None")
        seq_length = int(seq_length)
        if seq_length < _num_special_tokens(pair_style, 1):
            raise ValueError(f"seq_length={seq_length} cannot hold the special tokens of pair_style={pair_style!r}")
        self.seq_length = seq_length
        self.cls_id = int(cls_id)
        self.sep_id = int(sep_id)
        self.pad_id = int(pad_id)
        self.pair_style = pair_style
        self.dynamic = bool(dynamic)

    def get_config(self):
        return {
            "seq_length": self.seq_length,
            "cls_id": self.cls_id,
            "sep_id": self.sep_id,
            "pad_id": self.pad_id,
            "pair_style": self.pair_style,
            "dynamic": self.dynamic,
        }

    @tf.autograph.experimental.do_not_convert
    def __call__(self, segments, seq_length=None):
        """Packs `segments` (one RaggedTensor `[batch, (tokens)]` or a list of 1-2).

        Returns int32 tensors `[batch, seq_length]` (or `[batch, longest]` if
        dynamic). `seq_length` overrides the packer's length for this call.
        """
        if isinstance(segments, (list, tuple)):
            segments = list(segments)
        else:
            segments = [segments]
        if not 1 <= len(segments) <= 2:
            raise ValueError(f"InputPacker packs 1 or 2 segments, got {len(segments)}")
        segments = [self._as_ragged(s) for s in segments]
        seq_length = self.seq_length if seq_length is None else int(seq_length)
        budget = seq_length - _num_special_tokens(self.pair_style, len(segments))
        if budget < 0:
            raise ValueError(
                f"seq_length={seq_length} cannot hold the special tokens of {len(segments)} segments "
                f"with pair_style={self.pair_style!r}"
            )

        # Kept lengths per row, then each output position is looked up by index
        # arithmetic on dense [batch, width] grids (cheaper to trace and run
        # than concatenating ragged tensors).
        a = segments[0]
        n1 = tf.cast(a.row_lengths(), tf.int32)
        if len(segments) == 1:
            n1 = tf.minimum(n1, budget)
        else:
            b = segments[1]
            n1, n2 = longest_first_lengths(n1, tf.cast(b.row_lengths(), tf.int32), budget)
        end_a = 1 + n1  # [CLS] / <s> at 0, segment a at 1 .. end_a - 1
        if len(segments) == 1:
            total = end_a + 1
        else:
            start_b = end_a + (1 if self.pair_style == "bert" else 2)
            end_b = start_b + n2
            total = end_b + 1

        if self.dynamic:
            width = tf.reduce_max(tf.concat([total, [0]], 0))
        else:
            width = seq_length
        pos = tf.range(width)[tf.newaxis, :]
        batch = a.nrows(out_type=tf.int32)

        def column(v):
            return v[:, tf.newaxis]

        word_ids = tf.fill([batch, width], tf.constant(self.pad_id, tf.int32))
        word_ids = tf.where(pos == 0, self.cls_id, word_ids)
        in_a = (pos >= 1) & (pos < column(end_a))
        word_ids = tf.where(in_a, _take(a, pos - 1), word_ids)
        type_ids = tf.zeros_like(word_ids)
        if len(segments) == 1:
            word_ids = tf.where(pos == column(end_a), self.sep_id, word_ids)
        else:
            word_ids = tf.where((pos >= column(end_a)) & (pos < column(start_b)), self.sep_id, word_ids)
            in_b = (pos >= column(start_b)) & (pos < column(end_b))
            word_ids = tf.where(in_b, _take(b, pos - column(start_b)), word_ids)
            word_ids = tf.where(pos == column(end_b), self.sep_id, word_ids)
            if self.pair_style == "bert":
                type_ids = tf.cast((pos >= column(start_b)) & (pos < column(total)), tf.int32)
        mask = tf.cast(pos < column(total), tf.int32)
        if not self.dynamic:
            shape = [None, seq_length]
            word_ids, mask, type_ids = (tf.ensure_shape(t, shape) for t in (word_ids, mask, type_ids))
        return {features.WORD_IDS: word_ids, features.MASK: mask, features.TYPE_IDS: type_ids}

    @staticmethod
    def _as_ragged(segment):
        if isinstance(segment, tf.RaggedTensor):
            if segment.ragged_rank != 1:
                segment = segment.merge_dims(1, -1)
        else:
            segment = tf.convert_to_tensor(segment)
            if segment.shape.rank != 2:
                raise ValueError(f"a segment must be [batch, (tokens)], got shape {segment.shape}")
            segment = tf.RaggedTensor.from_tensor(segment)
        if segment.dtype != tf.int32:
            segment = tf.cast(segment, tf.int32)
        return segment.with_row_splits_dtype(tf.int64)
