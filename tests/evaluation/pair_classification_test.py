"""Dev-split threshold selection and fixed-threshold figures for labelled pairs, against scikit-learn on the
cosines of a tiny model's embeddings (thresholds searched by brute force over every cut)."""

import numpy as np
import pytest
from sklearn import metrics as skm

from tests.conftest import FIXTURES
from tf_simcse.data.pairs import PairExamples
from tf_simcse.encoders.encoder import Encoder
from tf_simcse.evaluation.pair_classification import (
    labelled_pair_metrics,
    metrics_at_threshold,
    pair_cosines,
    select_threshold,
)

WORDS = ("a", "an", "cat", "is", "man", "on", "playing", "the", "woman")


def _pairs(seed, n=60):
    rng = np.random.default_rng(seed)
    first, second, labels = [], [], []
    for _ in range(n):
        s = " ".join(rng.choice(WORDS, size=rng.integers(2, 6)))
        same = rng.random() < 0.5
        first.append(s)
        # "Same": the sentence and one word more; "different": another random sentence (noisy on purpose).
        second.append(f"{s} {rng.choice(WORDS)}" if same else " ".join(rng.choice(WORDS, size=rng.integers(2, 6))))
        labels.append(int(same))
    return PairExamples(first, second, labels=np.array(labels))


@pytest.fixture(scope="module")
def encoder():
    return Encoder.from_pretrained(str(FIXTURES / "tiny_bert"), pooler="avg", max_seq_length=16)


def _cosines(encoder, pairs):
    e1, e2 = encoder.encode(pairs.sentence1), encoder.encode(pairs.sentence2)
    return np.sum(e1 * e2, 1) / (np.linalg.norm(e1, axis=1) * np.linalg.norm(e2, axis=1))


def test_threshold_is_the_best_cut_on_dev_and_applies_unchanged(encoder):
    dev, test = _pairs(0), _pairs(1)
    cos = _cosines(encoder, dev)
    np.testing.assert_allclose(pair_cosines(encoder, dev), cos, atol=1e-6)
    cuts = np.r_[np.unique(cos), np.inf]  # predicting "same" iff cos >= cut, every distinct outcome
    for metric, score in (("accuracy", skm.accuracy_score), ("f1", skm.f1_score)):
        chosen = select_threshold(encoder, dev, metric=metric, split="toy:dev")
        best = max(100 * score(dev.labels, (cos >= c).astype(int)) for c in cuts)
        assert chosen["value"] == pytest.approx(best, abs=1e-9)
        assert 100 * score(dev.labels, (cos >= chosen["threshold"]).astype(int)) == pytest.approx(best, abs=1e-9)
        assert (chosen["metric"], chosen["split"], chosen["similarity"], chosen["num_pairs"]) == (
            metric, "toy:dev", "cosine", 60
        )
    assert 50 < select_threshold(encoder, dev)["value"] < 100  # the toy task is learnable, not trivial

    record = select_threshold(encoder, dev, metric="f1")
    got = metrics_at_threshold(encoder, test, record)
    predicted = (_cosines(encoder, test) >= record["threshold"]).astype(int)
    assert got["accuracy"] == pytest.approx(100 * skm.accuracy_score(test.labels, predicted))
    assert got["precision"] == pytest.approx(100 * skm.precision_score(test.labels, predicted, zero_division=0))
    assert got["recall"] == pytest.approx(100 * skm.recall_score(test.labels, predicted))
    assert got["f1"] == pytest.approx(100 * skm.f1_score(test.labels, predicted))
    assert got["threshold"] == record["threshold"] and got["num_pairs"] == 60
    nothing = metrics_at_threshold(encoder, test, 2.0)  # no pair predicted "same"
    assert nothing["precision"] == 0.0 and nothing["f1"] == 0.0

    figures = labelled_pair_metrics(encoder, dev)
    assert figures["cosine_accuracy"] == pytest.approx(select_threshold(encoder, dev)["value"])
    assert figures["cosine_average_precision"] == pytest.approx(100 * skm.average_precision_score(dev.labels, cos))
    assert figures["num_pairs"] == 60


def test_bad_arguments(encoder):
    with pytest.raises(ValueError, match="metric must be one of accuracy, f1"):
        select_threshold(encoder, _pairs(0), metric="ap")
    scored = PairExamples(["a"], ["b"], scores=np.array([1.0]))
    with pytest.raises(ValueError, match="needs labelled pairs"):
        select_threshold(encoder, scored)
