"""Labelled pairs (same / different) classified by the cosine of their embeddings: the figures before and after
training, and the decision threshold picked on a dev split, to be stored with the model.

`classification.binary_classification_metrics` searches the best threshold on the split it scores, an upper
bound for that split. `select_threshold` runs the same search on a dev split and returns the threshold as a record
(`{"threshold", "metric", "value", "similarity", "split", "num_pairs"}`); `metrics_at_threshold` applies it
unchanged to another split (the fair test figure). A pair is predicted "same" iff `cosine >= threshold`.
"""

import numpy as np

from tf_simcse.evaluation.classification import binary_classification_metrics
from tf_simcse.evaluation.classification import pair_classification_metrics
from tf_simcse.evaluation.classification import predict_at
from tf_simcse.evaluation.sts import sts_scores
from tf_simcse.evaluation.tasks import _embed_pairs

THRESHOLD_METRICS = ("accuracy", "f1")


def _labelled(pairs):
    if getattr(pairs, "labels", None) is None:
        raise ValueError("pair classification needs labelled pairs (tf_simcse.data.pairs.load_labelled_pairs)")
    return np.asarray(pairs.labels, dtype=np.int64)


def pair_cosines(encoder, pairs, batch_size=64):
    """float64 `[n]`: cosine of the two sentences of each pair (each distinct sentence encoded once)."""
    emb1, emb2 = _embed_pairs(encoder, pairs.sentence1, pairs.sentence2, batch_size)
    return sts_scores(emb1, emb2)["cosine"]


def labelled_pair_metrics(encoder, pairs, batch_size=64):
    """`classification.pair_classification_metrics` (cosine / euclidean / manhattan / dot x accuracy, F1,
    precision, recall, average precision and the best thresholds on this split) plus `num_pairs`."""
    labels = _labelled(pairs)
    emb1, emb2 = _embed_pairs(encoder, pairs.sentence1, pairs.sentence2, batch_size)
    metrics = pair_classification_metrics(emb1, emb2, labels)
    metrics["num_pairs"] = len(labels)
    return metrics


def select_threshold(encoder, dev_pairs, *, metric="accuracy", split="dev", batch_size=64):
    """The cosine threshold that maximizes `metric` (`accuracy` or `f1`) on `dev_pairs`.

    Returns:
        `{"threshold": float, "metric": "accuracy" | "f1", "value": the metric there (percent),
        "similarity": "cosine", "split": split, "num_pairs": n}`: predict "same" iff `cosine >= threshold`.
    """
    if metric not in THRESHOLD_METRICS:
        raise ValueError(f"metric must be one of {', '.join(THRESHOLD_METRICS)}, got {metric!r}")
    labels = _labelled(dev_pairs)
    found = binary_classification_metrics(pair_cosines(encoder, dev_pairs, batch_size), labels)
    return {
        "threshold": found[f"{metric}_threshold"],
        "metric": metric,
        "value": found[metric],
        "similarity": "cosine",
        "split": str(split),
        "num_pairs": len(labels),
    }


def metrics_at_threshold(encoder, pairs, threshold, batch_size=64):
    """Accuracy, precision, recall and F1 (percent) of `cosine >= threshold` on `pairs`, plus the threshold.

    `threshold` is a float or a `select_threshold` record. Precision (and F1) are 0 when nothing is predicted
    "same".
    """
    if isinstance(threshold, dict):
        threshold = threshold["threshold"]
    labels = _labelled(pairs)
    predicted = predict_at(pair_cosines(encoder, pairs, batch_size), float(threshold))
    true_positives = int(np.sum(predicted & labels))
    predicted_positives, positives = int(predicted.sum()), int(labels.sum())
    return {
        "accuracy": 100.0 * float(np.mean(predicted == labels)),
        "precision": 100.0 * true_positives / predicted_positives if predicted_positives else 0.0,
        "recall": 100.0 * true_positives / positives if positives else 0.0,
        "f1": 200.0 * true_positives / (predicted_positives + positives) if predicted_positives + positives else 0.0,
        "threshold": float(threshold),
        "num_pairs": len(labels),
    }
