"""Binary pair classification from a similarity score (paraphrase / entailment-vs-contradiction detection).

The semantics follow sentence-transformers' `BinaryClassificationEvaluator`: a pair is predicted positive when
its score is on the positive side of a threshold, and the threshold that maximizes accuracy (and, separately,
F1) is searched over the sorted scores. Every distinct cut is a candidate, including "no pair positive":

- pairs are predicted positive iff `score >= threshold` (`higher_is_positive=True`) or `score <= threshold`
  (`higher_is_positive=False`, e.g. distances);
- the threshold reported for a cut between two neighbouring distinct scores is their midpoint (or the score
  before the cut when the midpoint rounds onto the next score); for "every pair positive" it is the last
  score; for "no pair positive" it is the first score nudged one float past it;
- equal scores are never split (a cut inside a run of ties is not achievable by any threshold);
- on a tie in the metric, the first cut wins (the strictest threshold).

These are thresholds tuned on the evaluated split itself: they are an upper bound for that split, and a fair
test figure needs the threshold picked on a dev split (`predict_at` / `klue_sts.tune_klue_threshold`).

All rates are reported in percent, thresholds in the score's own units.
"""

import numpy as np

from tf_simcse.evaluation.sts import _check_embeddings
from tf_simcse.evaluation.sts import _check_vector
from tf_simcse.evaluation.sts import sts_scores

CLASSIFICATION_METRIC_KEYS = (
    "accuracy",
    "accuracy_threshold",
    "f1",
    "f1_threshold",
    "precision",
    "recall",
    "average_precision",
)


def _check_labels(labels, n):
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.shape[0] != n:
        raise ValueError(f"labels must be 1-D with {n} values (one per score), got shape {labels.shape}")
    bad = ~np.isin(labels, (0, 1))
    if np.any(bad):
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"labels must be 0 or 1 (or bool); index {i} is {labels[i].item()!r}")
    labels = labels.astype(np.int64)
    if not labels.any():
        raise ValueError("labels have no positive pair: F1, recall and average precision are undefined")
    return labels


def _cuts(scores, labels, higher_is_positive):
    """Sorts once and returns, per distinct score (best first): last sorted index, true positives so far."""
    order = np.argsort(-scores if higher_is_positive else scores, kind="stable")
    sorted_scores = scores[order]
    ends = np.flatnonzero(np.r_[sorted_scores[1:] != sorted_scores[:-1], True])
    true_positives = np.cumsum(labels[order])[ends]
    return sorted_scores, ends, true_positives


def _threshold(sorted_scores, end, higher_is_positive):
    """The threshold separating `sorted_scores[: end + 1]` (predicted positive) from the rest."""
    direction = np.inf if higher_is_positive else -np.inf
    if end < 0:
        return float(np.nextafter(sorted_scores[0], direction))
    current = sorted_scores[end]
    if end == len(sorted_scores) - 1:
        return float(current)
    following = sorted_scores[end + 1]
    midpoint = 0.5 * current + 0.5 * following
    # The midpoint of two adjacent floats can round onto `following`, which would then count as positive.
    still_excludes = midpoint > following if higher_is_positive else midpoint < following
    return float(midpoint if still_excludes else current)


def binary_classification_metrics(scores, labels, higher_is_positive=True):
    """Best-threshold accuracy and F1, and average precision, of a score for binary labels.

    Args:
        scores: `[n]` similarity (or distance) per pair.
        labels: `[n]` 0/1 (or bool) gold labels, 1 = positive (similar / paraphrase / entailment).
        higher_is_positive: True for similarities, False for distances.

    Returns:
        A dict with `accuracy` and its `accuracy_threshold`, `f1` and its `f1_threshold` with the `precision`
        and `recall` at that threshold, and `average_precision` (area under the precision-recall step curve,
        as `sklearn.metrics.average_precision_score`). Rates are in percent.
    """
    scores = _check_vector(scores, "scores")
    labels = _check_labels(labels, len(scores))
    n = len(scores)
    positives = int(labels.sum())
    negatives = n - positives
    sorted_scores, ends, true_positives = _cuts(scores, labels, higher_is_positive)
    predicted = ends + 1  # Pairs predicted positive at each cut.

    # Prepend the "nothing predicted positive" cut (end index -1). Numerators are exact integers, so equal
    # rates compare equal and the first-cut tie rule is deterministic.
    cut_ends = np.r_[-1, ends]
    tp = np.r_[0, true_positives]
    k = np.r_[0, predicted]
    accuracy = (tp + negatives - (k - tp)) / n
    f1 = 2.0 * tp / (k + positives)
    best_accuracy = int(np.argmax(accuracy))
    best_f1 = int(np.argmax(f1))

    # Average precision: sum over distinct-score cuts of (recall gain) x (precision at that cut).
    precision_curve = true_positives / predicted
    recall_curve = true_positives / positives
    average_precision = float(np.sum(np.diff(np.r_[0.0, recall_curve]) * precision_curve))

    return {
        "accuracy": 100.0 * float(accuracy[best_accuracy]),
        "accuracy_threshold": _threshold(sorted_scores, cut_ends[best_accuracy], higher_is_positive),
        "f1": 100.0 * float(f1[best_f1]),
        "f1_threshold": _threshold(sorted_scores, cut_ends[best_f1], higher_is_positive),
        "precision": 100.0 * float(tp[best_f1] / k[best_f1]) if k[best_f1] else 0.0,
        "recall": 100.0 * float(tp[best_f1] / positives),
        "average_precision": 100.0 * average_precision,
    }


def predict_at(scores, threshold, higher_is_positive=True):
    """0/1 predictions at a threshold, with the rule the threshold search uses (`>=` or `<=`)."""
    scores = np.asarray(scores, dtype=np.float64)
    return (scores >= threshold if higher_is_positive else scores <= threshold).astype(np.int64)


def pair_classification_metrics(emb1, emb2, labels):
    """`binary_classification_metrics` for cosine, euclidean, manhattan and dot similarity of embedding pairs.

    Keys are `<similarity>_<metric>` (e.g. `cosine_accuracy`, `manhattan_f1_threshold`). Euclidean and manhattan
    are scored as distances (`higher_is_positive=False`), so their thresholds are distances, as in
    sentence-transformers.
    """
    emb1, emb2 = _check_embeddings(emb1, emb2)
    results = {}
    for name, scores in sts_scores(emb1, emb2).items():
        is_distance = name in ("euclidean", "manhattan")
        metrics = binary_classification_metrics(
            -scores if is_distance else scores, labels, higher_is_positive=not is_distance
        )
        results.update({f"{name}_{key}": value for key, value in metrics.items()})
    return results
