"""TextPreprocessor: checkpoint detection, tf.data / tf.function / SavedModel use, persistence.

Ids are checked against Hugging Face `tokenizers` / `sentencepiece`, never
against this package.
"""

import io
import json
import os

import numpy as np
import pytest
import tensorflow as tf

tokenizers = pytest.importorskip("tokenizers")
from tokenizers.implementations import BertWordPieceTokenizer

from tf_simcse.preprocessing import SentencePieceTokenizer, TextPreprocessor, WordPieceTokenizer

SENTENCES = [
    "안전모를 가진 한 남자가 춤을 추고 있다.",
    '그리고 그가 말했다, "엄마, 저 왔어요."',
    "A man is playing a FLUTE. ＡＢＣ ﬁ ① 😀",
    "",
]
OTHERS = ["남자가 춤을 춘다.", "", "x " * 40, "한국어"]


def _hf_packed(tok, inputs, seq_length, pad_id):
    tok.enable_truncation(seq_length)
    tok.enable_padding(length=seq_length, pad_id=pad_id)
    enc = tok.encode_batch(inputs)
    return {
        "input_word_ids": np.array([e.ids for e in enc]),
        "input_mask": np.array([e.attention_mask for e in enc]),
        "input_type_ids": np.array([e.type_ids for e in enc]),
    }


def _assert_packed_equal(packed, expected):
    assert set(packed) == {"input_word_ids", "input_mask", "input_type_ids"}
    for key, value in expected.items():
        got = packed[key].numpy() if hasattr(packed[key], "numpy") else packed[key]
        assert got.dtype == np.int32, key
        np.testing.assert_array_equal(got, value, err_msg=key)


@pytest.fixture(scope="module")
def kr_bert_dir(shared_data, tmp_path_factory):
    """A KLUE-RoBERTa-like checkpoint: model_type roberta, cased WordPiece vocab with [CLS]/[SEP]."""
    d = tmp_path_factory.mktemp("klue_like")
    (d / "vocab.txt").write_bytes((shared_data / "vocabs/kr_bert_char_16424.txt").read_bytes())
    (d / "config.json").write_text(json.dumps({"model_type": "roberta"}), encoding="utf-8")
    (d / "tokenizer_config.json").write_text(
        json.dumps({"do_lower_case": False, "tokenizer_class": "BertTokenizer"}), encoding="utf-8"
    )
    return d


@pytest.fixture(scope="module")
def kr_bert_reference(kr_bert_dir):
    return BertWordPieceTokenizer(str(kr_bert_dir / "vocab.txt"), lowercase=False, strip_accents=False)


@pytest.mark.minilm
def test_from_pretrained_minilm(minilm_dir):
    pre = TextPreprocessor.from_pretrained(minilm_dir, seq_length=32)
    assert isinstance(pre.tokenizer, WordPieceTokenizer)
    assert (pre.pair_style, pre.seq_length, pre.dynamic, pre.vocab_size) == ("bert", 32, False, 30522)
    assert pre.special_token_ids == {"cls_id": 101, "sep_id": 102, "pad_id": 0, "unk_id": 100, "mask_id": 103}
    reference = tokenizers.Tokenizer.from_file(str(minilm_dir / "tokenizer.json"))
    _assert_packed_equal(pre(tf.constant(SENTENCES)), _hf_packed(reference, SENTENCES, 32, 0))
    pairs = list(zip(SENTENCES, OTHERS))
    _assert_packed_equal(pre((tf.constant(SENTENCES), tf.constant(OTHERS))), _hf_packed(reference, pairs, 32, 0))


@pytest.mark.shared_data
def test_klue_like_roberta_with_wordpiece_packs_bert_style(kr_bert_dir, kr_bert_reference):
    pre = TextPreprocessor.from_pretrained(kr_bert_dir, seq_length=24)
    assert pre.pair_style == "bert" and pre.tokenizer.lower_case is False
    pairs = list(zip(SENTENCES, OTHERS))
    expected = _hf_packed(kr_bert_reference, pairs, 24, 0)
    _assert_packed_equal(pre((tf.constant(SENTENCES), tf.constant(OTHERS))), expected)


@pytest.fixture(scope="module")
def xlmr_dir(shared_data, tmp_path_factory):
    spm = pytest.importorskip("sentencepiece")
    lines = (shared_data / "korsts/sts-dev.tsv").read_text(encoding="utf-8").split("\n")[1:]
    sentences = [f for line in lines if line for f in line.split("\t")[5:7]]
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences), model_writer=model, vocab_size=800, character_coverage=0.98, minloglevel=2
    )
    d = tmp_path_factory.mktemp("xlmr_like")
    (d / "sentencepiece.bpe.model").write_bytes(model.getvalue())
    (d / "config.json").write_text(json.dumps({"model_type": "xlm-roberta"}), encoding="utf-8")
    return d


@pytest.mark.shared_data
def test_from_pretrained_sentencepiece_roberta_style(xlmr_dir):
    spm = pytest.importorskip("sentencepiece")
    pre = TextPreprocessor.from_pretrained(xlmr_dir, seq_length=12)
    assert isinstance(pre.tokenizer, SentencePieceTokenizer) and pre.tokenizer.fairseq_offset
    assert pre.pair_style == "roberta"
    sp = spm.SentencePieceProcessor(model_file=str(xlmr_dir / "sentencepiece.bpe.model"))
    a = [[i + 1 if i else 3 for i in ids] for ids in sp.encode(SENTENCES)]
    b = [[i + 1 if i else 3 for i in ids] for ids in sp.encode(OTHERS)]
    packed = pre((tf.constant(SENTENCES), tf.constant(OTHERS)))
    ids = packed["input_word_ids"].numpy().tolist()
    for row, x, y in zip(ids, a, b):
        # longest_first on the token budget 12 - 4, as in the packing tests.
        n1, n2 = len(x), len(y)
        while n1 + n2 > 8:
            if n1 > n2:
                n1 -= 1
            else:
                n2 -= 1
        expected = [0] + x[:n1] + [2, 2] + y[:n2] + [2]
        assert row == expected + [1] * (12 - len(expected))
    assert not packed["input_type_ids"].numpy().any()


@pytest.mark.shared_data
def test_dataset_map_and_tf_function(kr_bert_dir, kr_bert_reference):
    pre = TextPreprocessor.from_pretrained(kr_bert_dir, seq_length=16)
    expected_single = _hf_packed(kr_bert_reference, SENTENCES, 16, 0)
    expected_pair = _hf_packed(kr_bert_reference, list(zip(SENTENCES, OTHERS)), 16, 0)

    batched = tf.data.Dataset.from_tensor_slices(SENTENCES).batch(4).map(pre)
    assert batched.element_spec["input_word_ids"].shape.as_list() == [None, 16]
    _assert_packed_equal(next(iter(batched)), expected_single)

    unbatched = tf.data.Dataset.from_tensor_slices(SENTENCES).map(pre)
    assert unbatched.element_spec["input_mask"].shape.as_list() == [16]
    rows = list(unbatched)
    _assert_packed_equal({k: np.stack([r[k].numpy() for r in rows]) for k in rows[0]}, expected_single)

    pairs = tf.data.Dataset.from_tensor_slices((SENTENCES, OTHERS)).batch(4).map(lambda a, b: pre((a, b)))
    _assert_packed_equal(next(iter(pairs)), expected_pair)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)] * 2)
    def encode_pair(a, b):
        return pre((a, b))

    _assert_packed_equal(encode_pair(tf.constant(SENTENCES), tf.constant(OTHERS)), expected_pair)


@pytest.mark.shared_data
def test_dynamic_padding(kr_bert_dir, kr_bert_reference):
    static = TextPreprocessor.from_pretrained(kr_bert_dir, seq_length=64)
    dynamic = TextPreprocessor(static.tokenizer, 64, dynamic=True)
    a, b = static(tf.constant(SENTENCES)), dynamic(tf.constant(SENTENCES))
    longest = int(a["input_mask"].numpy().sum(1).max())
    assert b["input_word_ids"].shape == (len(SENTENCES), longest) and longest < 64
    for key in a:
        np.testing.assert_array_equal(b[key].numpy(), a[key].numpy()[:, :longest])
    # Inside tf.data, dynamic batches have an unknown length.
    ds = tf.data.Dataset.from_tensor_slices(SENTENCES).batch(2).map(dynamic)
    assert ds.element_spec["input_word_ids"].shape.as_list() == [None, None]


@pytest.mark.shared_data
def test_save_load_and_saved_model(kr_bert_dir, kr_bert_reference, tmp_path):
    pre = TextPreprocessor.from_pretrained(kr_bert_dir, seq_length=20)
    pre.save(tmp_path / "pre")
    assert sorted(os.listdir(tmp_path / "pre")) == ["preprocessor.json", "vocab.txt"]
    loaded = TextPreprocessor.load(tmp_path / "pre")
    assert loaded.get_config() == pre.get_config()
    expected = _hf_packed(kr_bert_reference, SENTENCES, 20, 0)
    _assert_packed_equal(loaded(tf.constant(SENTENCES)), expected)
    assert TextPreprocessor.load(tmp_path / "pre", seq_length=8).seq_length == 8

    class Export(tf.Module):
        def __init__(self, preprocessor):
            super().__init__()
            self.preprocessor = preprocessor

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def __call__(self, strings):
            return self.preprocessor(strings)

    tf.saved_model.save(Export(pre), str(tmp_path / "saved_model"))
    assert os.listdir(tmp_path / "saved_model" / "assets") == ["vocab.txt"]
    restored = tf.saved_model.load(str(tmp_path / "saved_model"))
    _assert_packed_equal(restored(tf.constant(SENTENCES)), expected)


@pytest.mark.shared_data
def test_sentencepiece_save_load(xlmr_dir, tmp_path):
    pre = TextPreprocessor.from_pretrained(xlmr_dir, seq_length=10, dynamic=True)
    pre.save(tmp_path / "sp")
    assert sorted(os.listdir(tmp_path / "sp")) == ["preprocessor.json", "sentencepiece.bpe.model"]
    loaded = TextPreprocessor.load(tmp_path / "sp")
    assert loaded.get_config() == pre.get_config() and loaded.pair_style == "roberta" and loaded.dynamic
    for key, value in pre(tf.constant(SENTENCES)).items():
        np.testing.assert_array_equal(loaded(tf.constant(SENTENCES))[key].numpy(), value.numpy())


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="no tokenizer files"):
        TextPreprocessor.from_pretrained(tmp_path)
    with pytest.raises(FileNotFoundError, match="preprocessor.json"):
        TextPreprocessor.load(tmp_path)
    (tmp_path / "preprocessor.json").write_text(json.dumps({"tokenizer_type": "bpe"}), encoding="utf-8")
    with pytest.raises(ValueError, match="tokenizer_type 'bpe'"):
        TextPreprocessor.load(tmp_path)
    tok = WordPieceTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "a"], lower_case=True)
    pre = TextPreprocessor(tok, 8)
    with pytest.raises(ValueError, match="scalars or all"):
        pre(tf.constant([["a"]]))
    assert pre(tf.constant("a"))["input_word_ids"].numpy().tolist() == [2, 4, 3, 0, 0, 0, 0, 0]
