"""`tf.data` training pipelines: one epoch of tokenized SimCSE batches, in a seeded, resumable order.

The epoch order is computed in NumPy, before TensorFlow sees any text: a permutation of the example indices
seeded by `(seed, epoch)` (optionally rearranged so that no text repeats inside a batch). A resumed run asks for
`start_batch=k` and the order is sliced at `k * batch_size`, so it gets exactly batches `k, k+1, ...` of the same
epoch without tokenizing (or even reading) the batches it skips.

**Length grouping** (`length_grouping=True`): the permutation is cut into windows of `grouping_window` batches;
within each window the examples are sorted by token length (of their longest view), cut into batches, and the
batches of the window are put back in a random order drawn from the same `(seed, epoch)` generator. Batches then
hold examples of similar length, so dynamic padding pads little, while every example still appears once per
epoch and the batch sequence stays random at the scale of a window. The lengths come from one tokenization pass
over the examples, cached per (examples, preprocessor) for the run. With XLA, `pad_to_multiple_of` rounds each
batch's length up (e.g. to a multiple of 16) so that only a handful of shapes get compiled.

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

from tf_simcse import features
from tf_simcse.objectives import SIMCSE_OBJECTIVES, VIEWS


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
    if objective not in SIMCSE_OBJECTIVES:
        raise ValueError(f"objective must be one of {SIMCSE_OBJECTIVES}, got {objective!r}")
    available = {"anchor": examples.anchors, "positive": examples.positives, "hard_negative": examples.hard_negatives}
    out = {}
    for field in VIEWS[objective]:
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


def epoch_order(
    examples,
    *,
    objective,
    batch_size,
    seed=42,
    epoch=0,
    shuffle=True,
    dedupe_in_batch=False,
    lengths=None,
    grouping_window=64,
):
    """The example indices of one epoch, in batch order, and how many could not be placed without duplicates.

    `shuffle=True`: `np.random.default_rng([seed, epoch]).permutation(n)`; otherwise `0..n-1`. With `lengths`
    (one int per example, see `example_lengths`), the order is length-grouped: the full batches of the
    permutation are cut into windows of `grouping_window` batches, each window is sorted by length (longest
    first, ties in permutation order) and cut into batches, and the batches of each window are shuffled with the
    same generator (kept longest-first when `shuffle=False`). The examples of the last partial batch are the
    permutation's last ones: which examples a dropped remainder loses does not depend on their length. With
    `dedupe_in_batch`, the (grouped) order is then rearranged (see `_arrange_without_in_batch_duplicates`),
    before the batches are shuffled.

    Returns:
        `(indices, unplaced)`: int64 `[n]` and the number of examples the dedupe could not place (0 without it).
    """
    texts = _field_texts(examples, objective)
    n = len(texts["anchor"])
    batch_size = int(batch_size)
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    rng = np.random.default_rng([int(seed), int(epoch)])
    if shuffle:
        order = rng.permutation(n).astype(np.int64)
    else:
        order = np.arange(n, dtype=np.int64)
    if lengths is not None:
        lengths = np.asarray(lengths)
        if lengths.shape != (n,):
            raise ValueError(f"lengths must hold one length per example ({n}), got shape {lengths.shape}")
        if int(grouping_window) < 1:
            raise ValueError(f"grouping_window must be >= 1 batch, got {grouping_window}")
        order = _sort_within_windows(order, lengths, batch_size, int(grouping_window))
    unplaced = 0
    if dedupe_in_batch:
        order, unplaced = _arrange_without_in_batch_duplicates(order, [texts[f] for f in texts], batch_size)
    if lengths is not None and shuffle:
        order = _shuffle_batches_within_windows(order, batch_size, int(grouping_window), rng)
    return order, unplaced


def _windows(num_examples, batch_size, window):
    """`(start, stop)` of each window of `window` full batches; the partial batch is in none."""
    full = num_examples // batch_size * batch_size
    span = window * batch_size
    return [(start, min(start + span, full)) for start in range(0, full, span)]


def _sort_within_windows(order, lengths, batch_size, window):
    out = order.copy()
    for start, stop in _windows(len(order), batch_size, window):
        chunk = order[start:stop]
        # Stable: examples of equal length keep their (random) permutation order.
        out[start:stop] = chunk[np.argsort(-lengths[chunk], kind="stable")]
    return out


def _shuffle_batches_within_windows(order, batch_size, window, rng):
    out = order.copy()
    for start, stop in _windows(len(order), batch_size, window):
        batches = order[start:stop].reshape(-1, batch_size)
        out[start:stop] = batches[rng.permutation(len(batches))].reshape(-1)
    return out


# Token lengths per (preprocessor, examples object): {preprocessor: {id(examples): (weakref, {field: lengths})}}.
# Computing them tokenizes every text once; the trainer asks again at every epoch.
_LENGTHS = weakref.WeakKeyDictionary()
_LENGTH_CHUNK = 4096


def field_lengths(examples, preprocessor, *, objective):
    """`{field: int32 [n]}`: the packed length (special tokens included, truncation applied) of each text.

    Measured with `preprocessor` itself (the sum of `input_mask`), so it is exactly the length the training
    batches carry. Cached for the lifetime of `examples` and `preprocessor` (the examples are treated as
    immutable).
    """
    texts = _field_texts(examples, objective)
    try:
        per_preprocessor = _LENGTHS.setdefault(preprocessor, {})
    except TypeError:  # not weak-referenceable: no cache
        per_preprocessor = {}
    key = id(examples)
    entry = per_preprocessor.get(key)
    if entry is None or entry[0]() is not examples:
        try:
            ref = weakref.ref(examples)
            weakref.finalize(examples, per_preprocessor.pop, key, None)
        except TypeError:
            ref = lambda: None  # noqa: E731  (not weak-referenceable: recompute each time)
        entry = (ref, {})
        per_preprocessor[key] = entry
    cached = entry[1]
    call = _traced(preprocessor)
    for field, values in texts.items():
        if field in cached and len(cached[field]) == len(values):
            continue
        parts = []
        for start in range(0, len(values), _LENGTH_CHUNK):
            chunk = tf.constant(values[start : start + _LENGTH_CHUNK], dtype=tf.string)
            mask = call(chunk)[features.MASK]
            parts.append(tf.reduce_sum(tf.cast(mask, tf.int32), axis=1).numpy())
        cached[field] = np.concatenate(parts).astype(np.int32) if parts else np.zeros([0], np.int32)
    return {field: cached[field] for field in texts}


def example_lengths(examples, preprocessor, *, objective, pad_anchors_separately=False):
    """int64 `[n]`: the length-grouping key of each example.

    By default the packed length of its longest view (what its batch is padded to). With
    `pad_anchors_separately` (see `make_training_dataset`) and views besides the anchor, the longest of those
    views first and the anchor's length second (`others * 2**16 + anchor`): the positives and hard negatives are
    the bigger block of a batch, and anchors (premises) are often cut at `seq_length` anyway.
    """
    per_field = field_lengths(examples, preprocessor, objective=objective)
    if not pad_anchors_separately or len(per_field) == 1:
        return np.max(np.stack(list(per_field.values())), axis=0).astype(np.int64)
    others = np.max(np.stack([v for f, v in per_field.items() if f != "anchor"]), axis=0).astype(np.int64)
    return others * 2**16 + per_field["anchor"]


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
    length_grouping=False,
    grouping_window=64,
    pad_to_multiple_of=None,
    pad_anchors_separately=False,
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
        length_grouping: batch examples of similar token length together (see the module docstring and
            `epoch_order`): less padding with a dynamic-length preprocessor. Deterministic in `(seed, epoch)`
            and resumable like the plain order.
        grouping_window: batches per grouping window (larger: less padding, batch order less random).
        pad_to_multiple_of: with a dynamic-length preprocessor, round each batch's length up to a multiple of
            this (capped at the preprocessor's `seq_length`), so that XLA compiles a few shapes instead of one
            per length. Ignored when the preprocessor pads to a static length.
        pad_anchors_separately: with a dynamic-length preprocessor, pad the anchors to their own longest text
            and the other views (positives, hard negatives) together to theirs, instead of one length for the
            whole batch; length grouping then sorts on the other views first (see `example_lengths`). For a
            model that encodes anchors and candidates in separate passes (as sentence-transformers does):
            premises are longer than hypotheses, so the candidates need less padding.

    Returns:
        A `tf.data.Dataset` of `steps_per_epoch(len(examples), batch_size, drop_remainder) - start_batch` batches.
    """
    texts = _field_texts(examples, objective)
    batch_size = int(batch_size)
    steps = steps_per_epoch(len(texts["anchor"]), batch_size, drop_remainder)
    if not 0 <= int(start_batch) <= steps:
        raise ValueError(f"start_batch must be in [0, {steps}] (the batches of this epoch), got {start_batch}")
    if pad_to_multiple_of is not None and int(pad_to_multiple_of) < 1:
        raise ValueError(f"pad_to_multiple_of must be >= 1 (or None), got {pad_to_multiple_of}")
    lengths = None
    if length_grouping:
        lengths = example_lengths(
            examples, preprocessor, objective=objective, pad_anchors_separately=pad_anchors_separately
        )
    order, unplaced = epoch_order(
        examples,
        objective=objective,
        batch_size=batch_size,
        seed=seed,
        epoch=epoch,
        shuffle=shuffle,
        dedupe_in_batch=dedupe_in_batch,
        lengths=lengths,
        grouping_window=grouping_window,
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
    multiple = None if static_length is not None or pad_to_multiple_of is None else int(pad_to_multiple_of)
    pad_id = (getattr(preprocessor, "special_token_ids", None) or {}).get("pad_id", 0)

    separate = pad_anchors_separately and static_length is None and len(fields) > 1

    def round_up(width):
        if multiple is None:
            return width
        target = (width + multiple - 1) // multiple * multiple
        return target if seq_length is None else tf.minimum(target, int(seq_length))

    def pad_to(packed, width):
        paddings = [[0, 0], [0, width - tf.shape(packed[features.WORD_IDS])[1]]]
        return {
            name: tf.pad(t, paddings, constant_values=pad_id if name == features.WORD_IDS else 0)
            for name, t in packed.items()
        }

    def trim(packed):
        # The columns past a group's longest row are all padding: dropping them changes no embedding.
        width = round_up(tf.reduce_max(tf.reduce_sum(packed[features.MASK], axis=1)))
        return {name: t[:, :width] for name, t in packed.items()}

    def tokenize(batch):
        # One preprocessor call for every text of the batch: one padded length for all fields (optionally
        # rounded up), then the anchors and the other views trimmed apart with `pad_anchors_separately`.
        packed = call(tf.concat([batch[f] for f in fields], axis=0))
        if multiple is not None:
            packed = pad_to(packed, round_up(tf.shape(packed[features.WORD_IDS])[1]))
        split = {name: tf.split(packed[name], len(fields), axis=0) for name in features.NAMES}
        out = {f: {name: split[name][i] for name in features.NAMES} for i, f in enumerate(fields)}
        if separate:
            out[fields[0]] = trim(out[fields[0]])
            others = trim({name: tf.concat(split[name][1:], axis=0) for name in features.NAMES})
            parts = {name: tf.split(others[name], len(fields) - 1, axis=0) for name in features.NAMES}
            for i, f in enumerate(fields[1:]):
                out[f] = {name: parts[name][i] for name in features.NAMES}
        if static_length is not None:
            shape = [static_batch, static_length]
            out = {f: {k: tf.ensure_shape(t, shape) for k, t in view.items()} for f, view in out.items()}
        return out

    dataset = dataset.map(tokenize, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return dataset.prefetch(tf.data.AUTOTUNE)


def batched_row_values(
    examples,
    values,
    preprocessor,
    *,
    objective,
    batch_size,
    seed=42,
    epoch=0,
    start_batch=0,
    drop_remainder=True,
    shuffle=True,
    length_grouping=False,
    grouping_window=64,
):
    """The rows of `values` (an array with one row per example) batched in the order of `make_training_dataset`
    with the same arguments: zip the two datasets to carry per-example targets (STS scores, pair labels, teacher
    embeddings) beside the tokenized batches."""
    values = np.asarray(values)
    lengths = example_lengths(examples, preprocessor, objective=objective) if length_grouping else None
    order, _ = epoch_order(examples, objective=objective, batch_size=batch_size, seed=seed, epoch=epoch,
                           shuffle=shuffle, lengths=lengths, grouping_window=grouping_window)
    batch_size = int(batch_size)
    steps = steps_per_epoch(len(order), batch_size, drop_remainder)
    rows = values[order[int(start_batch) * batch_size : steps * batch_size]]
    dataset = tf.data.Dataset.from_tensor_slices(tf.constant(rows, shape=rows.shape))
    return dataset.batch(batch_size, drop_remainder=drop_remainder)
