"""Alignment and uniformity against direct loops over pairs (Wang & Isola's definitions)."""

import math

import numpy as np
import pytest
from scipy import special

from tf_simcse.evaluation import alignment_uniformity as au


def _unit(v):
    return v / np.linalg.norm(v)


def _alignment_loop(x, y, alpha):
    return np.mean([np.linalg.norm(_unit(a) - _unit(b)) ** alpha for a, b in zip(x, y)])


def _uniformity_terms(x, t):
    return [
        -t * np.sum((_unit(x[i]) - _unit(x[j])) ** 2) for i in range(len(x)) for j in range(i + 1, len(x))
    ]


@pytest.mark.parametrize("alpha", [1, 2, 3])
def test_alignment_matches_a_loop(alpha):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(9, 5)) * rng.uniform(0.1, 10, size=(9, 1))  # Norms vary: must be normalized first.
    y = x + rng.normal(scale=0.5, size=(9, 5))
    assert au.alignment(x, y, alpha=alpha) == pytest.approx(_alignment_loop(x, y, alpha), rel=1e-12)
    assert au.alignment(x, x * 3.0) == pytest.approx(0.0, abs=1e-15)


@pytest.mark.parametrize("t", [1, 2, 5])
def test_uniformity_matches_a_double_loop(t):
    x = np.random.default_rng(1).normal(size=(11, 4))
    want = math.log(np.mean(np.exp(_uniformity_terms(x, t))))
    assert au.uniformity(x, t=t) == pytest.approx(want, rel=1e-12)


def test_uniformity_across_blocks_and_without_underflow(monkeypatch):
    x = np.random.default_rng(2).normal(size=(37, 3)).astype(np.float32)
    terms = _uniformity_terms(x.astype(np.float64), 2)
    one_block = au.uniformity(x)
    monkeypatch.setattr(au, "_BLOCK_ELEMENTS", 40)  # One row per block: 36 blocks.
    assert au.uniformity(x) == pytest.approx(one_block, rel=1e-12)
    assert one_block == pytest.approx(math.log(np.mean(np.exp(terms))), rel=1e-12)
    # At t=500 every exp(-t d^2) of a spread-out set underflows; the log-sum-exp must not.
    far = np.eye(6)
    assert np.all(np.exp(np.array(_uniformity_terms(far, 500))) == 0.0)
    want = special.logsumexp(_uniformity_terms(far, 500)) - math.log(15)
    assert au.uniformity(far, t=500) == pytest.approx(want, rel=1e-12)
    assert want == pytest.approx(-1000.0)  # All pairs at squared distance 2.


def test_sts_protocol_uses_pairs_above_four_and_all_sentences():
    rng = np.random.default_rng(3)
    emb1, emb2 = rng.normal(size=(8, 4)), rng.normal(size=(8, 4))
    gold = np.array([5.0, 4.0, 4.2, 1.0, 0.0, 4.8, 3.9, 2.0])
    got = au.sts_alignment_uniformity(emb1, emb2, gold)
    positive = gold > 4.0
    assert got["alignment"] == pytest.approx(_alignment_loop(emb1[positive], emb2[positive], 2), rel=1e-12)
    everything = np.concatenate([emb1, emb2])
    assert got["uniformity"] == pytest.approx(math.log(np.mean(np.exp(_uniformity_terms(everything, 2)))), rel=1e-12)


def test_bad_input():
    with pytest.raises(ValueError, match="x row 1 is zero"):
        au.uniformity(np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="at least 2"):
        au.uniformity(np.ones((1, 3)))
    with pytest.raises(ValueError, match="same shape"):
        au.alignment(np.ones((2, 3)), np.ones((3, 3)))
    with pytest.raises(ValueError, match="no pair has a gold score above 4.0"):
        au.sts_alignment_uniformity(np.ones((2, 3)), np.ones((2, 3)), [1.0, 4.0])
