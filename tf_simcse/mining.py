"""Hard-negative mining: (anchor, positive) pairs -> (anchor, positive, hard negative) triplets.

For each anchor, the corpus texts most similar to it under the current encoder (cosine of `Encoder.encode`
embeddings) are candidates; those too close to the anchor's positive are dropped, and the most similar survivors
become its hard negatives. This is the rule of sentence-transformers' `util.mine_hard_negatives` with
`range_min=0, range_max=top_k, absolute_margin=margin` (and optionally `relative_margin`), `max_score=None,
min_score=None, sampling_strategy="top", num_negatives=num_negatives, output_format="triplet"`, no cross-encoder,
`include_positives=False`, `use_faiss=False`:

- anchors are deduplicated (first occurrence order); the positives of all rows of an anchor are its positives;
- the corpus is `corpus + positives` (default `corpus`: the positives), deduplicated by exact text;
- the candidate window of an anchor is its `top_k + P + 1` most similar corpus texts, `P` being the largest number
  of rows any anchor has: room for the anchor's own positives and its own text, which sentence-transformers
  (6.x) retrieves and then excludes;
- candidates that are a positive of the anchor are excluded, and so is the anchor's own text;
- the margin rule (against the anchor's least similar positive `p`): keep a candidate `s` iff `s + margin <= p`
  (`absolute_margin`) and, with `relative_margin` r, iff `s <= p - |p| * r`;
- the first `num_negatives` survivors by similarity are the negatives; an anchor without any survivor is dropped
  (counted in the report); one triplet is written per (anchor, distinct positive, negative).

Similarities are float32 dot products of L2-normalised embeddings, computed in chunks of anchors.
"""

import collections
import dataclasses

import numpy as np


@dataclasses.dataclass
class MinedTriplets:
    """Triplets and what it took to mine them.

    Attributes:
        anchors, positives, hard_negatives: parallel lists, one triplet per entry.
        positive_similarities, negative_similarities: float32 `[n]` cosine of anchor-positive and
            anchor-negative of each triplet.
        report: `pairs` (input rows), `anchors` (distinct), `anchors_kept`, `anchors_dropped` (no candidate left),
            `anchors_short` (kept with fewer than `num_negatives`), `triplets`, `corpus` (distinct texts),
            `candidates` (window entries examined) and `candidates_removed` by reason (`positive`, `anchor_text`,
            `margin`), and the settings.
    """

    anchors: list
    positives: list
    hard_negatives: list
    positive_similarities: np.ndarray
    negative_similarities: np.ndarray
    report: dict

    def __len__(self):
        return len(self.anchors)


def _normalized(x):
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, np.float32(1e-12))


def mine_hard_negatives(
    anchors,
    positives,
    *,
    encode,
    corpus=None,
    top_k=10,
    margin=0.1,
    relative_margin=None,
    num_negatives=1,
    chunk_size=1024,
):
    """Mines hard negatives for `(anchors[i], positives[i])` pairs (see the module docstring for the rule).

    Args:
        anchors, positives: parallel lists of strings.
        encode: `list[str] -> [n, d]` embeddings, e.g. `encoder.encode` of a `tf_simcse` `Encoder`.
        corpus: extra candidate texts (default: none beyond the positives, which are always candidates).
        top_k: candidates per anchor (sentence-transformers' `range_max`).
        margin: absolute margin below the positive's similarity (None: no absolute margin).
        relative_margin: optional relative margin (a fraction of `|sim(anchor, positive)|`).
        num_negatives: negatives per anchor (at most `top_k`); each gives its own triplet.
        chunk_size: anchors scored against the corpus at a time (bounds memory at `chunk_size x corpus`).

    Returns:
        `MinedTriplets`.
    """
    anchors, positives = list(anchors), list(positives)
    if len(anchors) != len(positives):
        raise ValueError(f"{len(anchors)} anchors but {len(positives)} positives")
    if not anchors:
        raise ValueError("no (anchor, positive) pairs to mine hard negatives for")
    if int(top_k) < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    if not 1 <= int(num_negatives) <= int(top_k):
        raise ValueError(f"num_negatives must be between 1 and top_k ({top_k}), got {num_negatives}")
    for name, value in (("margin", margin), ("relative_margin", relative_margin)):
        if value is not None and not value >= 0:
            raise ValueError(f"{name} must be >= 0 (or None), got {value}")
    top_k, num_negatives = int(top_k), int(num_negatives)

    queries = list(dict.fromkeys(anchors))
    query_index = {q: i for i, q in enumerate(queries)}
    base = list(positives) if corpus is None else list(corpus)
    texts = list(dict.fromkeys(base + positives))
    text_index = {t: i for i, t in enumerate(texts)}
    positive_ids = [[] for _ in queries]
    for anchor, positive in zip(anchors, positives):
        ids = positive_ids[query_index[anchor]]
        if text_index[positive] not in ids:
            ids.append(text_index[positive])
    # Rows per anchor, duplicates included, + 1 for the anchor's own text: the room sentence-transformers leaves in
    # the window for the candidates it excludes.
    room = max(collections.Counter(anchors).values()) + 1
    window = min(top_k + room, len(texts))

    corpus_embeddings = _normalized(encode(texts))
    query_embeddings = _normalized(encode(queries))
    if corpus_embeddings.shape[0] != len(texts) or query_embeddings.shape[0] != len(queries):
        raise ValueError("encode returned a different number of embeddings than texts")

    out = {"anchor": [], "positive": [], "negative": [], "pos_sim": [], "neg_sim": []}
    removed = collections.Counter()
    kept = short = 0
    for start in range(0, len(queries), int(chunk_size)):
        chunk = query_embeddings[start : start + int(chunk_size)]
        scores = chunk @ corpus_embeddings.T
        # Highest first; ties by corpus index (stable sort of the negated scores).
        order = np.argsort(-scores, axis=1, kind="stable")[:, :window]
        for row in range(len(chunk)):
            q = start + row
            own = positive_ids[q]
            positive_scores = [np.float32(chunk[row] @ corpus_embeddings[p]) for p in own]
            hardest = min(positive_scores)
            anchor_text = text_index.get(queries[q])
            negatives = []
            for c in order[row]:
                s = scores[row, c]
                if c in own:
                    removed["positive"] += 1
                elif c == anchor_text:
                    removed["anchor_text"] += 1
                elif (margin is not None and s + np.float32(margin) > hardest) or (
                    relative_margin is not None and s > hardest - abs(hardest) * np.float32(relative_margin)
                ):
                    removed["margin"] += 1
                elif len(negatives) < num_negatives:
                    negatives.append((int(c), s))
            if not negatives:
                continue
            kept += 1
            short += len(negatives) < num_negatives
            for p, p_score in zip(own, positive_scores):
                for c, s in negatives:
                    out["anchor"].append(queries[q])
                    out["positive"].append(texts[p])
                    out["negative"].append(texts[c])
                    out["pos_sim"].append(p_score)
                    out["neg_sim"].append(s)

    report = {
        "pairs": len(anchors),
        "anchors": len(queries),
        "anchors_kept": kept,
        "anchors_dropped": len(queries) - kept,
        "anchors_short": short,
        "triplets": len(out["anchor"]),
        "corpus": len(texts),
        "candidates": len(queries) * window,
        "candidates_removed": dict(sorted(removed.items())),
        "top_k": top_k,
        "margin": margin,
        "relative_margin": relative_margin,
        "num_negatives": num_negatives,
    }
    return MinedTriplets(
        out["anchor"],
        out["positive"],
        out["negative"],
        np.asarray(out["pos_sim"], dtype=np.float32),
        np.asarray(out["neg_sim"], dtype=np.float32),
        report,
    )
