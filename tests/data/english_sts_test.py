"""The English STS readers: the real STS-B / SICK / SemEval files against an independent parse and SentEval's
published counts, both SemEval layouts, and malformed or ambiguous inputs on tiny handwritten files."""

import csv
import io
import tarfile

import numpy as np
import pytest

from tf_simcse.data import english_sts

# SentEval's scored pairs per year (its STS12 has 3,108 with MSRvid's 750, which the shared mirror lacks).
SENTEVAL_PAIRS = {2012: 3108 - 750, 2013: 1500, 2014: 3750, 2015: 3000, 2016: 1186}


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8"))
    return path


def _csv_rows(data):
    """An independent parse: the csv module, tabs, quoting disabled."""
    return list(csv.reader(io.StringIO(data, newline=""), delimiter="\t", quoting=csv.QUOTE_NONE))


# ---------------------------------------------------------------- real files


@pytest.fixture(scope="module")
def stsb_dir(shared_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("stsb")
    with tarfile.open(shared_data / "english_sts" / "Stsbenchmark.tar.gz") as archive:
        archive.extractall(out, filter="data")
    return out / "stsbenchmark"


@pytest.mark.shared_data
@pytest.mark.parametrize("split, count", [("train", 5749), ("dev", 1500), ("test", 1379)])
def test_stsb_real_files_match_an_independent_parse(stsb_dir, split, count):
    path = stsb_dir / f"sts-{split}.csv"
    pairs = english_sts.read_stsb(path)
    rows = _csv_rows(path.read_text(encoding="utf-8"))
    assert len(pairs) == count == len(rows)
    assert {len(r) for r in rows} == {7, 9}  # some rows carry two license fields after the sentences
    assert pairs.sentences1 == [r[5] for r in rows] and pairs.sentences2 == [r[6] for r in rows]
    np.testing.assert_array_equal(pairs.scores, [float(r[4]) for r in rows])


@pytest.mark.shared_data
@pytest.mark.parametrize(
    "name, count", [("SICK_train.txt", 4500), ("SICK_trial.txt", 500), ("SICK_test_annotated.txt", 4927)]
)
def test_sick_real_files_match_an_independent_parse(shared_data, name, count):
    path = shared_data / "english_sts" / "sick2014" / name
    pairs = english_sts.read_sick(path)
    rows = _csv_rows(path.read_text(encoding="utf-8").replace("\r\n", "\n"))
    assert rows[0] == ["pair_ID", "sentence_A", "sentence_B", "relatedness_score", "entailment_judgment"]
    assert len(pairs) == count == len(rows) - 1
    assert pairs.sentences1 == [r[1] for r in rows[1:]] and pairs.sentences2 == [r[2] for r in rows[1:]]
    np.testing.assert_array_equal(pairs.scores, [float(r[3]) for r in rows[1:]])


@pytest.mark.shared_data
@pytest.mark.parametrize("year", sorted(SENTEVAL_PAIRS))
def test_semeval_years_have_senteval_counts_and_match_an_independent_parse(shared_data, year):
    folder = shared_data / "english_sts" / "semeval-sts" / str(year)
    data = english_sts.read_semeval_sts(folder, year)
    assert len(data) == len(data.pairs()) == SENTEVAL_PAIRS[year]
    assert data.missing == (("MSRvid",) if year == 2012 else ())
    assert list(data.subsets) == [s for s in english_sts.SENTEVAL_SUBSETS[year] if s not in data.missing]
    for subset, pairs in data.subsets.items():
        rows = _csv_rows((folder / f"{subset}.test.tsv").read_text(encoding="utf-8"))
        scored = [r for r in rows if r[0] != ""]
        assert data.unscored[subset] == len(rows) - len(scored)
        assert pairs.sentences1 == [r[1] for r in scored] and pairs.sentences2 == [r[2] for r in scored]
        np.testing.assert_array_equal(pairs.scores, [float(r[0]) for r in scored])
    if year in (2015, 2016):
        assert sum(data.unscored.values()) > len(data)  # most released candidate pairs have no gold score
    else:
        assert sum(data.unscored.values()) == 0


@pytest.mark.shared_data
def test_the_2012_train_files_are_not_read(shared_data):
    data = english_sts.read_semeval_sts(shared_data / "english_sts" / "semeval-sts" / "2012", 2012)
    assert all(p.source.endswith(".test.tsv") for p in data.subsets.values())


# ---------------------------------------------------------------- the SemEval release layout


def _semeval_layout(tsv_dir, out, year, prefix="STS"):
    """Writes the SemEval release layout (input + gold files) of a brmson year folder."""
    for tsv in sorted(tsv_dir.glob("*.test.tsv")):
        subset = tsv.name[: -len(".test.tsv")]
        name = f"surprise.{subset}" if year == 2012 and subset in ("OnWN", "SMTnews") else subset
        rows = [line.split("\t") for line in tsv.read_text(encoding="utf-8").split("\n") if line]
        # 2016's input files carry two source-notes fields after the sentences.
        _write(out / f"{prefix}.input.{name}.txt", "".join(f"{r[1]}\t{r[2]}\tnote a\tnote b\n" for r in rows))
        _write(out / f"{prefix}.gs.{name}.txt", "".join(f"{r[0]}\n" for r in rows))


@pytest.mark.shared_data
@pytest.mark.parametrize("year, prefix", [(2012, "STS"), (2016, "STS2016")])
def test_the_semeval_release_layout_reads_the_same_pairs(shared_data, tmp_path, year, prefix):
    folder = shared_data / "english_sts" / "semeval-sts" / str(year)
    _semeval_layout(folder, tmp_path, year, prefix)
    _write(tmp_path / f"{prefix}.gs.ALL.txt", "1\n")  # not a subset: ignored
    ours, theirs = english_sts.read_semeval_sts(tmp_path, year), english_sts.read_semeval_sts(folder, year)
    assert list(ours.subsets) == list(theirs.subsets) and ours.unscored == theirs.unscored
    for subset in ours.subsets:
        a, b = ours.subsets[subset], theirs.subsets[subset]
        assert a.sentences1 == b.sentences1 and a.sentences2 == b.sentences2
        np.testing.assert_array_equal(a.scores, b.scores)


# ---------------------------------------------------------------- handwritten files


def test_stsb_rows_and_errors(tmp_path):
    path = _write(
        tmp_path / "sts-test.csv",
        'main-news\theadlines\t2013\t0001\t4.2\tA "quoted" cat.\tA cat. \tlicense a\tlicense b\n'
        "main-forums\tanswer-answer\t2016\t0002\t3\tIt depends.\tIt really depends.\n\n",
    )
    pairs = english_sts.read_stsb(path)
    assert pairs.sentences1 == ['A "quoted" cat.', "It depends."]
    assert pairs.sentences2 == ["A cat. ", "It really depends."]
    np.testing.assert_array_equal(pairs.scores, [4.2, 3.0])
    rows = [row for _, row in english_sts.iter_stsb_rows(path)]
    assert rows[0]["genre"] == "main-news" and rows[1]["id"] == "0002"
    with pytest.raises(ValueError, match=r"short\.csv: line 1: expected at least 7 tab-separated fields"):
        english_sts.read_stsb(_write(tmp_path / "short.csv", "a\tb\tc\n"))
    with pytest.raises(ValueError, match=r"bad\.csv: line 2: score 'x' is not a number"):
        english_sts.read_stsb(_write(tmp_path / "bad.csv", "g\tf\t2012\t1\t1\ta\tb\ng\tf\t2012\t2\tx\ta\tb\n"))
    with pytest.raises(ValueError, match=r"gap\.csv: line 2: empty line inside the data"):
        english_sts.read_stsb(_write(tmp_path / "gap.csv", "g\tf\t2012\t1\t1\ta\tb\n\ng\tf\t2012\t2\t2\ta\tb\n"))


SICK_FULL_HEADER = (
    "pair_ID\tsentence_A\tsentence_B\tentailment_label\trelatedness_score\tentailment_AB\tentailment_BA\t"
    "sentence_A_original\tsentence_B_original\tsentence_A_dataset\tsentence_B_dataset\tSemEval_set\n"
)


def _sick_full_row(pair_id, a, b, score, split):
    return f"{pair_id}\t{a}\t{b}\tNEUTRAL\t{score}\tA_neutral_B\tB_neutral_A\t{a}\t{b}\tFLICKR\tFLICKR\t{split}\n"


def test_sick_full_file_picks_the_split_rows(tmp_path):
    path = _write(
        tmp_path / "SICK.txt",
        SICK_FULL_HEADER
        + _sick_full_row(1, "A boy runs", "A kid runs", 4.5, "TRAIN")
        + _sick_full_row(2, "A dog sleeps", "A cat eats", 1.2, "TEST")
        + _sick_full_row(3, "Two men talk", "Two people talk", 4.0, "TRIAL")
        + _sick_full_row(4, "A girl sings", "A girl is singing", 4.9, "TEST"),
    )
    test = english_sts.read_sick(path, split="test")
    assert test.sentences1 == ["A dog sleeps", "A girl sings"]
    np.testing.assert_array_equal(test.scores, [1.2, 4.9])
    assert english_sts.read_sick(path, split="dev").sentences2 == ["Two people talk"]
    assert [row["entailment"] for _, row in english_sts.iter_sick_rows(path, "train")] == ["NEUTRAL"]
    with pytest.raises(ValueError, match="is the full SICK file .* name the split"):
        english_sts.read_sick(path)
    bad = _write(tmp_path / "bad.txt", SICK_FULL_HEADER + _sick_full_row(1, "a", "b", 1, "VALID"))
    with pytest.raises(ValueError, match=r"bad\.txt: line 2: SemEval_set 'VALID'"):
        english_sts.read_sick(bad, split="test")


def test_sick_semeval_file_errors(tmp_path):
    header = "pair_ID\tsentence_A\tsentence_B\trelatedness_score\tentailment_judgment\n"
    with pytest.raises(ValueError, match=r"line 2: expected 5 tab-separated fields"):
        english_sts.read_sick(_write(tmp_path / "a.txt", header + "1\tonly two\tfields\n"))
    with pytest.raises(ValueError, match="the header has no column 'relatedness_score'"):
        english_sts.read_sick(_write(tmp_path / "b.txt", "pair_ID\tsentence_A\tsentence_B\n1\ta\tb\n"))


def test_semeval_folder_counts_unscored_and_reports_missing(tmp_path):
    _write(tmp_path / "headlines.test.tsv", "4.0\tA b.\tA c.\n\tunscored\tpair\n1.5\tD e.\tF g.\n")
    _write(tmp_path / "OnWN.test.tsv", "\tonly\tunscored\n")
    _write(tmp_path / "SMT.test.tsv", "3\tnot a SentEval\tsubset of 2013\n")
    data = english_sts.read_semeval_sts(tmp_path, 2013)
    assert list(data.subsets) == ["headlines", "OnWN"] and data.missing == ("FNWN",)
    assert data.unscored == {"headlines": 1, "OnWN": 1}
    assert data.pairs().sentences1 == ["A b.", "D e."]
    np.testing.assert_array_equal(data.pairs().scores, [4.0, 1.5])
    assert data.report == {
        "source": str(tmp_path),
        "subsets": {"headlines": 2, "OnWN": 0},
        "unscored_skipped": {"headlines": 1, "OnWN": 1},
        "subsets_missing": ["FNWN"],
    }


def test_semeval_folder_errors(tmp_path):
    with pytest.raises(ValueError, match="no SemEval STS 2014 subset found"):
        english_sts.read_semeval_sts(tmp_path, 2014)
    with pytest.raises(ValueError, match="no SemEval STS year 2017"):
        english_sts.read_semeval_sts(tmp_path, 2017)
    _write(tmp_path / "FNWN.test.tsv", "1\ta\tb\nx\tc\td\n")
    with pytest.raises(ValueError, match=r"FNWN\.test\.tsv: line 2: score 'x' is not a number"):
        english_sts.read_semeval_sts(tmp_path, 2013)
    _write(tmp_path / "FNWN.test.tsv", "1\ta\n")
    with pytest.raises(ValueError, match=r"line 1: expected 3 tab-separated fields"):
        english_sts.read_semeval_sts(tmp_path, 2013)
    _write(tmp_path / "STS.input.FNWN.txt", "a\tb\n")
    with pytest.raises(ValueError, match="subset FNWN is there twice"):
        english_sts.read_semeval_sts(tmp_path, 2013)
    (tmp_path / "FNWN.test.tsv").unlink()
    with pytest.raises(ValueError, match="has no gold-standard file beside it"):
        english_sts.read_semeval_sts(tmp_path, 2013)
    _write(tmp_path / "STS.gs.FNWN.txt", "1\n2\n")
    with pytest.raises(ValueError, match=r"STS\.gs\.FNWN\.txt has 2 lines but .* has 1 sentence pairs"):
        english_sts.read_semeval_sts(tmp_path, 2013)
    _write(tmp_path / "STS.gs.FNWN.txt", "\n")  # one unscored pair, then nothing
    data = english_sts.read_semeval_sts(tmp_path, 2013)
    assert len(data) == 0 and data.unscored == {"FNWN": 1}
