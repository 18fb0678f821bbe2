"""GradCache (Gao et al., 2021): contrastive batches larger than memory, with the gradients of the one-pass step.

A `SimCSE` train step with `gradcache_chunk_size=C`

1. embeds each replica's views in chunks of at most C sequences, with no tape (no activations are kept);
2. gathers the embeddings across replicas and computes the loss exactly as the one-pass step does, and the
   gradient of the loss with respect to this replica's embeddings;
3. encodes each chunk again, now under a tape and with the same dropout masks, and back-propagates the chunk's
   embedding gradient into the weights, summing over the chunks.

The masks are the same as the one-pass step's because `ReplicaDropout` addresses its masks by row
(`tf_simcse.replicas`): chunk k, encoded in a `dropout_rows(k x C)` scope, draws the masks its rows get when the
whole batch is encoded at once. So the weight gradients are those of the step without GradCache, up to float
summation order. Memory: one chunk's activations at a time, plus the embeddings. Cost: one more forward pass.

The chunks are a `tf.while_loop` (traced once whatever the batch size; `parallel_iterations=1`, so that two
chunks' activations never coexist). The rows are padded to a whole number of chunks by repeating the last row,
so every chunk has the static shape [C, length] (XLA, TPU); padding rows get a zero upstream gradient and add
exactly nothing.
"""

import tensorflow as tf

from tf_simcse import features
from tf_simcse import replicas


def chunked(inputs, chunk_size):
    """`(chunks, num_chunks, rows)`: packed `inputs` [rows, len] as [num_chunks, chunk_size, len], the input of
    `embed` and `backward` (computed once per encoder pass, used by both)."""
    static_rows = inputs[features.WORD_IDS].shape[0]
    rows = static_rows if static_rows is not None else tf.shape(inputs[features.WORD_IDS])[0]
    num_chunks = (rows + chunk_size - 1) // chunk_size
    index = tf.minimum(tf.range(num_chunks * chunk_size), rows - 1)

    def split(x):
        x = tf.gather(x, index)
        out = tf.reshape(x, tf.concat([[num_chunks, chunk_size], tf.shape(x)[1:]], axis=0))
        out.set_shape([static_rows and num_chunks, chunk_size] + x.shape[1:].as_list())
        return out

    return {key: split(value) for key, value in inputs.items()}, num_chunks, rows


def _loop(num_chunks, body, state):
    _, state = tf.while_loop(
        lambda i, _: i < num_chunks, lambda i, s: (i + 1, body(i, s)), (tf.constant(0), state),
        parallel_iterations=1,
    )
    return state


def embed(encoder, chunked_inputs):
    """The float32 [rows, dim] training embeddings of `chunked(inputs, chunk_size)`, a chunk at a time."""
    chunks, num_chunks, rows = chunked_inputs
    chunk_size = chunks[features.WORD_IDS].shape[1]

    def body(i, array):
        with replicas.dropout_rows(i * chunk_size):
            embeddings = encoder({key: value[i] for key, value in chunks.items()}, training=True)
        return array.write(i, tf.cast(embeddings, tf.float32))

    array = tf.TensorArray(tf.float32, size=num_chunks, element_shape=[chunk_size, encoder.hidden_dim])
    stacked = _loop(num_chunks, body, array).stack()
    return tf.reshape(stacked, [-1, encoder.hidden_dim])[:rows]


def backward(encoder, chunked_inputs, upstream, variables):
    """d/d`variables` of sum(embeddings(inputs) * `upstream`), for `chunked(inputs, chunk_size)`, a chunk at a time.

    Returns one gradient per variable (dense), None for a variable the embeddings do not depend on.
    """
    chunks, num_chunks, rows = chunked_inputs
    chunk_size = chunks[features.WORD_IDS].shape[1]
    upstream = tf.cast(upstream, tf.float32)
    upstream = tf.pad(upstream, [[0, num_chunks * chunk_size - rows], [0, 0]])
    upstream = tf.reshape(upstream, [num_chunks, chunk_size, encoder.hidden_dim])
    connected = []

    def body(i, sums):
        with tf.GradientTape() as tape:
            with replicas.dropout_rows(i * chunk_size):
                embeddings = encoder({key: value[i] for key, value in chunks.items()}, training=True)
            surrogate = tf.reduce_sum(tf.cast(embeddings, tf.float32) * upstream[i])
        grads = tape.gradient(surrogate, variables)
        if not connected:  # known when the body is traced (graph) or first run (eager)
            connected.extend(g is not None for g in grads)
        return tuple(s if g is None else s + tf.convert_to_tensor(g) for s, g in zip(sums, grads))

    sums = _loop(num_chunks, body, tuple(tf.zeros(v.shape, v.dtype) for v in variables))
    return [s if c else None for s, c in zip(sums, connected)]
