"""`tf_simcse.pair_losses` against float64 NumPy formulas (loss and analytic gradient), against
sentence-transformers' own loss code on the same embeddings, and 2 replicas vs 1 device on the global batch.

The NumPy references are written from the definitions (CoSENT: Su 2022; the rest: the sentence-transformers
docstrings), independently of the TF code, and their gradients are checked by central finite differences. The
sentence-transformers comparison feeds identical tensors to each loss's `compute_loss_from_embeddings`, the method
its `forward` calls once the model has embedded the batch, and differentiates it with torch autograd.
"""

import numpy as np
import pytest
import tensorflow as tf

from _tiny import mirrored
from tf_simcse import pair_losses
from tf_simcse.pair_losses import (
    contrastive_loss_pairs,
    cosent_loss,
    cosine_mse_loss,
    distill_mse_loss,
    online_contrastive_loss,
    pair_loss_share,
)

TOL = 1e-5


# ----------------------------------------------------------------------------------------------- reference
def np_cosine(e1, e2):
    n1 = np.linalg.norm(e1, axis=1, keepdims=True)
    n2 = np.linalg.norm(e2, axis=1, keepdims=True)
    u1, u2 = e1 / n1, e2 / n2
    return np.sum(u1 * u2, axis=1), (u1, n1, u2, n2)


def np_cosine_backward(cache, dc):
    # c = <u1, u2>, u = e / |e|  =>  dc/de1 = (u2 - c u1) / |e1|
    u1, n1, u2, n2 = cache
    c = np.sum(u1 * u2, axis=1, keepdims=True)
    dc = dc[:, None]
    return dc * (u2 - c * u1) / n1, dc * (u1 - c * u2) / n2


def ref_cosent(c, s, scale):
    i, j = np.nonzero(s[:, None] > s[None, :])  # pairs with score_i > score_j
    e = np.exp(scale * (c[j] - c[i]))
    total = 1.0 + e.sum()
    dc = np.zeros_like(c)
    np.add.at(dc, j, scale * e / total)
    np.add.at(dc, i, -scale * e / total)
    return np.log(total), dc


def ref_cosine_mse(c, s):
    return np.mean((c - s) ** 2), 2.0 * (c - s) / len(c)


def ref_contrastive(c, y, margin):
    d = 1.0 - c
    hinge = np.maximum(margin - d, 0.0)
    loss = np.mean(0.5 * (y * d**2 + (1 - y) * hinge**2))
    dd = (y * d - (1 - y) * hinge) / len(c)
    return loss, -dd


def ref_online_contrastive(c, y, margin):
    d = 1.0 - c
    pos, neg = d[y == 1], d[y == 0]
    largest_positive = pos.max() if len(pos) else neg.mean()
    smallest_negative = neg.min() if len(neg) else pos.mean()
    hard_pos = (y == 1) & (d > smallest_negative)
    hard_neg = (y == 0) & (d < largest_positive)
    hinge = np.maximum(margin - d, 0.0)
    loss = np.sum(d[hard_pos] ** 2) + np.sum(hinge[hard_neg] ** 2)
    dd = np.where(hard_pos, 2 * d, 0.0) - np.where(hard_neg, 2 * hinge, 0.0)
    return loss, -dd


def reference(objective, e1, e2, t, **options):
    """(loss, de1, de2) in float64; for `distill`, e1 = student and e2 = teacher (de2 is zero)."""
    e1, e2 = e1.astype(np.float64), e2.astype(np.float64)
    if objective == "distill":
        diff = e1 - e2
        return np.mean(diff**2), 2.0 * diff / diff.size, np.zeros_like(e2)
    c, cache = np_cosine(e1, e2)
    t = t.astype(np.float64)
    fn = {
        "cosent": lambda: ref_cosent(c, t, options.get("scale", 20.0)),
        "cosine_mse": lambda: ref_cosine_mse(c, t),
        "contrastive": lambda: ref_contrastive(c, t, options.get("margin", 0.5)),
        "online_contrastive": lambda: ref_online_contrastive(c, t, options.get("margin", 0.5)),
    }[objective]
    loss, dc = fn()
    return (loss, *np_cosine_backward(cache, dc))


def _data(objective, b=12, d=8, seed=0):
    rng = np.random.default_rng(seed)
    e1 = rng.normal(size=(b, d)).astype(np.float32)
    # Second sides correlated with the first, so cosines spread over (-1, 1) rather than crowding around 0.
    e2 = (0.8 * e1 + rng.normal(size=(b, d))).astype(np.float32)
    if objective in ("cosent", "cosine_mse"):
        # KorSTS-like scores on a 0.2 grid (ties included); cosine_mse gets them scaled to [0, 1].
        t = rng.integers(0, 26, size=b) / 5.0
        t = t / 5.0 if objective == "cosine_mse" else t
    elif objective == "distill":
        e2 = rng.normal(size=(b, d)).astype(np.float32)
        t = None
    else:
        t = (rng.random(b) < 0.5).astype(np.float64)
    return e1, e2, None if t is None else t.astype(np.float32)


FUNCTIONS = {
    "cosent": lambda e1, e2, t, **o: cosent_loss(e1, e2, t, **o),
    "cosine_mse": lambda e1, e2, t, **o: cosine_mse_loss(e1, e2, t, **o),
    "distill": lambda e1, e2, t, **o: distill_mse_loss(e1, e2, **o),
    "contrastive": lambda e1, e2, t, **o: contrastive_loss_pairs(e1, e2, t, **o),
    "online_contrastive": lambda e1, e2, t, **o: online_contrastive_loss(e1, e2, t, **o),
}
CASES = [
    ("cosent", {}),
    ("cosent", {"scale": 5.0}),
    ("cosine_mse", {}),
    ("distill", {}),
    ("contrastive", {}),
    ("contrastive", {"margin": 0.9}),
    ("online_contrastive", {}),
    ("online_contrastive", {"margin": 1.2}),
]


def _tf_loss_and_grads(objective, e1, e2, t, **options):
    x1, x2 = tf.constant(e1), tf.constant(e2)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x1, x2])
        loss = FUNCTIONS[objective](x1, x2, None if t is None else tf.constant(t), **options)
    g1, g2 = tape.gradient(loss, [x1, x2])
    g2 = np.zeros_like(e2) if g2 is None else g2.numpy()
    return float(loss), g1.numpy(), g2


# ----------------------------------------------------------------------------------------------- numpy
@pytest.mark.parametrize("objective", sorted(FUNCTIONS))
def test_reference_gradients_match_finite_differences(objective):
    e1, e2, t = (None if x is None else x.astype(np.float64) for x in _data(objective, b=6, d=4, seed=11))
    _, de1, de2 = reference(objective, e1, e2, t)
    eps = 1e-6
    for x, g in ((e1, de1), (e2, de2)):
        numeric = np.zeros_like(x)
        for idx in np.ndindex(x.shape):
            old = x[idx]
            x[idx] = old + eps
            up = reference(objective, e1, e2, t)[0]
            x[idx] = old - eps
            down = reference(objective, e1, e2, t)[0]
            x[idx] = old
            numeric[idx] = (up - down) / (2 * eps)
        if objective == "distill" and x is e2:
            continue  # the teacher is a constant target: its reference gradient is zero by definition
        np.testing.assert_allclose(g, numeric, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("objective, options", CASES, ids=lambda v: str(v))
def test_loss_and_gradient_match_numpy(objective, options):
    e1, e2, t = _data(objective, seed=len(objective) + len(options))
    ref_loss, ref1, ref2 = reference(objective, e1, e2, t, **options)
    loss, g1, g2 = _tf_loss_and_grads(objective, e1, e2, t, **options)
    assert loss == pytest.approx(ref_loss, rel=TOL, abs=TOL)
    np.testing.assert_allclose(g1, ref1, atol=TOL, rtol=TOL)
    np.testing.assert_allclose(g2, ref2, atol=TOL, rtol=TOL)


def test_online_contrastive_fallbacks_without_one_class():
    """All pairs of one class: the threshold is that class's mean distance (sentence-transformers' fallback)."""
    for label in (0.0, 1.0):
        e1, e2, _ = _data("contrastive", seed=int(label) + 3)
        t = np.full(len(e1), label, np.float32)
        ref_loss, ref1, _ = reference("online_contrastive", e1, e2, t)
        loss, g1, _ = _tf_loss_and_grads("online_contrastive", e1, e2, t)
        assert ref_loss > 0 and loss == pytest.approx(ref_loss, rel=TOL)
        np.testing.assert_allclose(g1, ref1, atol=TOL, rtol=TOL)


def test_float32_math_under_half_precision_inputs_and_empty_batches():
    e1, e2, t = _data("cosent", seed=5)
    loss16 = cosent_loss(tf.constant(e1, tf.float16), tf.constant(e2, tf.float16), t)
    assert loss16.dtype == tf.float32
    ref = reference("cosent", e1.astype(np.float16), e2.astype(np.float16), t)[0]
    assert float(loss16) == pytest.approx(ref, rel=TOL)
    for objective in FUNCTIONS:
        empty = [x if x is None else x[:0] for x in _data(objective)]
        assert float(FUNCTIONS[objective](*empty)) == 0.0, objective


def test_bad_arguments():
    e1, e2, t = _data("cosent")
    with pytest.raises(ValueError, match="Unknown pair objective 'mse'"):
        pair_loss_share("mse", e1, e2, t)
    with pytest.raises(ValueError, match="takes no option scale"):
        pair_loss_share("cosine_mse", e1, e2, t, scale=2.0)
    with pytest.raises(ValueError, match="needs targets"):
        pair_loss_share("cosent", e1, e2)
    with pytest.raises(ValueError, match="student width 8 != teacher width 4"):
        distill_mse_loss(e1, e2[:, :4])


# -------------------------------------------------------------------------------------- sentence-transformers
def _sentence_transformers_loss(objective, options):
    losses = pytest.importorskip("sentence_transformers.sentence_transformer.losses")
    # The losses only keep `model` for their forward pass (embedding); compute_loss_from_embeddings never uses it.
    if objective == "cosent":
        return losses.CoSENTLoss(None, scale=options.get("scale", 20.0))
    if objective == "cosine_mse":
        return losses.CosineSimilarityLoss(None)
    if objective == "distill":
        return losses.MSELoss(None)
    if objective == "contrastive":
        return losses.ContrastiveLoss(None, margin=options.get("margin", 0.5))
    return losses.OnlineContrastiveLoss(None, margin=options.get("margin", 0.5))


@pytest.mark.parametrize("objective, options", CASES, ids=lambda v: str(v))
def test_loss_and_gradient_match_sentence_transformers(objective, options):
    torch = pytest.importorskip("torch")
    e1, e2, t = _data(objective, b=16, seed=len(objective) * 3 + len(options))
    st_loss = _sentence_transformers_loss(objective, options)
    x1 = torch.tensor(e1, dtype=torch.float64, requires_grad=True)
    x2 = torch.tensor(e2, dtype=torch.float64, requires_grad=objective != "distill")
    if objective == "distill":
        value = st_loss.compute_loss_from_embeddings([x1], [x2])
    else:
        value = st_loss.compute_loss_from_embeddings([x1, x2], torch.tensor(t, dtype=torch.float64))
    value.backward()
    loss, g1, g2 = _tf_loss_and_grads(objective, e1, e2, t, **options)
    assert loss == pytest.approx(value.item(), rel=TOL, abs=TOL)
    np.testing.assert_allclose(g1, x1.grad.numpy(), atol=TOL, rtol=TOL)
    if objective != "distill":
        np.testing.assert_allclose(g2, x2.grad.numpy(), atol=TOL, rtol=TOL)


# ------------------------------------------------------------------------------------------ multi-replica
def _two_replica_shares(objective, e1, e2, t, sizes, options):
    """Runs `pair_loss_share` on 2 replicas holding rows [0, sizes[0]) and [sizes[0], sum(sizes)); returns the
    per-replica shares and the gradients w.r.t. each replica's local embeddings, concatenated in row order."""
    strategy = mirrored()
    starts = tf.constant([0, sizes[0]])
    counts = tf.constant(list(sizes))
    c1, c2 = tf.constant(e1), tf.constant(e2)
    ct = tf.constant(np.zeros(len(e1), np.float32) if t is None else t)

    @tf.function
    def step():
        def replica_fn():
            rid = tf.distribute.get_replica_context().replica_id_in_sync_group
            start, count = starts[rid], counts[rid]
            x1, x2 = c1[start : start + count], c2[start : start + count]
            local_t = ct[start : start + count]
            with tf.GradientTape() as tape:
                tape.watch([x1, x2])
                share = pair_loss_share(objective, x1, x2, None if t is None else local_t, **options)
            g1, g2 = tape.gradient(share, [x1, x2])
            return share, g1, tf.zeros_like(x2) if g2 is None else g2

        return strategy.run(replica_fn)

    share, g1, g2 = step()
    local = strategy.experimental_local_results
    shares = [float(s) for s in local(share)]
    return shares, np.concatenate([g.numpy() for g in local(g1)]), np.concatenate([g.numpy() for g in local(g2)])


# 5+2: an uneven split (the even one is a special case); 6+0: a replica left without rows.
@pytest.mark.parametrize("sizes", [(5, 2), (6, 0)], ids=lambda s: f"{s[0]}+{s[1]}")
@pytest.mark.parametrize("objective", sorted(FUNCTIONS))
def test_two_replicas_equal_one_device_on_the_global_batch(objective, sizes):
    options = {"scale": 20.0} if objective == "cosent" else {}
    e1, e2, t = _data(objective, b=sum(sizes), seed=sum(sizes))
    if objective == "online_contrastive":
        # Close positives and far negatives, except the last two rows (replica 1): a positive at distance 2 and a
        # negative at distance ~0. The global thresholds then make every pair hard, unlike each replica's own.
        rng = np.random.default_rng(1)
        e2 = np.where(t[:, None] == 1, e1 + 0.3 * rng.normal(size=e1.shape), rng.normal(size=e1.shape))
        e2 = e2.astype(np.float32)
        t[-2:] = [1.0, 0.0]
        e2[-2] = -e1[-2]
        e2[-1] = e1[-1] + 0.01
        options = {"margin": 1.5}
    single, g1, g2 = _tf_loss_and_grads(objective, e1, e2, t, **options)
    shares, r1, r2 = _two_replica_shares(objective, e1, e2, t, sizes, options)
    assert sum(shares) == pytest.approx(single, rel=TOL, abs=TOL), shares
    np.testing.assert_allclose(r1, g1, atol=TOL, rtol=TOL)
    np.testing.assert_allclose(r2, g2, atol=TOL, rtol=TOL)
    if objective in ("cosent", "online_contrastive") and min(sizes) > 0:
        # The batch-wide objectives are not a sum of per-replica losses: the gathering is what makes them match.
        split = sizes[0]
        fn = FUNCTIONS[objective]
        naive = float(fn(e1[:split], e2[:split], t[:split], **options)) + float(
            fn(e1[split:], e2[split:], t[split:], **options)
        )
        assert abs(naive - single) > 1e-3, (naive, single)
    assert pair_losses.gather_replica_batch(3) is None  # outside a replica context
