"""Tests for `tf_simcse.data.specs`: parsing `tfds:` specs and recognising local file formats."""

import pytest

from tf_simcse.data.specs import DataSpec, detect_file_format, parse_data_spec


@pytest.mark.parametrize(
    "spec, name, config, split",
    [
        ("tfds:korsts:train", "korsts", None, "train"),
        ("tfds:kornli/xnli:validation", "kornli", "xnli", "validation"),
        ("tfds:kornli/snli:train[:1000]", "kornli", "snli", "train[:1000]"),  # `%` slices: carve_out_test.py
        ("tfds:kornli/xnli:1.0.0:train[10:20]+test", "kornli", "xnli:1.0.0", "train[10:20]+test"),
        ("tfds:wiki1m:1.0.0:train", "wiki1m:1.0.0", None, "train"),
    ],
)
def test_tfds_specs_are_parsed(spec, name, config, split):
    parsed = parse_data_spec(spec)
    assert parsed == DataSpec(kind="tfds", path_or_name=name, config=config, split=split, format=None)
    assert str(parsed) == spec
    assert parsed.tfds_name == (name if config is None else f"{name}/{config}")


@pytest.mark.parametrize(
    "spec", ["tfds:", "tfds:korsts", "tfds:korsts:", "tfds:/xnli:train", "tfds:a/:train", "tfds:a/b/c:train"]
)
def test_malformed_tfds_specs_are_errors(spec):
    with pytest.raises(ValueError, match=r"tfds:NAME\[/CONFIG\]:SPLIT"):
        parse_data_spec(spec)


@pytest.mark.shared_data
def test_real_upstream_files_are_recognised(shared_data):
    nli = shared_data / "kornli" / "xnli.dev.ko.tsv"
    assert parse_data_spec(str(nli)) == DataSpec("file", str(nli), None, None, "nli_tsv")
    # KorSTS has sentence1/sentence2 but no gold_label: not a training format, and the error says what is expected.
    sts = shared_data / "korsts" / "sts-dev.tsv"
    with pytest.raises(ValueError, match=r"sts-dev\.tsv: unrecognised data format .*'genre\\tfilename.*gold_label"):
        parse_data_spec(str(sts))


def test_local_formats_from_extension_and_header(tmp_path):
    cases = {
        "corpus.txt": ("sent0,sent1\n", "text"),  # .txt is always one sentence per line, whatever line 1 says.
        "nli.tsv": ("sentence1\tsentence2\tgold_label\r\na\tb\tentailment\r\n", "nli_tsv"),
        "nli_any_extension.data": ("gold_label\tsentence1\tsentence2\n", "nli_tsv"),
        "nli_for_simcse.csv": ("sent0,sent1,hard_neg\n", "pairs_csv"),
        "quoted_header.csv": ('"sent0","sent1"\n', "pairs_csv"),
        "bom.csv": ("\ufeffsent0,sent1,hard_neg\n", "pairs_csv"),
        "pairs.tsv": ("sent0\tsent1\thard_neg\n", "pairs_tsv"),
    }
    for name, (text, expected) in cases.items():
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        assert detect_file_format(path) == expected, name
        assert parse_data_spec(path).format == expected, name
        assert parse_data_spec(path).path_or_name == str(path)


def test_unknown_format_names_the_file_and_the_expected_formats(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("premise,hypothesis\nx,y\n", encoding="utf-8")
    with pytest.raises(ValueError) as e:
        parse_data_spec(str(path))
    message = str(e.value)
    assert str(path) in message and "'premise,hypothesis'" in message
    for expected in (".txt", "sentence1, sentence2 and gold_label", "sent0, sent1[, hard_neg]", "tfds:NAME"):
        assert expected in message

    empty = tmp_path / "empty.tsv"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="empty.tsv: unrecognised data format"):
        parse_data_spec(str(empty))

    latin1 = tmp_path / "latin1.tsv"
    latin1.write_bytes("sent0\tsent1\xe9\n".encode("latin-1"))
    with pytest.raises(ValueError, match="latin1.tsv: line 1 is not valid UTF-8"):
        parse_data_spec(str(latin1))


def test_missing_file_and_directory_are_clear_errors(tmp_path):
    missing = tmp_path / "nope" / "train.txt"
    with pytest.raises(FileNotFoundError, match=r"data file not found: .*nope/train\.txt"):
        parse_data_spec(str(missing))
    with pytest.raises(ValueError, match="is a directory"):
        parse_data_spec(str(tmp_path))
    with pytest.raises(ValueError, match="non-empty string"):
        parse_data_spec("  ")


def test_data_spec_is_validated_and_passed_through():
    spec = DataSpec("tfds", "korsts", None, "train")
    assert parse_data_spec(spec) is spec
    with pytest.raises(ValueError, match="kind"):
        DataSpec("http", "x")
    with pytest.raises(ValueError, match="format"):
        DataSpec("file", "x.json", format="json")
