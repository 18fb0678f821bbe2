"""The real all-MiniLM-L6-v2 through tf_simcse's one encode path vs sentence-transformers' encode().

sentence-transformers (PyTorch) is the independent reference: same checkpoint files, its own tokenizer and model.
"""

import numpy as np
import pytest

from tf_simcse.encoders.encoder import Encoder

pytestmark = [pytest.mark.minilm, pytest.mark.slow]

EDGE_CASES = [
    "",
    "   ",
    "\t\n",
    "한국어 문장 임베딩을 학습합니다.",
    "안전모를 쓴 한 남자가 춤을 추고 있다.",
    "Mixed 한국어 English 中文 日本語 😀🚀 ＡＢＣ ﬁ ① café",
    "\u1112\u1161\u11ab\u1100\u116e\u11a8\u110b\u1165",  # "한국어" in NFD (conjoining jamo)
    "word " * 300,  # far longer than max_seq_length
    "x" * 150,  # one "word" longer than WordPiece's 100-char limit -> [UNK]
    "Control\u0000chars\u200b and   many   spaces",
    "A man is playing a guitar.",
]


@pytest.fixture(scope="module")
def st_model(minilm_dir):
    st = pytest.importorskip("sentence_transformers", reason="sentence-transformers is the reference (pip install -e .[reference])")
    model = st.SentenceTransformer(str(minilm_dir), device="cpu")
    model.max_seq_length = 128
    return model


@pytest.fixture(scope="module")
def encoder(minilm_dir):
    return Encoder.from_pretrained(minilm_dir, pooler="avg", max_seq_length=128)


def _cosine_rows(a, b):
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_edge_cases_match_sentence_transformers(encoder, st_model):
    ours = encoder.encode(EDGE_CASES, batch_size=4)
    reference = st_model.encode(EDGE_CASES, batch_size=4, convert_to_numpy=True, normalize_embeddings=False)
    cosines = _cosine_rows(ours, reference)
    worst = int(np.argmin(cosines))
    assert cosines.min() >= 0.99999, f"cosine {cosines.min():.7f} on {EDGE_CASES[worst]!r:.60}"
    # This checkpoint's pipeline ends in a Normalize module; ours returns raw mean-pooled vectors.
    np.testing.assert_allclose(ours / np.linalg.norm(ours, axis=1, keepdims=True), reference, atol=1e-4)


def test_korsts_dev_sentences_match_sentence_transformers(encoder, st_model, shared_data):
    from tf_simcse.data.readers import read_korsts

    pairs = read_korsts(shared_data / "korsts" / "sts-dev.tsv")
    sentences = list(dict.fromkeys(pairs.sentences1[:200] + pairs.sentences2[:200]))
    ours = encoder.encode(sentences, batch_size=64)
    reference = st_model.encode(sentences, batch_size=64, convert_to_numpy=True)
    cosines = _cosine_rows(ours, reference)
    normalized = ours / np.linalg.norm(ours, axis=1, keepdims=True)
    print(f"\n{len(sentences)} KorSTS sentences: min cosine {cosines.min():.8f}, "
          f"max abs diff of the normalized vectors {np.abs(normalized - reference).max():.2e}")
    assert cosines.min() >= 0.99999


def test_defaults_come_from_the_sentence_transformers_config(minilm_dir):
    encoder = Encoder.from_pretrained(minilm_dir)
    assert encoder.pooler == "avg"  # 1_Pooling/config.json: mean tokens
    assert encoder.max_seq_length == 256  # sentence_bert_config.json
