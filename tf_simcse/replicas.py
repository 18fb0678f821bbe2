"""Replica bookkeeping of the train step: where a replica's rows sit in the global batch, and its own dropout.

Global batch layout. Under a strategy the global batch is split into contiguous slices in global replica order
(replica 0 holds rows `[0, b0)`, replica 1 rows `[b0, b0 + b1)`, ...). `global_batch_layout` gives a replica the
offset of its first row and the global row count, computed in the replica context (a `Dataset.map` has none).

Dropout per replica. Keras 3 draws dropout masks from `SeedGenerator` state variables that tf.distribute keeps
equal on every replica (NONE aggregation), so without intervention replica k's row i gets exactly replica 0's
row-i mask: with N replicas a step would draw the masks of one replica N times. `install_replica_dropout` turns
the seed generators of a model's `Dropout` layers into `ReplicaSeedGenerator`s: inside a `dropout_seeds(seed)`
scope they return seeds derived from that scope's seed and the layer's position in the model; outside any scope
they behave as before. `SimCSE.train_step` opens
one scope per step with `step_seed(run_seed, step)`, which folds in the global replica id, so that

- every replica draws its own masks, deterministically from (run seed, step, global replica id) — the same on
  Mirrored, MultiWorkerMirrored and TPU strategies, so 1 worker x 2 devices and 2 workers x 1 device train
  alike (the global replica id of MultiWorkerMirroredStrategy is task index x local replicas + local id);
- resuming at step s redraws exactly the masks of an uninterrupted run (no RNG state to checkpoint);
- a computation can be replayed with the same masks by opening the same scope again (GradCache).
"""

import contextlib
import threading

import keras
import tensorflow as tf


def replica_context():
    """The replica context when more than one replica is in sync, else None."""
    ctx = tf.distribute.get_replica_context()
    if ctx is not None and ctx.num_replicas_in_sync > 1:
        return ctx
    return None


def global_replica_id():
    """This replica's id in the sync group (int32 scalar tensor); 0 outside a multi-replica context."""
    ctx = replica_context()
    if ctx is None:
        return tf.constant(0, tf.int32)
    return tf.cast(ctx.replica_id_in_sync_group, tf.int32)


def global_batch_layout(local_batch):
    """`(first_row, global_batch)`: where this replica's `local_batch` rows start in the global batch, and its size.

    Replicas may hold different row counts (an uneven last batch); both values are exact in every case.
    """
    ctx = replica_context()
    if ctx is None:
        return tf.constant(0, tf.int32), tf.cast(local_batch, tf.int32)
    sizes = ctx.all_gather(tf.reshape(tf.cast(local_batch, tf.int32), [1]), axis=0)
    before = tf.range(ctx.num_replicas_in_sync) < global_replica_id()
    return tf.reduce_sum(tf.where(before, sizes, tf.zeros_like(sizes))), tf.reduce_sum(sizes)


def all_reduce_sum(value):
    """Sum of `value` over the replicas in sync (the value itself with one replica)."""
    ctx = replica_context()
    if ctx is None:
        return value
    return ctx.all_reduce(tf.distribute.ReduceOp.SUM, value)


# ------------------------------------------------------------------------------------------------- dropout
def _fold(seed, data):
    # Philox on every device, so that a seed means the same masks on CPU, GPU and TPU hosts.
    return tf.random.experimental.stateless_fold_in(seed, tf.cast(data, tf.int32), alg="philox")


def step_seed(run_seed, step, stream=0, replica_id=None):
    """The dropout seed (int32 [2]) of training step `step`: a function of (run seed, stream, step, replica).

    `replica_id` defaults to this replica's global id (0 outside a multi-replica context); passing it lets one
    device reproduce another replica's masks (the reference of the multi-replica tests).
    """
    seed = tf.constant([int(run_seed or 0) % (2**31), int(stream)], tf.int32)
    replica = global_replica_id() if replica_id is None else replica_id
    return _fold(_fold(seed, step), replica)


class _Scopes(threading.local):
    # MirroredStrategy runs each replica's step in its own thread: every thread has its own scope stack.
    def __init__(self):
        self.stack = []


_SCOPES = _Scopes()


@contextlib.contextmanager
def dropout_seeds(seed):
    """Within the scope, `ReplicaSeedGenerator`s draw from `seed` (int32 [2]): same scope seed, same masks.

    A layer draws the same mask every time it is called in one scope (its seed is (scope seed, layer)), which is
    what makes replays and Keras's extra symbolic calls (shape inference on a layer's first call) harmless. A
    model that runs the same layers twice in one step gives each pass a scope of its own: `dropout_pass(i)`.
    """
    _SCOPES.stack.append(tf.convert_to_tensor(seed, tf.int32))
    try:
        yield
    finally:
        _SCOPES.stack.pop()


def dropout_pass(index):
    """A sub-scope for pass `index` of the same layers within a step (no-op outside a `dropout_seeds` scope)."""
    if not _SCOPES.stack:
        return contextlib.nullcontext()
    return dropout_seeds(_fold(_SCOPES.stack[-1], int(index) + 1))


class ReplicaSeedGenerator(keras.random.SeedGenerator):
    """A `SeedGenerator` whose draws inside a `dropout_seeds` scope come from the scope's seed.

    Not constructed directly: `install_replica_dropout` converts a layer's existing generator in place (its
    state variable, which the fallback outside a scope keeps using, stays where it was).
    """

    dropout_salt = 0

    def next(self, ordered=True):
        if not _SCOPES.stack:
            return super().next(ordered=ordered)
        return _fold(_SCOPES.stack[-1], self.dropout_salt)


def install_replica_dropout(model):
    """Makes every `Dropout` layer of `model` draw per-replica masks in `dropout_seeds` scopes; returns the count.

    A layer's salt is its position among the model's Dropout layers (in Keras's layer traversal order), so it is
    the same in every process that builds the same architecture, whatever the auto-generated layer names.
    """
    dropouts = [
        layer
        for layer in model._flatten_layers(include_self=True, recursive=True)
        if isinstance(layer, keras.layers.Dropout) and getattr(layer, "seed_generator", None) is not None
    ]
    for salt, layer in enumerate(dropouts, start=1):
        generator = layer.seed_generator
        if not isinstance(generator, ReplicaSeedGenerator):
            generator.__class__ = ReplicaSeedGenerator
        generator.dropout_salt = salt
    return len(dropouts)
