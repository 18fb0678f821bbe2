"""STS metrics against scipy.stats / sklearn.metrics.pairwise on the same vectors."""

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import pairwise

from tf_simcse.data import readers
from tf_simcse.evaluation import sts


def _correlated_embeddings(gold, dim=16, seed=0, dtype=np.float64):
    """Embedding pairs whose closeness loosely follows `gold` (0-5), so the correlations are not ~0."""
    rng = np.random.default_rng(seed)
    emb1 = rng.normal(size=(len(gold), dim))
    noise = rng.normal(size=(len(gold), dim)) * (5.5 - gold[:, None]) / 5.0
    emb2 = 0.8 * emb1 + noise + 0.3  # The offset makes dot differ from cosine.
    return emb1.astype(dtype), emb2.astype(dtype)


def _reference_table(emb1, emb2, gold):
    emb1 = np.asarray(emb1, dtype=np.float64)
    emb2 = np.asarray(emb2, dtype=np.float64)
    scores = {
        "cosine": 1.0 - pairwise.paired_cosine_distances(emb1, emb2),
        "euclidean": -pairwise.paired_euclidean_distances(emb1, emb2),
        "manhattan": -pairwise.paired_manhattan_distances(emb1, emb2),
        "dot": np.sum(emb1 * emb2, axis=1),
    }
    table = {}
    for name, s in scores.items():
        table[f"{name}_pearson"] = 100 * stats.pearsonr(s, gold)[0]
        table[f"{name}_spearman"] = 100 * stats.spearmanr(s, gold)[0]
    table["mean"] = np.mean(list(table.values()))
    return scores, table


def test_sts_scores_match_sklearn_paired_distances():
    gold = np.random.default_rng(1).integers(0, 26, size=50) / 5.0
    emb1, emb2 = _correlated_embeddings(gold)
    got = sts.sts_scores(emb1, emb2)
    want, _ = _reference_table(emb1, emb2, gold)
    assert set(got) == {"cosine", "euclidean", "manhattan", "dot"}
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-12, atol=1e-12, err_msg=name)
        assert got[name].dtype == np.float64


def test_cosine_with_a_zero_vector_is_zero_as_in_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(9)
    emb1, emb2 = rng.normal(size=(4, 5)), rng.normal(size=(4, 5))
    emb2[1] = 0.0
    want = torch.nn.functional.cosine_similarity(torch.from_numpy(emb1), torch.from_numpy(emb2)).numpy()
    np.testing.assert_allclose(sts.sts_scores(emb1, emb2)["cosine"], want, rtol=1e-12, atol=1e-15)
    assert want[1] == 0.0


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sts_metrics_match_scipy_with_tied_gold(dtype):
    # Gold on a 0.2 grid over 0-5 (26 values for 400 pairs): Spearman must use average ranks.
    gold = np.random.default_rng(2).integers(0, 26, size=400) / 5.0
    emb1, emb2 = _correlated_embeddings(gold, seed=3, dtype=dtype)
    got = sts.sts_metrics(emb1, emb2, gold)
    # The reference sees the same float32 values cast to float64: sts_metrics must compute in float64.
    _, want = _reference_table(emb1, emb2, gold)
    assert list(got) == list(sts.STS_METRIC_KEYS)
    for key in want:
        assert got[key] == pytest.approx(want[key], abs=1e-9), key
        assert isinstance(got[key], float)
    assert got["mean"] == pytest.approx(np.mean([got[k] for k in sts.STS_METRIC_KEYS[:-1]]), abs=1e-12)
    assert got["cosine_spearman"] > 50  # The fixture is informative, so a wrong sign or pairing would show.


def test_sts_metrics_match_scipy_with_tied_predictions():
    # Integer embeddings in a tiny range: many pairs share the exact same similarity.
    rng = np.random.default_rng(4)
    emb1 = rng.integers(0, 2, size=(300, 3)).astype(np.float64) + 1.0
    emb2 = rng.integers(0, 2, size=(300, 3)).astype(np.float64) + 1.0
    gold = rng.integers(0, 6, size=300).astype(np.float64)
    scores = sts.sts_scores(emb1, emb2)
    assert all(len(np.unique(s)) < 20 for s in scores.values())
    got = sts.sts_metrics(emb1, emb2, gold)
    # scipy on the same score vectors. (Not on sklearn's cosine: its normalize-then-subtract formula splits
    # mathematically equal cosines by an ulp, which changes the tie structure Spearman sees.)
    for name, s in scores.items():
        assert got[f"{name}_pearson"] == pytest.approx(100 * stats.pearsonr(s, gold)[0], abs=1e-9), name
        assert got[f"{name}_spearman"] == pytest.approx(100 * stats.spearmanr(s, gold)[0], abs=1e-9), name


@pytest.mark.shared_data
def test_sts_metrics_on_korsts_dev_gold(shared_data):
    gold = readers.read_korsts(shared_data / "korsts" / "sts-dev.tsv").scores
    emb1, emb2 = _correlated_embeddings(gold, dim=32, seed=5, dtype=np.float32)
    got = sts.sts_metrics(emb1, emb2, gold)
    _, want = _reference_table(emb1, emb2, gold)
    for key in want:
        assert got[key] == pytest.approx(want[key], abs=1e-9), key


def test_rankdata_and_correlations_match_scipy():
    rng = np.random.default_rng(6)
    x = rng.integers(0, 7, size=200).astype(np.float64)
    y = x + rng.normal(size=200)
    np.testing.assert_array_equal(sts.rankdata(x), stats.rankdata(x, method="average"))
    np.testing.assert_array_equal(sts.rankdata(y), stats.rankdata(y, method="average"))
    assert sts.pearson(x, y) == pytest.approx(stats.pearsonr(x, y)[0], abs=1e-14)
    assert sts.spearman(x, y) == pytest.approx(stats.spearmanr(x, y)[0], abs=1e-14)
    assert sts.pearson(x, 3 * x + 1) == 1.0
    assert np.isnan(sts.pearson(np.ones(5), np.arange(5)))  # scipy also gives nan for constant input


def test_sts_metrics_reject_bad_input():
    emb = np.ones((4, 3))
    with pytest.raises(ValueError, match="same shape"):
        sts.sts_metrics(emb, np.ones((4, 2)), np.arange(4))
    with pytest.raises(ValueError, match="gold has 3 values, expected 4"):
        sts.sts_metrics(emb, emb, np.arange(3))
    bad = emb.copy()
    bad[2, 1] = np.nan
    with pytest.raises(ValueError, match="emb2 has a non-finite value in row 2"):
        sts.sts_metrics(emb, bad, np.arange(4))
    with pytest.raises(ValueError, match="at least 2 pairs"):
        sts.sts_metrics(emb[:1], emb[:1], [1.0])
