"""`tf.data` training pipelines: one epoch of tokenized SimCSE batches, in a seeded, resumable order.

The epoch order is computed in NumPy, before TensorFlow sees any text: a permutation of the example indices
seeded by `(seed, epoch)` (optionally rearranged so that no text repeats inside a batch). A resumed run asks for
`start_batch=k` and the order is sliced at `k * batch_size`, so it gets exactly batches `k, k+1, ...` of the same
epoch without tokenizing (or even reading) the batches it skips.

The strings of the epoch are then batched and tokenized inside the pipeline (`Dataset.map` over string batches,
parallel and deterministic) and prefetched. All texts of one batch (anchors, positives, hard negatives) go
through the preprocessor in one call, so with dynamic padding they share one padded length and the model can
encode them as one `[k * batch, length]` block.

Element structure: `{"anchor": P}` (unsup), `{"anchor": P, "positive": P}` (pair),
`{"anchor": P, "positive": P, "hard_negative": P}` (sup), with
`P = {"input_word_ids", "input_mask", "input_type_ids"}` int32 `[batch, length]`. With a preprocessor that pads to
its `seq_length` and `drop_remainder=True`, every shape is static (what TPU/XLA compilation needs).

The strings of one epoch are held as a constant in the dataset graph: fine for corpora of a few million
sentences (wiki1m is ~120 MB), not for corpora near the 2 GB protobuf limit.
"""

import logging
import weakref

import numpy as np
import tensorflow as tf

from tf_simcse.data.examples import OBJECTIVES

FIELDS = ("anchor", "positive", "hard_negative")
INPUT_NAMES = ("input_word_ids", "input_mask", "input_type_ids")
_FIELDS_OF = {"unsup": FIELDS[:1], "pair": FIELDS[:2], "sup": FIELDS}

logger = logging.getLogger(__name__)


def steps_per_epoch(num_examples, batch_size, drop_remainder=True):
    """Batches in one epoch: `num_examples // batch_size`, rounded up when the remainder is kept."""
    num_examples, batch_size = int(num_examples), int(batch_size)
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    if num_examples < 0:
        raise ValueError(f"num_examples must be >= 0, got {num_examples}")
    return num_examples // batch_size if drop_remainder else -(-num_examples // batch_size)


def _field_texts(examples, objective):
    """`{field: list[str]}` for the fields the objective trains on, checked for presence and length."""
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    available = {"anchor": examples.anchors, "positive": examples.positives, "hard_negative": examples.hard_negatives}
    out = {}
    for field in _FIELDS_OF[objective]:
        texts = available[field]
        if texts is None:
            raise ValueError(
                f"objective {objective!r} needs {field} texts, but the examples have none (were they loaded for "
                f"objective {examples.report.get('objective', '?')!r}?)"
            )
        if len(texts) != len(examples.anchors):
            raise ValueError(f"examples have {len(examples.anchors)} anchors but {len(texts)} {field} texts")
        out[field] = texts
    if not out["anchor"]:
        raise ValueError("no training examples")
    return out


def _arrange_without_in_batch_duplicates(order, texts, batch_size):
    """Reorders `order` so that no text occurs in two examples of one batch; returns (order, unplaced).

    Greedy and deterministic: batches are filled in order, each first from the examples deferred so far (oldest
    first), then from the rest of `order`; an example that shares a text with the batch being filled is deferred.
    When the remaining examples cannot complete a duplicate-free batch, the partial batch and every deferred
    example go to the end of the epoch in that order: the deferred ones are counted as `unplaced` (they may sit
    next to a duplicate, or be dropped as the remainder). The length of the order never changes, so the steps
    per epoch do not either. Repeats inside one example (an anchor equal to its own positive) are not
    in-batch negatives and are ignored.
    """
    example_texts = [frozenset(t) for t in zip(*texts)]
    out = []
    deferred = []
    stream = iter(order.tolist())
    exhausted = False
    while True:
        batch, seen = [], set()
        still_deferred = []
        for position, i in enumerate(deferred):
            if len(batch) == batch_size:
                still_deferred.extend(deferred[position:])
                break
            if example_texts[i].isdisjoint(seen):
                batch.append(i)
                seen.update(example_texts[i])
            else:
                still_deferred.append(i)
        deferred = still_deferred
        while len(batch) < batch_size and not exhausted:
            i = next(stream, None)
            if i is None:
                exhausted = True
            elif example_texts[i].isdisjoint(seen):
                batch.append(i)
                seen.update(example_texts[i])
            else:
                deferred.append(i)
        if len(batch) < batch_size:
            out.extend(batch)
            out.extend(deferred)
            return np.asarray(out, dtype=np.int64), len(deferred)
        out.extend(batch)


def epoch_order(examples, *, objective, batch_size, seed=42, epoch=0, shuffle=True, dedupe_in_batch=False):
    """The example indices of one epoch, in batch order, and how many could not be placed without duplicates.

    `shuffle=True`: `np.random.default_rng([seed, epoch]).permutation(n)`; otherwise `0..n-1`. With
    `dedupe_in_batch`, that order is then rearranged (see `_arrange_without_in_batch_duplicates`).

    Returns:
        `(indices, unplaced)`: int64 `[n]` and the number of examples the dedupe could not place (0 without it).
    """
    texts = _field_texts(examples, objective)
    n = len(texts["anchor"])
    if int(batch_size) <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    if shuffle:
        order = np.random.default_rng([int(seed), int(epoch)]).permutation(n).astype(np.int64)
    else:
        order = np.arange(n, dtype=np.int64)
    if not dedupe_in_batch:
        return order, 0
    return _arrange_without_in_batch_duplicates(order, [texts[f] for f in texts], int(batch_size))


# One traced `strings [n] -> packed dict` function per preprocessor, shared by the datasets of every epoch:
# tracing a tokenizer graph costs seconds, and each epoch builds a new dataset.
_TRACED = weakref.WeakKeyDictionary()


def _traced(preprocessor):
    try:
        return _TRACED[preprocessor]
    except KeyError:
        pass
    except TypeError:  # Not hashable or not weak-referenceable: trace inside each dataset instead.
        return preprocessor
    # The weak reference keeps the cache from holding the preprocessor alive (the traced graph does not).
    ref = weakref.ref(preprocessor)
    fn = tf.function(lambda strings: ref()(strings), input_signature=[tf.TensorSpec([None], tf.string)])
    _TRACED[preprocessor] = fn
    return fn


def make_training_dataset(
    examples,
    preprocessor,
    *,
    objective,
    batch_size,
    seed=42,
    epoch=0,
    start_batch=0,
    drop_remainder=True,
    dedupe_in_batch=False,
    shuffle=True,
):
    """One epoch of tokenized training batches.

    Args:
        examples: `TrainingExamples` (see `tf_simcse.data.examples.load_training_examples`).
        preprocessor: a callable `tf.string [batch] -> {input_word_ids, input_mask, input_type_ids}` int32
            (a `tf_simcse.preprocessing.TextPreprocessor`); its `seq_length` and `dynamic` attributes, when
            present, decide whether the batch shapes are static.
        objective: `"unsup"` (anchors only), `"pair"` (anchor, positive) or `"sup"` (anchor, positive,
            hard negative).
        batch_size: examples per batch.
        seed, epoch: the epoch order is a NumPy permutation seeded by `(seed, epoch)`.
        start_batch: skip the first `start_batch` batches of the epoch (resume); sliced from the index order,
            nothing is tokenized for them.
        drop_remainder: drop the last partial batch (required for static shapes).
        dedupe_in_batch: arrange the order so that no text occurs twice in a batch (see `epoch_order`); the
            number of examples it could not place is logged.
        shuffle: False keeps the examples' own order (evaluation, debugging).

    Returns:
        A `tf.data.Dataset` of `steps_per_epoch(len(examples), batch_size, drop_remainder) - start_batch` batches.
    """
    texts = _field_texts(examples, objective)
    batch_size = int(batch_size)
    steps = steps_per_epoch(len(texts["anchor"]), batch_size, drop_remainder)
    if not 0 <= int(start_batch) <= steps:
        raise ValueError(f"start_batch must be in [0, {steps}] (the batches of this epoch), got {start_batch}")
    order, unplaced = epoch_order(
        examples,
        objective=objective,
        batch_size=batch_size,
        seed=seed,
        epoch=epoch,
        shuffle=shuffle,
        dedupe_in_batch=dedupe_in_batch,
    )
    if unplaced:
        logger.warning(
            "dedupe_in_batch: %d of %d examples could not be placed in a batch without a repeated text; "
            "they were moved to the end of epoch %d",
            unplaced,
            len(order),
            epoch,
        )
    order = order[int(start_batch) * batch_size : steps * batch_size]

    rows = order.tolist()
    columns = {f: tf.constant([texts[f][i] for i in rows], dtype=tf.string, shape=[len(rows)]) for f in texts}
    dataset = tf.data.Dataset.from_tensor_slices(columns)
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)

    seq_length = getattr(preprocessor, "seq_length", None)
    static_length = None if getattr(preprocessor, "dynamic", False) or seq_length is None else int(seq_length)
    static_batch = batch_size if drop_remainder else None
    fields = list(texts)
    call = _traced(preprocessor)

    def tokenize(batch):
        # One preprocessor call for every text of the batch: one padded length for all fields.
        packed = call(tf.concat([batch[f] for f in fields], axis=0))
        out = {f: {} for f in fields}
        for name in INPUT_NAMES:
            for f, part in zip(fields, tf.split(packed[name], len(fields), axis=0)):
                if static_length is not None:
                    part = tf.ensure_shape(part, [static_batch, static_length])
                out[f][name] = part
        return out

    dataset = dataset.map(tokenize, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return dataset.prefetch(tf.data.AUTOTUNE)
