"""KLUE-STS figures against the KLUE baseline's formulas (scipy.stats.pearsonr, sklearn f1_score)."""

import numpy as np
import pytest
from scipy import stats
from sklearn import metrics as skm

from tf_simcse.evaluation import klue_sts


def _klue_like(n=400, seed=0):
    rng = np.random.default_rng(seed)
    # real-label is a mean of 7 annotator votes on 0-5, so it sits on a 1/7 grid with many ties at 3.0.
    real = rng.integers(0, 36, size=n) / 7.0
    binary = (real >= 3.0).astype(np.int64)
    cosine = np.clip(0.15 * real + rng.normal(scale=0.2, size=n), -0.3, 1.0)
    return real, binary, cosine


def test_matches_the_klue_baseline_formulas():
    real, binary, cosine = _klue_like()
    pred = klue_sts.cosine_to_klue_scale(cosine)
    got = klue_sts.klue_sts_metrics(pred, real, binary)
    # KLUE-baseline: pearsonr(preds, labels) * 100 and f1_score(labels >= 3, preds >= 3) * 100.
    assert got["pearson"] == pytest.approx(100 * stats.pearsonr(pred, real)[0], abs=1e-10)
    assert got["f1"] == pytest.approx(100 * skm.f1_score(binary, (pred >= 3).astype(int)), abs=1e-10)
    assert got["threshold"] == 3.0
    # Without binary labels they are derived as real-label >= 3 (the upstream rule): same figures.
    assert klue_sts.klue_sts_metrics(pred, real) == got
    # Predictions exactly on the threshold count as positive (>=).
    on_threshold = klue_sts.klue_sts_metrics([3.0, 2.9], [4.0, 1.0])
    assert on_threshold["f1"] == 100.0


def test_other_threshold_and_given_binary_labels():
    real, binary, cosine = _klue_like(seed=1)
    flipped = binary.copy()
    flipped[:40] = 1 - flipped[:40]  # binary_labels given explicitly win over real >= 3.
    got = klue_sts.klue_sts_metrics(cosine, real, flipped, threshold=0.45)
    assert got["f1"] == pytest.approx(100 * skm.f1_score(flipped, (cosine >= 0.45).astype(int)), abs=1e-10)
    assert got["threshold"] == 0.45
    nothing_positive = klue_sts.klue_sts_metrics(cosine, real, binary, threshold=2.0)
    assert nothing_positive["f1"] == 100 * skm.f1_score(binary, np.zeros_like(binary), zero_division=0) == 0.0


def test_cosine_to_klue_scale():
    np.testing.assert_allclose(
        klue_sts.cosine_to_klue_scale([-0.5, 0.0, 0.3, 0.6, 1.0, 1.2]), [0.0, 0.0, 1.5, 3.0, 5.0, 5.0]
    )
    # Pearson is invariant to the x5 scaling: on cosines in [0, 1] the scale changes nothing.
    real, _, cosine = _klue_like(seed=2)
    cosine = np.abs(cosine)
    scaled = klue_sts.klue_sts_metrics(klue_sts.cosine_to_klue_scale(cosine), real)
    assert scaled["pearson"] == pytest.approx(100 * stats.pearsonr(cosine, real)[0], abs=1e-10)


def test_tuned_threshold_is_the_best_f1_threshold_of_the_tuning_split():
    real, binary, cosine = _klue_like(seed=3)
    threshold = klue_sts.tune_klue_threshold(cosine, binary)
    tuned = klue_sts.klue_sts_metrics(cosine, real, binary, threshold=threshold)
    assert tuned["f1"] == pytest.approx(100 * skm.f1_score(binary, (cosine >= threshold).astype(int)), abs=1e-10)
    for candidate in np.unique(cosine):  # Brute force: no threshold does better on this split.
        predicted = cosine >= candidate
        f1 = 2 * np.sum(predicted & (binary == 1)) / (predicted.sum() + binary.sum())
        assert tuned["f1"] >= 100 * f1 - 1e-10
    fixed = klue_sts.klue_sts_metrics(klue_sts.cosine_to_klue_scale(cosine), real, binary)
    assert tuned["f1"] >= fixed["f1"]
    # Applied to another split unchanged.
    real2, binary2, cosine2 = _klue_like(seed=4)
    test = klue_sts.klue_sts_metrics(cosine2, real2, binary2, threshold=threshold)
    assert test["f1"] == pytest.approx(100 * skm.f1_score(binary2, (cosine2 >= threshold).astype(int)), abs=1e-10)


def test_bad_input():
    with pytest.raises(ValueError, match="real_labels has 2 values, expected 3"):
        klue_sts.klue_sts_metrics([1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="binary_labels"):
        klue_sts.klue_sts_metrics([1.0, 2.0, 3.0], [1.0, 2.0, 4.0], [0, 1, 3])
    with pytest.raises(ValueError, match="pred_scores has a non-finite value at index 0"):
        klue_sts.klue_sts_metrics([np.nan, 2.0], [1.0, 2.0])
