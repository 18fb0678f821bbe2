"""The training objectives, by name (a leaf module: the config, the CLI and the model read it).

| objective            | data                                       | loss (tf_simcse.losses / tf_simcse.pair_losses)  |
|----------------------|--------------------------------------------|--------------------------------------------------|
| `unsup`              | sentences (dropout makes the positive)     | SimCSE InfoNCE, in-batch negatives               |
| `sup`                | NLI triplets (premise, entailment, contra.) | SimCSE InfoNCE with hard negatives              |
| `pair`               | (anchor, positive) pairs                   | SimCSE InfoNCE, in-batch negatives               |
| `cosent`             | scored pairs (KorSTS, KLUE-STS, ...)       | CoSENT (Su, 2022)                                |
| `cosine_mse`         | scored pairs                               | MSE of the cosine vs score / max_score (SBERT)   |
| `online_contrastive` | labelled pairs (same / different)          | margin loss on the batch's hard pairs            |
| `contrastive`        | labelled pairs                             | margin loss on every pair                        |
| `distill`            | sentences; `--teacher` embeds them         | MSE of student vs teacher embedding (SBERT)      |
"""

SIMCSE_OBJECTIVES = ("unsup", "sup", "pair")
SCORED_PAIR_OBJECTIVES = ("cosent", "cosine_mse")
LABELLED_PAIR_OBJECTIVES = ("online_contrastive", "contrastive")
PAIR_OBJECTIVES = SCORED_PAIR_OBJECTIVES + LABELLED_PAIR_OBJECTIVES
DISTILL = "distill"
# Objectives whose loss is one of tf_simcse.pair_losses (a target per row: score, label or teacher embedding).
TARGET_OBJECTIVES = PAIR_OBJECTIVES + (DISTILL,)
OBJECTIVES = SIMCSE_OBJECTIVES + TARGET_OBJECTIVES

# The views (batch keys, each a packed `tf_simcse.features` dict) of each objective's batches. unsup embeds its
# anchors twice, and its second copy is the positive: SIMCSE_VIEWS names what the SimCSE loss sees.
SIMCSE_VIEWS = ("anchor", "positive", "hard_negative")
VIEWS = {
    "unsup": SIMCSE_VIEWS[:1],
    "pair": SIMCSE_VIEWS[:2],
    "sup": SIMCSE_VIEWS,
    **{objective: ("sentence1", "sentence2") for objective in PAIR_OBJECTIVES},
    DISTILL: ("anchor",),
}
# The batch key of each target objective's targets: gold scores, labels 1 (same) / 0 (different), or the
# teacher's embeddings.
TARGETS = {
    **{objective: "score" for objective in SCORED_PAIR_OBJECTIVES},
    **{objective: "label" for objective in LABELLED_PAIR_OBJECTIVES},
    DISTILL: "teacher",
}


def pair_kind(objective):
    """`scored` / `labelled` for a pair objective (the kind of `tf_simcse.data.pairs` data it trains on), else None."""
    if objective in SCORED_PAIR_OBJECTIVES:
        return "scored"
    if objective in LABELLED_PAIR_OBJECTIVES:
        return "labelled"
    return None
