"""STS evaluation: pairwise similarities of sentence embeddings vs gold scores.

`sts_metrics` gives the 8-column table KoSimCSE reports (Pearson and Spearman of cosine, euclidean, manhattan
and dot-product similarity against the gold scores) plus their mean, in percent. Everything is computed on the
whole split at once in float64, so the figures do not depend on the batch size used to encode.

The correlations are written here in NumPy (no SciPy import) and match `scipy.stats.pearsonr` /
`scipy.stats.spearmanr`, including average ranks for ties: gold STS scores are heavily tied (KorSTS dev has
1,500 pairs but ~100 distinct scores).
"""

import numpy as np

SIMILARITIES = ("cosine", "euclidean", "manhattan", "dot")
STS_METRIC_KEYS = tuple(f"{s}_{c}" for s in SIMILARITIES for c in ("pearson", "spearman")) + ("mean",)


def _check_embeddings(emb1, emb2):
    emb1 = np.asarray(emb1, dtype=np.float64)
    emb2 = np.asarray(emb2, dtype=np.float64)
    if emb1.ndim != 2 or emb1.shape != emb2.shape:
        raise ValueError(
            f"emb1 and emb2 must be [n, dim] arrays of the same shape, got {emb1.shape} and {emb2.shape}"
        )
    for name, emb in (("emb1", emb1), ("emb2", emb2)):
        if not np.all(np.isfinite(emb)):
            row = int(np.flatnonzero(~np.all(np.isfinite(emb), axis=1))[0])
            raise ValueError(f"{name} has a non-finite value in row {row}")
    return emb1, emb2


def _check_vector(values, name, n=None):
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {values.shape}")
    if n is not None and values.shape[0] != n:
        raise ValueError(f"{name} has {values.shape[0]} values, expected {n}")
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{name} has a non-finite value at index {int(np.flatnonzero(~np.isfinite(values))[0])}")
    return values


def sts_scores(emb1, emb2):
    """Row-wise similarities of two `[n, dim]` embedding arrays, float64 `[n]` each.

    Returns a dict with `cosine`, `euclidean` (minus the L2 distance), `manhattan` (minus the L1 distance) and
    `dot`: higher always means more similar. A zero vector has cosine 0 with anything (as
    `torch.nn.functional.cosine_similarity` and sentence-transformers give).
    """
    emb1, emb2 = _check_embeddings(emb1, emb2)
    norms = np.linalg.norm(emb1, axis=1) * np.linalg.norm(emb2, axis=1)
    dot = np.einsum("nd,nd->n", emb1, emb2)
    diff = emb1 - emb2
    return {
        "cosine": np.divide(dot, norms, out=np.zeros_like(dot), where=norms > 0),
        "euclidean": -np.linalg.norm(diff, axis=1),
        "manhattan": -np.abs(diff).sum(axis=1),
        "dot": dot,
    }


def rankdata(values):
    """1-based ranks of a 1-D array, ties given their average rank (`scipy.stats.rankdata(method="average")`)."""
    values = np.asarray(values)
    order = np.argsort(values, kind="stable")
    sorted_values = values[order]
    # Start of each run of equal values in sorted order; a run spanning sorted positions [a, b) gets (a+b+1)/2.
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    ends = np.r_[starts[1:], len(values)]
    run_ranks = (starts + ends + 1) / 2.0
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.repeat(run_ranks, ends - starts)
    return ranks


def pearson(x, y):
    """Pearson correlation of two 1-D arrays in float64 (nan if either is constant, as scipy)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1 or len(x) < 2:
        raise ValueError(f"pearson needs two 1-D arrays of the same length >= 2, got {x.shape} and {y.shape}")
    xc = x - x.mean()
    yc = y - y.mean()
    denominator = np.linalg.norm(xc) * np.linalg.norm(yc)
    if denominator == 0.0:
        return float("nan")
    # Clipped because rounding can push |r| a hair above 1 for (anti)collinear inputs.
    return float(np.clip(np.dot(xc, yc) / denominator, -1.0, 1.0))


def spearman(x, y):
    """Spearman rank correlation (Pearson of average ranks), as `scipy.stats.spearmanr`."""
    return pearson(rankdata(x), rankdata(y))


def sts_metrics(emb1, emb2, gold):
    """The KoSimCSE STS table for one split, in percent.

    Args:
        emb1, emb2: `[n, dim]` embeddings of the first and second sentences (any float dtype; cast to float64).
        gold: `[n]` gold similarity scores.

    Returns:
        A dict with `cosine_pearson`, `cosine_spearman`, `euclidean_pearson`, `euclidean_spearman`,
        `manhattan_pearson`, `manhattan_spearman`, `dot_pearson`, `dot_spearman` (correlation x 100) and
        `mean`, the mean of those eight.
    """
    emb1, emb2 = _check_embeddings(emb1, emb2)
    gold = _check_vector(gold, "gold", n=emb1.shape[0])
    if len(gold) < 2:
        raise ValueError(f"STS metrics need at least 2 pairs, got {len(gold)}")
    gold_ranks = rankdata(gold)
    metrics = {}
    for name, scores in sts_scores(emb1, emb2).items():
        metrics[f"{name}_pearson"] = 100.0 * pearson(scores, gold)
        metrics[f"{name}_spearman"] = 100.0 * pearson(rankdata(scores), gold_ranks)
    metrics["mean"] = float(np.mean(list(metrics.values())))
    return metrics
