"""`python -m tf_simcse.evaluate --model A --model B ...`: one table with the same columns for every model, whose
figures are each model's own single-model figures; the JSON holds every figure; one model keeps metrics.json."""

import json

import pytest

from tests.conftest import FIXTURES
from tf_simcse import evaluate as evaluate_cli
from tf_simcse.evaluation.leaderboard import format_markdown, leaderboard_columns, leaderboard_rows
from tf_simcse.evaluation.tasks import parse_task

BERT, DISTILBERT = str(FIXTURES / "tiny_bert"), str(FIXTURES / "tiny_distilbert")


def _markdown_rows(text):
    lines = [line for line in text.strip().split("\n") if line.startswith("|")]
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines]
    return cells[0], cells[2:]


@pytest.fixture(scope="module")
def tasks(shared_data, tmp_path_factory):
    # English text: the tiny models map most Korean characters to [UNK], and the near-equal embeddings that gives
    # would make every figure float32 noise. kornli's format is filled with SICK trial's labelled pairs.
    root = shared_data / "english_sts"
    nli = tmp_path_factory.mktemp("nli") / "sick_as_kornli.tsv"
    rows = [line.split("\t") for line in (root / "sick2014" / "SICK_trial.txt").read_text().split("\n")[1:] if line]
    nli.write_text("sentence1\tsentence2\tgold_label\n" + "".join(f"{r[1]}\t{r[2]}\t{r[4].lower()}\n" for r in rows))
    return [
        f"sick_r:dev={root / 'sick2014' / 'SICK_trial.txt'}",
        f"kornli:dev={nli}",
        f"sts13={root / 'semeval-sts' / '2013'}",
    ]


@pytest.fixture(scope="module")
def single_reports(tasks, tmp_path_factory):
    """Each model evaluated alone, the single-model way (metrics.json)."""
    reports = {}
    for model in (BERT, DISTILBERT):
        out = tmp_path_factory.mktemp("single") / "metrics.json"
        args = ["--model", model, "--max_seq_length", "32", "--pooler", "avg", "--output", str(out)]
        assert evaluate_cli.main(args + [a for t in tasks for a in ("--task", t)]) == 0
        reports[model] = json.loads(out.read_text(encoding="utf-8"))
    return reports


def test_single_model_metrics_json_is_unchanged(single_reports):
    report = single_reports[BERT]
    assert list(report) == ["model", "pooler", "max_seq_length", "tasks", "data"]
    assert (report["model"], report["pooler"], report["max_seq_length"]) == (BERT, "avg", 32)
    assert list(report["tasks"]) == ["sick_r:dev", "kornli:dev", "sts13:test"]
    assert report["data"]["sts13:test"]["subsets_missing"] == []  # only tasks with a data report get an entry
    assert set(report["data"]) == {"sts13:test"}


def test_two_models_one_markdown_table(tasks, single_reports, tmp_path, capsys):
    board = tmp_path / "board.md"
    args = ["--model", BERT, "--model", DISTILBERT, "--max_seq_length", "32", "--pooler", "avg"]
    assert evaluate_cli.main(args + [a for t in tasks for a in ("--task", t)] + ["--output", str(board)]) == 0
    text = board.read_text(encoding="utf-8")
    assert text.strip() in capsys.readouterr().out
    header, rows = _markdown_rows(text)
    # The same columns for both: 9 STS columns per STS task, AP for kornli.
    assert header[0] == "model" and len(header) == 1 + 9 + 1 + 9
    assert header[1:3] == ["sick_r:dev cos P", "sick_r:dev cos S"] and header[10] == "kornli:dev AP"
    assert header[-1] == "sts13:test mean"
    assert [r[0] for r in rows] == [BERT, DISTILBERT]
    keys = [(label, key) for label, key, _ in leaderboard_columns([parse_task(t) for t in tasks])]
    for row in rows:
        figures = single_reports[row[0]]["tasks"]
        # The model's own figures (two decimals; float32 rounding of two encode runs may differ in the last bit).
        assert [float(v) for v in row[1:]] == pytest.approx([figures[label][k] for label, k in keys], abs=0.0051)


def test_two_models_json_has_every_figure(tasks, single_reports, tmp_path):
    out = tmp_path / "board.json"
    args = ["--model", BERT, "--model", DISTILBERT, "--max_seq_length", "32", "--pooler", "avg", "--compact"]
    assert evaluate_cli.main(args + [a for t in tasks for a in ("--task", t)] + ["--output", str(out)]) == 0
    board = json.loads(out.read_text(encoding="utf-8"))
    assert board["format"] == "tf_simcse.leaderboard"
    assert [c["header"] for c in board["columns"]] == [
        "sick_r:dev cos S", "kornli:dev AP", "sts13:test cos S", "avg cos S"
    ]
    for report in board["models"]:
        alone = single_reports[report["model"]]
        assert report["tasks"].keys() == alone["tasks"].keys()
        for label, figures in report["tasks"].items():
            assert figures == pytest.approx(alone["tasks"][label], abs=1e-6), label  # every figure, per-subset too


def test_compact_average_and_missing_figures():
    tasks = [parse_task("stsb"), parse_task("kornli"), parse_task("klue_sts")]
    results = [("a", {"stsb:test": {"cosine_spearman": 80.0}, "kornli:dev": {"average_precision": 70.0},
                      "klue_sts:dev": {"cosine_spearman": 60.0, "pearson": 61.0, "f1": 62.5}}),
               ("b|c", {"stsb:test": {"cosine_spearman": 50.0}})]
    headers, rows = leaderboard_rows(tasks, results, compact=True)
    assert headers == ["model", "stsb:test cos S", "kornli:dev AP", "klue_sts:dev cos S", "klue_sts:dev KLUE P",
                       "klue_sts:dev KLUE F1", "avg cos S"]
    assert rows[0] == ["a", 80.0, 70.0, 60.0, 61.0, 62.5, 70.0]  # the average leaves kornli's AP out
    assert rows[1] == ["b|c", 50.0, None, None, None, None, None]
    text = format_markdown(headers, rows)
    assert "| b\\|c | 50.00 | - | - | - | - | - |" in text


def test_leaderboard_errors(tmp_path):
    with pytest.raises(SystemExit, match="unknown task 'sts'"):
        evaluate_cli.main(["--model", BERT, "--model", DISTILBERT, "--task", "sts:dev"])
    sts = tmp_path / "sts-test.csv"
    sts.write_text("g\tf\t2012\t1\t4.0\tA cat.\tA cat sits.\ng\tf\t2012\t2\t1.0\tA dog.\tRain falls.\n")
    # A missing second model is reported before the first one is evaluated.
    with pytest.raises(SystemExit, match="missing: no such file or directory"):
        evaluate_cli.main(["--model", BERT, "--model", str(tmp_path / "missing"), "--task", f"stsb={sts}"])
