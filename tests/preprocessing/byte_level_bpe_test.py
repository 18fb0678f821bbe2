"""ByteLevelBPETokenizer / TextPreprocessor vs Hugging Face `tokenizers` and transformers' RoBERTa tokenizer.

The reference tokenizer is built here: `tokenizers.ByteLevelBPETokenizer` trained on real Korean (KorSTS, KorNLI)
and English (STS-B, SICK, SemEval STS) sentences, saved as vocab.json + merges.txt, and read back by `tokenizers`
(`models.BPE` + the ByteLevel pre-tokenizer) and by `transformers.RobertaTokenizerFast` (what a RoBERTa
checkpoint directory gives). Never this package.
"""

import json
import tarfile

import numpy as np
import pytest
import tensorflow as tf

tokenizers = pytest.importorskip("tokenizers")
from tokenizers import models, pre_tokenizers  # noqa: E402

from tf_simcse.preprocessing import ByteLevelBPETokenizer, TextPreprocessor  # noqa: E402
from tf_simcse.preprocessing.byte_level_bpe import bytes_to_unicode, read_merges  # noqa: E402

SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]

EDGE_CASES = [
    "",
    " ",
    "   ",
    "a",
    " a",
    "  a",
    "a  b   c    ",
    "a\tb a \tb a\t b\t\tc\n\nd \n e",
    "it's don't we've I'm you'll he'd they're IT'S 'S",
    "'s 'tis \n's  's x.'s '''s 'sa it's's O'Reilly's rock'n'roll",
    "1234 56,789.0 3rd ５６ ①②",
    "café naïve résumé e\u0301 a\u0300\u0316",
    "한국어 문장 임베딩을 학습합니다.",
    "\u1112\u1161\u11ab\u1100\u116e\u11a8\u110b\u1165",  # NFD Hangul
    "Mixed 한국어 English 中文 日本語 😀🚀 ＡＢＣ ﬁ ① ½ ™",
    "emoji 👩‍👩‍👧 🇰🇷 ✌🏽",
    "a\u00a0b\u3000c\u2009d\u2028e\u0085f\u200bg",
    "ctrl\x00chars\x01\x07\x1b\x7f\ufeff\ufffd",
    "١٢٣ עברית العربية हिन्दी ภาษาไทย",
    "new letters \u1c89 \U000105c0 \U00010d40 (Unicode 16)",
    "x" * 300,
    "word " * 60,
    "<s> literal </s></s> <mask>, a <mask>b  <mask> <pad><unk> <S> <mask",
]


def _corpus(shared_data, tmp_path_factory):
    """Distinct real sentences: Korean (KorSTS dev, KorNLI XNLI dev) and English (STS-B test, SICK test, the scored
    STS16 pairs)."""
    def tsv_column_pairs(path, first, second, header=True, score=None):
        lines = [line.rstrip("\r") for line in path.read_text(encoding="utf-8").split("\n") if line]
        rows = [line.split("\t") for line in lines[1 if header else 0:]]
        return [s for r in rows for s in (r[first], r[second]) if score is None or r[score] != ""]

    root = shared_data
    sentences = tsv_column_pairs(root / "korsts" / "sts-dev.tsv", 5, 6)
    sentences += tsv_column_pairs(root / "kornli" / "xnli.dev.ko.tsv", 0, 1)
    out = tmp_path_factory.mktemp("stsb")
    with tarfile.open(root / "english_sts" / "Stsbenchmark.tar.gz") as archive:
        archive.extractall(out, filter="data")
    sentences += tsv_column_pairs(out / "stsbenchmark" / "sts-test.csv", 5, 6, header=False)
    sentences += tsv_column_pairs(root / "english_sts" / "sick2014" / "SICK_test_annotated.txt", 1, 2)
    for path in sorted((root / "english_sts" / "semeval-sts" / "2016").glob("*.test.tsv")):
        sentences += tsv_column_pairs(path, 1, 2, header=False, score=0)
    return list(dict.fromkeys(sentences))


@pytest.fixture(scope="module")
def corpus(shared_data, tmp_path_factory):
    sentences = _corpus(shared_data, tmp_path_factory)
    assert len(sentences) > 9000
    return sentences


@pytest.fixture(scope="module")
def bpe_files(corpus, tmp_path_factory):
    """vocab.json + merges.txt of a byte-level BPE trained by `tokenizers` on the corpus."""
    trainer = tokenizers.ByteLevelBPETokenizer()
    trainer.train_from_iterator(corpus, vocab_size=4000, min_frequency=2, special_tokens=SPECIALS, show_progress=False)
    directory = tmp_path_factory.mktemp("bpe")
    trainer.save_model(str(directory))
    return directory / "vocab.json", directory / "merges.txt"


def _reference(bpe_files, add_prefix_space=False):
    reference = tokenizers.Tokenizer(models.BPE.from_file(*map(str, bpe_files)))
    reference.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=add_prefix_space)
    return reference


def _ids(tokenizer, texts, batch=512):
    fn = tf.function(tokenizer.tokenize, input_signature=[tf.TensorSpec([None], tf.string)])
    out = []
    for i in range(0, len(texts), batch):
        out += fn(tf.constant(texts[i : i + batch])).to_list()
    return out


def _mismatches(ours, reference, texts):
    return [(t, o, r) for t, o, r in zip(texts, ours, (e.ids for e in reference.encode_batch(texts))) if o != r]


@pytest.mark.shared_data
@pytest.mark.parametrize("add_prefix_space", [False, True])
def test_ids_equal_tokenizers_on_real_korean_and_english(corpus, bpe_files, add_prefix_space):
    ours = ByteLevelBPETokenizer(*bpe_files, add_prefix_space=add_prefix_space, split_special_tokens=True)
    texts = corpus + EDGE_CASES
    bad = _mismatches(_ids(ours, texts), _reference(bpe_files, add_prefix_space), texts)
    print(f"\n{len(texts)} sentences (add_prefix_space={add_prefix_space}): {len(bad)} mismatches")
    assert not bad, bad[:3]


@pytest.fixture(scope="module")
def roberta_dir(bpe_files, tmp_path_factory):
    """A RoBERTa-style tokenizer directory, as transformers writes it from vocab.json + merges.txt."""
    transformers = pytest.importorskip("transformers")
    directory = tmp_path_factory.mktemp("roberta")
    for path in bpe_files:
        (directory / path.name).write_bytes(path.read_bytes())
    (directory / "config.json").write_text(json.dumps({"model_type": "roberta"}))
    # transformers reads the directory as a RoBERTa checkpoint's (the class constructor alone would ignore the
    # files in transformers 5), and writes its tokenizer.json / tokenizer_config.json beside them.
    tokenizer = transformers.AutoTokenizer.from_pretrained(directory)
    assert type(tokenizer).__name__.startswith("RobertaTokenizer") and len(tokenizer) == 4000
    tokenizer.save_pretrained(directory)
    return directory, tokenizer


@pytest.mark.shared_data
@pytest.mark.parametrize("seq_length", [16, 128])
def test_single_and_paired_packing_equals_transformers_roberta(corpus, roberta_dir, seq_length):
    directory, reference = roberta_dir
    preprocessor = TextPreprocessor.from_pretrained(directory, seq_length=seq_length)
    assert isinstance(preprocessor.tokenizer, ByteLevelBPETokenizer) and preprocessor.pair_style == "roberta"
    firsts, seconds = corpus[:600:2], corpus[1:600:2]
    firsts, seconds = firsts + EDGE_CASES, seconds + EDGE_CASES[::-1]
    pack = tf.function(lambda a, b: preprocessor((a, b)))
    single = tf.function(lambda a: preprocessor(a))
    expected_pairs = reference(firsts, seconds, truncation=True, max_length=seq_length, padding="max_length")
    expected_single = reference(firsts, truncation=True, max_length=seq_length, padding="max_length")
    got_pairs = pack(tf.constant(firsts), tf.constant(seconds))
    got_single = single(tf.constant(firsts))
    # <s> A </s></s> B </s>, all token types 0; padded with <pad>.
    np.testing.assert_array_equal(got_pairs["input_word_ids"].numpy(), expected_pairs["input_ids"])
    np.testing.assert_array_equal(got_pairs["input_mask"].numpy(), expected_pairs["attention_mask"])
    np.testing.assert_array_equal(got_single["input_word_ids"].numpy(), expected_single["input_ids"])
    np.testing.assert_array_equal(got_single["input_mask"].numpy(), expected_single["attention_mask"])
    assert not got_pairs["input_type_ids"].numpy().any()


def test_added_tokens_in_the_text_match_transformers(roberta_dir):
    directory, reference = roberta_dir
    tokenizer = ByteLevelBPETokenizer.from_pretrained(directory)
    texts = [t for t in EDGE_CASES if "<" in t] + ["Hello <mask>!", "a\t<mask>", "<mask>x", "x</s>y", "<s>"]
    ours = _ids(tokenizer, texts)
    expected = [reference(t, add_special_tokens=False)["input_ids"] for t in texts]
    assert ours == expected


def test_lstrip_and_rstrip_added_tokens_match_tokenizers(roberta_dir, tmp_path):
    # roberta-base's tokenizer.json marks <mask> lstrip; here </s> also rstrip, and add_prefix_space is on.
    directory, _ = roberta_dir
    data = json.loads((directory / "tokenizer.json").read_text(encoding="utf-8"))
    for token in data["added_tokens"]:
        token["lstrip"] = token["content"] == "<mask>"
        token["rstrip"] = token["content"] == "</s>"
    data["pre_tokenizer"]["add_prefix_space"] = True
    for name in ("vocab.json", "merges.txt"):
        (tmp_path / name).write_bytes((directory / name).read_bytes())
    (tmp_path / "tokenizer.json").write_text(json.dumps(data), encoding="utf-8")
    reference = tokenizers.Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    ours = ByteLevelBPETokenizer.from_pretrained(tmp_path)
    assert ours.add_prefix_space
    texts = [t for t in EDGE_CASES if "<" in t] + ["a  <mask>  b", "a\t\u3000<mask>", "x </s>   y", "</s>\n z", ""]
    assert _ids(ours, texts) == [e.ids for e in reference.encode_batch(texts, add_special_tokens=False)]


def test_save_load_and_tf_data(bpe_files, tmp_path):
    preprocessor = TextPreprocessor(ByteLevelBPETokenizer(*bpe_files), seq_length=24)
    preprocessor.save(tmp_path / "p")
    assert sorted(p.name for p in (tmp_path / "p").iterdir()) == ["merges.txt", "preprocessor.json", "vocab.json"]
    assert read_merges(tmp_path / "p" / "merges.txt") == read_merges(bpe_files[1])
    loaded = TextPreprocessor.load(tmp_path / "p")
    assert loaded.get_config() == preprocessor.get_config()
    texts = tf.constant(["한 남자가 기타를 친다.", "A man plays a guitar. <mask>", ""])
    dataset = tf.data.Dataset.from_tensor_slices(texts).batch(3).map(loaded)
    for key, value in next(iter(dataset)).items():
        np.testing.assert_array_equal(value.numpy(), preprocessor(texts)[key].numpy())


def test_bytes_to_unicode_is_gpt2s_alphabet(bpe_files):
    chars = bytes_to_unicode()
    assert len(set(chars.values())) == 256 and chars[ord("A")] == "A" and chars[ord(" ")] == "Ġ"
    vocab = json.loads(bpe_files[0].read_text(encoding="utf-8"))
    assert set(chars.values()) <= set(vocab)  # the trainer's initial alphabet is GPT-2's


def test_bad_files_are_clear_errors(tmp_path):
    vocab = {t: i for i, t in enumerate(SPECIALS + ["a", "b", "ab", "Ġ"])}
    (tmp_path / "vocab.json").write_text(json.dumps(vocab))
    (tmp_path / "merges.txt").write_text("#version: 0.2\na b\na  b\n")
    with pytest.raises(ValueError, match=r"merges\.txt: line 3: expected two tokens separated by one space"):
        ByteLevelBPETokenizer(tmp_path / "vocab.json", tmp_path / "merges.txt")
    with pytest.raises(ValueError, match=r"merge 2 \('a' 'c'\): 'c' is not in the vocabulary"):
        ByteLevelBPETokenizer(vocab, [("a", "b"), ("a", "c")])
    with pytest.raises(ValueError, match="cls_token '<s>' is not in the vocabulary"):
        ByteLevelBPETokenizer({"a": 0}, [])
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ValueError, match="is not a valid vocab.json"):
        ByteLevelBPETokenizer(tmp_path / "bad.json", [])
    (tmp_path / "tokenizer.json").write_text(json.dumps(
        {"normalizer": {"type": "NFC"}, "pre_tokenizer": {"type": "ByteLevel"}, "model": {"type": "BPE"}}
    ))
    with pytest.raises(ValueError, match="normalizer 'NFC' is not supported"):
        ByteLevelBPETokenizer.from_pretrained(tmp_path)


def test_merges_follow_tokenizers_order_on_a_handmade_vocabulary():
    # Ranks decide, not the merged token's length: "ab" (rank 0) before "bc" (rank 1); leftmost on equal ranks.
    letters = ["a", "b", "c"]
    vocab = {t: i for i, t in enumerate(SPECIALS + letters + ["ab", "bc", "abc", "aa", "aaa", "aaaa"])}
    for b in range(256):  # the byte alphabet, so that no byte is missing
        vocab.setdefault(bytes_to_unicode()[b], len(vocab))
    merges = [("a", "b"), ("b", "c"), ("ab", "c"), ("a", "a"), ("aa", "a"), ("aa", "aa")]
    ours = ByteLevelBPETokenizer(vocab, merges, split_special_tokens=True)
    reference = tokenizers.Tokenizer(models.BPE(vocab, merges))
    reference.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    texts = ["abc", "bca", "aaa", "aaaa", "aaaaa", "abcabc", "cab", "aabbcc"]
    assert _ids(ours, texts) == [e.ids for e in reference.encode_batch(texts)]
