"""WordPieceTokenizer / TextPreprocessor vs the Hugging Face `tokenizers` library.

The reference is always `tokenizers` (Rust), never this package: MiniLM's own
tokenizer.json, and `BertWordPieceTokenizer` for the cased KR-BERT vocab.
"""

import json
import pathlib
import unicodedata

import numpy as np
import pytest
import tensorflow as tf

tokenizers = pytest.importorskip("tokenizers")
from tokenizers.implementations import BertWordPieceTokenizer

from tf_simcse.preprocessing import TextPreprocessor, WordPieceTokenizer

CORPUS_FILES = ("korsts/sts-train.tsv", "korsts/sts-dev.tsv", "kornli/xnli.dev.ko.tsv", "kornli/xnli.test.ko.tsv")
KR_BERT_VOCAB = "vocabs/kr_bert_char_16424.txt"

EDGE_CASES = [
    "",
    " ",
    "   \t\n  ",
    "\u3000\u00a0\u2009",
    "한국어 English 中文 😀 ＡＢＣ ﬁ ① ㈜ ½ ™",
    "\u1112\u1161\u11ab\u1100\u116e\u11a8\u110b\u1165",  # NFD-decomposed Hangul (한국어)
    "한국어",
    "ctrl\x00chars\x01\x07\x1b\x7f\u200b\u200d\ufeff\ufffd here",
    "tab\tnew\nline\rcarriage\x0bvt\x0cff\x85nel\u2028ls",
    "x" * 150,
    "가" * 40 + " " + "가" * 101 + " " + "a" * 100 + " " + "b" * 101,
    "Ὀδυσσεύς ΟΔΟΣ İstanbul Straße ǅ ß ﬀ Å Å",
    "café naïve résumé CAFÉ",
    "[SEP] literal [CLS][MASK]x[UNK] [sep] [PAD]",
    "a$b+c^d`e|f~g<h>i=j",
    "«quotes» “curly” 'single' \"double\" — dash… ¿que?",
    "日本語のテキスト、カタカナ。漢字",
    "١٢٣ עברית العربية हिन्दी ภาษาไทย",
    "e\u0301 a\u0300\u0316 \U0001d165\U0001d16d \u0915\u094d\u0937",
    "emoji 👩‍👩‍👧 🇰🇷 ✌🏽 🥰",
    "\U000e0001\U000f0000 private \ue000 unassigned \U0003134b",
    "word" + " word" * 200,
]


def read_pairs(shared_data):
    """(sentence1, sentence2) of every row of the four corpus files (TSV, header, no quoting)."""
    pairs = []
    for name in CORPUS_FILES:
        path = shared_data / name
        lines = path.read_text(encoding="utf-8").split("\n")
        header = lines[0].split("\t")
        i, j = header.index("sentence1"), header.index("sentence2")
        for number, line in enumerate(lines[1:], start=2):
            if not line:
                continue
            fields = line.split("\t")
            assert len(fields) == len(header), f"{path}:{number}: {len(fields)} fields, header has {len(header)}"
            pairs.append((fields[i], fields[j]))
    return pairs


@pytest.fixture(scope="module")
def corpus(shared_data):
    pairs = read_pairs(shared_data)
    assert len(pairs) == 5749 + 1500 + 2490 + 5010
    return pairs


def _hf(tokenizer, max_length=None, pad_id=None):
    """The reference tokenizer with truncation (longest_first) / fixed padding as asked."""
    if max_length:
        tokenizer.enable_truncation(max_length)
    else:
        tokenizer.no_truncation()
    if pad_id is not None:
        tokenizer.enable_padding(length=max_length, pad_id=pad_id)
    else:
        tokenizer.no_padding()
    return tokenizer


def _count_single_mismatches(ours_ragged, reference):
    ours = ours_ragged.to_list()
    assert len(ours) == len(reference)
    return sum(o != r.ids for o, r in zip(ours, reference)), len(ours)


def _count_packed_mismatches(packed, reference, seq_length):
    """Rows whose ids, type ids or mask differ from Hugging Face's (padded to seq_length)."""
    expected = {
        "input_word_ids": np.array([e.ids for e in reference], np.int32).reshape(-1, seq_length),
        "input_type_ids": np.array([e.type_ids for e in reference], np.int32).reshape(-1, seq_length),
        "input_mask": np.array([e.attention_mask for e in reference], np.int32).reshape(-1, seq_length),
    }
    differs = np.zeros(len(reference), bool)
    for key, value in expected.items():
        got = packed[key].numpy()
        assert got.shape == value.shape and got.dtype == np.int32, (key, got.shape, value.shape)
        differs |= (got != value).any(axis=1)
    return int(differs.sum())


def _corpus_parity(preprocessors, hf_tokenizer, pairs, label):
    """Singles (all sentence1 + sentence2) and pairs at each length; returns a report line."""
    first = [a for a, _ in pairs]
    second = [b for _, b in pairs]
    sentences = first + second
    any_pre = next(iter(preprocessors.values()))
    pad_id = any_pre.special_token_ids["pad_id"]

    bad, n = _count_single_mismatches(
        any_pre.tokenize(tf.constant(sentences)), _hf(hf_tokenizer).encode_batch(sentences, add_special_tokens=False)
    )
    report = [f"{label}: tokenize {n} sentences, {bad} mismatches"]
    assert bad == 0, report[-1]
    for seq_length, pre in preprocessors.items():
        reference = _hf(hf_tokenizer, seq_length, pad_id).encode_batch(sentences)
        bad = _count_packed_mismatches(pre(tf.constant(sentences)), reference, seq_length)
        report.append(f"{label}: single @{seq_length}: {len(sentences)} compared, {bad} mismatches")
        assert bad == 0, report[-1]
        reference = _hf(hf_tokenizer, seq_length, pad_id).encode_batch(list(zip(first, second)))
        bad = _count_packed_mismatches(pre((tf.constant(first), tf.constant(second))), reference, seq_length)
        report.append(f"{label}: pair @{seq_length}: {len(first)} compared, {bad} mismatches")
        assert bad == 0, report[-1]
    print("\n" + "\n".join(report))
    return report


@pytest.mark.minilm
@pytest.mark.shared_data
@pytest.mark.slow
def test_minilm_corpus_parity(minilm_dir, corpus):
    reference = tokenizers.Tokenizer.from_file(str(minilm_dir / "tokenizer.json"))
    pre64 = TextPreprocessor.from_pretrained(minilm_dir, seq_length=64)
    assert pre64.pair_style == "bert" and pre64.tokenizer.lower_case
    preprocessors = {64: pre64, 128: TextPreprocessor(pre64.tokenizer, 128)}
    _corpus_parity(preprocessors, reference, corpus, "MiniLM (uncased)")


@pytest.mark.shared_data
@pytest.mark.slow
def test_kr_bert_cased_corpus_parity(shared_data, corpus):
    vocab = str(shared_data / KR_BERT_VOCAB)
    reference = BertWordPieceTokenizer(vocab, lowercase=False, strip_accents=False)
    tokenizer = WordPieceTokenizer(vocab, lower_case=False, strip_accents=False)
    preprocessors = {n: TextPreprocessor(tokenizer, n) for n in (64, 128)}
    _corpus_parity(preprocessors, reference, corpus, "KR-BERT char 16424 (cased)")
    # lower_case=True implies accent stripping, which turns Hangul into
    # conjoining jamo: a different (longer) tokenization than the checkpoint's.
    unk = tokenizer.special_token_ids["unk_id"]
    cased = tokenizer.tokenize(["한국어 문장입니다"]).flat_values.numpy().tolist()
    jamo = WordPieceTokenizer(vocab, lower_case=True).tokenize(["한국어 문장입니다"]).flat_values.numpy().tolist()
    assert unk not in cased and len(jamo) > 2 * len(cased)


def _every_code_point_texts():
    """Blocks of space-separated single code points: every assigned one (and every
    CJK-range one), plus every 61st unassigned one (they all behave alike).
    Surrogates cannot be passed to the reference."""
    cps = [
        c
        for c in range(0x110000)
        if not 0xD800 <= c <= 0xDFFF and (unicodedata.category(chr(c)) != "Cn" or c % 61 == 0 or _in_cjk(c))
    ]
    return [" ".join(chr(c) for c in cps[i : i + 500]) for i in range(0, len(cps), 500)]


def _in_cjk(c):
    return 0x3400 <= c <= 0x4DBF or 0x4E00 <= c <= 0x9FFF or 0xF900 <= c <= 0xFAFF or 0x20000 <= c <= 0x2FA1F


@pytest.mark.shared_data
@pytest.mark.slow
@pytest.mark.parametrize(
    "settings",
    [
        {"lowercase": False, "strip_accents": False},
        {"lowercase": True, "strip_accents": False},
        {"lowercase": False, "strip_accents": True},
        {"lowercase": False, "strip_accents": False, "handle_chinese_chars": False, "clean_text": False},
    ],
    ids=["cased", "lower-keep-accents", "strip-accents-only", "no-clean-no-cjk"],
)
def test_every_code_point_kr_bert(shared_data, settings):
    vocab = str(shared_data / KR_BERT_VOCAB)
    reference = _hf(BertWordPieceTokenizer(vocab, **settings))
    ours = WordPieceTokenizer(
        vocab,
        lower_case=settings["lowercase"],
        strip_accents=settings["strip_accents"],
        tokenize_chinese_chars=settings.get("handle_chinese_chars", True),
        clean_text=settings.get("clean_text", True),
    )
    texts = _every_code_point_texts()
    expected = [e.ids for e in reference.encode_batch(texts, add_special_tokens=False)]
    got = ours.tokenize(tf.constant(texts)).to_list()
    bad = [i for i in range(len(texts)) if got[i] != expected[i]]
    assert not bad, f"{len(bad)} of {len(texts)} blocks of 500 code points differ, first block {bad[0]}"


@pytest.mark.minilm
@pytest.mark.slow
def test_every_code_point_minilm(minilm_dir):
    reference = _hf(tokenizers.Tokenizer.from_file(str(minilm_dir / "tokenizer.json")))
    ours = WordPieceTokenizer.from_pretrained(minilm_dir)
    texts = _every_code_point_texts()
    expected = [e.ids for e in reference.encode_batch(texts, add_special_tokens=False)]
    got = ours.tokenize(tf.constant(texts)).to_list()
    bad = [i for i in range(len(texts)) if got[i] != expected[i]]
    assert not bad, f"{len(bad)} of {len(texts)} blocks of 500 code points differ, first block {bad[0]}"


@pytest.mark.minilm
def test_edge_cases_minilm(minilm_dir):
    reference = tokenizers.Tokenizer.from_file(str(minilm_dir / "tokenizer.json"))
    ours = WordPieceTokenizer.from_pretrained(minilm_dir)
    _assert_edge_cases(ours, reference)
    pre = TextPreprocessor(ours, seq_length=16)
    packed = pre(tf.constant(EDGE_CASES))
    expected = _hf(reference, 16, 0).encode_batch(EDGE_CASES)
    assert _count_packed_mismatches(packed, expected, 16) == 0
    pairs = list(zip(EDGE_CASES, EDGE_CASES[::-1]))
    packed = pre((tf.constant([a for a, _ in pairs]), tf.constant([b for _, b in pairs])))
    expected = _hf(reference, 16, 0).encode_batch(pairs)
    assert _count_packed_mismatches(packed, expected, 16) == 0


@pytest.mark.shared_data
def test_edge_cases_kr_bert(shared_data):
    vocab = str(shared_data / KR_BERT_VOCAB)
    for lower, strip in [(False, False), (True, None), (False, True)]:
        reference = BertWordPieceTokenizer(vocab, lowercase=lower, strip_accents=strip)
        ours = WordPieceTokenizer(vocab, lower_case=lower, strip_accents=strip)
        _assert_edge_cases(ours, reference)


def _assert_edge_cases(ours, reference):
    expected = [e.ids for e in _hf(reference).encode_batch(EDGE_CASES, add_special_tokens=False)]
    got = ours.tokenize(tf.constant(EDGE_CASES)).to_list()
    for text, g, e in zip(EDGE_CASES, got, expected):
        assert g == e, f"{text!r}: ours {g} vs tokenizers {e}"
    # One at a time (scalar input) gives the same ids as in a batch.
    for text, e in zip(EDGE_CASES[:6], expected):
        assert ours.tokenize(tf.constant(text)).numpy().tolist() == e


def test_over_long_word_is_unk_by_characters_not_bytes(tmp_path):
    # 100 Hangul syllables = 300 UTF-8 bytes: still one word for Hugging Face.
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "가", "##가", "a", "##a"]
    path = tmp_path / "vocab.txt"
    path.write_text("\n".join(vocab) + "\n", encoding="utf-8")
    reference = _hf(BertWordPieceTokenizer(str(path), lowercase=False, strip_accents=False))
    ours = WordPieceTokenizer(str(path), lower_case=False, strip_accents=False)
    texts = ["가" * 100, "가" * 101, "a" * 100, "a" * 101, "가" * 99 + "b"]
    expected = [e.ids for e in reference.encode_batch(texts, add_special_tokens=False)]
    assert ours.tokenize(texts).to_list() == expected
    assert expected[0] == [5] + [6] * 99 and expected[1] == [1]


def test_duplicate_and_blank_vocab_lines_follow_hugging_face(tmp_path):
    # Hugging Face keeps the last id of a repeated token and strips trailing spaces.
    lines = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b", "a", "", "c  ", "##b"]
    path = tmp_path / "vocab.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    reference = _hf(BertWordPieceTokenizer(str(path), lowercase=False, strip_accents=False))
    ours = WordPieceTokenizer(str(path), lower_case=False, strip_accents=False)
    texts = ["a b c ab", "c", "abb"]
    expected = [e.ids for e in reference.encode_batch(texts, add_special_tokens=False)]
    assert ours.tokenize(texts).to_list() == expected
    assert ours.vocab_size == len(lines)


def test_split_special_tokens_option(tmp_path):
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[", "]", "sep", "x"]
    path = tmp_path / "vocab.txt"
    path.write_text("\n".join(vocab) + "\n", encoding="utf-8")
    literal = WordPieceTokenizer(str(path), lower_case=True)
    split = WordPieceTokenizer(str(path), lower_case=True, split_special_tokens=True)
    assert literal.tokenize(["x[SEP]x"]).to_list() == [[8, 3, 8]]
    assert split.tokenize(["x[SEP]x"]).to_list() == [[8, 5, 7, 6, 8]]


@pytest.mark.minilm
def test_from_pretrained_settings_precedence(tmp_path, minilm_dir):
    # tokenizer_config.json wins over tokenizer.json's normalizer (as in
    # transformers); explicit overrides win over both.
    d = tmp_path / "ckpt"
    d.mkdir()
    (d / "vocab.txt").write_bytes((minilm_dir / "vocab.txt").read_bytes())
    (d / "tokenizer.json").write_bytes((minilm_dir / "tokenizer.json").read_bytes())
    (d / "tokenizer_config.json").write_text('{"do_lower_case": false}', encoding="utf-8")
    tok = WordPieceTokenizer.from_pretrained(d)
    assert tok.lower_case is False and tok.strip_accents is None
    tok = WordPieceTokenizer.from_pretrained(d, lower_case=True, strip_accents=False)
    assert tok.get_config()["lower_case"] is True and tok.get_config()["strip_accents"] is False
    reference = _hf(BertWordPieceTokenizer(str(d / "vocab.txt"), lowercase=True, strip_accents=False))
    texts = ["Café Ünïcödé 한국어", "ＡＢＣ"]
    expected = [e.ids for e in reference.encode_batch(texts, add_special_tokens=False)]
    assert tok.tokenize(texts).to_list() == expected


@pytest.mark.minilm
def test_from_pretrained_tokenizer_json_only(tmp_path, minilm_dir):
    d = tmp_path / "json_only"
    d.mkdir()
    (d / "tokenizer.json").write_bytes((minilm_dir / "tokenizer.json").read_bytes())
    tok = WordPieceTokenizer.from_pretrained(d)
    assert tok.vocab_path is None and tok.vocab_size == 30522
    assert tok.vocabulary == (minilm_dir / "vocab.txt").read_text(encoding="utf-8").split("\n")[:-1]
    saved = tok.save_vocabulary(tmp_path / "out")
    assert pathlib.Path(saved).read_bytes() == (minilm_dir / "vocab.txt").read_bytes()


def test_get_config_rebuilds_the_same_tokenizer(shared_data):
    vocab = str(shared_data / KR_BERT_VOCAB)
    tok = WordPieceTokenizer(vocab, lower_case=False, strip_accents=True, tokenize_chinese_chars=False)
    config = tok.get_config()
    rebuilt = WordPieceTokenizer(vocab, **json.loads(json.dumps(config)))
    assert rebuilt.get_config() == config
    assert tok.special_token_ids == {"cls_id": 2, "sep_id": 3, "pad_id": 0, "unk_id": 1, "mask_id": 4}
    assert tok.vocab_size == 16424 and tok.vocab_path == vocab


def test_bad_inputs_raise_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        WordPieceTokenizer(str(tmp_path / "nope.txt"), lower_case=True)
    with pytest.raises(ValueError, match="unk_token"):
        WordPieceTokenizer(["a", "b"], lower_case=True)
    with pytest.raises(ValueError, match="cls_token"):
        WordPieceTokenizer(["[UNK]", "[SEP]", "[PAD]"], lower_case=True)
    with pytest.raises(FileNotFoundError, match="vocab.txt"):
        WordPieceTokenizer.from_pretrained(tmp_path)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "vocab.txt").write_text("[UNK]\n[CLS]\n[SEP]\n[PAD]\n", encoding="utf-8")
    (bad / "tokenizer_config.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match="tokenizer_config.json"):
        WordPieceTokenizer.from_pretrained(bad)
    with pytest.raises(ValueError, match="shape"):
        WordPieceTokenizer(["[UNK]", "[CLS]", "[SEP]", "[PAD]"], lower_case=True).tokenize([["a"]])
