"""The SimCSE contrastive (InfoNCE) loss and the cross-replica gather it needs.

Notation of princeton-nlp/SimCSE `cl_forward`: z1 = anchors, z2 = positives, z3 = hard negatives. Row i of the
logits holds `cos(z1_i, z2_j) / temperature` for every candidate positive j, followed (supervised objective) by
`cos(z1_i, z3_j) / temperature` for every candidate hard negative j; the label of row i is the column of its own
positive; the loss is the mean cross-entropy over rows. `hard_negative_weight` w is added to one logit per row,
that of the anchor's OWN hard negative, so `exp(w)` multiplies its share of the softmax denominator.

Under a distribution strategy every replica embeds only its local slice of the batch. The candidate sets must be
global (the negatives of a sentence are all other sentences of the global batch), so the positives and hard
negatives are gathered from all replicas with `gather_across_replicas`, and `label_offset` says where this
replica's anchors sit in those gathered sets. All arithmetic here is float32, whatever the Keras dtype policy: a
0.05 temperature multiplies every cosine by 20, which would magnify half-precision rounding 20-fold.
"""

import tensorflow as tf


def gather_across_replicas(x):
    """Concatenates `x` (a tensor or a nest of tensors) from all replicas along axis 0, in replica order.

    In a replica context of a multi-replica strategy this is `ReplicaContext.all_gather`, whose gradient sums the
    upstream gradients of all replicas and hands each replica the slice of its own rows: a sample's embedding
    receives the gradient of every replica's loss terms in which it appears. Replicas may hold different numbers
    of rows (an uneven last batch) except on TPU. Outside a replica context, or with one replica, returns `x`.

    Gather everything a step needs in ONE call (a nest): under `MirroredStrategy` each replica's tape may run the
    gradients of independent gathers in a different order, and the all-reduces in those gradients are then
    paired across replicas wrongly.
    """
    ctx = tf.distribute.get_replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1:
        return x
    return ctx.all_gather(x, axis=0)


def contrastive_logits(
    anchors,
    positives,
    hard_negatives=None,
    *,
    temperature=0.05,
    hard_negative_weight=0.0,
    label_offset=0,
):
    """Returns `(logits [b, B] or [b, 2B], labels [b])` of the anchor -> candidates classification, float32.

    Args:
        anchors: `[b, d]`, this replica's anchors (z1).
        positives: `[B, d]`, the global positive set (z2 of every replica, in replica order).
        hard_negatives: optional `[B, d]`, the global hard-negative set (z3), gathered in the SAME order as
            `positives`, so that anchor i's own hard negative is row `label_offset + i`.
        temperature: the softmax temperature τ.
        hard_negative_weight: log-weight added to the logit of each anchor's own hard negative
            (column `B + label_offset + i`), after the division by τ, as in the official code.
        label_offset: index of this replica's first anchor in the global sets (0 on one device).
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}.")
    anchors = tf.math.l2_normalize(tf.cast(anchors, tf.float32), axis=-1)
    positives = tf.math.l2_normalize(tf.cast(positives, tf.float32), axis=-1)
    logits = tf.matmul(anchors, positives, transpose_b=True) / temperature
    local_batch = tf.shape(anchors)[0]
    labels = tf.cast(label_offset, tf.int32) + tf.range(local_batch, dtype=tf.int32)
    if hard_negatives is not None:
        hard_negatives = tf.math.l2_normalize(tf.cast(hard_negatives, tf.float32), axis=-1)
        negative_logits = tf.matmul(anchors, hard_negatives, transpose_b=True) / temperature
        if hard_negative_weight:
            # One-hot on (i, label_offset + i): the anchor's own hard negative only.
            own = tf.one_hot(labels, depth=tf.shape(hard_negatives)[0], dtype=tf.float32)
            negative_logits = negative_logits + float(hard_negative_weight) * own
        logits = tf.concat([logits, negative_logits], axis=1)
    return logits, labels


def _mean_cross_entropy(logits, labels):
    per_row = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    # An empty local batch (a replica left without rows by an uneven last batch) contributes 0, not NaN.
    count = tf.maximum(tf.cast(tf.shape(per_row)[0], tf.float32), 1.0)
    return tf.reduce_sum(per_row) / count


def contrastive_loss(
    anchors,
    positives,
    hard_negatives=None,
    *,
    temperature=0.05,
    hard_negative_weight=0.0,
    symmetric=False,
    label_offset=0,
    all_anchors=None,
    return_logits=False,
):
    """The SimCSE loss: mean over the LOCAL anchors of the cross-entropy of `contrastive_logits`; float32 scalar.

    With `symmetric=True` the loss is the average of the anchor -> positive term above and the reverse
    positive -> anchor term (row i: this replica's positive i against every anchor of the global batch, label
    `label_offset + i`; hard negatives take no part in the reverse term). The reverse term needs the global
    anchor set, `all_anchors` (`[B, d]`); on one device it defaults to `anchors`.

    On one device call it with `anchors`, `positives` (and `hard_negatives`) of the same batch and
    `label_offset=0`. Under a strategy, pass the gathered global `positives` / `hard_negatives` / `all_anchors`
    and this replica's offset; the mean over all replicas of the per-replica values (weighted by local batch size)
    is then exactly the single-device loss of the global batch.

    With `return_logits=True` returns `(loss, logits, labels)` of the anchor -> candidates direction (for
    metrics such as in-batch top-1 accuracy).
    """
    logits, labels = contrastive_logits(
        anchors,
        positives,
        hard_negatives,
        temperature=temperature,
        hard_negative_weight=hard_negative_weight,
        label_offset=label_offset,
    )
    loss = _mean_cross_entropy(logits, labels)
    if symmetric:
        loss = 0.5 * (loss + _reverse_loss(anchors, positives, labels, all_anchors, temperature, label_offset))
    return (loss, logits, labels) if return_logits else loss


def _reverse_loss(anchors, positives, labels, all_anchors, temperature, label_offset):
    """Positive -> anchor term of the symmetric loss: this replica's positives against all anchors."""
    if all_anchors is None:
        tf.debugging.assert_equal(
            tf.shape(positives)[0],
            tf.shape(anchors)[0],
            message="contrastive_loss(symmetric=True): pass all_anchors (the global anchor set) when positives "
            "is a gathered global set.",
        )
        all_anchors = anchors
    local_positives = tf.gather(positives, labels)
    reverse_logits, _ = contrastive_logits(
        local_positives, all_anchors, temperature=temperature, label_offset=label_offset
    )
    return _mean_cross_entropy(reverse_logits, labels)
