"""SentencePieceTokenizer vs the `sentencepiece` library and HF's XLMRobertaTokenizer.

Small SentencePiece models (unigram, as XLM-R's, and BPE) are trained here on
the KorSTS train sentences; every KorSTS / KorNLI sentence is then compared.
"""

import io
import json
import pathlib

import numpy as np
import pytest
import tensorflow as tf

spm = pytest.importorskip("sentencepiece")

from tf_simcse.preprocessing import SentencePieceTokenizer, TextPreprocessor
from tf_simcse.preprocessing.sentencepiece import parse_model_proto

CORPUS_FILES = ("korsts/sts-train.tsv", "korsts/sts-dev.tsv", "kornli/xnli.dev.ko.tsv", "kornli/xnli.test.ko.tsv")

EDGE_CASES = [
    "",
    " ",
    "   \t\n  ",
    "한국어 English 中文 😀 ＡＢＣ ﬁ ① ½",
    "\u1112\u1161\u11ab\u1100\u116e\u11a8\u110b\u1165",
    "ctrl\x01chars\x07\x1b\x7f\u200b here",
    "tab\tnew\nline\rcarriage",
    "x" * 150,
    "가" * 300,
    "1,000,000원 0000 000",
    "  leading and trailing spaces  ",
    "word" + " word" * 200,
]


def read_pairs(shared_data):
    pairs = []
    for name in CORPUS_FILES:
        lines = (shared_data / name).read_text(encoding="utf-8").split("\n")
        header = lines[0].split("\t")
        i, j = header.index("sentence1"), header.index("sentence2")
        for line in lines[1:]:
            if line:
                fields = line.split("\t")
                pairs.append((fields[i], fields[j]))
    return pairs


@pytest.fixture(scope="module")
def corpus(shared_data):
    return read_pairs(shared_data)


def _train(sentences, model_type, vocab_size):
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences),
        model_writer=model,
        model_type=model_type,
        vocab_size=vocab_size,
        character_coverage=0.98,  # leaves rare syllables to <unk>
        input_sentence_size=6000,
        shuffle_input_sentence=False,
        num_threads=2,
        minloglevel=2,
    )
    return model.getvalue()


@pytest.fixture(scope="module")
def models(corpus, tmp_path_factory):
    """{"unigram": path, "bpe": path} trained on KorSTS train sentences."""
    train = [s for pair in corpus[:3000] for s in pair]
    out = {}
    for model_type, size in (("unigram", 1200), ("bpe", 1200)):
        path = tmp_path_factory.mktemp(model_type) / "sentencepiece.bpe.model"
        path.write_bytes(_train(train, model_type, size))
        out[model_type] = path
    return out


@pytest.mark.shared_data
@pytest.mark.parametrize("model_type", ["unigram", "bpe"])
def test_matches_sentencepiece_library(models, corpus, model_type):
    path = models[model_type]
    reference = spm.SentencePieceProcessor(model_file=str(path))
    ours = SentencePieceTokenizer(str(path))
    assert ours.model_type == model_type and ours.vocab_size == reference.get_piece_size()
    sentences = [s for pair in corpus for s in pair] + EDGE_CASES
    got = ours.tokenize(tf.constant(sentences)).to_list()
    expected = reference.encode(sentences)
    bad = sum(g != e for g, e in zip(got, expected))
    print(f"\nSentencePiece {model_type} (vocab {ours.vocab_size}): {len(sentences)} sentences, {bad} mismatches")
    assert bad == 0, f"{bad} of {len(sentences)} sentences differ from sentencepiece"
    unk = reference.unk_id()
    assert any(unk in e for e in expected), "the test model should leave some characters to <unk>"


@pytest.mark.shared_data
def test_lower_case_option(models, corpus):
    path = models["unigram"]
    reference = spm.SentencePieceProcessor(model_file=str(path))
    ours = SentencePieceTokenizer(str(path), lower_case=True)
    sentences = [s for pair in corpus[:2000] for s in pair] + ["ÀÉÎ ΟΔΟΣ İ ＡＢＣ Hello WORLD"]
    expected = reference.encode(["".join(c.lower() for c in s) for s in sentences])
    assert ours.tokenize(tf.constant(sentences)).to_list() == expected


@pytest.mark.shared_data
def test_parse_model_proto(models):
    for model_type, path in models.items():
        reference = spm.SentencePieceProcessor(model_file=str(path))
        pieces, parsed_type = parse_model_proto(path.read_bytes())
        assert parsed_type == model_type
        assert pieces == [reference.id_to_piece(i) for i in range(reference.get_piece_size())]


def _xlmr_dir(models, tmp_path):
    d = tmp_path / "xlmr"
    d.mkdir()
    (d / "sentencepiece.bpe.model").write_bytes(models["unigram"].read_bytes())
    (d / "config.json").write_text(json.dumps({"model_type": "xlm-roberta"}), encoding="utf-8")
    return d


@pytest.mark.shared_data
@pytest.mark.slow
def test_fairseq_offset_matches_xlm_roberta_tokenizer(models, corpus, tmp_path, monkeypatch):
    """fairseq ids vs transformers' XLMRobertaTokenizer (built offline from the .model file).

    transformers 5 converts the model to a `tokenizers` Unigram, whose Viterbi
    breaks exact score ties ("000" -> "0" "00" vs "00" "0") differently from
    the sentencepiece library in a few sentences. We follow sentencepiece
    (what fairseq used to train XLM-R); every other sentence must match.
    """
    transformers = pytest.importorskip("transformers")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    d = _xlmr_dir(models, tmp_path)
    hf = transformers.XLMRobertaTokenizer.from_pretrained(str(d))
    ours = SentencePieceTokenizer.from_pretrained(d)
    assert ours.fairseq_offset
    assert ours.vocab_size == len(hf)
    assert ours.special_token_ids == {
        "cls_id": hf.cls_token_id,
        "sep_id": hf.sep_token_id,
        "pad_id": hf.pad_token_id,
        "unk_id": hf.unk_token_id,
        "mask_id": hf.mask_token_id,
    }
    sp = spm.SentencePieceProcessor(model_file=str(d / "sentencepiece.bpe.model"))

    def fairseq(ids):  # the documented XLMRobertaTokenizer rule, applied to sentencepiece's ids
        return [i + 1 if i else hf.unk_token_id for i in ids]

    # The Rust tokenizer behind `hf` (what hf(...) runs), called in batch for speed.
    backend = hf.backend_tokenizer
    backend.no_truncation()
    backend.no_padding()
    sentences = [s for pair in corpus for s in pair]
    got = ours.tokenize(tf.constant(sentences)).to_list()
    library = [fairseq(ids) for ids in sp.encode(sentences)]
    hf_ids = [e.ids for e in backend.encode_batch(sentences, add_special_tokens=False)]
    assert hf_ids[:50] == hf(sentences[:50], add_special_tokens=False)["input_ids"]
    assert sum(g != s for g, s in zip(got, library)) == 0
    ties = {sentences[i] for i in range(len(sentences)) if hf_ids[i] != library[i]}
    bad_hf = sum(g != h for g, h in zip(got, hf_ids))
    report = [
        f"XLM-R fairseq ids: {len(sentences)} sentences, {bad_hf} differ from XLMRobertaTokenizer (all Viterbi ties)"
    ]
    assert bad_hf == len(ties) and bad_hf <= len(sentences) // 1000
    for tie in list(ties)[:20]:
        # A tie: same text, same pieces multiset, different order of equal-score pieces.
        hf_pieces = hf.convert_ids_to_tokens(hf(tie, add_special_tokens=False)["input_ids"])
        sp_pieces = sp.encode(tie, out_type=str)
        assert "".join(hf_pieces) == "".join(sp_pieces) and sorted(hf_pieces) == sorted(sp_pieces)

    first = [a for a, _ in corpus]
    second = [b for _, b in corpus]
    for seq_length in (64, 128):
        pre = TextPreprocessor.from_pretrained(d, seq_length=seq_length)
        assert pre.pair_style == "roberta"
        backend.enable_truncation(seq_length)  # longest_first, as hf(..., truncation=True)
        backend.enable_padding(length=seq_length, pad_id=hf.pad_token_id, pad_token=hf.pad_token)
        for label, inputs, hf_inputs, texts in (
            ("single", tf.constant(first + second), first + second, [(s,) for s in first + second]),
            ("pair", (tf.constant(first), tf.constant(second)), list(zip(first, second)), list(zip(first, second))),
        ):
            packed = pre(inputs)
            ref = backend.encode_batch(hf_inputs)
            ids = packed["input_word_ids"].numpy()
            mask = packed["input_mask"].numpy()
            differs = (ids != np.array([e.ids for e in ref])).any(1)
            differs |= (mask != np.array([e.attention_mask for e in ref])).any(1)
            assert not packed["input_type_ids"].numpy().any()
            explained = [any(t in ties for t in row) for row in texts]
            if label == "pair" and seq_length == 64:  # the Python entry point agrees with the backend
                direct = hf(first[:50], second[:50], truncation=True, max_length=64, padding="max_length")
                assert direct["input_ids"] == [e.ids for e in ref[:50]]
            bad = int(differs.sum())
            report.append(f"XLM-R {label} @{seq_length}: {len(texts)} compared, {bad} differ (all in tie sentences)")
            assert all(e for d_, e in zip(differs, explained) if d_), report[-1]
    print("\n" + "\n".join(report))


@pytest.mark.shared_data
def test_from_pretrained_and_config(models, tmp_path):
    d = _xlmr_dir(models, tmp_path)
    tok = SentencePieceTokenizer.from_pretrained(d)
    rebuilt = SentencePieceTokenizer(tok.model_bytes, **json.loads(json.dumps(tok.get_config())))
    assert rebuilt.get_config() == tok.get_config()
    assert (
        rebuilt.special_token_ids
        == tok.special_token_ids
        == {
            "cls_id": 0,
            "pad_id": 1,
            "sep_id": 2,
            "unk_id": 3,
            "mask_id": tok.sp_vocab_size + 1,
        }
    )
    plain = SentencePieceTokenizer(str(models["unigram"]))
    # Without the offset, the model's own control pieces serve as specials.
    assert plain.special_token_ids["cls_id"] == 1 and plain.special_token_ids["sep_id"] == 2
    assert plain.special_token_ids["unk_id"] == 0 and plain.special_token_ids["mask_id"] is None
    saved = tok.save_vocabulary(tmp_path / "out")
    assert pathlib.Path(saved).read_bytes() == models["unigram"].read_bytes()


def test_bad_model_raises(tmp_path):
    bad = tmp_path / "bad.model"
    bad.write_bytes(b"\xff\xff\xff not a proto")
    with pytest.raises(ValueError, match="bad.model"):
        SentencePieceTokenizer(str(bad))
    with pytest.raises(FileNotFoundError, match="missing.model"):
        SentencePieceTokenizer(str(tmp_path / "missing.model"))
    with pytest.raises(FileNotFoundError, match="no SentencePiece model"):
        SentencePieceTokenizer.from_pretrained(tmp_path)
