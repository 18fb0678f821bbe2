"""Best-threshold pair classification against sklearn.metrics, a brute-force search and sentence-transformers."""

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.metrics import pairwise

from tf_simcse.evaluation import classification


def _scores_and_labels(kind, n=300, seed=0):
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < 0.4).astype(np.int64)
    scores = rng.normal(size=n) + 1.2 * labels
    if kind == "tied":
        scores = np.round(scores, 1)  # ~60 distinct values: ties straddle candidate cuts.
    elif kind == "uninformative":
        labels = (rng.random(n) < 0.15).astype(np.int64)  # Mostly negative: "nothing positive" can win accuracy.
        scores = rng.normal(size=n)
    return scores, labels


def _brute_force(scores, labels, higher_is_positive):
    """Accuracy and F1 at every achievable split: each distinct score as a `>=` (`<=`) threshold, plus none."""
    candidates = [(scores >= t) if higher_is_positive else (scores <= t) for t in np.unique(scores)]
    candidates.append(np.zeros_like(labels, dtype=bool))
    accuracies, f1s = [], []
    for predicted in candidates:
        tp = np.sum(predicted & (labels == 1))
        accuracies.append(np.mean(predicted == (labels == 1)))
        f1s.append(2 * tp / (predicted.sum() + labels.sum()))
    return np.array(accuracies), np.array(f1s)


@pytest.mark.parametrize("kind", ["continuous", "tied", "uninformative"])
@pytest.mark.parametrize("higher_is_positive", [True, False])
def test_matches_sklearn_at_the_reported_thresholds_and_beats_every_threshold(kind, higher_is_positive):
    scores, labels = _scores_and_labels(kind)
    if not higher_is_positive:
        scores = -scores  # Now a distance: lower means positive.
    got = classification.binary_classification_metrics(scores, labels, higher_is_positive=higher_is_positive)
    assert list(got) == list(classification.CLASSIFICATION_METRIC_KEYS)

    at_accuracy = classification.predict_at(scores, got["accuracy_threshold"], higher_is_positive)
    assert got["accuracy"] == pytest.approx(100 * skm.accuracy_score(labels, at_accuracy), abs=1e-12)
    at_f1 = classification.predict_at(scores, got["f1_threshold"], higher_is_positive)
    assert got["f1"] == pytest.approx(100 * skm.f1_score(labels, at_f1), abs=1e-12)
    assert got["precision"] == pytest.approx(100 * skm.precision_score(labels, at_f1), abs=1e-12)
    assert got["recall"] == pytest.approx(100 * skm.recall_score(labels, at_f1), abs=1e-12)
    ranking = scores if higher_is_positive else -scores
    assert got["average_precision"] == pytest.approx(100 * skm.average_precision_score(labels, ranking), abs=1e-10)

    accuracies, f1s = _brute_force(scores, labels, higher_is_positive)
    assert got["accuracy"] == pytest.approx(100 * accuracies.max(), abs=1e-12)
    assert got["f1"] == pytest.approx(100 * f1s.max(), abs=1e-12)
    if kind == "uninformative":
        assert got["accuracy"] == pytest.approx(100 * np.mean(labels == 0))
        assert not at_accuracy.any()  # The "nothing positive" cut wins, and its threshold really predicts none.


@pytest.mark.parametrize("kind", ["continuous", "tied"])
@pytest.mark.parametrize("higher_is_positive", [True, False])
def test_matches_sentence_transformers_threshold_search(kind, higher_is_positive):
    st = pytest.importorskip("sentence_transformers.sentence_transformer.evaluation.binary_classification")
    evaluator = st.BinaryClassificationEvaluator
    scores, labels = _scores_and_labels(kind, seed=7)
    if not higher_is_positive:
        scores = -scores
    got = classification.binary_classification_metrics(scores, labels, higher_is_positive=higher_is_positive)
    accuracy, accuracy_threshold = evaluator.find_best_acc_and_threshold(scores, labels, higher_is_positive)
    f1, precision, recall, f1_threshold = evaluator.find_best_f1_and_threshold(scores, labels, higher_is_positive)
    assert got["accuracy"] == pytest.approx(100 * accuracy, abs=1e-12)
    assert got["accuracy_threshold"] == accuracy_threshold
    assert got["f1"] == pytest.approx(100 * f1, abs=1e-12)
    assert got["precision"] == pytest.approx(100 * precision, abs=1e-12)
    assert got["recall"] == pytest.approx(100 * recall, abs=1e-12)
    assert got["f1_threshold"] == f1_threshold


def test_midpoint_that_rounds_onto_the_next_score_is_not_used():
    low = 1.0
    high = np.nextafter(1.0, 2.0)  # Adjacent floats: their midpoint rounds to one of them.
    got = classification.binary_classification_metrics([high, low], [1, 0])
    assert got["accuracy"] == 100.0
    np.testing.assert_array_equal(classification.predict_at([high, low], got["accuracy_threshold"]), [1, 0])


def test_pair_classification_matches_sentence_transformers_on_distances():
    st = pytest.importorskip("sentence_transformers.sentence_transformer.evaluation.binary_classification")
    evaluator = st.BinaryClassificationEvaluator
    rng = np.random.default_rng(8)
    labels = (rng.random(120) < 0.5).astype(np.int64)
    emb1 = rng.normal(size=(120, 8))
    emb2 = emb1 * labels[:, None] + rng.normal(size=(120, 8)) + 0.5
    got = classification.pair_classification_metrics(emb1, emb2, labels)
    references = {
        "cosine": (1 - pairwise.paired_cosine_distances(emb1, emb2), True),
        "euclidean": (pairwise.paired_euclidean_distances(emb1, emb2), False),
        "manhattan": (pairwise.paired_manhattan_distances(emb1, emb2), False),
        "dot": (np.sum(emb1 * emb2, axis=1), True),
    }
    assert len(got) == 4 * len(classification.CLASSIFICATION_METRIC_KEYS)
    for name, (scores, high) in references.items():
        accuracy, accuracy_threshold = evaluator.find_best_acc_and_threshold(scores, labels, high)
        f1, _, _, f1_threshold = evaluator.find_best_f1_and_threshold(scores, labels, high)
        assert got[f"{name}_accuracy"] == pytest.approx(100 * accuracy, abs=1e-12), name
        assert got[f"{name}_accuracy_threshold"] == pytest.approx(accuracy_threshold, rel=1e-12), name
        assert got[f"{name}_f1"] == pytest.approx(100 * f1, abs=1e-12), name
        assert got[f"{name}_f1_threshold"] == pytest.approx(f1_threshold, rel=1e-12), name
        ranking = scores if high else -scores
        assert got[f"{name}_average_precision"] == pytest.approx(
            100 * skm.average_precision_score(labels, ranking), abs=1e-10
        )
    assert got["euclidean_f1_threshold"] > 0  # Distance thresholds are distances, as in sentence-transformers.


def test_bad_labels_are_rejected():
    with pytest.raises(ValueError, match="index 2 is 2"):
        classification.binary_classification_metrics([0.1, 0.2, 0.3], [0, 1, 2])
    with pytest.raises(ValueError, match="no positive pair"):
        classification.binary_classification_metrics([0.1, 0.2], [0, 0])
    with pytest.raises(ValueError, match="2 values"):
        classification.binary_classification_metrics([0.1, 0.2], [0, 1, 1])
    with pytest.raises(ValueError, match="non-finite value at index 1"):
        classification.binary_classification_metrics([0.1, np.inf], [0, 1])
    got = classification.binary_classification_metrics([0.1, 0.9, 0.5], [False, True, True])
    assert got["accuracy"] == 100.0 and got["f1"] == 100.0 and got["average_precision"] == 100.0
