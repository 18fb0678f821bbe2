"""Losses on sentence pairs: STS regression, distillation and pair classification, with sentence-transformers'
semantics, as float32 TensorFlow functions of the two embeddings of each pair.

| function                  | sentence-transformers   | targets                                  | reduction          |
|---------------------------|-------------------------|------------------------------------------|--------------------|
| `cosent_loss`             | `CoSENTLoss` (Su, 2022) | gold scores, any scale (only the order)  | log(1 + sum)       |
| `cosine_mse_loss`         | `CosineSimilarityLoss`  | gold scores scaled to [0, 1] (by caller) | mean over pairs    |
| `distill_mse_loss`        | `MSELoss`               | teacher embeddings                       | mean over elements |
| `online_contrastive_loss` | `OnlineContrastiveLoss` | 1 = same, 0 = different                  | sum, hard pairs    |
| `contrastive_loss_pairs`  | `ContrastiveLoss`       | 1 = same, 0 = different                  | mean over pairs    |

The distances of the two classification losses are cosine distances, `1 - cos` (sentence-transformers' default
`SiameseDistanceMetric.COSINE_DISTANCE`). All arithmetic is float32, whatever the Keras dtype policy.

**Distribution.** Under a strategy each replica embeds only its slice of the global batch. CoSENT ranks every
pair of the global batch against every other, and the online contrastive loss picks its hard pairs with the
batch-wide largest positive / smallest negative distance, so a replica needs the cosines and targets of the whole
global batch: `gather_replica_batch` gathers them (one all-gather, without gradient) and says where this
replica's rows sit. Each loss then returns this replica's *share*: the shares of all replicas sum to the loss of
the global batch on one device, and the gradient of each share with respect to the replica's own embeddings is
exactly the global-batch gradient with respect to those rows (gradients of other replicas' rows flow through their
own shares). For CoSENT the share is `L(c') - (1 - w) * stop_gradient(L(c'))`, where `c'` is the gathered cosine
vector with this replica's slice replaced by its local, differentiable cosines and `w = local rows / global rows`:
its value is `w * L`, its gradient is `dL/dc` on the local rows. `pair_loss_share` does the gathering and the
dispatch in one call; outside a replica context (or with one replica) every function is the plain loss.
"""

import dataclasses

import tensorflow as tf

from tf_simcse.losses import gather_across_replicas
from tf_simcse.objectives import TARGET_OBJECTIVES



@dataclasses.dataclass(frozen=True)
class ReplicaBatch:
    """What one replica knows of the global batch (see the module docstring); built by `gather_replica_batch`.

    Attributes:
        size: int32 scalar, the number of rows (pairs) of the global batch.
        offset: int32 scalar, the index of this replica's first row in the global batch.
        cosines: float32 `[size]` cosines of every pair, in replica order, without gradient (or None).
        targets: float32 `[size]` scores / labels of every pair, in replica order (or None).
    """

    size: tf.Tensor
    offset: tf.Tensor
    cosines: tf.Tensor | None = None
    targets: tf.Tensor | None = None


def pair_cosine(emb1, emb2):
    """float32 `[b]`: cosine of `emb1[i]` and `emb2[i]` (L2-normalised, then dotted)."""
    a = tf.math.l2_normalize(tf.cast(emb1, tf.float32), axis=-1)
    b = tf.math.l2_normalize(tf.cast(emb2, tf.float32), axis=-1)
    return tf.reduce_sum(a * b, axis=-1)


def gather_replica_batch(local_rows, cosines=None, targets=None):
    """The global-batch view of this replica, or None outside a multi-replica replica context.

    Args:
        local_rows: this replica's number of pairs (an int32 scalar, e.g. `tf.shape(emb1)[0]`).
        cosines: optional `[b]` local pair cosines (`pair_cosine`); gathered without gradient.
        targets: optional `[b]` local scores or labels; gathered as float32.

    Everything is gathered in ONE all-gather (see `tf_simcse.losses.gather_across_replicas`); nothing gathered
    carries a gradient, so the backward pass holds no collective.
    """
    ctx = tf.distribute.get_replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1:
        return None
    local = {"rows": tf.reshape(tf.cast(local_rows, tf.int32), [1])}
    if cosines is not None:
        local["cosines"] = tf.stop_gradient(tf.cast(cosines, tf.float32))
    if targets is not None:
        local["targets"] = tf.stop_gradient(tf.cast(targets, tf.float32))
    gathered = gather_across_replicas(local)
    rows = gathered["rows"]
    before = tf.range(ctx.num_replicas_in_sync) < tf.cast(ctx.replica_id_in_sync_group, tf.int32)
    return ReplicaBatch(
        size=tf.reduce_sum(rows),
        offset=tf.reduce_sum(tf.where(before, rows, tf.zeros_like(rows))),
        cosines=gathered.get("cosines"),
        targets=gathered.get("targets"),
    )


def _row_mean(per_row, replica):
    """Mean over the local rows on one device; `sum / global rows` (this replica's share) with `replica`."""
    rows = tf.shape(per_row)[0] if replica is None else replica.size
    # An empty (local) batch contributes 0, not NaN.
    return tf.reduce_sum(per_row) / tf.maximum(tf.cast(rows, tf.float32), 1.0)


def _require(replica, field, loss):
    if replica is not None and getattr(replica, field) is None:
        raise ValueError(f"{loss} needs the gathered {field} of the global batch: pass them to gather_replica_batch.")


def _cosent(cosines, scores, scale):
    # Entry [i, j] is scale * (cos_j - cos_i), kept where pair i has the strictly higher gold score; the leading
    # 0 is the "1 +" inside the log.
    differences = scale * (cosines[None, :] - cosines[:, None])
    ranked = scores[:, None] > scores[None, :]
    terms = tf.where(ranked, differences, tf.fill(tf.shape(differences), float("-inf")))
    return tf.reduce_logsumexp(tf.concat([tf.zeros([1]), tf.reshape(terms, [-1])], axis=0))


def cosent_loss(emb1, emb2, scores, scale=20.0, *, replica=None):
    """CoSENT: `log(1 + sum over pairs (i, j) with score_i > score_j of exp(scale * (cos_j - cos_i)))`.

    Only the order of the gold scores matters (ties are not ranked), so they need no rescaling. Same value as
    sentence-transformers' `CoSENTLoss(model, scale)`.

    Args:
        emb1, emb2: `[b, d]` embeddings of the two sides of each pair.
        scores: `[b]` gold similarity.
        scale: the inverse temperature λ (20 in the paper and in sentence-transformers).
        replica: a `ReplicaBatch` with `cosines` and `targets` (the scores) of the global batch, under a
            strategy; the result is then this replica's share (see the module docstring).
    """
    cosines = pair_cosine(emb1, emb2)
    scores = tf.cast(scores, tf.float32)
    scale = float(scale)
    if replica is None:
        return _cosent(cosines, scores, scale)
    _require(replica, "cosines", "cosent_loss")
    _require(replica, "targets", "cosent_loss")
    local = tf.shape(cosines)[0]
    # This replica's rows are its own differentiable cosines; the other rows are constants.
    mixed = tf.concat(
        [replica.cosines[: replica.offset], cosines, replica.cosines[replica.offset + local :]], axis=0
    )
    loss = _cosent(mixed, replica.targets, scale)
    weight = tf.cast(local, tf.float32) / tf.maximum(tf.cast(replica.size, tf.float32), 1.0)
    return loss - (1.0 - weight) * tf.stop_gradient(loss)


def cosine_mse_loss(emb1, emb2, scores, *, replica=None):
    """Mean of `(cos(emb1_i, emb2_i) - score_i)^2`: sentence-transformers' `CosineSimilarityLoss` (its default
    `nn.MSELoss` on the raw cosine).

    The scores must already be on the cosine's scale: the caller maps them to [0, 1] (KorSTS / KLUE-STS / STS-B
    scores are 0-5: divide by 5), as Sentence-BERT does. `replica` (a `ReplicaBatch`, only `size` is used) makes
    the result this replica's share: its local sum over the global number of pairs.
    """
    error = pair_cosine(emb1, emb2) - tf.cast(scores, tf.float32)
    return _row_mean(tf.square(error), replica)


def distill_mse_loss(student, teacher, *, replica=None):
    """Mean over all elements of `(student - teacher)^2`: sentence-transformers' `MSELoss` (knowledge
    distillation, Reimers & Gurevych 2020). The teacher embeddings are targets: no gradient flows into them.

    Both must have the same width (project the student first when it differs). `replica` (only `size` is used)
    makes the result this replica's share.
    """
    student = tf.cast(student, tf.float32)
    teacher = tf.stop_gradient(tf.cast(teacher, tf.float32))
    if student.shape[-1] is not None and teacher.shape[-1] is not None and student.shape[-1] != teacher.shape[-1]:
        raise ValueError(
            f"distill_mse_loss: student width {student.shape[-1]} != teacher width {teacher.shape[-1]}; "
            "project the student embedding to the teacher's width first."
        )
    return _row_mean(tf.reduce_mean(tf.square(student - teacher), axis=-1), replica)


def contrastive_loss_pairs(emb1, emb2, labels, margin=0.5, *, replica=None):
    """Mean of `0.5 * (label * d^2 + (1 - label) * relu(margin - d)^2)`, `d = 1 - cos`: sentence-transformers'
    `ContrastiveLoss` (cosine distance, `size_average=True`). Label 1 means the two sentences are the same.

    `replica` (only `size` is used) makes the result this replica's share.
    """
    labels = tf.cast(labels, tf.float32)
    distance = 1.0 - pair_cosine(emb1, emb2)
    per_row = 0.5 * (labels * tf.square(distance) + (1.0 - labels) * tf.square(tf.nn.relu(margin - distance)))
    return _row_mean(per_row, replica)


def _masked_mean(values, mask):
    mask = tf.cast(mask, tf.float32)
    return tf.reduce_sum(values * mask) / tf.maximum(tf.reduce_sum(mask), 1.0)


def online_contrastive_loss(emb1, emb2, labels, margin=0.5, *, replica=None):
    """sentence-transformers' `OnlineContrastiveLoss` (cosine distance `d = 1 - cos`): the SUM of

    - `d^2` over the hard positives: pairs labelled 1 whose distance exceeds the smallest distance of a pair
      labelled 0 in the batch (without any 0 pair: the mean distance of the 1 pairs);
    - `relu(margin - d)^2` over the hard negatives: pairs labelled 0 closer than the largest distance of a pair
      labelled 1 (without any 1 pair: the mean distance of the 0 pairs).

    Pairs with any other label take no part. The thresholds are selection rules, not terms: no gradient flows
    through them. Under a strategy the batch is the global batch: pass `replica` (a `ReplicaBatch` with
    `cosines` and `targets`); the result is then the sum over this replica's hard pairs, its share.
    """
    labels = tf.cast(labels, tf.float32)
    distance = 1.0 - pair_cosine(emb1, emb2)
    if replica is None:
        all_distance, all_labels = tf.stop_gradient(distance), labels
    else:
        _require(replica, "cosines", "online_contrastive_loss")
        _require(replica, "targets", "online_contrastive_loss")
        all_distance, all_labels = 1.0 - replica.cosines, replica.targets
    all_positive, all_negative = tf.equal(all_labels, 1.0), tf.equal(all_labels, 0.0)
    has_positive, has_negative = tf.reduce_any(all_positive), tf.reduce_any(all_negative)
    largest_positive = tf.where(
        has_positive,
        tf.reduce_max(tf.where(all_positive, all_distance, float("-inf"))),
        _masked_mean(all_distance, all_negative),
    )
    smallest_negative = tf.where(
        has_negative,
        tf.reduce_min(tf.where(all_negative, all_distance, float("inf"))),
        _masked_mean(all_distance, all_positive),
    )
    hard_positive = tf.logical_and(tf.equal(labels, 1.0), distance > smallest_negative)
    hard_negative = tf.logical_and(tf.equal(labels, 0.0), distance < largest_positive)
    zeros = tf.zeros_like(distance)
    positive_terms = tf.where(hard_positive, tf.square(distance), zeros)
    negative_terms = tf.where(hard_negative, tf.square(tf.nn.relu(margin - distance)), zeros)
    return tf.reduce_sum(positive_terms) + tf.reduce_sum(negative_terms)


def pair_loss_share(objective, emb1, emb2, targets=None, **options):
    """The loss of `objective` (one of `tf_simcse.objectives.TARGET_OBJECTIVES`) for this replica, with the global-batch gathering done.

    On one device (or outside a replica context) it is the loss of the batch. In a replica context of a
    multi-replica strategy it is this replica's share: the shares of all replicas sum to the global-batch loss,
    and the gradients summed across replicas are the global-batch gradients (see the module docstring).

    Args:
        objective: `cosent`, `cosine_mse`, `online_contrastive`, `contrastive` (pairs: `emb1`, `emb2` and
            `targets` = scores or 1/0 labels) or `distill` (`emb1` = student, `emb2` = teacher embeddings,
            `targets` unused).
        **options: `scale` (cosent) or `margin` (online_contrastive, contrastive).
    """
    if objective not in TARGET_OBJECTIVES:
        raise ValueError(f"Unknown pair objective {objective!r}: choose one of {', '.join(TARGET_OBJECTIVES)}.")
    allowed = {"cosent": {"scale"}, "online_contrastive": {"margin"}, "contrastive": {"margin"}}.get(objective, set())
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise ValueError(f"objective {objective!r} takes no option {', '.join(unknown)}.")
    local_rows = tf.shape(emb1)[0]
    if objective == "distill":
        return distill_mse_loss(emb1, emb2, replica=gather_replica_batch(local_rows), **options)
    if targets is None:
        raise ValueError(f"objective {objective!r} needs targets (scores or labels).")
    if objective in ("cosent", "online_contrastive"):
        replica = gather_replica_batch(local_rows, pair_cosine(emb1, emb2), targets)
    else:
        replica = gather_replica_batch(local_rows)
    loss = {
        "cosent": cosent_loss,
        "cosine_mse": cosine_mse_loss,
        "online_contrastive": online_contrastive_loss,
        "contrastive": contrastive_loss_pairs,
    }[objective]
    return loss(emb1, emb2, targets, replica=replica, **options)
