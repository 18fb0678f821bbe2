"""kornli_triplets (XNLI) and korsts (train/dev) prepared offline from the real upstream files in shared/data.

The expected examples come from an independent plain-Python parse of the same files (split on `\\n` and `\\t`,
grouped with a dict), not from the library's readers; the counts and the first examples are also written out.
"""

import json

import numpy as np
import pytest

tfds = pytest.importorskip("tensorflow_datasets", reason="the TFDS builders need tensorflow-datasets")

from tf_simcse.data.examples import load_training_examples  # noqa: E402
from tfds_builders.prepare import prepare  # noqa: E402

pytestmark = pytest.mark.shared_data

SHARED_PREMISE = (
    "이번 주 엔콰이어는 켄 스타의 이 위대한 연애 사건에 대한 보고서의 미리 보기를 제공하는데, 이 보고서는 대통령 "
    "리무진, 대통령 집무실, 심지어 링컨 베드룸에서도 이야기들을 열거할 것이다!"
)


def _rows(path):
    """Header and data rows of a headed TSV without quoting, parsed by hand."""
    lines = path.read_bytes().decode("utf-8").split("\n")
    if lines[-1] == "":
        lines.pop()
    header = lines[0].split("\t")
    return header, [dict(zip(header, line.split("\t"))) for line in lines[1:]]


def _reference_triplets(paths):
    """The documented rule, written out: pool the files, first entailment and first contradiction per premise."""
    groups = {}
    for path in paths:
        for row in _rows(path)[1]:
            group = groups.setdefault(row["sentence1"], {})
            group.setdefault(row["gold_label"], row["sentence2"])
    return [
        (premise, g["entailment"], g["contradiction"])
        for premise, g in groups.items()
        if "entailment" in g and "contradiction" in g
    ]


def _examples(builder, split):
    return list(tfds.as_numpy(builder.as_dataset(split=split, shuffle_files=False)))


def _triplets(builder, split):
    return [
        (e["premise"].decode(), e["entailment"].decode(), e["contradiction"].decode())
        for e in _examples(builder, split)
    ]


@pytest.fixture(scope="module")
def xnli(shared_data, tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("tfds")
    return prepare("kornli_triplets/xnli", data_dir=data_dir, manual_dir=shared_data / "kornli")


@pytest.fixture(scope="module")
def korsts(shared_data, tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("tfds")
    # shared/data has no KorSTS test file: prepare the two splits at hand.
    return prepare("korsts", data_dir=data_dir, manual_dir=shared_data / "korsts", splits=["train", "dev"])


def test_xnli_split_sizes(xnli):
    assert {s: i.num_examples for s, i in xnli.info.splits.items()} == {"dev": 830, "test": 1670, "dev_test": 2499}


@pytest.mark.parametrize(
    "split, files",
    [
        ("dev", ["xnli.dev.ko.tsv"]),
        ("test", ["xnli.test.ko.tsv"]),
        ("dev_test", ["xnli.dev.ko.tsv", "xnli.test.ko.tsv"]),
    ],
)
def test_xnli_triplets_match_an_independent_grouping(xnli, shared_data, split, files):
    expected = _reference_triplets([shared_data / "kornli" / f for f in files])
    assert _triplets(xnli, split) == expected


def test_xnli_first_triplets_and_the_premise_shared_by_dev_and_test(xnli):
    dev_test = _triplets(xnli, "dev_test")
    assert dev_test[0] == (
        '그리고 그가 말했다, "엄마, 저 왔어요."',
        "그는 엄마에게 집에 갔다고 말했다.",
        "그는 한마디도 하지 않았다.",
    )
    assert [t[0] for t in dev_test].count(SHARED_PREMISE) == 1
    assert SHARED_PREMISE in {t[0] for t in _triplets(xnli, "dev")}
    assert SHARED_PREMISE in {t[0] for t in _triplets(xnli, "test")}


def test_xnli_grouping_counts_are_recorded_and_reloaded(xnli):
    reloaded = tfds.builder("kornli_triplets/xnli", data_dir=xnli.data_dir_root)
    counts = reloaded.info.metadata["dev_test"]
    assert counts["triplets"] == 2499
    assert counts["rows_read"] == 2490 + 5010
    assert counts["premises"] == 2499
    assert counts["entailment_rows"] == counts["contradiction_rows"] == counts["neutral_rows"] == 2500
    assert counts["premises_with_several_entailments"] == 1
    assert counts["premises_with_several_contradictions"] == 1
    assert counts["premises_without_entailment"] == 0
    assert counts["premises_without_contradiction"] == 0
    assert counts["rows_skipped"] == {}
    assert [s["file"] for s in counts["sources"]] == ["xnli.dev.ko.tsv", "xnli.test.ko.tsv"]
    assert reloaded.info.metadata["dev"]["premises_with_several_entailments"] == 0
    json.dumps(dict(reloaded.info.metadata))  # JSON-able, as TFDS stores it.


def test_training_from_tfds_reads_the_same_triplets_as_from_the_files(xnli, shared_data):
    from_tfds = load_training_examples(["tfds:kornli_triplets/xnli:dev_test"], "sup", tfds_data_dir=xnli.data_dir_root)
    files = [shared_data / "kornli" / "xnli.dev.ko.tsv", shared_data / "kornli" / "xnli.test.ko.tsv"]
    from_files = load_training_examples([str(f) for f in files], "sup")
    assert len(from_tfds) == 2499
    for field in ("anchors", "positives", "hard_negatives"):
        assert getattr(from_tfds, field) == getattr(from_files, field)


def test_korsts_split_sizes(korsts):
    assert {s: i.num_examples for s, i in korsts.info.splits.items()} == {"train": 5749, "dev": 1500}


@pytest.mark.parametrize("split", ["train", "dev"])
def test_korsts_examples_match_the_file(korsts, shared_data, split):
    header, rows = _rows(shared_data / "korsts" / f"sts-{split}.tsv")
    assert header == ["genre", "filename", "year", "id", "score", "sentence1", "sentence2"]
    examples = _examples(korsts, split)
    assert len(examples) == len(rows)
    for example, row in zip(examples, rows):
        for key in ("sentence1", "sentence2", "genre", "filename", "year", "id"):
            assert example[key].decode() == row[key]
        assert example["score"].dtype == np.float32
        assert example["score"] == np.float32(float(row["score"]))


def test_korsts_first_and_last_dev_pairs(korsts):
    dev = _examples(korsts, "dev")
    first, last = dev[0], dev[-1]
    assert first["sentence1"].decode() == "안전모를 가진 한 남자가 춤을 추고 있다."
    assert first["sentence2"].decode() == "안전모를 쓴 한 남자가 춤을 추고 있다."
    assert (first["score"], first["genre"], first["filename"], first["year"], first["id"]) == (
        5.0,
        b"main-captions",
        b"MSRvid",
        b"2012test",
        b"0000",
    )
    # The file ends without a newline; the last pair is whole.
    assert last["sentence2"].decode() == "도끼 공격으로 중상을 입은 뉴욕 경찰관"
    assert (last["score"], last["year"], last["id"]) == (0.0, b"2016", b"1495")


def test_korsts_partial_prepare_has_only_the_asked_splits(korsts):
    reloaded = tfds.builder("korsts", data_dir=korsts.data_dir_root)
    assert set(reloaded.info.splits.keys()) == {"train", "dev"}
    with pytest.raises(Exception, match="test"):
        reloaded.as_dataset(split="test")
