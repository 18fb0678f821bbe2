"""`tf_simcse.data.pairs`: format recognition, scored / labelled pair readers (vs pandas on the real files, and
hand-written files for every rule), and the tf.data pair batches (targets aligned with their texts, resume)."""

import csv
import json

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import FIXTURES
from tf_simcse.data import pairs as pairs_lib
from tf_simcse.data.pairs import (
    LABELLED,
    SCORED,
    PairExamples,
    detect_pair_format,
    load_labelled_pairs,
    load_pairs,
    load_scored_pairs,
    make_pair_dataset,
)


def _pandas_tsv(path):
    pandas = pytest.importorskip("pandas")
    # An independent reader of the upstream files: tabs only, no quote handling, every field a string.
    return pandas.read_csv(path, sep="\t", quoting=csv.QUOTE_NONE, dtype=str, keep_default_na=False)


# ------------------------------------------------------------------------------------------------ formats
@pytest.mark.shared_data
def test_real_files_are_recognised(shared_data):
    assert detect_pair_format(shared_data / "korsts" / "sts-dev.tsv") == SCORED
    assert detect_pair_format(shared_data / "question_pair" / "train.txt") == LABELLED
    assert detect_pair_format(shared_data / "kornli" / "xnli.dev.ko.tsv") is None  # NLI: gold_label
    assert detect_pair_format(shared_data / "vocabs" / "kr_bert_char_16424.txt") is None


def test_formats_from_header_and_content(tmp_path):
    files = {
        "klue.json": json.dumps([{"guid": "g", "sentence1": "a", "sentence2": "b", "labels": {"real-label": 1.5}}]),
        "other.json": json.dumps([{"sentence1": "a", "sentence2": "b"}]),
        "scored.csv": "sentence1,sentence2,score\na,b,1\n",
        "scored.tsv": "id\tscore\tsentence1\tsentence2\n1\t2.5\ta\tb\n",
        "quora.csv": "id,question1,question2,is_duplicate\n1,a,b,1\n",
        "labelled.tsv": "sent0\tsent1\tlabel\na\tb\t1\n",
        "custom.tsv": "sentence1\tsentence2\tsame\na\tb\tyes\n",
        "pairs.csv": "sent0,sent1,hard_neg\na,b,c\n",
        "nli.tsv": "sentence1\tsentence2\tgold_label\na\tb\tentailment\n",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    got = {name: detect_pair_format(tmp_path / name) for name in files}
    assert got == {
        "klue.json": SCORED,
        "other.json": None,
        "scored.csv": SCORED,
        "scored.tsv": SCORED,
        "quora.csv": LABELLED,
        "labelled.tsv": LABELLED,
        "custom.tsv": None,
        "pairs.csv": None,
        "nli.tsv": None,
    }
    assert detect_pair_format(tmp_path / "custom.tsv", label_column="same") == LABELLED
    named = detect_pair_format(tmp_path / "pairs.csv", label_column="hard_neg", sentence_columns=("sent0", "sent1"))
    assert named == LABELLED
    assert load_pairs(tmp_path / "scored.tsv").kind == SCORED
    with pytest.raises(ValueError, match="scored pairs take no positive_label"):
        load_pairs(tmp_path / "scored.tsv", positive_label="1")
    with pytest.raises(ValueError, match="neither scored nor labelled"):
        load_pairs(tmp_path / "nli.tsv")
    with pytest.raises(FileNotFoundError, match="missing.tsv"):
        detect_pair_format(tmp_path / "missing.tsv")


# ------------------------------------------------------------------------------------------------ scored
@pytest.mark.shared_data
def test_korsts_scored_pairs_match_pandas(shared_data):
    train, dev = shared_data / "korsts" / "sts-train.tsv", shared_data / "korsts" / "sts-dev.tsv"
    got = load_scored_pairs([train, dev])
    frames = [_pandas_tsv(train), _pandas_tsv(dev)]
    assert got.sentence1 == [s for f in frames for s in f["sentence1"]]
    assert got.sentence2 == [s for f in frames for s in f["sentence2"]]
    np.testing.assert_array_equal(got.scores, np.concatenate([f["score"].astype(float).to_numpy() for f in frames]))
    assert got.kind == SCORED and got.labels is None and len(got) == 5749 + 1500
    assert got.report["rows_read"] == 7249 and got.report["rows_skipped"] == {}
    assert (got.report["score_min"], got.report["score_max"]) == (0.0, 5.0)
    assert [s["format"] for s in got.report["sources"]] == ["scored_tsv", "scored_tsv"]
    assert got.target_name == "score" and got.targets.dtype == np.float32


def test_scored_files_skip_and_count_and_fail_clearly(tmp_path):
    klue = [
        {"guid": "a", "sentence1": "하나", "sentence2": "둘", "labels": {"label": 3.1, "real-label": 3.142857}},
        {"guid": "b", "sentence1": " ", "sentence2": "셋", "labels": {"label": 1.0, "real-label": 1.0}},
    ]
    (tmp_path / "klue.json").write_text(json.dumps(klue, ensure_ascii=False), encoding="utf-8")
    # Quoted CSV: a comma, a quote and a newline inside fields.
    (tmp_path / "s.csv").write_text(
        'sentence1,sentence2,score\n"a, b","say ""hi""",4.5\nc,"d\ne", 2\nf,g,\n', encoding="utf-8"
    )
    # TSV: quotes are text.
    (tmp_path / "s.tsv").write_text('score\tsentence1\tsentence2\n1.0\t"quoted\tx\n', encoding="utf-8")
    got = load_scored_pairs([tmp_path / "klue.json", tmp_path / "s.csv", tmp_path / "s.tsv"])
    assert got.sentence1 == ["하나", "a, b", "c", '"quoted']
    assert got.sentence2 == ["둘", 'say "hi"', "d\ne", "x"]
    np.testing.assert_allclose(got.scores, [3.142857, 4.5, 2.0, 1.0])
    assert got.report["rows_read"] == 6
    assert got.report["rows_skipped"] == {"empty_score": 1, "empty_sentence": 1}
    assert [s["rows_skipped"] for s in got.report["sources"]] == [{"empty_sentence": 1}, {"empty_score": 1}, {}]
    assert [s["format"] for s in got.report["sources"]] == ["klue_sts_json", "scored_csv", "scored_tsv"]

    (tmp_path / "bad.tsv").write_text("score\tsentence1\tsentence2\n1\ta\tb\nabc\tc\td\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.tsv: line 3: score 'abc' is not a number"):
        load_scored_pairs(tmp_path / "bad.tsv")
    (tmp_path / "short.tsv").write_text("score\tsentence1\tsentence2\n1\ta\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"short\.tsv: line 2: expected 3 tab-separated fields"):
        load_scored_pairs(tmp_path / "short.tsv")
    (tmp_path / "pairs.csv").write_text("sent0,sent1\na,b\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"pairs\.csv: not a scored-pair file"):
        load_scored_pairs(tmp_path / "pairs.csv")
    (tmp_path / "empty.csv").write_text("sentence1,sentence2,score\na,b,\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no pairs could be read"):
        load_scored_pairs(tmp_path / "empty.csv")


@pytest.mark.shared_data
def test_scored_pairs_from_tfds(shared_data, tmp_path):
    pytest.importorskip("tensorflow_datasets")
    from tfds_builders.prepare import prepare

    prepare("korsts", data_dir=tmp_path / "tfds", manual_dir=shared_data / "korsts", splits=["dev"])
    spec = "tfds:korsts:dev"
    assert detect_pair_format(spec, tfds_data_dir=tmp_path / "tfds") == SCORED
    got = load_scored_pairs(spec, tfds_data_dir=tmp_path / "tfds")
    want = load_scored_pairs(shared_data / "korsts" / "sts-dev.tsv")
    assert got.sentence1 == want.sentence1 and got.sentence2 == want.sentence2
    np.testing.assert_allclose(got.scores, want.scores, atol=1e-6)  # stored as float32 by the builder
    assert got.report["sources"][0]["format"] == "tfds/scored"


# ---------------------------------------------------------------------------------------------- labelled
@pytest.mark.shared_data
def test_question_pairs_need_their_positive_label(shared_data):
    path = shared_data / "question_pair" / "train.txt"
    with pytest.raises(ValueError, match=r"759 of the 760 pairs of two identical sentences are labelled '0'"):
        load_labelled_pairs(path)
    got = load_labelled_pairs(path, positive_label=0)
    frame = _pandas_tsv(path)
    assert got.sentence1 == list(frame["question1"]) and got.sentence2 == list(frame["question2"])
    np.testing.assert_array_equal(got.labels, (frame["is_duplicate"] == "0").astype(int).to_numpy())
    assert got.report["positives"] == 4169 and got.report["negatives"] == 1967
    assert got.report["identical_pairs"] == {"same": 759, "different": 1}
    assert (got.report["positive_label"], got.report["negative_label"]) == ("0", "1")
    # Explicitly keeping "1" reads the file inverted, as asked (no check).
    inverted = load_labelled_pairs(path, positive_label="1")
    np.testing.assert_array_equal(inverted.labels, 1 - got.labels)
    assert load_pairs(path, positive_label="0").kind == LABELLED


def test_labelled_options_skips_and_errors(tmp_path):
    (tmp_path / "a.tsv").write_text(
        "id\tleft\tright\tsame\n1\t가\t나\tyes\n2\t다\t라\tno\n3\t마\t \tno\n4\t바\t사\t\n", encoding="utf-8"
    )
    got = load_labelled_pairs(
        tmp_path / "a.tsv", label_column="same", positive_label="yes", sentence_columns=("left", "right")
    )
    assert (got.sentence1, got.sentence2, got.labels.tolist()) == (["가", "다"], ["나", "라"], [1, 0])
    assert got.report["rows_skipped"] == {"empty_label": 1, "empty_sentence": 1}
    assert got.report["rows_read"] == 4 and got.target_name == "label"

    (tmp_path / "three.csv").write_text("sentence1,sentence2,label\na,b,0\nc,d,1\ne,f,2\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"three\.csv: line 4: label '2' is neither the positive label '1' nor"):
        load_labelled_pairs(tmp_path / "three.csv")
    with pytest.raises(ValueError, match=r"a\.tsv: not a labelled-pair file.*first line: 'id\\tleft"):
        load_labelled_pairs(tmp_path / "a.tsv")
    with pytest.raises(ValueError, match="not TFDS"):
        load_labelled_pairs("tfds:korsts:train")
    # Fewer than 5 identical pairs: too few to judge, the default "1" stands.
    (tmp_path / "few.csv").write_text("sentence1,sentence2,label\na,a,0\nb,c,1\n", encoding="utf-8")
    assert load_labelled_pairs(tmp_path / "few.csv").labels.tolist() == [0, 1]


# ------------------------------------------------------------------------------------------------ tf.data
WORDS = ("a", "an", "cat", "is", "man", "on", "playing", "the", "woman")  # whole words of the tiny vocabulary


def _sentence(i, salt):
    digits = [salt]
    while True:
        digits.append(i % len(WORDS))
        i //= len(WORDS)
        if not i:
            break
    return " ".join(WORDS[d] for d in digits)


def _tiny_preprocessor(dynamic):
    from tf_simcse.preprocessing import TextPreprocessor

    return TextPreprocessor.from_pretrained(str(FIXTURES / "tiny_bert"), seq_length=12, dynamic=dynamic)


def _row_keys(packed):
    ids, mask = packed["input_word_ids"].numpy(), packed["input_mask"].numpy()
    return [tuple(row[m == 1]) for row, m in zip(ids, mask)]


@pytest.mark.parametrize("dynamic, grouping", [(False, False), (True, True)], ids=["static", "dynamic_grouped"])
def test_pair_batches_keep_texts_and_targets_together(dynamic, grouping):
    n, batch = 45, 8
    pairs = PairExamples(
        [_sentence(i, 0) for i in range(n)],
        [_sentence(i, 2) for i in range(n)],
        scores=np.arange(n, dtype=np.float64) / 10.0,
    )
    preprocessor = _tiny_preprocessor(dynamic)
    # Which pair a packed row belongs to, from tokenizing every sentence on its own (unique token sequences).
    index1 = {k: i for i, k in enumerate(_row_keys(preprocessor(tf.constant(pairs.sentence1))))}
    index2 = {k: i for i, k in enumerate(_row_keys(preprocessor(tf.constant(pairs.sentence2))))}
    assert len(index1) == len(index2) == n

    kwargs = dict(batch_size=batch, seed=7, epoch=3, length_grouping=grouping, grouping_window=2)
    dataset = make_pair_dataset(pairs, preprocessor, **kwargs)
    spec = dataset.element_spec
    assert sorted(spec) == ["score", "sentence1", "sentence2"] and spec["score"].dtype == tf.float32
    want_shape = [None, None] if dynamic else [batch, 12]  # static only with a fixed-length preprocessor
    assert spec["sentence1"]["input_word_ids"].shape.as_list() == want_shape and spec["score"].shape == [batch]
    batches = list(dataset)
    assert len(batches) == n // batch
    seen = []
    for b in batches:
        rows1 = [index1[k] for k in _row_keys(b["sentence1"])]
        rows2 = [index2[k] for k in _row_keys(b["sentence2"])]
        assert rows1 == rows2
        np.testing.assert_allclose(b["score"].numpy(), pairs.scores[rows1], atol=1e-6)
        seen += rows1
    assert len(set(seen)) == len(seen) == n // batch * batch
    assert seen != sorted(seen)  # shuffled
    # Resume at batch 3: exactly the tail of the epoch.
    resumed = list(make_pair_dataset(pairs, preprocessor, start_batch=3, **kwargs))
    assert len(resumed) == len(batches) - 3
    for got, want in zip(resumed, batches[3:]):
        assert _row_keys(got["sentence1"]) == _row_keys(want["sentence1"])
        np.testing.assert_array_equal(got["score"].numpy(), want["score"].numpy())
    # Remainder kept: every pair once.
    kept = list(make_pair_dataset(pairs, preprocessor, **{**kwargs, "length_grouping": False}, drop_remainder=False))
    assert sum(int(b["score"].shape[0]) for b in kept) == n


def test_labelled_batches_carry_float_labels():
    pairs = PairExamples(["a man", "the cat", "a woman"], ["a cat", "the man", "an man"], labels=np.array([1, 0, 1]))
    batch = next(iter(make_pair_dataset(pairs, _tiny_preprocessor(False), batch_size=3, shuffle=False)))
    assert sorted(batch) == ["label", "sentence1", "sentence2"]
    assert batch["label"].dtype == tf.float32 and batch["label"].numpy().tolist() == [1.0, 0.0, 1.0]
    assert pairs_lib.PairExamples.targets.fget(pairs).dtype == np.float32
