"""Alignment and uniformity of embeddings (Wang & Isola, ICML 2020), as used in the SimCSE paper.

Both are computed on L2-normalized embeddings f(x), in float64; lower is better for both.

- alignment = E_{(x, y) positive pair} ||f(x) - f(y)||^alpha
- uniformity = log E_{i < j} exp(-t ||f(x_i) - f(x_j)||^2), over all distinct pairs of the data.

SimCSE's protocol (`sts_alignment_uniformity`): positive pairs are STS-B pairs with a gold score above 4.0,
and the data for uniformity are all sentences of the split.
"""

import numpy as np

from tf_simcse.evaluation.sts import _check_embeddings
from tf_simcse.evaluation.sts import _check_vector

# Pairwise block size: at most ~4M squared distances (32 MB of float64) in memory at a time.
_BLOCK_ELEMENTS = 1 << 22


def _normalize(x, name):
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"{name} must be an [n, dim] array, got shape {x.shape}")
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    if np.any(norms == 0) or not np.all(np.isfinite(norms)):
        row = int(np.flatnonzero((norms[:, 0] == 0) | ~np.isfinite(norms[:, 0]))[0])
        raise ValueError(f"{name} row {row} is zero or non-finite and cannot be L2-normalized")
    return x / norms


def alignment(x, y, alpha=2):
    """Mean of ||f(x_i) - f(y_i)||^alpha over the rows of two `[n, dim]` arrays of positive pairs."""
    x, y = _check_embeddings(x, y)
    if len(x) == 0:
        raise ValueError("alignment needs at least one positive pair")
    x = _normalize(x, "x")
    y = _normalize(y, "y")
    return float(np.mean(np.linalg.norm(x - y, axis=1) ** alpha))


def uniformity(x, t=2):
    """log of the mean of exp(-t ||f(x_i) - f(x_j)||^2) over all pairs i < j of the rows of `x`.

    Squared distances come from the Gram matrix (||a - b||^2 = 2 - 2 a.b for unit vectors) block by block, and
    the mean of exponentials is accumulated as a log-sum-exp, so large `t` does not underflow to log(0).
    """
    x = _normalize(x, "x")
    n = len(x)
    if n < 2:
        raise ValueError(f"uniformity needs at least 2 embeddings, got {n}")
    block = max(1, _BLOCK_ELEMENTS // n)
    running_max = -np.inf
    running_sum = 0.0  # sum of exp(value - running_max)
    for start in range(0, n - 1, block):
        rows = x[start : start + block]
        squared = np.maximum(2.0 - 2.0 * rows @ x[start:].T, 0.0)
        # Keep only columns j > i: in this block, row r is global index start + r, column c is start + c.
        keep = np.arange(squared.shape[1])[None, :] > np.arange(len(rows))[:, None]
        values = -t * squared[keep]
        if values.size == 0:
            continue
        block_max = values.max()
        new_max = max(running_max, block_max)
        running_sum = running_sum * np.exp(running_max - new_max) + np.exp(values - new_max).sum()
        running_max = new_max
    pairs = n * (n - 1) / 2
    return float(running_max + np.log(running_sum) - np.log(pairs))


def sts_alignment_uniformity(emb1, emb2, gold, positive_threshold=4.0, alpha=2, t=2):
    """SimCSE's alignment / uniformity on an STS split: alignment over pairs with `gold > positive_threshold`,
    uniformity over all `2n` sentence embeddings. Returns `{"alignment", "uniformity"}`."""
    emb1, emb2 = _check_embeddings(emb1, emb2)
    gold = _check_vector(gold, "gold", n=len(emb1))
    positive = gold > positive_threshold
    if not positive.any():
        raise ValueError(f"no pair has a gold score above {positive_threshold}: alignment is undefined")
    return {
        "alignment": alignment(emb1[positive], emb2[positive], alpha=alpha),
        "uniformity": uniformity(np.concatenate([emb1, emb2]), t=t),
    }
