"""`tf_simcse.replicas`: per-replica dropout masks and exact multi-replica training with dropout ON.

Replica tests run `MirroredStrategy` over the two logical CPUs that tests/conftest.py configures.
"""

import numpy as np
import pytest
import tensorflow as tf

from _tiny import assert_trained_alike, mirrored, simcse_batch, tiny_encoder
from tf_simcse import replicas
from tf_simcse.distribute import make_optimizer
from tf_simcse.losses import contrastive_loss
from tf_simcse.model import SimCSE


def _dataset(*batches):
    ds = None
    for b in batches:
        one = tf.data.Dataset.from_tensors(b)
        ds = one if ds is None else ds.concatenate(one)
    return ds


def test_every_dropout_layer_is_seeded_per_replica():
    encoder = tiny_encoder(dropout=0.1)
    # Embedding dropout + 3 per transformer layer (attention probabilities, attention output, feed-forward).
    assert replicas.install_replica_dropout(encoder) == 7
    assert replicas.install_replica_dropout(encoder) == 7  # idempotent


def test_replicas_draw_different_masks_that_a_scope_replays():
    """Under MirroredStrategy the same rows on both replicas get different dropout masks (Keras alone gives
    replica 1 replica 0's masks); a single device reproduces replica k's masks from the scope seed of replica k,
    and reopening a scope replays its masks exactly."""
    rng = np.random.default_rng(0)
    inputs = simcse_batch("unsup", 4, rng)["anchor"]
    strategy = mirrored()
    with strategy.scope():
        encoder = tiny_encoder(pooler="avg", dropout=0.3)
        replicas.install_replica_dropout(encoder)

    @tf.function
    def step(x):
        def replica_fn(x):
            with replicas.dropout_seeds(replicas.step_seed(7, tf.constant(3, tf.int64))):
                return encoder(x, training=True)

        return strategy.run(replica_fn, args=(x,))

    # Both replicas get the same 4 rows.
    per_replica = strategy.experimental_distribute_values_from_function(lambda ctx: inputs)
    out = [x.numpy() for x in strategy.experimental_local_results(step(per_replica))]
    assert np.abs(out[0] - out[1]).max() > 1e-2  # different masks
    plain = encoder(inputs, training=False).numpy()
    assert np.abs(out[0] - plain).max() > 1e-2  # dropout is on

    for k in range(2):
        with replicas.dropout_seeds(replicas.step_seed(7, tf.constant(3, tf.int64), replica_id=k)):
            again = encoder(inputs, training=True).numpy()
        np.testing.assert_allclose(again, out[k], atol=1e-6)
    with replicas.dropout_seeds(replicas.step_seed(7, tf.constant(4, tf.int64), replica_id=0)):
        next_step = encoder(inputs, training=True).numpy()
    assert np.abs(next_step - out[0]).max() > 1e-2  # the step is in the seed


def test_passes_of_one_step_get_their_own_masks_and_replay():
    """Two encoder passes in one step (encode_anchors_apart) must not share masks; a pass replays its own; the
    first call of a fresh model (where Keras also runs the layers symbolically) draws what later calls draw."""
    encoder = tiny_encoder(pooler="avg", dropout=0.3)
    replicas.install_replica_dropout(encoder)
    inputs = simcse_batch("unsup", 4, np.random.default_rng(1))["anchor"]
    outs = []
    for _ in range(2):
        with replicas.dropout_seeds(replicas.step_seed(1, 0)):
            with replicas.dropout_pass(0):
                first = encoder(inputs, training=True).numpy()
            with replicas.dropout_pass(1):
                second = encoder(inputs, training=True).numpy()
        outs.append((first, second))
    assert np.abs(outs[0][0] - outs[0][1]).max() > 1e-2
    np.testing.assert_array_equal(outs[0][0], outs[1][0])
    np.testing.assert_array_equal(outs[0][1], outs[1][1])


class EmulatedReplicas(SimCSE):
    """The 1-device reference: the global batch split into `n` contiguous slices, slice k embedded with the
    dropout masks of replica k, one global-batch loss (label offset 0), one optimizer update."""

    n = 2

    def train_step(self, data):
        step = self.train_batches.value
        with tf.GradientTape() as tape:
            parts = []
            for k in range(self.n):
                half = tf.nest.map_structure(lambda x: tf.split(x, self.n, axis=0)[k], data)
                with replicas.dropout_seeds(replicas.step_seed(self.seed, step, replica_id=k)):
                    parts.append(self(half, training=True))
            views = {v: tf.concat([p[v] for p in parts], axis=0) for v in parts[0]}
            loss = contrastive_loss(
                views["anchor"],
                views["positive"],
                views.get("hard_negative"),
                temperature=self.temperature,
                hard_negative_weight=self.hard_negative_weight,
            )
        trainable = self.trainable_variables
        grads = tape.gradient(loss, trainable)
        self.optimizer.apply_gradients([(g, v) for g, v in zip(grads, trainable) if g is not None])
        self.train_batches.assign_add(1)
        return {"batch_loss": loss}


def _train(model_cls, strategy, objective, batches, seed=5):
    with strategy.scope():
        encoder = tiny_encoder(pooler="avg", dropout=0.2)
        model = model_cls(encoder, objective=objective, seed=seed,
                          hard_negative_weight=0.5 if objective == "sup" else 0.0)
        # The real optimizer: AdamW with weight decay, warmup + decay, global-norm clipping (after the sum).
        optimizer = make_optimizer(5e-3, total_steps=len(batches), warmup_steps=1, weight_decay=0.01,
                                   global_clipnorm=1.0, precision="float32")
        model.compile(optimizer=optimizer)
    before = [v.numpy() for v in model.trainable_variables]
    model.fit(_dataset(*batches), verbose=0, shuffle=False)
    return before, [v.numpy() for v in model.trainable_variables], model


@pytest.mark.parametrize("objective", ["unsup", "sup"])
def test_two_replicas_with_dropout_train_like_one_device_with_their_masks(objective):
    """Dropout ON, AdamW + weight decay + clipping, 4 steps: 2 replicas end with the weights of the 1-device
    global-batch reference that uses the same per-replica masks."""
    rng = np.random.default_rng(3)
    batches = [simcse_batch(objective, 8, rng) for _ in range(4)]
    initial, reference, _ = _train(EmulatedReplicas, tf.distribute.get_strategy(), objective, batches)
    _, weights, model = _train(SimCSE, mirrored(), objective, batches)
    assert int(model.train_batches.numpy()) == 4
    assert_trained_alike(initial, reference, weights, model, objective, moved_at_least=1e-3)
