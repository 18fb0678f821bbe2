"""Replica bookkeeping of the train step: where a replica's rows sit in the global batch, and its own dropout.

Global batch layout. Under a strategy the global batch is split into contiguous slices in global replica order
(replica 0 holds rows `[0, b0)`, replica 1 rows `[b0, b0 + b1)`, ...). `global_batch_layout` gives a replica the
offset of its first row and the global row count, computed in the replica context (a `Dataset.map` has none).

Dropout per replica. Keras 3 draws dropout masks from `SeedGenerator` state variables that tf.distribute keeps
equal on every replica (NONE aggregation), so without intervention replica k's row i gets exactly replica 0's
row-i mask: with N replicas a step would draw the masks of one replica N times. `install_replica_dropout` turns
a model's `Dropout` layers into `ReplicaDropout`s: inside a `dropout_seeds(seed)` scope they draw masks from that
scope's seed and the layer's position in the model; outside any scope they behave as before. `SimCSE.train_step`
opens one scope per step with `step_seed(run_seed, step)`, which folds in the global replica id, so that

- every replica draws its own masks, deterministically from (run seed, step, global replica id) — the same on
  Mirrored, MultiWorkerMirrored and TPU strategies, so 1 worker x 2 devices and 2 workers x 1 device train
  alike (the global replica id of MultiWorkerMirroredStrategy is task index x local replicas + local id);
- resuming at step s redraws exactly the masks of an uninterrupted run (no RNG state to checkpoint);
- a computation can be replayed with the same masks by opening the same scope again.

Masks are addressed by row. Row r of a tensor gets the Philox stream of its scope seed at counter
`r x (words per row)`, so encoding rows [a, b) of a batch alone, in a `dropout_rows(a)` scope, draws exactly the
masks those rows get when the whole batch is encoded at once. That is what lets GradCache (`tf_simcse.gradcache`)
encode a batch in chunks and still compute the gradient of the one-pass step, dropout included.
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
        self.stack = []  # (seed int32 [2], first row) pairs


_SCOPES = _Scopes()


@contextlib.contextmanager
def _scope(seed, first_row):
    _SCOPES.stack.append((tf.convert_to_tensor(seed, tf.int32), first_row))
    try:
        yield
    finally:
        _SCOPES.stack.pop()


def dropout_seeds(seed):
    """Within the scope, `ReplicaDropout` layers draw from `seed` (int32 [2]): same scope seed, same masks.

    A layer draws the same mask every time it is called in one scope (its seed is (scope seed, layer)), which is
    what makes replays and Keras's extra symbolic calls (shape inference on a layer's first call) harmless. A
    model that runs the same layers twice in one step gives each pass a scope of its own: `dropout_pass(i)`.
    """
    return _scope(seed, 0)


def dropout_pass(index):
    """A sub-scope for pass `index` of the same layers within a step (no-op outside a `dropout_seeds` scope)."""
    if not _SCOPES.stack:
        return contextlib.nullcontext()
    return _scope(_fold(_SCOPES.stack[-1][0], int(index) + 1), 0)


def dropout_rows(first_row):
    """The enclosing scope's masks for a slice of its batch that starts at row `first_row` (a GradCache chunk)."""
    if not _SCOPES.stack:
        return contextlib.nullcontext()
    return _scope(_SCOPES.stack[-1][0], first_row)


_PHILOX = 1  # tf.random.Algorithm.PHILOX: 4 uint32 words per counter step, on CPU, GPU and TPU (XLA) alike


def _row_uniform(seed, shape, first_row):
    """Uniform [0, 1) float32 of `shape`; row r is Philox(key=seed) from counter (first_row + r) x words per row."""
    per_row = tf.reduce_prod(shape[1:])
    words = (per_row + 3) // 4  # counter steps per row (a row's last step may leave up to 3 words unused)
    key = tf.bitcast(tf.reshape(seed, [1, 2]), tf.uint64)
    start = tf.cast(first_row, tf.int64) * tf.cast(words, tf.int64)
    counter = tf.bitcast(tf.stack([start, tf.constant(0, tf.int64)]), tf.uint64)
    draws = tf.raw_ops.StatelessRandomUniformV2(
        shape=tf.stack([shape[0], words * 4]), key=key, counter=counter, alg=_PHILOX, dtype=tf.float32
    )
    return tf.reshape(draws[:, :per_row], shape)


class ReplicaDropout(keras.layers.Dropout):
    """A `Dropout` whose masks inside a `dropout_seeds` scope come from the scope's seed, row by row.

    Not constructed directly: `install_replica_dropout` converts a model's existing layers in place. Outside a
    scope (inference, exports, user code) it is Keras's own `Dropout`.
    """

    dropout_salt = 0

    def call(self, inputs, training=False):
        if not (training and _SCOPES.stack and 0 < self.rate < 1 and self.noise_shape is None):
            return super().call(inputs, training=training)
        seed, first_row = _SCOPES.stack[-1]
        keep = _row_uniform(_fold(seed, self.dropout_salt), tf.shape(inputs), first_row) >= self.rate
        # The arithmetic of tf.nn.experimental.stateless_dropout: x * (1 / keep rate), zero where dropped.
        scaled = inputs * tf.cast(1.0 / (1.0 - self.rate), inputs.dtype)
        return tf.where(keep, scaled, tf.zeros_like(scaled))


def install_replica_dropout(model):
    """Makes every `Dropout` layer of `model` draw per-replica masks in `dropout_seeds` scopes; returns the count.

    A layer's salt is its position among the model's Dropout layers (in Keras's layer traversal order), so it is
    the same in every process that builds the same architecture, whatever the auto-generated layer names.
    """
    dropouts = [
        layer
        for layer in model._flatten_layers(include_self=True, recursive=True)
        if isinstance(layer, keras.layers.Dropout)
    ]
    for salt, layer in enumerate(dropouts, start=1):
        if type(layer) is keras.layers.Dropout:
            layer.__class__ = ReplicaDropout
        elif not isinstance(layer, ReplicaDropout):
            raise TypeError(f"{type(layer).__name__} ({layer.name}): only keras.layers.Dropout can draw per-replica "
                            "masks; a Dropout subclass would lose its own behaviour.")
        layer.dropout_salt = salt
    return len(dropouts)
