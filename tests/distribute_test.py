"""`tf_simcse.distribute`: strategy / precision resolution, the LR schedule, weight-decay exclusions, exact
global-norm clipping across replicas, and loss scaling that skips a step on every replica when any overflows.

Optimizer checks run `strategy.run` on hand-made per-replica gradients against NumPy transcriptions of the
update rules (PyTorch's Adam, which `AdamW` follows: `m += (g - m)(1 - b1)`, `v += (g^2 - v)(1 - b2)`,
`w -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)`; Keras's own puts epsilon outside the bias
correction: `w -= lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)`).
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from _tiny import fresh_mirrored, mirrored, tiny_encoder
from tf_simcse import distribute
from tf_simcse.distribute import (
    AdamW,
    LinearWarmupLinearDecay,
    SyncedLossScaleOptimizer,
    make_optimizer,
    resolve_precision,
    resolve_strategy,
)


@pytest.fixture
def restore_policy():
    before = keras.config.dtype_policy()
    yield
    keras.config.set_dtype_policy(before)


# ------------------------------------------------------------------------------------------ resolution
def test_resolve_strategy_names():
    assert isinstance(resolve_strategy("cpu"), tf.distribute.OneDeviceStrategy)
    auto = resolve_strategy("auto")  # this machine: no GPU, no TPU
    assert auto.num_replicas_in_sync == 1
    with pytest.raises(ValueError, match="Unknown --strategy 'gpus'.*auto, cpu, gpu, mirrored, tpu, multiworker"):
        resolve_strategy("gpus")
    with pytest.raises(RuntimeError, match="--strategy gpu: TensorFlow sees no GPU"):
        resolve_strategy("gpu")
    with pytest.raises(RuntimeError, match="--strategy tpu: no TPU found for tpu='local'"):
        resolve_strategy("tpu")


def test_resolve_strategy_mirrored_strategies_do_not_collide():
    """A second MirroredStrategy in the same process runs collectives next to the session's shared one."""
    first, second = mirrored(), resolve_strategy("mirrored")
    assert second.num_replicas_in_sync == 2

    def gather(strategy, dtype):
        @tf.function
        def run():
            def fn():
                rid = tf.distribute.get_replica_context().replica_id_in_sync_group
                return tf.distribute.get_replica_context().all_gather(tf.cast(tf.reshape(rid, [1]), dtype), axis=0)

            return strategy.run(fn)

        return strategy.experimental_local_results(run())[0].numpy().tolist()

    def reduce(strategy):
        @tf.function
        def run():
            return strategy.run(lambda: tf.distribute.get_replica_context().all_reduce("sum", tf.ones([2])))

        return strategy.experimental_local_results(run())[0].numpy().tolist()

    assert gather(first, tf.float32) == [0.0, 1.0] and reduce(first) == [2.0, 2.0]
    assert reduce(second) == [2.0, 2.0] and gather(second, tf.int32) == [0, 1]
    assert gather(first, tf.int32) == [0, 1]


def test_resolve_precision(restore_policy):
    assert resolve_precision("auto", strategy=tf.distribute.get_strategy()) == "float32"
    assert keras.config.dtype_policy().name == "float32"
    for name in ("mixed_float16", "mixed_bfloat16", "float32"):
        assert resolve_precision(name) == name
        assert keras.config.dtype_policy().name == name
    with pytest.raises(ValueError, match="Unknown --precision 'fp16'"):
        resolve_precision("fp16")


# ------------------------------------------------------------------------------------------ schedule
def test_linear_warmup_linear_decay_matches_formula():
    schedule = LinearWarmupLinearDecay(2e-5, total_steps=100, warmup_steps=10)
    steps = np.array([0, 1, 5, 9, 10, 11, 50, 99, 100, 150])
    expected = np.where(steps < 10, 2e-5 * steps / 10, 2e-5 * np.maximum(0, (100 - steps) / 90))
    got = np.array([float(schedule(s)) for s in steps])
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-12)
    no_warmup = LinearWarmupLinearDecay(1.0, total_steps=4)
    np.testing.assert_allclose([float(no_warmup(s)) for s in range(5)], [1.0, 0.75, 0.5, 0.25, 0.0], atol=1e-7)
    clone = LinearWarmupLinearDecay.from_config(schedule.get_config())
    assert float(clone(37)) == pytest.approx(float(schedule(37)))
    with pytest.raises(ValueError, match="warmup_steps"):
        LinearWarmupLinearDecay(1.0, total_steps=5, warmup_steps=6)


def test_make_optimizer_warmup_ratio_and_loss_scaling(restore_policy):
    opt = make_optimizer(1e-3, total_steps=200, warmup_steps=0.1, precision="float32")
    assert isinstance(opt, AdamW)
    assert opt._learning_rate.warmup_steps == 20
    assert isinstance(make_optimizer(1e-3, total_steps=10, precision="mixed_float16"), SyncedLossScaleOptimizer)
    assert isinstance(make_optimizer(1e-3, total_steps=10, precision="mixed_bfloat16"), AdamW)
    keras.config.set_dtype_policy("mixed_float16")
    assert isinstance(make_optimizer(1e-3, total_steps=10), SyncedLossScaleOptimizer)  # the global policy


# ------------------------------------------------------------------------------------------ weight decay
def test_weight_decay_skips_biases_and_layer_norms():
    """Zero gradients + AdamW: Adam's step is 0, so only decoupled decay moves a variable: w *= 1 - lr * wd.
    The expected exclusions come from the layer types (LayerNormalization) and the bias role, not from names."""
    encoder = tiny_encoder(pooler="cls")
    lr, wd = 0.01, 0.1
    opt = make_optimizer(lr, total_steps=10, weight_decay=wd, precision="float32")
    variables = encoder.trainable_variables
    layer_norm_ids = {
        id(v)
        for layer in encoder._flatten_layers()
        if isinstance(layer, keras.layers.LayerNormalization)
        for v in layer.weights
    }
    bias_ids = {
        id(layer.bias)
        for layer in encoder._flatten_layers()
        if getattr(layer, "bias", None) is not None and isinstance(layer.bias, keras.Variable)
    }
    bias_ids |= {id(v) for v in variables if v.path.endswith("/bias")}  # EinsumDense biases
    assert layer_norm_ids and bias_ids
    before = [v.numpy() for v in variables]
    opt.apply_gradients([(tf.zeros_like(v), v) for v in variables])
    for b, v in zip(before, variables):
        excluded = id(v) in layer_norm_ids or id(v) in bias_ids
        expected = b if excluded else b * (1 - lr * wd)
        np.testing.assert_allclose(v.numpy(), expected, rtol=1e-6, atol=1e-7, err_msg=v.path)


# ------------------------------------------------------------------------------------------ clipping
def _adam_steps(w, grads, lr, b1=0.9, b2=0.999, eps=1e-8, torch_epsilon=True):
    """Adam (no weight decay) on a sequence of gradients, in float64."""
    w, m, v = np.array(w, np.float64), 0.0, 0.0
    for t, g in enumerate(grads, start=1):
        m = m + (g - m) * (1 - b1)
        v = v + (g * g - v) * (1 - b2)
        if torch_epsilon:
            w = w - lr / (1 - b1**t) * m / (np.sqrt(v) / np.sqrt(1 - b2**t) + eps)
        else:
            w = w - lr * np.sqrt(1 - b2**t) / (1 - b1**t) * m / (np.sqrt(v) + eps)
    return w


def _per_replica_apply(strategy, make, w0, grads_by_replica):
    with strategy.scope():
        w = keras.Variable(w0, name="w")
        optimizer = make()
        optimizer.build([w])

    @tf.function
    def step():
        def fn():
            rid = tf.distribute.get_replica_context().replica_id_in_sync_group
            g = tf.gather(tf.constant(grads_by_replica), rid)
            optimizer.apply_gradients([(g, w)])

        strategy.run(fn)

    step()
    return w, [x.numpy() for x in strategy.experimental_local_results(w.value)]


def test_global_clipnorm_is_the_norm_of_the_summed_gradient():
    grads = np.array([[3.0, 0.0, 0.0, 1.0], [0.0, 4.0, 1.0, 1.0]], np.float32)
    w0 = np.ones(4, np.float32)
    clip, eps = 1.0, 1.0  # a large epsilon makes Adam's first step depend on the gradient's size
    total = grads.sum(0)
    clipped = total * clip / np.linalg.norm(total)
    expected = _adam_steps(w0, [clipped], lr=0.1, eps=eps)
    def ours():
        return AdamW(learning_rate=0.1, weight_decay=0.0, epsilon=eps, global_clipnorm=clip)

    _, copies = _per_replica_apply(mirrored(), ours, w0, grads)
    for c in copies:
        np.testing.assert_allclose(c, expected, rtol=1e-6)
    # Keras's own AdamW clips each replica's gradient by its own norm: a different update.
    def stock():
        return keras.optimizers.AdamW(learning_rate=0.1, weight_decay=0.0, epsilon=eps, global_clipnorm=clip)

    _, copies = _per_replica_apply(mirrored(), stock, w0, grads)
    assert np.abs(copies[0] - _adam_steps(w0, [clipped], lr=0.1, eps=eps, torch_epsilon=False)).max() > 1e-3


def test_adam_update_is_pytorchs_with_its_epsilon():
    """Three steps with a large epsilon (where the two placements differ most): PyTorch's rule, not Keras's."""
    grads = [np.array([0.3, -2.0, 1e-3], np.float32), np.array([0.1, 1.0, -2e-3], np.float32),
             np.array([-0.5, 0.5, 1e-3], np.float32)]
    w = keras.Variable(np.ones(3, np.float32), name="w")
    opt = AdamW(learning_rate=0.1, weight_decay=0.0, epsilon=0.1)
    for g in grads:
        opt.apply_gradients([(tf.constant(g), w)])
    np.testing.assert_allclose(w.numpy(), _adam_steps(np.ones(3), grads, lr=0.1, eps=0.1), rtol=1e-6)
    keras_rule = _adam_steps(np.ones(3), grads, lr=0.1, eps=0.1, torch_epsilon=False)
    assert np.abs(w.numpy() - keras_rule).max() > 1e-2


# ------------------------------------------------------------------------------------------ loss scaling
def _loss_scale_run(strategy, optimizer_cls, poison_first):
    """Two steps of SGD(lr=0.5) behind loss scaling on per-replica gradients; step 1 has inf on replica 1 only
    when `poison_first`. Returns per-step (weight copies, scale copies, iterations)."""
    with strategy.scope():
        w = keras.Variable(np.ones(3, np.float32), name="w")
        opt = optimizer_cls(keras.optimizers.SGD(0.5), initial_scale=8.0, dynamic_growth_steps=100)
        opt.build([w])
        poison = tf.Variable(poison_first, trainable=False)

    @tf.function
    def step():
        def fn():
            rid = tf.cast(tf.distribute.get_replica_context().replica_id_in_sync_group, tf.float32)
            unscaled = tf.constant([1.0, 2.0, 3.0]) * (rid + 1.0)
            scaled = opt.scale_loss(unscaled)
            bad = tf.logical_and(poison, tf.equal(rid, 1.0))
            scaled = tf.where(bad, tf.constant([np.inf, 0.0, 0.0]), scaled)
            opt.apply_gradients([(scaled, w)])

        strategy.run(fn)

    history = []
    for _ in range(2):
        step()
        poison.assign(False)
        history.append(
            (
                [x.numpy() for x in strategy.experimental_local_results(w.value)],
                [float(x) for x in strategy.experimental_local_results(opt.dynamic_scale.value)],
                int(opt.iterations.numpy()),
            )
        )
    return history


@pytest.mark.parametrize("use_merge_call", [True, False], ids=["merge_call", "no_merge_call"])
def test_overflow_on_one_replica_skips_the_step_everywhere(use_merge_call):
    strategy = mirrored() if use_merge_call else fresh_mirrored(use_merge_call=False)
    (w1, s1, it1), (w2, s2, it2) = _loss_scale_run(strategy, SyncedLossScaleOptimizer, poison_first=True)
    for copy in w1:  # skipped on both replicas: unchanged and finite
        np.testing.assert_array_equal(copy, np.ones(3))
    assert s1 == [4.0, 4.0] and it1 == 0
    # The next, clean step applies the summed unscaled gradient (1+2) * [1, 2, 3] on both replicas.
    for copy in w2:
        np.testing.assert_allclose(copy, 1.0 - 0.5 * 3.0 * np.array([1.0, 2.0, 3.0]), rtol=1e-6)
    assert s2 == [4.0, 4.0] and it2 == 1


def test_keras_loss_scale_optimizer_lets_one_replica_overflow_through():
    """The same scenario with Keras 3's own LossScaleOptimizer: replica 0's finite local gradient decides, and
    the inf of replica 1 reaches the weights. (If this starts failing, Keras has fixed it upstream.)"""
    (w1, s1, _), _ = _loss_scale_run(mirrored(), keras.optimizers.LossScaleOptimizer, poison_first=True)
    assert not np.isfinite(w1[0]).all()
    assert s1 == [8.0, 8.0]  # and the scale was not lowered


def test_single_replica_loss_scaling_is_unchanged():
    strategy = tf.distribute.get_strategy()
    with strategy.scope():
        w = keras.Variable(np.ones(2, np.float32), name="w")
        opt = SyncedLossScaleOptimizer(keras.optimizers.SGD(1.0), initial_scale=4.0)
    opt.apply_gradients([(tf.constant([np.nan, 1.0]), w)])
    np.testing.assert_array_equal(w.numpy(), [1.0, 1.0])
    assert float(opt.dynamic_scale) == 2.0
    opt.apply_gradients([(opt.scale_loss(tf.constant([1.0, 2.0])), w)])
    np.testing.assert_allclose(w.numpy(), [0.0, -1.0])


def test_ensure_synced_loss_scaling_rewraps_keras_wrapper():
    inner = keras.optimizers.SGD(0.1)
    wrapped = distribute.ensure_synced_loss_scaling(
        keras.optimizers.LossScaleOptimizer(inner, initial_scale=16.0), "mixed_float16"
    )
    assert isinstance(wrapped, SyncedLossScaleOptimizer)
    assert wrapped.inner_optimizer is inner and wrapped.initial_scale == 16.0
    assert distribute.ensure_synced_loss_scaling(inner, "float32") is inner
    assert isinstance(distribute.ensure_synced_loss_scaling("adam", "mixed_float16"), SyncedLossScaleOptimizer)
