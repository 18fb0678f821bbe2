"""InputPacker vs Hugging Face `tokenizers` truncation + post-processing.

The reference is a tiny `tokenizers.Tokenizer` (WordLevel over tokens a0..a29,
b0..b29) with the same templates BERT and XLM-R checkpoints use; both sides see
the same token ids, so only truncation, special tokens, type ids and padding
are compared.
"""

import numpy as np
import pytest
import tensorflow as tf

tokenizers = pytest.importorskip("tokenizers")
from tokenizers import Tokenizer, models, pre_tokenizers, processors

from tf_simcse.preprocessing import InputPacker

SPECIALS = {"bert": ["[PAD]", "[UNK]", "[CLS]", "[SEP]"], "roberta": ["<s>", "<pad>", "</s>", "<unk>"]}
MAX_TOKENS = 30


def _reference(pair_style):
    names = SPECIALS[pair_style]
    vocab = {
        t: i for i, t in enumerate(names + [f"a{i}" for i in range(MAX_TOKENS)] + [f"b{i}" for i in range(MAX_TOKENS)])
    }
    tok = Tokenizer(models.WordLevel(vocab, unk_token=names[1] if pair_style == "bert" else "<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    if pair_style == "bert":
        tok.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
        )
        ids = {"cls_id": 2, "sep_id": 3, "pad_id": 0}
    else:  # what transformers' XLMRobertaTokenizer installs
        tok.post_processor = processors.TemplateProcessing(
            single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
        )
        ids = {"cls_id": 0, "sep_id": 2, "pad_id": 1}
    return tok, ids


def _text(prefix, n):
    return " ".join(f"{prefix}{i}" for i in range(n))


def _segments(tok, texts):
    tok.no_truncation()
    tok.no_padding()
    return tf.ragged.constant([e.ids for e in tok.encode_batch(texts, add_special_tokens=False)], dtype=tf.int32)


def _expected(tok, inputs, seq_length, pad_id):
    tok.enable_truncation(seq_length)
    tok.enable_padding(length=seq_length, pad_id=pad_id)
    enc = tok.encode_batch(inputs)
    return {
        "input_word_ids": np.array([e.ids for e in enc]),
        "input_type_ids": np.array([e.type_ids for e in enc]),
        "input_mask": np.array([e.attention_mask for e in enc]),
    }


@pytest.mark.parametrize("pair_style", ["bert", "roberta"])
def test_pair_truncation_grid_matches_tokenizers(pair_style):
    tok, ids = _reference(pair_style)
    lengths = [(n1, n2) for n1 in range(0, 24, 1) for n2 in range(0, 24, 1)]
    firsts = [_text("a", n1) for n1, _ in lengths]
    seconds = [_text("b", n2) for _, n2 in lengths]
    seg_a, seg_b = _segments(tok, firsts), _segments(tok, seconds)
    compared = 0
    for seq_length in [4, 5, 6, 7, 8, 9, 12, 16, 17, 32]:
        packed = InputPacker(seq_length, pair_style=pair_style, **ids)([seg_a, seg_b])
        expected = _expected(tok, list(zip(firsts, seconds)), seq_length, ids["pad_id"])
        for key, value in expected.items():
            np.testing.assert_array_equal(packed[key].numpy(), value, err_msg=f"{key} @{seq_length}")
        compared += len(lengths)
    print(f"\n{pair_style}: {compared} pair packings compared, 0 mismatches")


@pytest.mark.parametrize("pair_style", ["bert", "roberta"])
def test_single_truncation_matches_tokenizers(pair_style):
    tok, ids = _reference(pair_style)
    texts = [_text("a", n) for n in range(MAX_TOKENS)]
    segment = _segments(tok, texts)
    for seq_length in [2, 3, 5, 8, 16, 31, 40]:
        packed = InputPacker(seq_length, pair_style=pair_style, **ids)(segment)
        for key, value in _expected(tok, texts, seq_length, ids["pad_id"]).items():
            np.testing.assert_array_equal(packed[key].numpy(), value, err_msg=f"{key} @{seq_length}")


def test_dynamic_pads_to_longest_in_batch():
    tok, ids = _reference("bert")
    segment = _segments(tok, [_text("a", 3), _text("a", 5), ""])
    static = InputPacker(16, **ids)(segment)
    dynamic = InputPacker(16, dynamic=True, **ids)(segment)
    assert static["input_word_ids"].shape == (3, 16)
    assert dynamic["input_word_ids"].shape == (3, 7)
    for key in static:
        np.testing.assert_array_equal(dynamic[key].numpy(), static[key].numpy()[:, :7])
    # Dynamic length never exceeds seq_length: truncation happens first.
    long = _segments(tok, [_text("a", 25)])
    assert InputPacker(10, dynamic=True, **ids)(long)["input_word_ids"].shape == (1, 10)


def test_static_shape_is_known_when_traced():
    packer = InputPacker(8, cls_id=2, sep_id=3, pad_id=0)

    @tf.function(input_signature=[tf.RaggedTensorSpec([None, None], tf.int32)])
    def pack(segment):
        return packer(segment)

    spec = pack.get_concrete_function().structured_outputs
    assert all(v.shape.as_list() == [None, 8] for v in spec.values())
    out = pack(tf.ragged.constant([[7, 8, 9]], dtype=tf.int32))
    assert out["input_word_ids"].numpy().tolist() == [[2, 7, 8, 9, 3, 0, 0, 0]]


def test_accepts_int64_dense_and_seq_length_override():
    packer = InputPacker(6, cls_id=2, sep_id=3, pad_id=0)
    a = tf.ragged.constant([[10, 11, 12, 13, 14]], dtype=tf.int64)
    b = tf.constant([[20, 21]], tf.int32)
    out = packer((a, b))
    assert out["input_word_ids"].dtype == tf.int32
    assert out["input_word_ids"].numpy().tolist() == [[2, 10, 11, 3, 20, 3]]
    assert out["input_type_ids"].numpy().tolist() == [[0, 0, 0, 0, 1, 1]]
    assert packer(a, seq_length=4)["input_word_ids"].numpy().tolist() == [[2, 10, 11, 3]]


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="pair_style"):
        InputPacker(8, cls_id=0, sep_id=1, pad_id=2, pair_style="gpt")
    with pytest.raises(ValueError, match="seq_length=1"):
        InputPacker(1, cls_id=0, sep_id=1, pad_id=2)
    with pytest.raises(ValueError, match="cls_id"):
        InputPacker(8, cls_id=None, sep_id=1, pad_id=2)
    packer = InputPacker(3, cls_id=0, sep_id=2, pad_id=1, pair_style="roberta")
    seg = tf.ragged.constant([[5]], dtype=tf.int32)
    with pytest.raises(ValueError, match="special tokens of 2 segments"):
        packer([seg, seg])
    with pytest.raises(ValueError, match="1 or 2 segments"):
        packer([seg, seg, seg])
