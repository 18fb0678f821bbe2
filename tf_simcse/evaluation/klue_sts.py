"""KLUE-STS official figures: Pearson vs `real-label` and F1 of a thresholded prediction vs `binary-label`.

KLUE scores STS regressors that predict on the 0-5 label scale: Pearson x 100 of the predictions against
`real-label`, and binary F1 x 100 of `prediction >= 3.0` against `binary-label` (which upstream is
`real-label >= 3.0`).

A sentence encoder predicts cosine similarities, not 0-5 scores, so a rule must put them on the label scale
before the 3.0 threshold means anything. Two are offered:

1. `cosine_to_klue_scale(cos) = clip(cos, 0, 1) * 5` — the fixed rule: the KLUE threshold 3.0 becomes cosine
   0.6. Pearson is invariant to the x5 scaling, so it changes only where cosines are negative (clipped to 0);
   the F1 however depends entirely on whether 0.6 suits this encoder's cosine range (contrastive encoders
   crowd cosines into different bands), so a fixed-rule F1 compares encoders unevenly.
2. `tune_klue_threshold(dev_pred, dev_binary)` — the recommended rule for encoders: pick the threshold that
   maximizes F1 on the dev (or train) split and apply it unchanged to the evaluated split. It works on raw
   cosines or on scaled ones alike. Tuning on the evaluated split itself gives an optimistic upper bound.

Report which rule produced a figure (the `threshold` key carries the value used).
"""

import numpy as np

from tf_simcse.evaluation.classification import binary_classification_metrics
from tf_simcse.evaluation.classification import predict_at
from tf_simcse.evaluation.sts import _check_vector
from tf_simcse.evaluation.sts import pearson

KLUE_BINARY_THRESHOLD = 3.0


def cosine_to_klue_scale(cos):
    """Maps cosine similarities to KLUE's 0-5 label scale: `clip(cos, 0, 1) * 5` (see the module notes)."""
    return np.clip(np.asarray(cos, dtype=np.float64), 0.0, 1.0) * 5.0


def klue_sts_metrics(pred_scores, real_labels, binary_labels=None, threshold=KLUE_BINARY_THRESHOLD):
    """KLUE-STS Pearson and F1, in percent.

    Args:
        pred_scores: `[n]` predictions, on the 0-5 scale when `threshold` is KLUE's 3.0.
        real_labels: `[n]` KLUE `real-label` gold scores.
        binary_labels: `[n]` KLUE `binary-label` (0/1); None derives them as `real_labels >= 3.0`, the upstream
            rule.
        threshold: a pair is predicted similar when `pred_scores >= threshold`.

    Returns:
        `{"pearson", "f1", "threshold"}`. F1 is 0 when nothing is predicted positive (sklearn's
        `zero_division=0`).
    """
    pred = _check_vector(pred_scores, "pred_scores")
    real = _check_vector(real_labels, "real_labels", n=len(pred))
    if binary_labels is None:
        binary = (real >= KLUE_BINARY_THRESHOLD).astype(np.int64)
    else:
        binary = np.asarray(binary_labels)
        if binary.shape != pred.shape or not np.all(np.isin(binary, (0, 1))):
            raise ValueError(f"binary_labels must be [{len(pred)}] values in {{0, 1}}, got shape {binary.shape}")
        binary = binary.astype(np.int64)
    predicted = predict_at(pred, threshold)
    true_positives = int(np.sum(predicted & binary))
    # F1 = 2 TP / (2 TP + FP + FN) = 2 TP / (predicted positives + actual positives).
    denominator = int(predicted.sum() + binary.sum())
    f1 = 2.0 * true_positives / denominator if denominator else 0.0
    return {"pearson": 100.0 * pearson(pred, real), "f1": 100.0 * f1, "threshold": float(threshold)}


def tune_klue_threshold(pred_scores, binary_labels):
    """The threshold maximizing F1 of `pred_scores >= threshold` on a tuning split (the best-F1 search of
    `classification.binary_classification_metrics`). Use it as `klue_sts_metrics(..., threshold=...)` on
    another split."""
    return binary_classification_metrics(pred_scores, binary_labels, higher_is_positive=True)["f1_threshold"]
