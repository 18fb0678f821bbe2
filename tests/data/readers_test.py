"""Tests for the upstream-format readers, on the real KorSTS / KorNLI files and on tiny malformed copies."""

import csv
import json

import numpy as np
import pytest

from tf_simcse.data import readers

KORSTS_HEADER = "genre\tfilename\tyear\tid\tscore\tsentence1\tsentence2\n"
KORNLI_HEADER = "sentence1\tsentence2\tgold_label\n"


def _write(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def _csv_rows(path):
    """An independent parse: the csv module with quoting disabled (the upstream files carry no CSV quoting)."""
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


# ---------------------------------------------------------------- real files


@pytest.mark.shared_data
@pytest.mark.parametrize("split, count", [("train", 5749), ("dev", 1500)])
def test_korsts_real_files_match_an_independent_parse(shared_data, split, count):
    path = shared_data / "korsts" / f"sts-{split}.tsv"
    pairs = readers.read_korsts(path)
    rows = _csv_rows(path)
    assert rows[0] == KORSTS_HEADER.strip().split("\t")
    assert len(pairs) == len(pairs.sentences2) == len(pairs.scores) == count == len(rows) - 1
    assert pairs.sentences1 == [r[5] for r in rows[1:]]
    assert pairs.sentences2 == [r[6] for r in rows[1:]]
    np.testing.assert_array_equal(pairs.scores, [float(r[4]) for r in rows[1:]])
    assert pairs.scores.dtype == np.float64
    assert pairs.binary_labels is None
    assert pairs.source == str(path)


@pytest.mark.shared_data
def test_korsts_exact_rows(shared_data):
    train = readers.read_korsts(shared_data / "korsts" / "sts-train.tsv")
    assert (train.sentences1[0], train.sentences2[0], train.scores[0]) == (
        "비행기가 이륙하고 있다.",
        "비행기가 이륙하고 있다.",
        5.0,
    )
    assert (train.sentences1[-1], train.sentences2[-1], train.scores[-1]) == (
        "푸틴 대변인 : 도핑 혐의는 근거 없는 것으로 보인다.",
        "가장 최근의 심한 날씨 : 토네이도 후 텍사스에서 1명 사망",
        0.0,
    )
    dev = readers.read_korsts(shared_data / "korsts" / "sts-dev.tsv")
    # Quote characters inside a field (file line 269) and at the start of a field (line 656): a CSV reader with
    # default quoting would swallow the following tabs / lines here.
    assert dev.sentences1[267] == "U2 표지판이 있는 기둥 옆에 포즈를 취하고 있는 한 여성"
    assert dev.sentences2[267] == '한 여성이 "U2"가 쓰인 기둥 옆에 서 있다.'
    assert dev.scores[267] == 4.2
    assert dev.sentences2[654] == '"일반화된 행성"에 대한 당신의 정의의 주요 결함은 별과 행성 사이의 경계일 것입니다.'
    assert dev.scores[654] == 3.2
    # The dev file has no final newline: the last row must still be read whole.
    assert (dev.sentences1[-1], dev.sentences2[-1], dev.scores[-1]) == (
        "새로운 비디오는 우리에게 경찰관들이 정신적으로 아픈 사람을 때리는 것을 보여준다",
        "도끼 공격으로 중상을 입은 뉴욕 경찰관",
        0.0,
    )
    assert round(float(dev.scores.sum()), 6) == 3545.861333


@pytest.mark.shared_data
@pytest.mark.parametrize("split, count", [("dev", 2490), ("test", 5010)])
def test_kornli_real_files_match_an_independent_parse(shared_data, split, count):
    path = shared_data / "kornli" / f"xnli.{split}.ko.tsv"
    examples = readers.read_kornli(path)
    rows = _csv_rows(path)
    assert rows[0] == ["sentence1", "sentence2", "gold_label"]
    assert len(examples) == count == len(rows) - 1
    assert examples.skipped == 0
    assert examples.premises == [r[0] for r in rows[1:]]
    assert examples.hypotheses == [r[1] for r in rows[1:]]
    assert examples.labels == [r[2] for r in rows[1:]]
    for label in readers.NLI_LABELS:
        assert examples.labels.count(label) == count // 3


@pytest.mark.shared_data
def test_kornli_exact_rows(shared_data):
    dev = readers.read_kornli(shared_data / "kornli" / "xnli.dev.ko.tsv")
    assert (dev.premises[0], dev.hypotheses[0], dev.labels[0]) == (
        '그리고 그가 말했다, "엄마, 저 왔어요."',
        "그는 학교 버스가 그를 내려주자마자 엄마에게 전화를 걸었다.",
        "neutral",
    )
    assert (dev.premises[-1], dev.hypotheses[-1], dev.labels[-1]) == (
        "진술이 더 나은 반면, 대답은 완성의 정신적 그림을 준다.",
        "진술이 더 좋다.",
        "entailment",
    )
    test = readers.read_kornli(shared_data / "kornli" / "xnli.test.ko.tsv")
    assert test.premises[1776].startswith('"자비로운 일이 될 테니, 그렇게 될 거야." 한 순간 동안')
    assert (test.hypotheses[1776], test.labels[1776]) == (
        "그녀는 침착하고 차분했고, 조급함이나 걱정의 기색은 전혀 보이지 않았다.",
        "contradiction",
    )


# ---------------------------------------------------------------- KorSTS format details and errors


def test_korsts_tolerates_crlf_bom_and_trailing_empty_lines(tmp_path):
    content = "\ufeff" + KORSTS_HEADER + "g\tf\t2012\t0001\t4.5\t가 \"나\"\t다\r\ng\tf\t2012\t0002\t0\ta\tb\n\n\n"
    pairs = readers.read_korsts(_write(tmp_path, "x.tsv", content))
    assert pairs.sentences1 == ['가 "나"', "a"]
    assert pairs.sentences2 == ["다", "b"]
    np.testing.assert_array_equal(pairs.scores, [4.5, 0.0])


def test_korsts_unicode_line_separators_are_text(tmp_path):
    # str.splitlines would break this row in two at U+2028 / U+0085.
    content = KORSTS_HEADER + "g\tf\ty\t1\t1.0\ta\u2028b\tc\x85d\n"
    pairs = readers.read_korsts(_write(tmp_path, "x.tsv", content))
    assert (pairs.sentences1, pairs.sentences2) == (["a\u2028b"], ["c\x85d"])


@pytest.mark.parametrize(
    "content, message",
    [
        (KORSTS_HEADER + "g\tf\ty\t1\t1.0\ta\tb\ng\tf\ty\t2\t1.0\ta b\n", r"x\.tsv: line 3: expected 7 .* found 6"),
        (KORSTS_HEADER + "g\tf\ty\t1\t1.0\ta\tb\tc\n", r"x\.tsv: line 2: expected 7 .* found 8"),
        (KORSTS_HEADER + "g\tf\ty\t1\t1.0\ta\tb\ng\tf\ty\t2\tfive\ta\tb\n", r"x\.tsv: line 3: score 'five' is not"),
        (KORSTS_HEADER + "g\tf\ty\t1\tnan\ta\tb\n", r"x\.tsv: line 2: score 'nan' is not a finite"),
        (KORSTS_HEADER + "g\tf\ty\t1\t\ta\tb\n", r"x\.tsv: line 2: score '' is not a number"),
        ("genre\tfilename\tyear\tid\tsentence1\tsentence2\n", r"x\.tsv: line 1: the header has no column 'score'"),
        (KORSTS_HEADER + "g\tf\ty\t1\t1.0\ta\tb\n\ng\tf\ty\t2\t1.0\ta\tb\n", r"x\.tsv: line 3: empty line"),
        ("", r"x\.tsv: the file is empty"),
    ],
    ids=["too-few-fields", "too-many-fields", "non-numeric", "nan", "empty-score", "header", "blank-line", "empty"],
)
def test_korsts_malformed_rows_name_file_and_line(tmp_path, content, message):
    with pytest.raises(ValueError, match=message):
        readers.read_korsts(_write(tmp_path, "x.tsv", content))


def test_korsts_wrong_encoding_names_the_line(tmp_path):
    content = (KORSTS_HEADER + "g\tf\ty\t1\t1.0\ta\tb\n").encode("utf-8") + "g\tf\ty\t2\t1.0\t가\t나\n".encode("cp949")
    with pytest.raises(ValueError, match=r"x\.tsv: line 3: not valid UTF-8"):
        readers.read_korsts(_write(tmp_path, "x.tsv", content))


# ---------------------------------------------------------------- KorNLI


def test_kornli_skips_and_counts_rows_outside_the_three_labels(tmp_path):
    content = KORNLI_HEADER + "p1\th1\tentailment\np2\th2\t-\np3\th3\tcontradiction\np4\th4\t\np5\th5\tneutral\n"
    examples = readers.read_kornli(_write(tmp_path, "snli.tsv", content))
    assert examples.premises == ["p1", "p3", "p5"]
    assert examples.hypotheses == ["h1", "h3", "h5"]
    assert examples.labels == ["entailment", "contradiction", "neutral"]
    assert examples.skipped == 2


@pytest.mark.parametrize(
    "content, message",
    [
        ("sentence1\tsentence2\tlabel\np\th\tneutral\n", r"nli\.tsv: line 1: the header has no column 'gold_label'"),
        (KORNLI_HEADER + "p\th\tneutral\np h\tneutral\n", r"nli\.tsv: line 3: expected 3 .* found 2"),
        (KORNLI_HEADER + "p\th\tneutral\textra\n", r"nli\.tsv: line 2: expected 3 .* found 4"),
        (KORNLI_HEADER.encode() + b"p\t\xff\tneutral\n", r"nli\.tsv: line 2: not valid UTF-8"),
    ],
    ids=["header", "space-instead-of-tab", "extra-field", "encoding"],
)
def test_kornli_malformed_rows_name_file_and_line(tmp_path, content, message):
    with pytest.raises(ValueError, match=message):
        readers.read_kornli(_write(tmp_path, "nli.tsv", content))


# ---------------------------------------------------------------- KLUE-STS


def _klue_entry(i, s1, s2, label, real, binary):
    # The exact shape of klue-sts-v1.1_{train,dev}.json entries.
    return {
        "guid": f"klue-sts-v1_dev_{i:05d}",
        "source": "airbnb-rtt",
        "sentence1": s1,
        "sentence2": s2,
        "labels": {"label": label, "real-label": real, "binary-label": binary},
        "annotations": {"agreement": "0:0:0:0:1:6", "annotators": ["07", "13"], "annotations": [5, 4]},
    }


KLUE_ENTRIES = [
    _klue_entry(0, "무엇보다도 호스트분들이 너무 친절하셨습니다.", "무엇보다도, 호스트들은 매우 친절했습니다.", 4.9, 4.857142857142857, 1),
    _klue_entry(1, '주요 관광지 "모두" 걸어서 이동가능합니다.', "위치는 피렌체 중심가까지 걸어서 이동 가능합니다.", 1.4, 1.428571428571429, 0),
    _klue_entry(2, "학생들의 균형 있는 영어능력을 향상시킬 수 있는 학교 수업을 유도하기 위해 2018학년도 수능부터 도입되었다.",
                "2018학년도 수능부터 도입된 것은 학교 수업을 강화하기 위해서다.", 3.0, 3, 1),
]


def test_klue_sts_reads_the_upstream_shape(tmp_path):
    path = _write(tmp_path, "klue-sts-v1.1_dev.json", json.dumps(KLUE_ENTRIES, ensure_ascii=False, indent=4))
    pairs = readers.read_klue_sts(path)
    assert pairs.sentences1 == [e["sentence1"] for e in KLUE_ENTRIES]
    assert pairs.sentences2 == [e["sentence2"] for e in KLUE_ENTRIES]
    np.testing.assert_array_equal(pairs.scores, [4.857142857142857, 1.428571428571429, 3.0])
    assert pairs.scores.dtype == np.float64
    np.testing.assert_array_equal(pairs.binary_labels, [1, 0, 1])
    assert pairs.source == str(path)


def test_klue_sts_without_binary_labels(tmp_path):
    entries = json.loads(json.dumps(KLUE_ENTRIES))
    for e in entries:
        del e["labels"]["binary-label"]
    pairs = readers.read_klue_sts(_write(tmp_path, "k.json", json.dumps(entries)))
    assert pairs.binary_labels is None
    assert len(pairs) == 3


def _mutated(mutate):
    entries = json.loads(json.dumps(KLUE_ENTRIES))
    mutate(entries)
    return json.dumps(entries, ensure_ascii=False, indent=2)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda e: e[1].pop("sentence2"), r"k\.json: entry \[1\] \(guid 'klue-sts-v1_dev_00001'\): missing"),
        (lambda e: e[2]["labels"].pop("real-label"), r"k\.json: entry \[2\] .*missing labels\['real-label'\]"),
        (lambda e: e[0]["labels"].update({"real-label": "4.8"}), r"k\.json: entry \[0\] .*real-label '4\.8' is not"),
        (lambda e: e[1]["labels"].update({"real-label": True}), r"k\.json: entry \[1\] .*real-label True is not"),
        (lambda e: e[2]["labels"].update({"binary-label": 2}), r"k\.json: entry \[2\] .*binary-label 2 is not 0 or 1"),
        (lambda e: e[1]["labels"].pop("binary-label"), r"k\.json: entry \[1\] .*lacks labels\['binary-label'\]"),
        (lambda e: e.__setitem__(2, ["a", "b"]), r"k\.json: entry \[2\]: expected an object"),
    ],
    ids=["sentence", "real-label", "string-score", "bool-score", "binary-value", "binary-mixed", "not-object"],
)
def test_klue_sts_malformed_entries_name_the_index(tmp_path, mutate, message):
    with pytest.raises(ValueError, match=message):
        readers.read_klue_sts(_write(tmp_path, "k.json", _mutated(mutate)))


def test_klue_sts_bad_json_and_encoding_name_the_line(tmp_path):
    lines = json.dumps(KLUE_ENTRIES, ensure_ascii=False, indent=2).split("\n")
    i = next(i for i, line in enumerate(lines) if "klue-sts-v1_dev_00001" in line)
    lines[i] = lines[i].rstrip(",")  # A missing comma: the decoder stops at the next key, 1-based line i + 2.
    with pytest.raises(ValueError, match=rf"k\.json: line {i + 2}, column \d+: invalid JSON"):
        readers.read_klue_sts(_write(tmp_path, "k.json", "\n".join(lines)))
    with pytest.raises(ValueError, match=r"k\.json: expected a JSON list"):
        readers.read_klue_sts(_write(tmp_path, "k.json", json.dumps({"data": KLUE_ENTRIES})))
    raw = b"[\n" + json.dumps(KLUE_ENTRIES[0]).encode() + b',\n{"sentence1": "\xb0\xa1"}\n]'
    with pytest.raises(ValueError, match=r"k\.json: line 3: not valid UTF-8"):
        readers.read_klue_sts(_write(tmp_path, "k.json", raw))


# ---------------------------------------------------------------- one sentence per line


def test_read_lines_skips_and_counts_blank_lines(tmp_path):
    content = "첫 문장.\n\n  \n둘째 \"문장\".\r\n\t\nthird\u2028still third\nlast without newline"
    lines = readers.read_lines(_write(tmp_path, "wiki.txt", content))
    assert isinstance(lines, list)
    assert lines == ["첫 문장.", '둘째 "문장".', "third\u2028still third", "last without newline"]
    assert lines.skipped == 3
    assert lines.source.endswith("wiki.txt")


def test_read_lines_wrong_encoding_names_the_line(tmp_path):
    content = "one\ntwo\n".encode("utf-8") + "셋\n".encode("utf-16-le")
    with pytest.raises(ValueError, match=r"wiki\.txt: line 3: not valid UTF-8"):
        readers.read_lines(_write(tmp_path, "wiki.txt", content))


@pytest.mark.shared_data
def test_remote_paths_go_through_tf_gfile(shared_data):
    tf = pytest.importorskip("tensorflow")
    path = "ram://readers_test/sts-dev.tsv"
    tf.io.gfile.makedirs("ram://readers_test")
    with tf.io.gfile.GFile(path, "wb") as f:
        f.write((shared_data / "korsts" / "sts-dev.tsv").read_bytes())
    remote = readers.read_korsts(path)
    local = readers.read_korsts(shared_data / "korsts" / "sts-dev.tsv")
    assert remote.sentences1 == local.sentences1 and remote.sentences2 == local.sentences2
    np.testing.assert_array_equal(remote.scores, local.scores)
    assert remote.source == path
