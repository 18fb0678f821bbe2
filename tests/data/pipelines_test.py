"""Tests for `tf_simcse.data.pipelines`: the seeded epoch order (resume, dedupe) and the tokenized tf.data batches,
whose ids are checked against the Hugging Face `tokenizers` library on the real MiniLM tokenizer."""

import collections

import numpy as np
import pytest
import tensorflow as tf

from tf_simcse import features
from tf_simcse.data.examples import TrainingExamples, load_training_examples
from tf_simcse.data.pipelines import (
    epoch_order,
    example_lengths,
    field_lengths,
    make_training_dataset,
    steps_per_epoch,
)


def _repeats(texts_per_example, order, start, stop):
    """Texts that occur in two different examples of `order[start:stop]` (an independent set count)."""
    counts = collections.Counter(t for i in order[start:stop] for t in set(texts_per_example[i]))
    return [t for t, c in counts.items() if c > 1]


def test_steps_per_epoch():
    assert steps_per_epoch(2499, 64) == 39
    assert steps_per_epoch(2499, 64, drop_remainder=False) == 40
    assert steps_per_epoch(128, 64) == steps_per_epoch(128, 64, drop_remainder=False) == 2
    assert steps_per_epoch(10, 64) == 0
    with pytest.raises(ValueError, match="batch_size must be positive"):
        steps_per_epoch(10, 0)


def test_epoch_order_is_a_seeded_permutation():
    ex = TrainingExamples(anchors=[f"s{i}" for i in range(1000)])
    order, unplaced = epoch_order(ex, objective="unsup", batch_size=16, seed=7, epoch=3)
    assert unplaced == 0 and order.dtype == np.int64
    assert sorted(order.tolist()) == list(range(1000)) and order.tolist() != list(range(1000))
    np.testing.assert_array_equal(order, epoch_order(ex, objective="unsup", batch_size=16, seed=7, epoch=3)[0])
    # The documented recipe: NumPy's PCG64 seeded by the pair (seed, epoch).
    np.testing.assert_array_equal(order, np.random.default_rng([7, 3]).permutation(1000))
    assert not np.array_equal(order, epoch_order(ex, objective="unsup", batch_size=16, seed=7, epoch=4)[0])
    assert not np.array_equal(order, epoch_order(ex, objective="unsup", batch_size=16, seed=8, epoch=3)[0])
    plain, _ = epoch_order(ex, objective="unsup", batch_size=16, shuffle=False)
    assert plain.tolist() == list(range(1000))


def test_dedupe_on_a_hand_checked_case():
    # Four examples share the hard negative "X"; a batch of 4 can hold one of them.
    xs = [(f"ax{i}", f"px{i}", "X") for i in range(4)]
    us = [(f"au{i}", f"pu{i}", f"nu{i}") for i in range(8)]
    rows = xs + us
    ex = TrainingExamples(*map(list, zip(*rows)))
    order, unplaced = epoch_order(ex, objective="sup", batch_size=4, shuffle=False, dedupe_in_batch=True)
    # Batches [x0 u0 u1 u2] [x1 u3 u4 u5]; then [x2 u6 u7] cannot be completed without a second X, so x3 is
    # unplaced and goes last (here it completes the third batch, beside x2).
    assert order.tolist() == [0, 4, 5, 6, 1, 7, 8, 9, 2, 10, 11, 3]
    assert unplaced == 1
    # With every example sharing one text, nothing beyond the first can be placed.
    same = TrainingExamples([f"a{i}" for i in range(5)], [f"p{i}" for i in range(5)], ["X"] * 5)
    order, unplaced = epoch_order(same, objective="sup", batch_size=2, dedupe_in_batch=True)
    assert unplaced == 4 and sorted(order.tolist()) == list(range(5))
    # The hard negatives do not count for pair training, so there is nothing to dedupe there.
    assert epoch_order(same, objective="pair", batch_size=2, dedupe_in_batch=True)[1] == 0


@pytest.mark.shared_data
def test_dedupe_on_korsts_sentences(shared_data, tmp_path):
    from tf_simcse.data.readers import read_korsts

    sts = read_korsts(shared_data / "korsts" / "sts-train.tsv")
    corpus = tmp_path / "sentences.txt"
    corpus.write_text("\n".join(sts.sentences1 + sts.sentences2) + "\n", encoding="utf-8")
    ex = load_training_examples([str(corpus)], "unsup")
    texts = [(a,) for a in ex.anchors]
    batch = 64
    steps = steps_per_epoch(len(ex), batch)

    plain, _ = epoch_order(ex, objective="unsup", batch_size=batch, seed=1)
    with_repeats = [k for k in range(steps) if _repeats(texts, plain, k * batch, (k + 1) * batch)]
    assert len(with_repeats) == 10  # (seed 1) '남자가 기타를 치고 있다.' alone occurs 63 times in 11,498 sentences

    order, unplaced = epoch_order(ex, objective="unsup", batch_size=batch, seed=1, dedupe_in_batch=True)
    assert unplaced == 0
    assert sorted(order.tolist()) == list(range(len(ex)))
    assert not any(_repeats(texts, order, k * batch, (k + 1) * batch) for k in range(steps))
    again, _ = epoch_order(ex, objective="unsup", batch_size=batch, seed=1, dedupe_in_batch=True)
    np.testing.assert_array_equal(order, again)


def test_dedupe_across_fields_of_supervised_examples():
    # Texts drawn from a small pool, so that an anchor of one example is often the positive or the hard negative
    # of another (the in-batch false negatives the dedupe exists for).
    rng = np.random.default_rng(0)
    pool = [f"t{i}" for i in range(60)]
    rows = [tuple(rng.choice(pool, size=3, replace=False)) for _ in range(200)]
    ex = TrainingExamples(*map(list, zip(*rows)))
    batch = 6
    steps = steps_per_epoch(len(rows), batch)
    plain, _ = epoch_order(ex, objective="sup", batch_size=batch)
    assert sum(bool(_repeats(rows, plain, k * batch, (k + 1) * batch)) for k in range(steps)) > steps // 2
    order, unplaced = epoch_order(ex, objective="sup", batch_size=batch, dedupe_in_batch=True)
    assert sorted(order.tolist()) == list(range(len(rows)))
    placed_batches = (len(rows) - unplaced) // batch
    assert placed_batches >= steps - 3
    assert not any(_repeats(rows, order, k * batch, (k + 1) * batch) for k in range(placed_batches))


# ------------------------------------------------------------------------------------------ length grouping
def _length_ranges(order, lengths, start, stop, batch):
    """(min, max) length of each batch of `order[start:stop]`."""
    return [(lengths[order[k : k + batch]].min(), lengths[order[k : k + batch]].max()) for k in range(start, stop, batch)]


def test_length_grouping_sorts_within_windows_and_shuffles_the_batches():
    n, batch, window = 1000, 16, 8  # 62 full batches: windows of 8, 8, ..., 6 batches; 8 examples left over
    lengths = np.random.default_rng(5).integers(3, 65, size=n)
    ex = TrainingExamples(anchors=[f"s{i}" for i in range(n)])
    kwargs = dict(objective="unsup", batch_size=batch, seed=7, epoch=2, lengths=lengths, grouping_window=window)
    order, unplaced = epoch_order(ex, **kwargs)
    assert unplaced == 0 and order.dtype == np.int64
    assert sorted(order.tolist()) == list(range(n))  # every example once: the epoch's multiset is unchanged
    np.testing.assert_array_equal(order, epoch_order(ex, **kwargs)[0])  # deterministic in (seed, epoch)
    assert not np.array_equal(order, epoch_order(ex, **{**kwargs, "epoch": 3})[0])

    permutation = np.random.default_rng([7, 2]).permutation(n)
    full = n // batch * batch
    # The partial batch is the permutation's tail: which examples a dropped remainder loses is length-blind.
    np.testing.assert_array_equal(order[full:], permutation[full:])
    span = window * batch
    for start in range(0, full, span):
        stop = min(start + span, full)
        # A window holds the same examples as that window of the plain permutation ...
        assert sorted(order[start:stop].tolist()) == sorted(permutation[start:stop].tolist())
        # ... cut into batches of consecutive lengths: the batches' length ranges do not overlap.
        ranges = sorted(_length_ranges(order, lengths, start, stop, batch))
        assert all(hi <= lo for (_, hi), (lo, _) in zip(ranges, ranges[1:]))
    # Batches hold similar lengths: the mean spread inside a batch is far below the plain order's.
    spread = lambda o: np.mean([hi - lo for lo, hi in _length_ranges(o, lengths, 0, full, batch)])  # noqa: E731
    assert spread(order) < 0.25 * spread(permutation)
    # The batch order within a window is random, not longest-first (the order the sort left it in).
    firsts = [lengths[order[k : k + batch]].max() for k in range(0, span, batch)]
    assert firsts != sorted(firsts, reverse=True)
    # Without shuffling, the examples keep their own order and each window runs longest first.
    plain, _ = epoch_order(ex, **{**kwargs, "shuffle": False})
    firsts = [lengths[plain[k : k + batch]].max() for k in range(0, span, batch)]
    assert firsts == sorted(firsts, reverse=True)
    assert sorted(plain[:span].tolist()) == list(range(span))


def test_length_grouping_with_dedupe_keeps_batches_free_of_repeats():
    rng = np.random.default_rng(0)
    pool = [f"t{i}" for i in range(80)]
    rows = [tuple(rng.choice(pool, size=3, replace=False)) for _ in range(300)]
    ex = TrainingExamples(*map(list, zip(*rows)))
    # A length that repeats with the text: equal texts sort next to each other, the worst case for the dedupe.
    lengths = np.array([int(a[1:]) % 20 for a, _, _ in rows])
    batch = 6
    order, unplaced = epoch_order(
        ex, objective="sup", batch_size=batch, dedupe_in_batch=True, lengths=lengths, grouping_window=10
    )
    assert sorted(order.tolist()) == list(range(len(rows)))
    steps = steps_per_epoch(len(rows), batch)
    with_repeats = [k for k in range(steps) if _repeats(rows, order, k * batch, (k + 1) * batch)]
    # Grouped without the dedupe, 49 of the 50 batches hold a repeat; with it, only the batch where the
    # 3 examples it could not place ended up (the batches were shuffled after the dedupe).
    grouped, _ = epoch_order(ex, objective="sup", batch_size=batch, lengths=lengths, grouping_window=10)
    assert sum(bool(_repeats(rows, grouped, k * batch, (k + 1) * batch)) for k in range(steps)) == 49
    assert unplaced == 3 and len(with_repeats) == 1


def test_length_grouping_bad_arguments():
    ex = TrainingExamples(["a", "b", "c"])
    with pytest.raises(ValueError, match=r"one length per example \(3\), got shape \(2,\)"):
        epoch_order(ex, objective="unsup", batch_size=1, lengths=[1, 2])
    with pytest.raises(ValueError, match="grouping_window must be >= 1"):
        epoch_order(ex, objective="unsup", batch_size=1, lengths=[1, 2, 3], grouping_window=0)
    with pytest.raises(ValueError, match="pad_to_multiple_of must be >= 1"):
        make_training_dataset(ex, lambda s: s, objective="unsup", batch_size=1, pad_to_multiple_of=0)


# ----------------------------------------------------------------------------------------- tf.data batches
def _text_preprocessor(minilm_dir, seq_length, dynamic=False):
    from tf_simcse.preprocessing import TextPreprocessor

    return TextPreprocessor.from_pretrained(str(minilm_dir), seq_length=seq_length, dynamic=dynamic)


def _hf_tokenizer(minilm_dir):
    tokenizers = pytest.importorskip("tokenizers")
    tokenizer = tokenizers.Tokenizer.from_file(str(minilm_dir / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


def _hf_encode(tokenizer, texts, length):
    """Reference `[n, length]` ids / mask / type ids: truncate to `length` tokens with [CLS]/[SEP], pad with 0."""
    ids = np.zeros((len(texts), length), np.int32)
    mask = np.zeros_like(ids)
    types = np.zeros_like(ids)
    for row, encoding in enumerate(tokenizer.encode_batch(list(texts))):
        tokens = encoding.ids
        if len(tokens) > length:
            tokens = tokens[: length - 1] + tokens[-1:]  # keep [SEP]
        ids[row, : len(tokens)] = tokens
        mask[row, : len(tokens)] = 1
    return {"input_word_ids": ids, "input_mask": mask, "input_type_ids": types}


@pytest.fixture(scope="module")
def triplets(shared_data):
    kornli = shared_data / "kornli"
    ex = load_training_examples([str(kornli / "xnli.dev.ko.tsv"), str(kornli / "xnli.test.ko.tsv")], "sup")
    n = 200  # a slice keeps the test quick; the order logic is the same at any size
    return TrainingExamples(ex.anchors[:n], ex.positives[:n], ex.hard_negatives[:n], ex.report)


@pytest.mark.shared_data
@pytest.mark.minilm
def test_supervised_batches_match_the_reference_tokenizer_and_resume(triplets, minilm_dir):
    seq_length, batch = 48, 32
    preprocessor = _text_preprocessor(minilm_dir, seq_length)
    kwargs = dict(objective="sup", batch_size=batch, seed=3, epoch=1)
    dataset = make_training_dataset(triplets, preprocessor, **kwargs)

    # Static shapes for TPU/XLA: every dimension known.
    spec = dataset.element_spec
    assert sorted(spec) == ["anchor", "hard_negative", "positive"]
    for field in spec.values():
        assert sorted(field) == sorted(features.NAMES)
        for tensor_spec in field.values():
            assert tensor_spec.shape.is_fully_defined() and tensor_spec.shape.as_list() == [batch, seq_length]
            assert tensor_spec.dtype == tf.int32
    assert int(dataset.cardinality()) == steps_per_epoch(len(triplets), batch) == 6

    batches = [{f: {k: v.numpy() for k, v in p.items()} for f, p in b.items()} for b in dataset]
    assert len(batches) == 6
    order, _ = epoch_order(triplets, objective="sup", batch_size=batch, seed=3, epoch=1)
    tokenizer = _hf_tokenizer(minilm_dir)
    texts = {"anchor": triplets.anchors, "positive": triplets.positives, "hard_negative": triplets.hard_negatives}
    for k, got in enumerate(batches):
        rows = order[k * batch : (k + 1) * batch]
        for field, values in texts.items():
            want = _hf_encode(tokenizer, [values[i] for i in rows], seq_length)
            for name in features.NAMES:
                np.testing.assert_array_equal(got[field][name], want[name], err_msg=f"batch {k} {field} {name}")

    # Resume: batches from start_batch=k are exactly the tail of the full epoch.
    resumed = list(make_training_dataset(triplets, preprocessor, start_batch=4, **kwargs))
    assert len(resumed) == 2
    for got, want in zip(resumed, batches[4:]):
        for field in want:
            for name in features.NAMES:
                np.testing.assert_array_equal(got[field][name].numpy(), want[field][name])
    assert len(list(make_training_dataset(triplets, preprocessor, start_batch=6, **kwargs))) == 0
    # Another epoch is another order.
    other = next(iter(make_training_dataset(triplets, preprocessor, **{**kwargs, "epoch": 2})))
    assert not np.array_equal(other["anchor"]["input_word_ids"].numpy(), batches[0]["anchor"]["input_word_ids"])


@pytest.mark.shared_data
@pytest.mark.minilm
def test_unsup_and_pair_batches_carry_only_their_fields(triplets, minilm_dir):
    preprocessor = _text_preprocessor(minilm_dir, 32)
    unsup = TrainingExamples(triplets.anchors)
    dataset = make_training_dataset(unsup, preprocessor, objective="unsup", batch_size=50, shuffle=False)
    assert list(dataset.element_spec) == ["anchor"]
    first = next(iter(dataset))
    want = _hf_encode(_hf_tokenizer(minilm_dir), triplets.anchors[:50], 32)
    np.testing.assert_array_equal(first["anchor"]["input_word_ids"].numpy(), want["input_word_ids"])
    # Supervised examples used for pair training: the hard negatives are left out.
    pair = make_training_dataset(triplets, preprocessor, objective="pair", batch_size=50)
    assert sorted(pair.element_spec) == ["anchor", "positive"]


@pytest.mark.shared_data
@pytest.mark.minilm
def test_dynamic_padding_keeps_the_remainder_and_one_length_per_batch(triplets, minilm_dir):
    preprocessor = _text_preprocessor(minilm_dir, 128, dynamic=True)
    dataset = make_training_dataset(
        triplets, preprocessor, objective="sup", batch_size=64, drop_remainder=False, dedupe_in_batch=True
    )
    assert dataset.element_spec["anchor"]["input_word_ids"].shape.as_list() == [None, None]
    batches = list(dataset)
    assert [int(b["anchor"]["input_mask"].shape[0]) for b in batches] == [64, 64, 64, 8]
    order, _ = epoch_order(triplets, objective="sup", batch_size=64, dedupe_in_batch=True)
    tokenizer = _hf_tokenizer(minilm_dir)
    last = order[192:]
    fields = {"anchor": triplets.anchors, "positive": triplets.positives, "hard_negative": triplets.hard_negatives}
    lengths = {f: [len(e.ids) for e in tokenizer.encode_batch([v[i] for i in last])] for f, v in fields.items()}
    # All fields of a batch are padded to the longest text of the batch (any field), capped at seq_length.
    length = min(128, max(max(v) for v in lengths.values()))
    for field, values in fields.items():
        got = batches[-1][field]
        assert got["input_word_ids"].shape == (8, length)
        want = _hf_encode(tokenizer, [values[i] for i in last], length)
        np.testing.assert_array_equal(got["input_word_ids"].numpy(), want["input_word_ids"])
        np.testing.assert_array_equal(got["input_mask"].numpy(), want["input_mask"])


def test_bad_arguments_are_clear_errors():
    unsup = TrainingExamples(["a", "b", "c"])
    def identity(strings):  # never called: the errors come first
        return strings
    with pytest.raises(ValueError, match=r"objective 'sup' needs positive texts.*loaded for objective '\?'"):
        make_training_dataset(unsup, identity, objective="sup", batch_size=2)
    with pytest.raises(ValueError, match=r"start_batch must be in \[0, 1\]"):
        make_training_dataset(unsup, identity, objective="unsup", batch_size=2, start_batch=2)
    with pytest.raises(ValueError, match="objective must be one of"):
        make_training_dataset(unsup, identity, objective="simcse", batch_size=2)
    with pytest.raises(ValueError, match="batch_size must be positive"):
        make_training_dataset(unsup, identity, objective="unsup", batch_size=0)
    with pytest.raises(ValueError, match="2 anchors but 1 positive"):
        make_training_dataset(TrainingExamples(["a", "b"], ["c"]), identity, objective="pair", batch_size=1)


# ------------------------------------------------------------------------------- length grouping, real data
@pytest.fixture(scope="module")
def all_triplets(shared_data):
    kornli = shared_data / "kornli"
    return load_training_examples([str(kornli / "xnli.dev.ko.tsv"), str(kornli / "xnli.test.ko.tsv")], "sup")


def _reference_lengths(tokenizer, examples, cap):
    """`{field: [n]}` packed lengths from the Hugging Face tokenizer: [CLS] + pieces + [SEP], truncated to `cap`."""
    fields = {"anchor": examples.anchors, "positive": examples.positives, "hard_negative": examples.hard_negatives}
    return {f: np.minimum([len(e.ids) for e in tokenizer.encode_batch(v)], cap) for f, v in fields.items()}


def _kornli_setup(examples, minilm_dir, seq_length):
    """(dynamic-length preprocessor, HF tokenizer, HF packed lengths per field) for the MiniLM vocab."""
    tokenizer = _hf_tokenizer(minilm_dir)
    return (_text_preprocessor(minilm_dir, seq_length, dynamic=True), tokenizer,
            _reference_lengths(tokenizer, examples, seq_length))


def _padding_fraction(batches):
    real = sum(int(v["input_mask"].numpy().sum()) for b in batches for v in b.values())
    total = sum(int(np.prod(v["input_mask"].shape)) for b in batches for v in b.values())
    return 1 - real / total


@pytest.mark.shared_data
@pytest.mark.minilm
def test_length_grouping_on_kornli_pads_less_and_resumes_exactly(all_triplets, minilm_dir):
    seq_length, batch, multiple = 64, 64, 16
    preprocessor, tokenizer, reference = _kornli_setup(all_triplets, minilm_dir, seq_length)
    # The cached length pass measures what the batches will carry: the Hugging Face lengths, truncated.
    lengths = field_lengths(all_triplets, preprocessor, objective="sup")
    for field, want in reference.items():
        np.testing.assert_array_equal(lengths[field], want, err_msg=field)
    longest = np.max(np.stack(list(reference.values())), axis=0)
    np.testing.assert_array_equal(example_lengths(all_triplets, preprocessor, objective="sup"), longest)

    kwargs = dict(objective="sup", batch_size=batch, seed=3, epoch=1, length_grouping=True, pad_to_multiple_of=multiple)
    grouped = list(make_training_dataset(all_triplets, preprocessor, **kwargs))
    plain = list(make_training_dataset(all_triplets, preprocessor, objective="sup", batch_size=batch, seed=3, epoch=1))
    assert len(grouped) == len(plain) == steps_per_epoch(len(all_triplets), batch) == 39

    # The batches are those of the grouped order, each padded to its longest text rounded up to 16 (cap 64).
    order, _ = epoch_order(all_triplets, objective="sup", batch_size=batch, seed=3, epoch=1, lengths=longest)
    assert sorted(order.tolist()) == list(range(len(all_triplets)))
    widths = []
    for k, got in enumerate(grouped):
        rows = order[k * batch : (k + 1) * batch]
        width = min(-(-int(longest[rows].max()) // multiple) * multiple, seq_length)
        widths.append(width)
        for field, texts in (("anchor", all_triplets.anchors), ("hard_negative", all_triplets.hard_negatives)):
            want = _hf_encode(tokenizer, [texts[i] for i in rows], width)
            for name in features.NAMES:
                np.testing.assert_array_equal(got[field][name].numpy(), want[name], err_msg=f"batch {k} {field}")
    assert set(widths) == {32, 48, 64}  # three XLA shapes for the whole epoch

    # Measured on these files: a plain random batch is ~34% padding (most hold one text cut at 64 tokens);
    # grouping by length brings it to ~29% with lengths rounded to 16, ~25% without rounding.
    assert _padding_fraction(plain) == pytest.approx(0.336, abs=0.01)
    assert _padding_fraction(grouped) == pytest.approx(0.290, abs=0.01)
    unrounded = make_training_dataset(all_triplets, preprocessor, **{**kwargs, "pad_to_multiple_of": None})
    assert _padding_fraction(list(unrounded)) == pytest.approx(0.251, abs=0.01)

    # Resume: batches from start_batch=k are the tail of the full grouped epoch.
    resumed = list(make_training_dataset(all_triplets, preprocessor, start_batch=30, **kwargs))
    assert len(resumed) == 9
    for got, want in zip(resumed, grouped[30:]):
        for field in want:
            for name in features.NAMES:
                np.testing.assert_array_equal(got[field][name].numpy(), want[field][name].numpy())


@pytest.mark.shared_data
@pytest.mark.minilm
def test_anchors_padded_separately_from_the_candidates(all_triplets, minilm_dir):
    seq_length, batch, multiple = 64, 64, 16
    preprocessor, tokenizer, reference = _kornli_setup(all_triplets, minilm_dir, seq_length)
    candidates = np.maximum(reference["positive"], reference["hard_negative"])
    key = example_lengths(all_triplets, preprocessor, objective="sup", pad_anchors_separately=True)
    np.testing.assert_array_equal(key, candidates * 2**16 + reference["anchor"])

    kwargs = dict(objective="sup", batch_size=batch, seed=3, epoch=1, length_grouping=True,
                  pad_to_multiple_of=multiple, pad_anchors_separately=True)
    batches = list(make_training_dataset(all_triplets, preprocessor, **kwargs))
    order, _ = epoch_order(all_triplets, objective="sup", batch_size=batch, seed=3, epoch=1, lengths=key)
    texts = {"anchor": all_triplets.anchors, "positive": all_triplets.positives,
             "hard_negative": all_triplets.hard_negatives}
    rounded = lambda n: min(-(-int(n) // multiple) * multiple, seq_length)  # noqa: E731
    shapes = set()
    for k, got in enumerate(batches):
        rows = order[k * batch : (k + 1) * batch]
        widths = {"anchor": rounded(reference["anchor"][rows].max())}
        widths["positive"] = widths["hard_negative"] = rounded(candidates[rows].max())
        shapes.add((widths["anchor"], widths["positive"]))
        for field, values in texts.items():
            want = _hf_encode(tokenizer, [values[i] for i in rows], widths[field])
            for name in features.NAMES:
                np.testing.assert_array_equal(got[field][name].numpy(), want[name], err_msg=f"batch {k} {field}")
    # Measured: ~21% padding (one length per batch: ~29%) in 3 (anchor, candidate) shape pairs.
    assert _padding_fraction(batches) == pytest.approx(0.211, abs=0.01)
    assert len(shapes) == 3
    # Without grouping the candidates are still padded apart from the anchors, at random lengths.
    plain = make_training_dataset(all_triplets, preprocessor, **{**kwargs, "length_grouping": False})
    assert _padding_fraction(list(plain)) == pytest.approx(0.336, abs=0.02)


@pytest.mark.shared_data
@pytest.mark.minilm
def test_pad_to_multiple_of_leaves_static_batches_alone(triplets, minilm_dir):
    preprocessor = _text_preprocessor(minilm_dir, 40)
    dataset = make_training_dataset(
        triplets, preprocessor, objective="pair", batch_size=32, length_grouping=True, pad_to_multiple_of=16,
        pad_anchors_separately=True,
    )
    for view in dataset.element_spec.values():
        assert view["input_word_ids"].shape.as_list() == [32, 40]
