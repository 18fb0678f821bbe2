"""stsb, sick and semeval_sts: prepared offline from the real files (the same pairs as the local-file tasks read),
exact examples and recorded counts on the handwritten dummy data, and a refused local copy of the archive."""

import json
import pathlib
import shutil

import numpy as np
import pytest

tfds = pytest.importorskip("tensorflow_datasets", reason="the TFDS builders need tensorflow-datasets")

import tfds_builders  # noqa: E402
from tf_simcse.evaluation.tasks import load_task_data, parse_task  # noqa: E402
from tfds_builders.prepare import main, prepare  # noqa: E402

DUMMY = pathlib.Path(tfds_builders.__file__).parent


def _examples(builder, split):
    return list(tfds.as_numpy(builder.as_dataset(split=split, shuffle_files=False)))


def _same_pairs(a, b):
    assert a.sentences1 == b.sentences1 and a.sentences2 == b.sentences2
    np.testing.assert_allclose(a.scores, b.scores, atol=1e-6)  # TFDS stores float32


# ---------------------------------------------------------------- real files


@pytest.mark.shared_data
def test_stsb_and_sick_from_tfds_are_the_local_files(shared_data, tmp_path):
    root = shared_data / "english_sts"
    data_dir = tmp_path / "tfds"
    stsb = prepare("stsb", data_dir=data_dir, manual_dir=root)  # the archive; its sha256 is checked
    assert {s: i.num_examples for s, i in stsb.info.splits.items()} == {"train": 5749, "dev": 1500, "test": 1379}
    sick = prepare("sick", data_dir=data_dir, manual_dir=root / "sick2014")
    assert {s: i.num_examples for s, i in sick.info.splits.items()} == {"train": 4500, "dev": 500, "test": 4927}
    extracted = tmp_path / "extracted"
    shutil.unpack_archive(root / "Stsbenchmark.tar.gz", extracted)
    for split in ("train", "dev", "test"):
        local = load_task_data(parse_task(f"stsb:{split}={extracted / 'stsbenchmark' / f'sts-{split}.csv'}"))
        _same_pairs(load_task_data(parse_task(f"stsb:{split}"), tfds_data_dir=data_dir), local)
    for split, name in (("train", "SICK_train.txt"), ("dev", "SICK_trial.txt"), ("test", "SICK_test_annotated.txt")):
        local = load_task_data(parse_task(f"sick_r:{split}={root / 'sick2014' / name}"))
        _same_pairs(load_task_data(parse_task(f"sick_r:{split}"), tfds_data_dir=data_dir), local)
    first = _examples(stsb, "test")[0]
    assert (first["genre"], first["filename"], first["year"], first["id"]) == (
        b"main-captions", b"MSRvid", b"2012test", b"0024",
    )


@pytest.mark.shared_data
@pytest.mark.parametrize("year", [2012, 2015])
def test_semeval_years_from_tfds_are_the_local_folders(shared_data, tmp_path, year):
    folder = shared_data / "english_sts" / "semeval-sts" / str(year)
    name = f"sts{year % 100}"
    builder = prepare(f"semeval_sts/{name}", data_dir=tmp_path, manual_dir=folder)
    local = load_task_data(parse_task(f"{name}={folder}"))
    from_tfds = load_task_data(parse_task(name), tfds_data_dir=tmp_path)
    assert list(from_tfds.subsets) == list(local.subsets)
    assert from_tfds.unscored == local.unscored and from_tfds.missing == local.missing
    for subset in local.subsets:
        _same_pairs(from_tfds.subsets[subset], local.subsets[subset])
    reloaded = tfds.builder(f"semeval_sts/{name}", data_dir=builder.data_dir_root)
    assert reloaded.info.metadata["subsets_missing"] == (["MSRvid"] if year == 2012 else [])
    assert sum(reloaded.info.metadata["unscored"].values()) == (5500 if year == 2015 else 0)


# ---------------------------------------------------------------- handwritten dummy data


def _copy(tmp_path, files):
    manual = tmp_path / "manual"
    manual.mkdir()
    for upstream, source in files.items():
        (shutil.copytree if source.is_dir() else shutil.copyfile)(source, manual / upstream)
    return manual


def test_stsb_dummy_examples_from_the_extracted_folder(tmp_path):
    manual = _copy(tmp_path, {"stsbenchmark": DUMMY / "stsb" / "dummy_data" / "extracted" / "stsbenchmark"})
    builder = prepare("stsb", data_dir=tmp_path / "data", manual_dir=manual)
    train = _examples(builder, "train")
    assert [e["sentence1"].decode() for e in train] == [
        "A cat sits on the mat.", 'A man plays the "guitar".', "It depends on the school. "
    ]
    assert train[2]["sentence2"].decode() == "It really depends on the school."  # license fields follow it
    assert (train[2]["score"], train[2]["year"], train[2]["id"]) == (3.0, b"2016", b"0003")


def test_stsb_refuses_a_modified_archive(tmp_path):
    manual = tmp_path / "manual"
    manual.mkdir()
    (manual / "Stsbenchmark.tar.gz").write_bytes(b"not the archive")
    with pytest.raises(ValueError, match="this local copy is not the upstream file"):
        prepare("stsb", data_dir=tmp_path / "data", manual_dir=manual)


def test_sick_dummy_examples(tmp_path):
    dummy = DUMMY / "sick" / "dummy_data"
    manual = _copy(tmp_path, {"SICK_train.txt": dummy / "train.txt", "SICK_trial.txt": dummy / "dev.txt",
                              "SICK_test_annotated.txt": dummy / "test.txt"})
    builder = prepare("sick", data_dir=tmp_path / "data", manual_dir=manual)
    test = _examples(builder, "test")
    assert [(e["pair_id"], e["entailment"], float(e["score"])) for e in test] == [
        (b"8", b"ENTAILMENT", pytest.approx(4.8)), (b"9", b"NEUTRAL", 2.0), (b"10", b"ENTAILMENT", pytest.approx(4.4)),
    ]
    assert test[2]["sentence1"].decode() == 'A kid is "jumping" into a pool'
    assert test[2]["sentence2"].decode() == "A child jumps into water"  # CRLF line ends: no \r kept


def test_semeval_dummy_examples_and_counts(tmp_path, capsys):
    dummy = DUMMY / "semeval_sts" / "dummy_data"
    subsets = ("answer-answer", "headlines", "plagiarism", "postediting", "question-question")
    manual = _copy(tmp_path, {f"{s}.test.tsv": dummy / f"2016_{s}.tsv" for s in subsets})
    assert main(["semeval_sts/sts16", "--manual_dir", str(manual), "--data_dir", str(tmp_path / "data")]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["splits"] == {"test": 4}
    assert summary["metadata"]["unscored"] == {
        "answer-answer": 2, "headlines": 0, "plagiarism": 1, "postediting": 0, "question-question": 1
    }
    assert summary["metadata"]["subsets_missing"] == []
    data = load_task_data(parse_task("sts16"), tfds_data_dir=tmp_path / "data")
    assert list(data.subsets) == list(subsets)  # question-question has no scored pair but keeps its count
    assert len(data.subsets["question-question"]) == 0 and data.unscored["question-question"] == 1
    assert data.subsets["answer-answer"].sentences1 == ["How do I fix a leaking tap?"]
    assert [float(s) for s in data.pairs().scores] == [4.0, 2.0, 5.0, 1.0]
