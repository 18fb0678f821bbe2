"""`tf_simcse.model.SimCSE`: wiring vs a NumPy reference, exact multi-replica training, precision, XLA, NaN.

Replica tests run `MirroredStrategy` over the two logical CPUs that tests/conftest.py configures.
"""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from _tiny import mirrored, simcse_batch, tiny_encoder
from losses_test import reference
from tf_simcse.distribute import AdamW, SyncedLossScaleOptimizer, make_optimizer
from tf_simcse.model import SimCSE


def _dataset(*batches):
    """A dataset yielding the given batches in order (one element per batch)."""
    ds = None
    for b in batches:
        one = tf.data.Dataset.from_tensors(b)
        ds = one if ds is None else ds.concatenate(one)
    return ds


class _Recorder(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.logs = []

    def on_train_batch_end(self, batch, logs=None):
        self.logs.append((batch, {k: float(v) for k, v in logs.items()}))


@pytest.fixture
def policy():
    """Restores the global dtype policy after a test that changes it."""
    before = keras.config.dtype_policy()
    yield keras.config.set_dtype_policy
    keras.config.set_dtype_policy(before)


def _embed_views(encoder, batch, training=False):
    return {k: encoder(v, training=training).numpy() for k, v in batch.items()}


# ------------------------------------------------------------------------------------- single device
@pytest.mark.parametrize(
    "objective,w,symmetric",
    [("unsup", 0.0, False), ("pair", 0.0, True), ("sup", 1.0, False)],
)
def test_test_step_loss_matches_numpy_on_separately_encoded_views(objective, w, symmetric):
    """Padding to a common length + one forward pass + the loss equal the reference on each view encoded alone."""
    rng = np.random.default_rng(1)
    batch = simcse_batch(objective, 6, rng)
    encoder = tiny_encoder(pooler="avg")
    model = SimCSE(encoder, objective=objective, hard_negative_weight=w, symmetric=symmetric, temperature=0.1)
    model.compile(optimizer="sgd")
    logs = model.evaluate(_dataset(batch), verbose=0, return_dict=True)
    z = _embed_views(encoder, batch)
    positives = z.get("positive", z["anchor"])  # unsup, dropout off: the positive is the anchor itself
    expected = reference(z["anchor"], positives, z.get("hard_negative"), tau=0.1, w=w, symmetric=symmetric)[0]
    assert abs(logs["loss"] - expected) < 1e-5, (logs["loss"], expected)
    assert abs(logs["batch_loss"] - expected) < 1e-5
    u = z["anchor"] / np.linalg.norm(z["anchor"], axis=1, keepdims=True)
    p = positives / np.linalg.norm(positives, axis=1, keepdims=True)
    logits = u @ p.T
    if "hard_negative" in z:
        h = z["hard_negative"] / np.linalg.norm(z["hard_negative"], axis=1, keepdims=True)
        logits = np.concatenate([logits / 0.1, u @ h.T / 0.1 + w * np.eye(6, 6)], axis=1)
    assert abs(logs["accuracy"] - np.mean(np.argmax(logits, axis=1) == np.arange(6))) < 1e-6


def test_unsup_positives_get_their_own_dropout_masks():
    rng = np.random.default_rng(2)
    batch = simcse_batch("unsup", 4, rng)
    model = SimCSE(tiny_encoder(pooler="avg", dropout=0.1), objective="unsup")
    z = model(batch, training=True)
    assert z["anchor"].dtype == tf.float32
    assert np.abs(z["anchor"].numpy() - z["positive"].numpy()).max() > 1e-3
    z = model(batch, training=False)
    np.testing.assert_allclose(z["anchor"].numpy(), z["positive"].numpy(), atol=1e-6)


def test_batches_that_do_not_fit_the_objective_are_rejected():
    rng = np.random.default_rng(3)
    model = SimCSE(tiny_encoder(), objective="sup")
    with pytest.raises(ValueError, match=r"objective 'sup' expects batches with views"):
        model(simcse_batch("pair", 2, rng))
    bad = simcse_batch("sup", 2, rng)
    del bad["positive"]["input_mask"]
    with pytest.raises(ValueError, match=r"batch\['positive'\] lacks \['input_mask'\]"):
        model(bad)
    with pytest.raises(ValueError, match="Unknown objective"):
        SimCSE(tiny_encoder(), objective="supervised")
    with pytest.raises(ValueError, match="needs objective 'sup'"):
        SimCSE(tiny_encoder(), objective="unsup", hard_negative_weight=1.0)


def test_nan_loss_is_reported_at_its_step():
    """A batch that produces NaN embeddings (a NaN token-embedding row, used by batch 2 only) gives a NaN
    `batch_loss` in the logs of exactly that step, so a callback can stop naming it."""
    rng = np.random.default_rng(4)
    good = [simcse_batch("pair", 4, rng) for _ in range(2)]
    bad = simcse_batch("pair", 4, rng)
    bad["anchor"]["input_word_ids"][1, 1] = 3  # token 3 never occurs in `packed` batches (ids >= 5)
    bad["anchor"]["input_mask"][1, 1] = 1
    encoder = tiny_encoder(pooler="avg")
    emb = encoder.backbone.token_embedding.embeddings
    emb.assign(tf.tensor_scatter_nd_update(emb, [[3]], [[np.nan] * emb.shape[1]]))
    model = SimCSE(encoder, objective="pair")
    model.compile(optimizer=keras.optimizers.SGD(0.01))
    recorder = _Recorder()
    model.fit(_dataset(*good, bad), verbose=0, shuffle=False, callbacks=[recorder, keras.callbacks.TerminateOnNaN()])
    losses = [logs["batch_loss"] for _, logs in recorder.logs]
    assert [math.isfinite(x) for x in losses] == [True, True, False]
    assert math.isnan(recorder.logs[2][1]["loss"])


def test_test_step_does_not_train_and_reports_metrics():
    rng = np.random.default_rng(5)
    batch = simcse_batch("sup", 4, rng)
    model = SimCSE(tiny_encoder(pooler="cls", dropout=0.1), objective="sup")
    model.compile(optimizer=keras.optimizers.SGD(1.0))
    before = [v.numpy() for v in model.weights]
    first = model.evaluate(_dataset(batch), verbose=0, return_dict=True)
    second = model.evaluate(_dataset(batch), verbose=0, return_dict=True)
    assert set(first) == {"loss", "accuracy", "batch_loss"}
    assert first["loss"] == pytest.approx(second["loss"], abs=1e-6)  # training=False: deterministic
    for b, v in zip(before, model.weights):
        np.testing.assert_array_equal(b, v.numpy())


def test_config_round_trip_keeps_hyperparameters():
    model = SimCSE(tiny_encoder(), objective="sup", temperature=0.07, hard_negative_weight=0.5, symmetric=True)
    config = model.get_config()
    assert {k: config[k] for k in ("objective", "temperature", "hard_negative_weight", "symmetric")} == {
        "objective": "sup",
        "temperature": 0.07,
        "hard_negative_weight": 0.5,
        "symmetric": True,
    }
    encoder = tiny_encoder()
    clone = SimCSE.from_config(config, encoder=encoder)
    assert clone.encoder is encoder
    assert (clone.objective, clone.temperature, clone.hard_negative_weight, clone.symmetric) == ("sup", 0.07, 0.5, True)
    if config["encoder"] is None:
        with pytest.raises(ValueError, match="no serialized encoder"):
            SimCSE.from_config(config)


# ---------------------------------------------------------------------------------- multi-replica
def _one_run(strategy, objective, w, symmetric, batches, **model_kwargs):
    with strategy.scope():
        encoder = tiny_encoder(pooler="avg")
        model = SimCSE(encoder, objective=objective, hard_negative_weight=w, symmetric=symmetric, **model_kwargs)
        model.compile(optimizer=keras.optimizers.SGD(1.0))
    before = {v.path: v.numpy() for v in model.trainable_variables}
    recorder = _Recorder()
    model.fit(_dataset(*batches), verbose=0, shuffle=False, callbacks=[recorder])
    deltas = {v.path: v.numpy() - before[v.path] for v in model.trainable_variables}
    return [logs["batch_loss"] for _, logs in recorder.logs], deltas, model


@pytest.mark.parametrize(
    "objective,w,symmetric,sizes",
    [("unsup", 0.0, False, (8, 7)), ("sup", 1.0, False, (8,)), ("pair", 0.0, True, (8,))],
    ids=["unsup_even_then_uneven", "sup_w1", "pair_symmetric"],
)
def test_two_replicas_train_exactly_like_one_device(objective, w, symmetric, sizes):
    """Two replicas with b rows each vs one device with the 2b-row batch, same weights, dropout off: equal
    losses and equal weight deltas after SGD(lr=1), i.e. equal gradients of every trainable variable.

    Every hard negative is a distinct random sentence, so a hard-negative set gathered in another order than the
    positives (or an anchor's weight w put on another anchor's negative) changes the loss. The unsup case adds a
    7-row batch, split 4 + 3 across the replicas: the local losses are weighted by their row counts."""
    rng = np.random.default_rng(6)
    batches = [simcse_batch(objective, n, rng) for n in sizes]
    loss_1, deltas_1, _ = _one_run(tf.distribute.get_strategy(), objective, w, symmetric, batches)
    loss_2, deltas_2, model = _one_run(mirrored(), objective, w, symmetric, batches)
    assert model.distribute_strategy.num_replicas_in_sync == 2
    loss_diff = max(abs(a - b) for a, b in zip(loss_1, loss_2))
    delta_diff = max(float(np.abs(deltas_1[k] - deltas_2[k]).max()) for k in deltas_1)
    print(f"{objective}: max |loss diff| {loss_diff:.2e}, max |weight-delta diff| {delta_diff:.2e}")
    assert loss_diff < 1e-5
    assert delta_diff < 1e-5
    # Every variable moved, except those with an identically zero gradient: the backbone's pooled-output dense
    # (unused by the pooler) and the attention key biases (softmax ignores a per-query constant).
    still = {k for k, d in deltas_1.items() if np.abs(d).max() < 1e-4}
    assert all(k.startswith("pooled_dense/") or k.endswith("key/bias") for k in still), still


def _pad_view(view, extra):
    """The same packed texts with `extra` more padding columns (as a batch padded to a longer text would be)."""
    return {k: tf.pad(tf.convert_to_tensor(v), [[0, 0], [0, extra]]) for k, v in view.items()}


@pytest.mark.parametrize("objective", ["sup", "pair"])
def test_anchors_encoded_apart_train_exactly_like_one_pass(objective):
    """`encode_anchors_apart`: anchors padded longer than the candidates, two encoder passes; dropout off, the
    losses and SGD weight deltas equal the one-pass model's, on one device and on two replicas."""
    rng = np.random.default_rng(11)
    batches = [simcse_batch(objective, 8, rng) for _ in range(2)]
    apart = [dict(b, anchor=_pad_view(b["anchor"], 5)) for b in batches]
    loss_1, deltas_1, _ = _one_run(tf.distribute.get_strategy(), objective, 0.0, False, batches)
    for strategy in (tf.distribute.get_strategy(), mirrored()):
        loss_2, deltas_2, model = _one_run(strategy, objective, 0.0, False, apart, encode_anchors_apart=True)
        assert model.encode_anchors_apart
        assert max(abs(a - b) for a, b in zip(loss_1, loss_2)) < 1e-5
        assert max(float(np.abs(deltas_1[k] - deltas_2[k]).max()) for k in deltas_1) < 1e-5
    # A one-pass model is not fooled by the longer anchors either (it pads the candidates up to them).
    loss_3, _, _ = _one_run(tf.distribute.get_strategy(), objective, 0.0, False, apart)
    assert max(abs(a - b) for a, b in zip(loss_1, loss_3)) < 1e-5


# ----------------------------------------------------------------------------------------- precision
class _OverflowOnReplica1(SyncedLossScaleOptimizer):
    """Fault injection: while `poison` is true, replica 1's local gradients overflow (as a float16 backward pass
    on that replica's data can); replica 0's stay finite."""

    def __init__(self, inner, poison, **kwargs):
        super().__init__(inner, **kwargs)
        self._poison = poison

    def apply(self, grads, trainable_variables=None):
        ctx = tf.distribute.get_replica_context()
        bad = tf.logical_and(self._poison.value(), tf.equal(ctx.replica_id_in_sync_group, 1))
        grads = [
            g if isinstance(g, tf.IndexedSlices) else tf.where(bad, tf.fill(tf.shape(g), np.inf), g) for g in grads
        ]
        return super().apply(grads, trainable_variables)


def _replica_copies(variable):
    return [x.numpy() for x in mirrored().experimental_local_results(variable.value)]


def test_float16_overflow_on_one_replica_skips_the_step_on_all(policy):
    policy("mixed_float16")
    rng = np.random.default_rng(7)
    batch = simcse_batch("pair", 8, rng)
    with mirrored().scope():
        poison = tf.Variable(True, trainable=False)
        encoder = tiny_encoder(pooler="cls")
        model = SimCSE(encoder, objective="pair")
        optimizer = _OverflowOnReplica1(AdamW(learning_rate=1e-2), poison, initial_scale=2.0**10)
        model.compile(optimizer=optimizer)
    assert encoder.backbone.compute_dtype == "float16"
    before = [v.numpy() for v in model.trainable_variables]
    recorder = _Recorder()
    model.fit(_dataset(batch), verbose=0, shuffle=False, callbacks=[recorder])
    assert math.isfinite(recorder.logs[0][1]["batch_loss"])  # the overflow is in the gradients only
    for b, v in zip(before, model.trainable_variables):
        for copy in _replica_copies(v):  # skipped on BOTH replicas
            np.testing.assert_array_equal(copy, b, err_msg=v.path)
    assert [float(s) for s in _replica_copies(optimizer.dynamic_scale)] == [2.0**9, 2.0**9]
    assert int(optimizer.iterations.numpy()) == 0

    poison.assign(False)
    model.fit(_dataset(batch), verbose=0, shuffle=False)
    assert int(optimizer.iterations.numpy()) == 1
    assert [float(s) for s in _replica_copies(optimizer.dynamic_scale)] == [2.0**9, 2.0**9]
    moved = 0
    for b, v in zip(before, model.trainable_variables):
        copies = _replica_copies(v)
        assert all(np.isfinite(c).all() for c in copies), v.path
        np.testing.assert_array_equal(copies[0], copies[1], err_msg=v.path)
        moved += int(np.abs(copies[0] - b).max() > 1e-4)
    assert moved >= len(before) - 4  # all but pooled_dense/* and the attention key biases


@pytest.mark.parametrize("precision", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_trains_with_float32_embeddings_and_loss(policy, precision):
    rng = np.random.default_rng(8)
    batches = [simcse_batch("sup", 4, rng) for _ in range(3)]
    float32_model = SimCSE(tiny_encoder(pooler="cls"), objective="sup", hard_negative_weight=0.5)
    float32_model.compile(optimizer="sgd")
    float32_loss = float32_model.evaluate(_dataset(batches[0]), verbose=0, return_dict=True)["loss"]
    policy(precision)
    encoder = tiny_encoder(pooler="cls")
    assert encoder.backbone.compute_dtype == precision.split("_")[1]
    model = SimCSE(encoder, objective="sup", hard_negative_weight=0.5)
    model.compile(optimizer=make_optimizer(1e-3, total_steps=3, precision=precision))
    z = model(batches[0], training=False)
    assert all(t.dtype == tf.float32 for t in z.values())
    assert all(v.dtype == "float32" for v in model.trainable_variables)
    half_loss = model.evaluate(_dataset(batches[0]), verbose=0, return_dict=True)["loss"]
    assert abs(half_loss - float32_loss) < 0.5  # the same model, only rounded: a sanity bound, not parity
    recorder = _Recorder()
    model.fit(_dataset(*batches), verbose=0, shuffle=False, callbacks=[recorder])
    assert len(recorder.logs) == 3 and all(math.isfinite(logs["batch_loss"]) for _, logs in recorder.logs)
    assert int(model.optimizer.iterations.numpy()) == 3


def test_xla_train_step_matches_the_graph_step():
    """`jit_compile=True` with static shapes (all views padded to one length): one SGD step equals the
    non-XLA step (loss and weight deltas within 1e-5)."""
    rng = np.random.default_rng(9)
    batch = simcse_batch("sup", 4, rng, lengths=(12, 12, 12))
    results = []
    for jit in (False, True):
        model = SimCSE(tiny_encoder(pooler="avg"), objective="sup", hard_negative_weight=1.0)
        model.compile(optimizer=keras.optimizers.SGD(1.0), jit_compile=jit)
        before = [v.numpy() for v in model.trainable_variables]
        recorder = _Recorder()
        model.fit(_dataset(batch), verbose=0, shuffle=False, callbacks=[recorder])
        results.append(
            (recorder.logs[0][1]["batch_loss"], [v.numpy() - b for v, b in zip(model.trainable_variables, before)])
        )
    (loss_graph, d_graph), (loss_xla, d_xla) = results
    delta_diff = max(np.abs(a - b).max() for a, b in zip(d_graph, d_xla))
    print(f"xla: |loss diff| {abs(loss_graph - loss_xla):.2e}, max |delta diff| {delta_diff:.2e}")
    assert abs(loss_graph - loss_xla) < 1e-5
    assert delta_diff < 1e-5


# ---------------------------------------------------------------------------------------------- MLM
def _mlm_model(objective="unsup", seed=3):
    return SimCSE(
        tiny_encoder(pooler="cls"),
        objective=objective,
        do_mlm=True,
        mask_token_id=4,
        special_token_ids=(1, 2),
        seed=seed,
    )


def test_mlm_masking_follows_bert_rule():
    from _tiny import VOCAB, packed

    model = _mlm_model()
    inputs = packed(3000, 16, np.random.default_rng(10))
    masked, selected = (t.numpy() for t in model.mask_tokens(inputs))
    ids = inputs["input_word_ids"]
    eligible = (inputs["input_mask"] == 1) & (ids != 1) & (ids != 2)
    assert not selected[~eligible].any()  # never [CLS]/[SEP]/padding
    np.testing.assert_array_equal(masked[~selected], ids[~selected])
    n = selected.sum()
    assert abs(selected[eligible].mean() - 0.15) < 0.01
    assert abs((masked[selected] == 4).mean() - 0.8) < 0.02
    # 10% kept + 10% random ids that happen to equal the original (1 / VOCAB of them).
    assert abs((masked[selected] == ids[selected]).mean() - (0.1 + 0.1 / VOCAB)) < 0.02
    random_ids = masked[selected & (masked != 4) & (masked != ids)]
    assert len(random_ids) > 0.07 * n and random_ids.min() >= 0 and random_ids.max() < VOCAB


def test_mlm_terms_match_numpy_head():
    """The MLM head + cross-entropy vs NumPy: dense -> exact GELU -> LayerNorm(1e-12) -> tied embedding^T + bias."""
    from scipy.special import erf, logsumexp

    model = _mlm_model(objective="pair")
    inputs = simcse_batch("unsup", 16, np.random.default_rng(11))["anchor"]
    masked, selected = model.mask_tokens(inputs)
    total, count = model.mlm_terms(inputs, masked, selected)
    backbone_inputs = {
        "token_ids": masked,
        "padding_mask": tf.constant(inputs["input_mask"]),
        "segment_ids": tf.constant(inputs["input_type_ids"]),
    }
    seq = model.encoder.backbone(backbone_inputs)["sequence_output"].numpy().astype(np.float64)
    dense = model.mlm_head._intermediate_dense
    kernel, bias = dense.kernel.numpy().astype(np.float64), dense.bias.numpy().astype(np.float64)
    h = seq @ kernel + bias
    h = 0.5 * h * (1 + erf(h / np.sqrt(2)))
    gamma = model.mlm_head._intermediate_layer_norm.gamma.numpy()
    beta = model.mlm_head._intermediate_layer_norm.beta.numpy()
    h = (h - h.mean(-1, keepdims=True)) / np.sqrt(h.var(-1, keepdims=True) + 1e-12) * gamma + beta
    embeddings = model.encoder.backbone.token_embedding.embeddings.numpy()
    logits = h @ embeddings.T + model.mlm_head._bias.numpy()
    labels = inputs["input_word_ids"]
    ce = logsumexp(logits, axis=-1) - np.take_along_axis(logits, labels[..., None], -1)[..., 0]
    sel = selected.numpy()
    assert float(count) == sel.sum() > 0
    print(f"mlm: |sum diff| {abs(float(total) - ce[sel].sum()):.2e} over {sel.sum()} tokens")
    assert abs(float(total) - ce[sel].sum()) < 1e-4 * sel.sum()


def test_mlm_loss_is_added_with_its_weight():
    rng = np.random.default_rng(12)
    batch = simcse_batch("pair", 6, rng)
    model = _mlm_model(objective="pair")
    model.compile(optimizer="sgd")
    logs = model.evaluate(_dataset(batch), verbose=0, return_dict=True)
    plain = SimCSE(model.encoder, objective="pair")
    plain.compile(optimizer="sgd")
    contrastive = plain.evaluate(_dataset(batch), verbose=0, return_dict=True)["loss"]
    assert logs["mlm_loss"] > 1.0
    assert abs(logs["loss"] - (contrastive + 0.1 * logs["mlm_loss"])) < 1e-5
    assert abs(logs["batch_loss"] - logs["loss"]) < 1e-5
    recorder = _Recorder()
    model.fit(_dataset(batch, batch), verbose=0, shuffle=False, callbacks=[recorder])
    assert all(math.isfinite(logs["mlm_loss"]) for _, logs in recorder.logs)
    with pytest.raises(ValueError, match="mask_token_id"):
        SimCSE(tiny_encoder(), do_mlm=True)


def test_mlm_trains_on_two_replicas():
    """MLM on MirroredStrategy: finite losses, replicas stay identical, and the two replicas draw different
    masks (the MLM seed is salted with the replica id; Keras's mirrored seed state alone would repeat them)."""
    rng = np.random.default_rng(13)
    batch = simcse_batch("sup", 8, rng)
    batch = {k: dict(v) for k, v in batch.items()}
    # Replica 1's rows are a copy of replica 0's: identical inputs, so only the seeds can make the masks differ.
    for view in batch.values():
        for key in view:
            view[key] = np.concatenate([view[key][:4], view[key][:4]])
    with mirrored().scope():
        model = _mlm_model(objective="sup")
        model.compile(optimizer=keras.optimizers.SGD(0.1))

    @tf.function
    def masks():
        return mirrored().run(lambda x: model.mask_tokens(x)[1], args=(dict(anchor),))

    anchor = {k: tf.constant(v[:4]) for k, v in batch["anchor"].items()}
    m0, m1 = (m.numpy() for m in mirrored().experimental_local_results(masks()))
    assert (m0 != m1).any()
    recorder = _Recorder()
    model.fit(_dataset(batch), verbose=0, shuffle=False, callbacks=[recorder])
    logs = recorder.logs[0][1]
    assert math.isfinite(logs["batch_loss"]) and math.isfinite(logs["mlm_loss"]) and logs["mlm_loss"] > 1.0
    for v in model.trainable_variables:
        copies = _replica_copies(v)
        np.testing.assert_array_equal(copies[0], copies[1], err_msg=v.path)


def test_embedding_rows_get_adam_on_their_summed_gradient():
    """A token seen k times in a batch: Adam's second moment is (1 - beta_2) x (sum of its k gradients)^2, the
    formula on PyTorch's dense embedding gradient. (Keras 3's own AdamW, given the raw IndexedSlices of the lookup,
    holds the sum of the k squares instead: checked too, so that this test notices when Keras changes.)"""
    encoder = tiny_encoder(pooler="avg")
    model = SimCSE(encoder, objective="unsup", seed=1)
    model.compile(optimizer=AdamW(1e-3, weight_decay=0.0))
    batch = simcse_batch("unsup", 4, np.random.default_rng(3))
    table = encoder.backbone.token_embedding.embeddings
    with tf.GradientTape() as tape:  # no dropout: the same gradient as the step's
        share, _ = model._replica_loss(batch, training=True)
    sparse = tape.gradient(share, table)
    assert isinstance(sparse, tf.IndexedSlices)
    assert len(np.unique(sparse.indices.numpy())) < len(sparse.indices)  # [CLS] and [SEP] occur in every row
    dense = tf.convert_to_tensor(sparse).numpy()
    model.fit(_dataset(batch), verbose=0)
    velocity = model.optimizer._velocities[model.optimizer._get_variable_index(table)].numpy()
    # rtol 1e-4: the step's gradient is the tape's up to float32 summation order (the sum of squares that
    # stock AdamW keeps differs by a factor of order 1 on rows seen more than once).
    np.testing.assert_allclose(velocity, (1 - 0.999) * dense**2, rtol=1e-4, atol=1e-12)
    stock = keras.optimizers.AdamW(1e-3, weight_decay=0.0)
    stock.apply_gradients([(sparse, keras.Variable(table.numpy()))])
    occurrences = tf.math.unsorted_segment_sum(sparse.values**2, sparse.indices, table.shape[0]).numpy()
    np.testing.assert_allclose(stock._velocities[0].numpy(), (1 - 0.999) * occurrences, rtol=1e-5, atol=1e-12)
