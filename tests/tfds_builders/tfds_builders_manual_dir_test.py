"""Offline preparation from a manual dir, exact examples on handwritten data, and the errors a user can hit.

The expected examples are written out by hand from the dummy files (tfds_builders/<name>/dummy_data/).
"""

import json
import pathlib
import shutil
import zipfile

import numpy as np
import pytest

tfds = pytest.importorskip("tensorflow_datasets", reason="the TFDS builders need tensorflow-datasets")

import tfds_builders  # noqa: E402
from tfds_builders import _nli  # noqa: E402
from tfds_builders.prepare import main, prepare  # noqa: E402

BUILDERS_DIR = pathlib.Path(tfds_builders.__file__).parent


def _dummy(name, *parts):
    return BUILDERS_DIR / name / "dummy_data" / pathlib.Path(*parts)


def _manual_dir(tmp_path, files):
    """A manual dir holding dummy files under their upstream names: `{upstream name: dummy path}`."""
    manual = tmp_path / "manual"
    manual.mkdir()
    for upstream, source in files.items():
        if source.is_dir():
            shutil.copytree(source, manual / upstream)
        else:
            shutil.copyfile(source, manual / upstream)
    return manual


def _texts(builder, split="train", key="text"):
    return [e[key].decode() for e in tfds.as_numpy(builder.as_dataset(split=split, shuffle_files=False))]


def test_simcse_wiki1m_from_manual_dir(tmp_path):
    manual = _manual_dir(tmp_path, {"wiki1m_for_simcse.txt": _dummy("simcse_wiki1m", "wiki1m.txt")})
    builder = prepare("simcse_wiki1m", data_dir=tmp_path / "data", manual_dir=manual)
    assert _texts(builder) == [
        "A made-up first sentence",
        "The film came out in 1999.",
        "The film came out in 1999.",
        "  Leading and trailing spaces are kept.  ",
        "Last line.",
    ]
    assert builder.info.metadata["train"] == {"sentences": 5, "blank_lines_skipped": 2, "repeated_sentences_kept": 1}


def test_simcse_nli_from_manual_dir(tmp_path):
    manual = _manual_dir(tmp_path, {"nli_for_simcse.csv": _dummy("simcse_nli", "nli.csv")})
    builder = prepare("simcse_nli", data_dir=tmp_path / "data", manual_dir=manual)
    examples = list(tfds.as_numpy(builder.as_dataset(split="train", shuffle_files=False)))
    triplets = [tuple(e[k].decode() for k in ("premise", "entailment", "contradiction")) for e in examples]
    assert triplets == [
        ("well, i think it rained all day", "It rained for the whole day.", "The sun was out all day."),
        ("Two dogs run on the beach.", "Animals are outside.", "The dogs are asleep indoors."),
        ('He said, "Hi, there."', "He spoke, with a comma, inside quotes.", "A field with a\nline break."),
    ]
    report = builder.info.metadata["train"]
    assert report["rows_read"] == 4
    assert report["rows_skipped"] == {"empty_sentence": 1}
    assert report["triplets"] == 3


WIKI_SENTENCES = [
    "가상 인물은 이 시험을 위해 지어낸 사람이다.",
    "그는 작은 마을에서 태어났다.",
    "그 뒤 바닷가로 이사했다.",
    "수학은 수와 구조와 공간을 다루는 학문이다.",
    "아주 오래전에 시작되었다.",
    "한국어는 한글로 적는다.",
]


def test_korean_wiki_sentences_from_an_extracted_corpus_in_the_manual_dir(tmp_path):
    extracted = _dummy("korean_wiki_sentences", "extracted", "text-preprocessed")
    manual = _manual_dir(tmp_path, {"text-preprocessed": extracted})
    builder = prepare("korean_wiki_sentences", data_dir=tmp_path / "data", manual_dir=manual)
    assert _texts(builder) == WIKI_SENTENCES
    assert builder.info.metadata["train"] == {
        "files": 3,
        "headings_dropped": 5,
        "empty_lines": 7,
        "sentences": 6,
        "duplicates_dropped": 2,
    }


def test_a_local_copy_that_is_not_the_upstream_file_is_refused(tmp_path):
    # corpus.zip has a recorded size and sha256: a different zip under that name must not be read as it.
    archive = tmp_path / "corpus.zip"
    with zipfile.ZipFile(archive, "w") as z:
        source = _dummy("korean_wiki_sentences", "extracted", "text-preprocessed", "AA", "wiki_00")
        z.write(source, "text-preprocessed/AA/wiki_00")
    manual = _manual_dir(tmp_path, {"corpus.zip": archive})
    with pytest.raises(ValueError, match=r"corpus\.zip: this local copy is not the upstream file .*sha256"):
        prepare("korean_wiki_sentences", data_dir=tmp_path / "data", manual_dir=manual)


def test_a_modified_korsts_file_is_refused(tmp_path, shared_data):
    manual = tmp_path / "manual"
    manual.mkdir()
    text = (shared_data / "korsts" / "sts-dev.tsv").read_bytes()
    (manual / "sts-dev.tsv").write_bytes(text.replace(b"\t5.000\t", b"\t4.000\t", 1))
    with pytest.raises(ValueError, match=r"sts-dev\.tsv: this local copy is not the upstream file"):
        prepare("korsts", data_dir=tmp_path / "data", manual_dir=manual, splits=["dev"])


def test_klue_nli_triplets_from_json(tmp_path):
    triplets, report = _nli.group_klue_nli_files([_dummy("klue_nli_triplets", "train.json")], ["train.json"])
    assert triplets == [
        ("이 영화의 주인공은 누구보다 용감하다.", "주인공은 용감하다.", "주인공은 겁이 많다."),
        ("도서관은 오전 9시에 문을 연다.", "도서관은 아침에 연다.", "도서관은 밤에만 연다."),
    ]
    assert report["rows_read"] == 7
    assert report["premises"] == 3
    assert report["premises_without_contradiction"] == 1
    assert report["premises_with_several_contradictions"] == 1
    assert report["unused_contradictions"] == 1
    assert report["sources"] == [{"file": "train.json", "rows_read": 7, "rows_skipped": {}}]


@pytest.mark.parametrize(
    "content, message",
    [
        ('[{"guid": "g0", "premise": "a\\tb", "hypothesis": "c", "gold_label": "entailment"}]',
         r"entry \[0\] \(guid 'g0'\): 'premise' contains a tab or line break"),
        (
            '[{"guid": "g0", "premise": "a", "gold_label": "entailment"}]',
            r"entry \[0\] \(guid 'g0'\): missing .*'hypothesis'",
        ),
        ('[{"guid": "g0",\n "premise": "a",,}]', r"bad\.json: line 2, column \d+: invalid JSON"),
        ('{"premise": "a"}', r"bad\.json: expected a JSON list"),
    ],
)
def test_klue_nli_malformed_json_names_the_file_and_entry(tmp_path, content, message):
    bad = tmp_path / "bad.json"
    bad.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        _nli.group_klue_nli_files([bad])


def test_klue_sts_examples(tmp_path):
    builder = tfds_builders.KlueSts(data_dir=tmp_path)
    from etils import epath

    examples = list(builder._generate_examples(epath.Path(_dummy("klue_sts", "train.json"))))
    assert [key for key, _ in examples] == [0, 1, 2]
    first = examples[0][1]
    assert first["sentence1"] == "방이 깨끗하고 역에서 가까웠어요."
    assert first["sentence2"] == "객실은 청결했고 역과 가까웠습니다."
    assert first["score"] == np.float32(3.714285714285714)
    assert first["label"] == np.float32(3.7)
    assert first["binary_label"] == 1
    assert (first["guid"], first["source"]) == ("klue-sts-v1_train_00000", "airbnb-rtt")
    assert [ex["binary_label"] for _, ex in examples] == [1, 0, 0]
    assert [ex["label"] for _, ex in examples] == [np.float32(3.7), np.float32(0.0), np.float32(0.2)]


def test_korsts_examples_keep_quotes_and_provenance(tmp_path):
    from etils import epath

    builder = tfds_builders.Korsts(data_dir=tmp_path)
    examples = [ex for _, ex in builder._generate_examples(epath.Path(_dummy("korsts", "dummy-train.tsv")))]
    assert examples[1] == {
        "sentence1": '그가 "아니요"라고 말했다.',
        "sentence2": "회의가 열렸다.",
        "score": np.float32(1.4),
        "genre": "main-news",
        "filename": "headlines",
        "year": "2013",
        "id": "0042",
    }


def test_features_are_the_names_the_library_reads():
    triplet = {"premise", "entailment", "contradiction"}
    for name in ("kornli_triplets", "klue_nli_triplets", "simcse_nli"):
        assert set(tfds_builders.BUILDERS[name]().info.features.keys()) == triplet, name
    for name in ("korean_wiki_sentences", "simcse_wiki1m"):
        assert set(tfds_builders.BUILDERS[name]().info.features.keys()) == {"text"}, name
    for name in ("korsts", "klue_sts"):
        features = tfds_builders.BUILDERS[name]().info.features
        assert {"sentence1", "sentence2", "score"} <= set(features.keys())
        assert features["score"].np_dtype == np.float32


def test_every_builder_states_description_citation_license_and_homepage():
    for name, builder_class in tfds_builders.BUILDERS.items():
        info = builder_class().info
        for field in ("description", "citation", "homepage"):
            assert getattr(info, field), (name, field)
        assert info.redistribution_info.license, name
        assert builder_class.MANUAL_DOWNLOAD_INSTRUCTIONS, name
    for name in ("kornli_triplets", "klue_nli_triplets", "korsts", "klue_sts"):
        assert "CC BY-SA 4.0" in tfds_builders.BUILDERS[name]().info.redistribution_info.license


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"name": "kornli"}, ValueError, r"unknown dataset 'kornli'; choose one of kornli_triplets"),
        ({"name": "kornli_triplets/mnli"}, ValueError, r"no config 'mnli'; choose one of snli_mnli, xnli"),
        ({"name": "korsts", "config": "x"}, ValueError, r"no config 'x'; choose none"),
        ({"name": "korsts", "manual_dir": "/nonexistent/dir"}, FileNotFoundError, r"/nonexistent/dir"),
    ],
)
def test_prepare_rejects_bad_arguments(tmp_path, kwargs, error, message):
    with pytest.raises(error, match=message):
        prepare(data_dir=tmp_path, **kwargs)


def test_prepare_rejects_an_unknown_split_before_reading(tmp_path):
    with pytest.raises(ValueError, match=r"no split 'test'; choose among train, dev"):
        prepare("klue_sts", data_dir=tmp_path, manual_dir=tmp_path, splits=["test"])


def test_cli_prepares_and_prints_a_summary(tmp_path, capsys):
    manual = _manual_dir(tmp_path, {"wiki1m_for_simcse.txt": _dummy("simcse_wiki1m", "wiki1m.txt")})
    assert main(["simcse_wiki1m", "--manual_dir", str(manual), "--data_dir", str(tmp_path / "data")]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["name"] == "simcse_wiki1m/1.0.0"
    assert summary["splits"] == {"train": 5}
    assert summary["metadata"]["train"]["blank_lines_skipped"] == 2


def test_cli_reports_errors_without_a_traceback(capsys):
    assert main(["no_such_dataset", "--manual_dir", "."]) == 2
    assert "unknown dataset 'no_such_dataset'" in capsys.readouterr().err


def test_preparing_more_splits_after_a_partial_prepare_rebuilds_the_dataset(tmp_path, shared_data):
    kornli = shared_data / "kornli"
    manual = _manual_dir(tmp_path, {"xnli.dev.ko.tsv": kornli / "xnli.dev.ko.tsv"})
    data_dir = tmp_path / "data"
    first = prepare("kornli_triplets/xnli", data_dir=data_dir, manual_dir=manual, splits=["dev"])
    assert {s: i.num_examples for s, i in first.info.splits.items()} == {"dev": 830}
    shutil.copyfile(kornli / "xnli.test.ko.tsv", manual / "xnli.test.ko.tsv")
    second = prepare("kornli_triplets/xnli", data_dir=data_dir, manual_dir=manual)
    assert {s: i.num_examples for s, i in second.info.splits.items()} == {"dev": 830, "test": 1670, "dev_test": 2499}
    reloaded = tfds.builder("kornli_triplets/xnli", data_dir=data_dir)
    assert {s: i.num_examples for s, i in reloaded.info.splits.items()} == {"dev": 830, "test": 1670, "dev_test": 2499}
    assert set(reloaded.info.metadata.keys()) == {"dev", "test", "dev_test"}


def test_files_missing_from_the_manual_dir_are_named_not_downloaded(tmp_path, shared_data, monkeypatch, capsys):
    from tfds_builders import _common

    manual = _manual_dir(tmp_path, {"sts-dev.tsv": shared_data / "korsts" / "sts-dev.tsv"})
    requested = []

    def offline_download(builder, dl_manager, urls, extract=False):  # this sandbox has no network
        requested.extend(urls.values())
        raise RuntimeError("offline")

    monkeypatch.setattr(_common, "_download", offline_download)
    # An air-gapped user's first run: sts-train.tsv is not in the manual dir; only it is named, with its URL.
    with pytest.raises(FileNotFoundError) as missing:
        prepare("korsts", data_dir=tmp_path / "data", manual_dir=manual, splits=["train", "dev"])
    message = str(missing.value)
    assert f"the manual dir {manual} lacks sts-train.tsv (from {_common.KORNLU_RAW}/KorSTS/sts-train.tsv)" in message
    assert "sts-dev.tsv" not in message and "--download" in message and requested == []
    # Downloading the missing file happens only when asked for, and only that file is requested.
    argv = ["korsts", "--manual_dir", str(manual), "--data_dir", str(tmp_path / "data"), "--splits", "train,dev"]
    assert main(argv + ["--download"]) == 2
    assert requested == [f"{_common.KORNLU_RAW}/KorSTS/sts-train.tsv"]
    assert "error: offline" in capsys.readouterr().err
