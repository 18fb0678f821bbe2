"""`tf_simcse.losses` against a float64 NumPy transcription of the SimCSE equations and their analytic gradient.

The reference is written from the paper / `cl_forward` equations, independently of the TF code: logits
`cos(z1_i, z2_j) / τ` (+ `cos(z1_i, z3_j) / τ` + w on the anchor's own hard negative), mean softmax cross-entropy,
gradient `(softmax - onehot) / b` pushed back through the matmul and the L2 normalisation by hand. The reference
gradient is itself checked by central finite differences.
"""

import numpy as np
import pytest
import tensorflow as tf

from _tiny import mirrored
from tf_simcse.losses import contrastive_logits, contrastive_loss, gather_across_replicas

TOL = 1e-5


# ----------------------------------------------------------------------------------------------- reference
def _normalize(x):
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return x / n, n


def _normalize_backward(u, n, du):
    # u = x / |x|  =>  dx = (du - u * <u, du>) / |x|
    return (du - u * np.sum(u * du, axis=1, keepdims=True)) / n


def _ce_and_dlogits(logits, labels):
    shifted = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    rows = np.arange(len(labels))
    loss = np.mean(-np.log(p[rows, labels]))
    d = p.copy()
    d[rows, labels] -= 1.0
    return loss, d / len(labels)


def reference(z1, z2, z3=None, *, tau=0.05, w=0.0, offset=0, symmetric=False, all_z1=None):
    """Loss and gradients (dz1, dz2, dz3) for anchors z1 [b,d] vs global sets z2, z3 [B,d]; float64."""
    z1, z2 = z1.astype(np.float64), z2.astype(np.float64)
    b, big_b = len(z1), len(z2)
    u1, n1 = _normalize(z1)
    u2, n2 = _normalize(z2)
    labels = offset + np.arange(b)
    logits = u1 @ u2.T / tau
    if z3 is not None:
        u3, n3 = _normalize(z3.astype(np.float64))
        neg = u1 @ u3.T / tau
        neg[np.arange(b), offset + np.arange(b)] += w
        logits = np.concatenate([logits, neg], axis=1)
    loss, d = _ce_and_dlogits(logits, labels)
    scale = 0.5 if symmetric else 1.0
    d = d * scale
    du1 = d[:, :big_b] @ u2 / tau
    du2 = d[:, :big_b].T @ u1 / tau
    dz3 = None
    if z3 is not None:
        du1 += d[:, big_b:] @ u3 / tau
        dz3 = _normalize_backward(u3, n3, d[:, big_b:].T @ u1 / tau)
    dz_all1 = None
    shared_anchors = all_z1 is None
    if symmetric:
        all_z1 = z1 if shared_anchors else all_z1.astype(np.float64)
        ua, na = _normalize(all_z1)
        p_local = u2[labels]
        rev = p_local @ ua.T / tau
        rev_loss, dr = _ce_and_dlogits(rev, labels)
        loss = 0.5 * (loss + rev_loss)
        dr = 0.5 * dr
        du2[labels] += dr @ ua / tau
        dz_all1 = _normalize_backward(ua, na, dr.T @ p_local / tau)
    dz1 = _normalize_backward(u1, n1, du1)
    dz2 = _normalize_backward(u2, n2, du2)
    if symmetric and shared_anchors:  # one tensor plays both roles: its gradients add up
        dz1, dz_all1 = dz1 + dz_all1, None
    return loss, dz1, dz2, dz3, dz_all1


def _tf_loss_and_grads(z1, z2, z3=None, all_z1=None, **kwargs):
    tensors = [tf.constant(z, tf.float32) for z in (z1, z2)]
    tensors.append(None if z3 is None else tf.constant(z3, tf.float32))
    tensors.append(None if all_z1 is None else tf.constant(all_z1, tf.float32))
    watched = [t for t in tensors if t is not None]
    with tf.GradientTape() as tape:
        tape.watch(watched)
        loss = contrastive_loss(tensors[0], tensors[1], tensors[2], all_anchors=tensors[3], **kwargs)
    grads = tape.gradient(loss, tensors[:2] + [t for t in tensors[2:] if t is not None])
    grads = [g.numpy() for g in grads[:2]] + [g.numpy() for g in grads[2:]]
    return float(loss), grads


def _data(b=6, d=8, seed=0, big_b=None):
    rng = np.random.default_rng(seed)
    big_b = big_b or b
    return (
        rng.normal(size=(b, d)).astype(np.float32),
        rng.normal(size=(big_b, d)).astype(np.float32),
        rng.normal(size=(big_b, d)).astype(np.float32),
    )


# ----------------------------------------------------------------------------------------------- tests
def test_reference_gradient_matches_finite_differences():
    z1, z2, z3 = (z.astype(np.float64) for z in _data(b=4, d=5, seed=1))
    _, dz1, dz2, dz3, _ = reference(z1, z2, z3, w=1.0)
    eps = 1e-6
    for z, g in ((z1, dz1), (z2, dz2), (z3, dz3)):
        numeric = np.zeros_like(z)
        for idx in np.ndindex(z.shape):
            old = z[idx]
            z[idx] = old + eps
            up = reference(z1, z2, z3, w=1.0)[0]
            z[idx] = old - eps
            down = reference(z1, z2, z3, w=1.0)[0]
            z[idx] = old
            numeric[idx] = (up - down) / (2 * eps)
        np.testing.assert_allclose(g, numeric, atol=1e-7, rtol=1e-6)


@pytest.mark.parametrize(
    "case",
    [
        dict(name="unsup_or_pair"),
        dict(name="sup_w0", hard=True, w=0.0),
        dict(name="sup_w1", hard=True, w=1.0),
        dict(name="sup_w_neg", hard=True, w=-2.5),
        dict(name="symmetric", symmetric=True),
        dict(name="symmetric_sup", hard=True, w=0.5, symmetric=True),
        dict(name="tau_0.1", tau=0.1),
    ],
    ids=lambda c: c["name"],
)
def test_loss_and_gradient_match_numpy(case):
    z1, z2, z3 = _data(seed=len(case["name"]))
    z3 = z3 if case.get("hard") else None
    tau, w, sym = case.get("tau", 0.05), case.get("w", 0.0), case.get("symmetric", False)
    ref_loss, *ref_grads = reference(z1, z2, z3, tau=tau, w=w, symmetric=sym)
    loss, grads = _tf_loss_and_grads(
        z1, z2, z3, temperature=tau, hard_negative_weight=w, symmetric=sym
    )
    assert abs(loss - ref_loss) < TOL * max(1.0, abs(ref_loss)), (loss, ref_loss)
    for g, r in zip(grads, [r for r in ref_grads if r is not None]):
        np.testing.assert_allclose(g, r, atol=TOL, rtol=TOL)


@pytest.mark.parametrize("symmetric", [False, True])
def test_label_offset_slice_of_global_batch(symmetric):
    """A replica's view: anchors rows [o, o+b) of a global batch, global candidate sets, offset o."""
    z1_all, z2, z3 = _data(b=8, d=8, seed=7)
    offset, b = 4, 4
    z1 = z1_all[offset : offset + b]
    ref_loss, *ref_grads = reference(z1, z2, z3, w=1.5, offset=offset, symmetric=symmetric, all_z1=z1_all)
    loss, grads = _tf_loss_and_grads(
        z1,
        z2,
        z3,
        all_z1=z1_all if symmetric else None,
        hard_negative_weight=1.5,
        label_offset=offset,
        symmetric=symmetric,
    )
    assert abs(loss - ref_loss) < TOL * max(1.0, abs(ref_loss))
    for g, r in zip(grads, [r for r in ref_grads if r is not None]):
        np.testing.assert_allclose(g, r, atol=TOL, rtol=TOL)
    # The mean of the replicas' losses is the global-batch loss.
    other = contrastive_loss(
        z1_all[:offset], z2, z3, hard_negative_weight=1.5, symmetric=symmetric, all_anchors=z1_all
    )
    whole = reference(z1_all, z2, z3, w=1.5, symmetric=symmetric)[0]
    assert abs((float(other) + loss) / 2 - whole) < TOL * max(1.0, whole)


def test_hard_negative_weight_hits_only_the_own_negative():
    z1, z2, z3 = _data(b=5, seed=3)
    base, _ = contrastive_logits(z1, z2, z3, hard_negative_weight=0.0, label_offset=0)
    weighted, labels = contrastive_logits(z1, z2, z3, hard_negative_weight=2.0, label_offset=0)
    diff = (weighted - base).numpy()
    expected = np.zeros_like(diff)
    expected[np.arange(5), 5 + np.arange(5)] = 2.0
    np.testing.assert_allclose(diff, expected, atol=1e-5)
    np.testing.assert_array_equal(labels.numpy(), np.arange(5))


def test_float32_math_under_half_precision_inputs():
    z1, z2, z3 = _data(seed=4)
    loss16 = contrastive_loss(tf.constant(z1, tf.float16), tf.constant(z2, tf.float16), tf.constant(z3, tf.float16))
    assert loss16.dtype == tf.float32
    ref = reference(z1.astype(np.float16), z2.astype(np.float16), z3.astype(np.float16))[0]
    assert abs(float(loss16) - ref) < TOL * max(1.0, ref)


def test_empty_local_batch_gives_zero_and_bad_temperature_raises():
    z1, z2, _ = _data(seed=5)
    assert float(contrastive_loss(z1[:0], z2)) == 0.0
    with pytest.raises(ValueError, match="temperature"):
        contrastive_loss(z1, z2, temperature=0.0)


def test_gather_is_identity_outside_replica_context():
    x = tf.constant([[1.0, 2.0]])
    assert gather_across_replicas(x) is x
    strategy = mirrored()
    with strategy.scope():  # cross-replica context
        assert gather_across_replicas(x) is x


def test_gather_across_two_replicas_is_ordered_and_differentiable():
    strategy = mirrored()
    data = np.arange(8, dtype=np.float32).reshape(4, 2)

    @tf.function
    def step():
        def replica_fn():
            ctx = tf.distribute.get_replica_context()
            rid = tf.cast(ctx.replica_id_in_sync_group, tf.int32)
            local = tf.gather(tf.constant(data), [2 * rid, 2 * rid + 1])
            with tf.GradientTape() as tape:
                tape.watch(local)
                gathered = gather_across_replicas(local)
                # Replica r weights the global rows by (r + 1): d/d local = sum over replicas of the weights.
                row_weights = tf.constant([[1.0], [2.0], [3.0], [4.0]])
                loss = tf.reduce_sum(gathered * tf.cast(rid + 1, tf.float32) * row_weights)
            return gathered, tape.gradient(loss, local)

        return strategy.run(replica_fn)

    gathered, grads = step()
    for g in strategy.experimental_local_results(gathered):
        np.testing.assert_array_equal(g.numpy(), data)
    g0, g1 = (g.numpy() for g in strategy.experimental_local_results(grads))
    # (1 + 2) * row weight, for the rows each replica owns.
    np.testing.assert_allclose(g0, 3.0 * np.array([[1.0, 1.0], [2.0, 2.0]]))
    np.testing.assert_allclose(g1, 3.0 * np.array([[3.0, 3.0], [4.0, 4.0]]))
