"""Multi-stage recipes (`stages:` in a config file, tf_simcse/stages.py): each stage starts from the model an
earlier one selected, a rerun skips finished stages, and the shipped pipelines validate."""

import json

import pytest
import yaml

from tests.conftest import FIXTURES
from tf_simcse import train as train_cli
from tf_simcse.config import RECIPES_DIR, load_config_file
from tf_simcse.errors import UserInputError
from tf_simcse.stages import stage_configs


@pytest.mark.parametrize("recipe", sorted(p.stem for p in RECIPES_DIR.glob("*pipeline.yaml")))
def test_shipped_pipelines_validate(recipe, tmp_path):
    stages = stage_configs(load_config_file(recipe), {"model": "m", "output_dir": str(tmp_path)})
    names = [name for name, _ in stages]
    assert names == ["simcse", "sts", "student", "student_sts"]
    configs = dict(stages)
    assert configs["simcse"].model == "m"
    assert configs["sts"].model == configs["simcse"].output_dir  # the previous stage's selected model
    assert configs["student"].teacher == configs["sts"].output_dir and configs["student"].student_layers
    assert configs["student_sts"].model == configs["student"].output_dir


def test_a_reference_to_a_later_stage_is_refused(tmp_path):
    values = {"stages": [{"name": "a", "objective": "distill", "teacher": "@b", "train_data": ["x.txt"]},
                         {"name": "b", "train_data": ["x.txt"]}]}
    with pytest.raises(UserInputError, match="names no earlier stage"):
        stage_configs(values, {"model": "m", "output_dir": str(tmp_path)})


def test_stop_after_names_a_stage_of_a_stages_config(tmp_path):
    recipe = tmp_path / "pipeline.yaml"
    recipe.write_text(yaml.safe_dump({"stages": [{"name": "a", "train_data": ["x.txt"]},
                                                 {"name": "b", "train_data": ["x.txt"]}]}), encoding="utf-8")
    argv = ["--model", "m", "--output_dir", str(tmp_path / "run")]
    with pytest.raises(SystemExit, match=r"^error: --stop_after c: no such stage \(the stages: a, b\)$"):
        train_cli.main(["--config", str(recipe), *argv, "--stop_after", "c"])
    with pytest.raises(SystemExit, match=r"^error: --stop_after a: only a --config with `stages:` has stages$"):
        train_cli.main([*argv, "--train_data", "x.txt", "--stop_after", "a"])
    assert not (tmp_path / "run").exists()


@pytest.mark.shared_data
def test_three_stages_run_resume_and_report(shared_data, tmp_path):
    korsts = shared_data / "korsts"
    recipe = tmp_path / "pipeline.yaml"
    recipe.write_text(yaml.safe_dump({
        "pooler": "avg", "max_seq_length": 24, "batch_size": 16, "max_steps": 2, "checkpoint_steps": 2,
        "strategy": "cpu", "export": False, "learning_rate": 1e-3,
        "stages": [
            {"name": "simcse", "objective": "sup", "train_data": [str(shared_data / "kornli" / "xnli.dev.ko.tsv")]},
            {"name": "sts", "objective": "cosent", "train_data": [str(korsts / "sts-train.tsv")],
             "eval_data": [f"korsts:dev={korsts / 'sts-dev.tsv'}"], "eval_steps": 2},
            {"name": "student", "objective": "distill", "model": "@simcse", "teacher": "@sts", "student_layers": "1",
             "train_data": [str(korsts / "sts-dev.tsv")]},
        ],
    }), encoding="utf-8")
    out = tmp_path / "run"
    argv = ["--config", str(recipe), "--model", str(FIXTURES / "tiny_bert"), "--output_dir", str(out)]
    assert train_cli.main([*argv, "--stop_after", "sts"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["01-simcse", "02-sts", "stages.json", "stages.md"]
    assert [r["stage"] for r in json.loads((out / "stages.json").read_text())["stages"]] == ["simcse", "sts"]
    before = {p: p.stat().st_mtime_ns for p in out.glob("*/metrics.json")}
    assert len(before) == 2

    assert train_cli.main(argv) == 0  # the same command without --stop_after goes on from there
    assert {p: p.stat().st_mtime_ns for p in out.glob("0[12]-*/metrics.json")} == before
    rows = json.loads((out / "stages.json").read_text())["stages"]
    assert [r["stage"] for r in rows] == ["simcse", "sts", "student"]
    assert [r["steps"] for r in rows] == [2, 2, 2]
    assert rows[1]["model"] == str(out / "01-simcse") and rows[1]["selection_metric"] == "korsts:dev/cosine_spearman"
    student = json.loads((out / "03-student" / "config.json").read_text())
    assert student["teacher"] == str(out / "02-sts") and student["model"] == str(out / "01-simcse")
    assert (out / "03-student" / "teacher_embeddings.npy").exists()
    table = (out / "stages.md").read_text()
    assert table.count("\n") == 5 and "| sts | cosent | 2 | " in table

    mtimes = {p: p.stat().st_mtime_ns for p in out.glob("*/metrics.json")}
    assert train_cli.main(argv) == 0  # everything done: nothing is trained again
    assert {p: p.stat().st_mtime_ns for p in out.glob("*/metrics.json")} == mtimes
