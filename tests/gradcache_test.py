"""GradCache (`tf_simcse.gradcache`): chunked encoding with the gradients of the one-pass step, dropout ON.

The reference is always the ordinary `SimCSE` step (one pass over the batch, one tape), whose masks are those
of the same (seed, step, replica) scope: masks are addressed by row, so a chunk draws its rows' masks.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from _tiny import mirrored, simcse_batch, tiny_encoder
from tf_simcse import replicas
from tf_simcse.distribute import make_optimizer
from tf_simcse.model import SimCSE

DROPOUT = 0.2
BATCH = 6  # per replica: unsup encodes 12 rows, sup 18


def _model(objective="unsup", chunk=None, precision="float32", **options):
    encoder = tiny_encoder(pooler="avg", dropout=DROPOUT)
    model = SimCSE(encoder, objective=objective, seed=3, gradcache_chunk_size=chunk, **options)
    model.compile(optimizer=make_optimizer(5e-3, total_steps=8, warmup_steps=1, weight_decay=0.01,
                                           global_clipnorm=1.0, precision=precision))
    return model


def _step_gradients(model, batch, trainable, step=0):
    """The (loss-scaled) weight gradients of one train step of `model`: its own path, one pass or GradCache."""
    seed = replicas.step_seed(model.seed, tf.constant(step, tf.int64))
    if model.gradcache_chunk_size:
        return model._gradcache_gradients(batch, seed, trainable)
    with tf.GradientTape() as tape, replicas.dropout_seeds(seed):
        share, stats = model._replica_loss(batch, training=True)
        scaled = model.optimizer.scale_loss(share)
    return tape.gradient(scaled, trainable), share, stats


def _gradients(model, batch):
    grads, _, stats = _step_gradients(model, batch, model.trainable_variables)
    return [None if g is None else tf.convert_to_tensor(g).numpy() for g in grads], float(stats["batch_loss"])


def test_a_slice_encoded_alone_draws_the_masks_of_its_rows():
    encoder = tiny_encoder(pooler="avg", dropout=0.3)
    replicas.install_replica_dropout(encoder)
    inputs = simcse_batch("unsup", 7, np.random.default_rng(0), lengths=(11,))["anchor"]
    seed = replicas.step_seed(1, 2)
    with replicas.dropout_seeds(seed):
        whole = encoder(inputs, training=True).numpy()
        with replicas.dropout_rows(3):
            rows = encoder({k: v[3:6] for k, v in inputs.items()}, training=True).numpy()
        with replicas.dropout_rows(0):
            same_rows_other_place = encoder({k: v[3:6] for k, v in inputs.items()}, training=True).numpy()
    np.testing.assert_allclose(rows, whole[3:6], atol=1e-6)
    # The mask belongs to the row's position: rows 3..5 encoded as rows 0..2 get other masks.
    assert np.abs(same_rows_other_place - whole[3:6]).max() > 1e-2
    plain = encoder(inputs, training=False).numpy()
    assert np.abs(whole - plain).max() > 1e-2  # dropout is on


CASES = {
    "unsup": dict(objective="unsup"),
    "sup": dict(objective="sup", hard_negative_weight=0.5),
    "pair_symmetric": dict(objective="pair", symmetric=True),
    "sup_anchors_apart": dict(objective="sup", encode_anchors_apart=True),
    "cosent": dict(objective="cosent"),
    "online_contrastive": dict(objective="online_contrastive"),
    "distill_projected": dict(objective="distill", teacher_dim=24),  # a trained projection outside the encoder
}


def _batch(options, rng, batch=BATCH):
    objective = options["objective"]
    if objective in ("cosent", "online_contrastive"):
        pairs = simcse_batch("pair", batch, rng)
        target = {"score": rng.uniform(0, 5, batch)} if objective == "cosent" else {"label": rng.integers(0, 2, batch)}
        return {"sentence1": pairs["anchor"], "sentence2": pairs["positive"],
                **{k: v.astype("float32") for k, v in target.items()}}
    if objective == "distill":
        return {"anchor": simcse_batch("unsup", batch, rng)["anchor"],
                "teacher": rng.normal(size=(batch, options["teacher_dim"])).astype("float32")}
    return simcse_batch(objective, batch, rng)


@pytest.mark.parametrize("chunk", [5, 3], ids=["chunk_not_dividing", "chunk_dividing"])
@pytest.mark.parametrize("case", list(CASES))
def test_one_step_gradients_equal_the_one_pass_step(case, chunk):
    options = CASES[case]
    batch = _batch(options, np.random.default_rng(1))
    plain, plain_loss = _gradients(_model(**options), batch)
    cached, cached_loss = _gradients(_model(chunk=chunk, **options), batch)
    assert [g is None for g in plain] == [g is None for g in cached]
    diff = max(float(np.abs(a - b).max()) for a, b in zip(plain, cached) if a is not None)
    scale = max(float(np.abs(a).max()) for a in plain if a is not None)
    print(f"{case} C={chunk}: max |grad diff| {diff:.2e} (largest gradient {scale:.2e})")
    assert diff < 1e-5
    assert scale > 1e-2
    assert abs(plain_loss - cached_loss) < 1e-6


def _replica_gradients(strategy, model, batch):
    """Gradients summed over the replicas (what the optimizer applies) of one step on the global `batch`."""
    trainable = model.trainable_variables
    dataset = tf.data.Dataset.from_tensors(batch)
    data = next(iter(strategy.experimental_distribute_dataset(dataset)))

    @tf.function
    def run(data):
        def replica_fn(data):
            grads, _, _ = _step_gradients(model, data, trainable)
            return [tf.zeros(v.shape) if g is None else tf.convert_to_tensor(g) for g, v in zip(grads, trainable)]

        per_replica = strategy.run(replica_fn, args=(data,))
        return [strategy.reduce("SUM", g, axis=None) for g in per_replica]

    return [g.numpy() for g in run(data)]


@pytest.mark.parametrize("chunk", [5, 3], ids=["chunk_not_dividing", "chunk_dividing"])
@pytest.mark.parametrize("case", ["unsup", "sup"])
def test_two_replica_gradients_equal_the_one_pass_step(case, chunk):
    strategy = mirrored()
    batch = _batch(CASES[case], np.random.default_rng(2), batch=2 * BATCH)
    grads = {}
    for name, size in (("plain", None), ("cached", chunk)):
        with strategy.scope():
            model = _model(chunk=size, **CASES[case])
        grads[name] = _replica_gradients(strategy, model, batch)
    diff = max(float(np.abs(a - b).max()) for a, b in zip(grads["plain"], grads["cached"]))
    print(f"2 replicas {case} C={chunk}: max |grad diff| {diff:.2e}")
    assert diff < 1e-5
    assert max(float(np.abs(a).max()) for a in grads["plain"]) > 1e-2


def _fit(strategy, chunk, objective="unsup", steps=4, batch=2 * BATCH, jit_compile=False, precision="float32"):
    rng = np.random.default_rng(4)
    batches = [_batch(CASES[objective], rng, batch=batch) for _ in range(steps)]
    dataset = tf.data.Dataset.from_tensor_slices(
        tf.nest.map_structure(lambda *x: np.stack(x), *batches)
    )
    with strategy.scope():
        model = _model(chunk=chunk, precision=precision, **CASES[objective])
        model.compile(optimizer=model.optimizer, jit_compile=jit_compile)
    before = [v.numpy() for v in model.trainable_variables]
    model.fit(dataset, verbose=0, shuffle=False)
    return before, [v.numpy() for v in model.trainable_variables], model


@pytest.mark.parametrize("where", ["one_device", "two_replicas", "one_device_xla"])
def test_a_run_with_gradcache_ends_with_the_weights_of_a_run_without(where):
    """4 steps of AdamW (warmup, weight decay, global-norm clipping), dropout on: same final weights."""
    strategy = mirrored() if where == "two_replicas" else tf.distribute.get_strategy()
    jit = where.endswith("xla")
    objective = "sup" if where == "two_replicas" else "unsup"
    before, plain, model = _fit(strategy, None, objective, jit_compile=jit)
    _, cached, _ = _fit(strategy, 5, objective, jit_compile=jit)
    paths = [v.path for v in model.trainable_variables]
    # Attention key biases have an identically zero gradient: Adam turns its rounding noise into lr-sized steps.
    real = [i for i, p in enumerate(paths) if not p.endswith("key/bias")]
    diff = max(float(np.abs(plain[i] - cached[i]).max()) for i in real)
    moved = min(float(np.abs(plain[i] - before[i]).max()) for i in real if not paths[i].startswith("pooled_dense/"))
    print(f"{where}: max |weight diff| GradCache (C=5) vs one pass after 4 steps {diff:.2e} (moved >= {moved:.2e})")
    assert moved > 1e-4
    assert diff < 1e-5


@pytest.fixture
def precision():
    """Sets the global dtype policy for the test and restores it after."""
    before = keras.config.dtype_policy()
    yield keras.config.set_dtype_policy
    keras.config.set_dtype_policy(before)


def _relative_difference(reference, other):
    """||other - reference|| / ||reference|| over all the weights' gradients at once."""
    num = sum(float(np.sum((a - b) ** 2)) for a, b in zip(reference, other) if a is not None)
    return (num / sum(float(np.sum(a**2)) for a in reference if a is not None)) ** 0.5


@pytest.mark.parametrize("name,where,tolerance", [("mixed_bfloat16", "one_device", 1e-2),
                                                  ("mixed_float16", "two_replicas", 2e-3)])
def test_mixed_precision_gradients_equal_the_one_pass_step_to_its_rounding(name, where, tolerance, precision):
    """bfloat16, and float16 with its loss scaling shared across replicas. The chunks compute each row as the one-
    pass step does, but a layer's weight gradient is rounded to the compute dtype per chunk instead of once: the
    gradients agree within a few units of the precision's rounding (bfloat16 2^-8 = 3.9e-3, float16 2^-11)."""
    precision(name)
    batch = _batch(CASES["sup"], np.random.default_rng(1), batch=2 * BATCH)
    strategy = mirrored() if where == "two_replicas" else tf.distribute.get_strategy()
    grads = {}
    for label, size in (("plain", None), ("cached", 5)):
        with strategy.scope():
            model = _model(chunk=size, precision=name, **CASES["sup"])
        grads[label] = _replica_gradients(strategy, model, batch)
    diff = _relative_difference(grads["plain"], grads["cached"])
    print(f"{name} {where}: |GradCache grads - one-pass grads| / |one-pass grads| = {diff:.2e}")
    assert all(np.isfinite(g).all() for g in grads["cached"])
    assert diff < tolerance


def test_mlm_is_refused_with_a_reason():
    with pytest.raises(ValueError, match="gradcache_chunk_size cannot be combined with do_mlm"):
        SimCSE(tiny_encoder(), objective="unsup", do_mlm=True, mask_token_id=3, gradcache_chunk_size=5)


@pytest.mark.shared_data
def test_a_training_run_on_kornli_logs_the_losses_of_a_run_without(shared_data, tmp_path):
    """The trainer end to end (tiny checkpoint, real KorNLI triplets, dropout 0.1, AdamW with clipping): a
    `--gradcache_chunk_size 5` run over batches of 16 triplets logs the losses of the one-pass run, step by step."""
    import json

    from trainer_test import _config
    from tf_simcse.trainer import Trainer

    losses = {}
    for chunk in (None, 5):
        out = tmp_path / f"chunk_{chunk}"
        config = _config(shared_data, out, max_steps=4, eval_steps=100, checkpoint_steps=100,
                         max_grad_norm=1.0, gradcache_chunk_size=chunk)
        Trainer(config).run()
        losses[chunk] = json.loads((out / "trainer_state.json").read_text())["losses"]
        assert json.loads((out / "config.json").read_text())["gradcache_chunk_size"] == chunk
    assert [s for s, _ in losses[5]] == [1, 2, 3, 4]
    diff = max(abs(a - b) for (_, a), (_, b) in zip(losses[None], losses[5]))
    print(f"KorNLI, 4 steps: max |loss diff| GradCache (C=5) vs one pass {diff:.2e}")
    assert diff < 1e-5
