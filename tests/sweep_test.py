"""`python -m tf_simcse.sweep`: seeds and an Optuna search, with real training runs of the tiny checkpoint on the
real KorNLI / KorSTS files, real Optuna studies in real SQLite files, and real concurrent worker processes."""

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.conftest import FIXTURES, REPO_ROOT
from tf_simcse import sweep
from tf_simcse.config import build_config, load_config_file

pytestmark = pytest.mark.shared_data

optuna = pytest.importorskip("optuna")

DEV = "korsts:dev"
TEST = "korsts:test"  # reported once per run, never used to select: here the first 300 pairs of KorSTS train


@pytest.fixture
def test_task(shared_data, tmp_path):
    lines = (shared_data / "korsts" / "sts-train.tsv").read_text(encoding="utf-8").splitlines(keepends=True)
    path = tmp_path / "sts-test-300.tsv"
    path.write_text("".join(lines[:301]), encoding="utf-8")  # the header and 300 pairs: a quick test split
    return f"{TEST}={path}"


def _flags(shared_data, **overrides):
    values = {
        "model": FIXTURES / "tiny_bert",
        "objective": "sup",
        "train_data": shared_data / "kornli" / "xnli.dev.ko.tsv",
        "eval_data": f"{DEV}={shared_data / 'korsts' / 'sts-dev.tsv'}",
        "batch_size": 16,
        "max_seq_length": 24,
        "learning_rate": 1e-3,
        "max_steps": 2,
        "eval_steps": 1,
        "checkpoint_steps": 2,
        "dropout": 0.1,
        "strategy": "cpu",
        "export": "false",
    }
    values.update(overrides)
    return [arg for key, value in values.items() if value is not None for arg in (f"--{key}", str(value))]


def _error(argv, capsys):
    """The one `error:` line `sweep.main(argv)` exits with (status 1), no traceback."""
    with pytest.raises(SystemExit) as exit_info:
        sweep.main(argv)
    message = exit_info.value.code
    assert isinstance(message, str) and message.startswith("error: ") and "\n" not in message, message
    assert "Traceback" not in capsys.readouterr().err
    return message


def _figures(entry, prefix=""):
    return {f"{prefix}{k}": v for k, v in entry.items() if k != "step" and not k.rsplit("/", 1)[-1].startswith("num_")}


def _check(stats, values):
    """mean, sample sd (ddof=1), min, max, n of `values` by the textbook formulas."""
    x = np.asarray(values, dtype=np.float64)
    n = len(x)
    mean = x.sum() / n
    assert stats["n"] == n
    assert stats["mean"] == pytest.approx(mean, rel=1e-12, abs=1e-12)
    if n == 1:
        assert stats["sd"] is None
    else:
        assert stats["sd"] == pytest.approx(np.sqrt(((x - mean) ** 2).sum() / (n - 1)), rel=1e-9, abs=1e-12)
    assert (stats["min"], stats["max"]) == (x.min(), x.max())
    assert list(stats["values"].values()) == list(values)


def test_seeds_summary_is_numpy_over_the_runs_and_a_rerun_trains_nothing(shared_data, tmp_path, capsys, test_task):
    out = tmp_path / "seeds"
    argv = ["seeds", "--seeds", "0,1", "--output_dir", str(out), *_flags(shared_data, test_data=test_task)]
    assert sweep.main(argv) == 0

    metrics = {s: json.loads((out / f"seed-{s}" / "metrics.json").read_text()) for s in (0, 1)}
    for s in (0, 1):
        assert json.loads((out / f"seed-{s}" / "config.json").read_text())["seed"] == s
        assert [e["step"] for e in metrics[s]["evaluations"]] == [0, 1, 2]
    selected = {s: _figures(next(e for e in m["evaluations"] if e["step"] == m["best_step"])) for s, m in metrics.items()}
    last = {s: _figures(m["evaluations"][-1]) for s, m in metrics.items()}
    test = {s: _figures(m["test"][TEST], f"{TEST}/") for s, m in metrics.items()}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["seeds"] == [0, 1] and summary["selection_metric"] == f"{DEV}/cosine_spearman"
    for group, per_seed in (("selected", selected), ("last", last), ("test", test)):
        assert set(summary[group]) == set(per_seed[0]) and len(per_seed[0]) == 9, group  # the STS table + mean
        for name in per_seed[0]:
            _check(summary[group][name], [per_seed[0][name], per_seed[1][name]])
    assert summary["last"][f"{DEV}/cosine_spearman"]["sd"] > 0  # two different runs
    table = (out / "summary.md").read_text()
    cosine = summary["selected"][f"{DEV}/cosine_spearman"]
    assert f"| {DEV}/cosine_spearman | {cosine['mean']:.2f} | {cosine['sd']:.2f} |" in table

    # A rerun trains nothing; the summary over one seed has n = 1 and no sd.
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("seed-*/**/*") if p.is_file()}
    capsys.readouterr()
    assert sweep.main(argv) == 0
    assert "seed 1: finished run" in capsys.readouterr().err
    assert sweep.main([*argv[:1], "--seeds", "1", *argv[3:]]) == 0
    assert {p: p.stat().st_mtime_ns for p in out.glob("seed-*/**/*") if p.is_file()} == stamps
    single = json.loads((out / "summary.json").read_text())
    _check(single["test"][f"{TEST}/cosine_spearman"], [test[1][f"{TEST}/cosine_spearman"]])
    assert "| – |" in (out / "summary.md").read_text()

    # A finished seed of another config is not summarised as this one's.
    message = _error([*argv, "--temperature", "0.1"], capsys)
    assert "seed-0 holds a finished run of another config (temperature: 0.05 -> 0.1)" in message


def test_seeds_in_parallel_processes_train_as_in_process(shared_data, tmp_path, capsys):
    """--parallel 2: each seed a `python -m tf_simcse.train` process of its own (one intra-op thread each here);
    the runs equal the in-process runs of the same seeds, and a failed seed is one error line naming its log."""
    flags = _flags(shared_data, max_steps=3, checkpoint_steps=1)
    parallel, alone = tmp_path / "parallel", tmp_path / "alone"
    assert sweep.main(["seeds", "--seeds", "0,1", "--parallel", "2", "--output_dir", str(parallel), *flags]) == 0
    err = capsys.readouterr().err
    assert "seed 0: training in process" in err and "seed 1: training in process" in err
    assert sweep.main(["seeds", "--seeds", "0,1", "--output_dir", str(alone), *flags]) == 0
    for s in (0, 1):
        ours = json.loads((parallel / f"seed-{s}" / "metrics.json").read_text())
        theirs = json.loads((alone / f"seed-{s}" / "metrics.json").read_text())
        assert json.loads((parallel / f"seed-{s}" / "config.json").read_text())["seed"] == s
        assert [e["step"] for e in ours["evaluations"]] == [0, 1, 2, 3]
        for a, b in zip(ours["evaluations"], theirs["evaluations"]):
            # Another thread count sums in another order: float32 round-off, no more.
            assert a[f"{DEV}/cosine_spearman"] == pytest.approx(b[f"{DEV}/cosine_spearman"], abs=0.02)
        assert "step 3" in (parallel / f"seed-{s}" / "train.log").read_text()
    summary = json.loads((parallel / "summary.json").read_text())
    assert summary["seeds"] == [0, 1] and summary["last"][f"{DEV}/cosine_spearman"]["n"] == 2
    # A rerun finds both seeds finished and trains nothing (the child's config.json is the parent's config).
    assert sweep.main(["seeds", "--seeds", "0,1", "--parallel", "2", "--output_dir", str(parallel), *flags]) == 0
    assert "seed 1: finished run" in capsys.readouterr().err

    # Seeds whose training fails (here: the model directory is gone) -> one error line naming each seed's log.
    broken = tmp_path / "broken"
    message = _error(["seeds", "--seeds", "5,6", "--parallel", "2", "--output_dir", str(broken),
                      *_flags(shared_data, model=tmp_path / "no-such-model")], capsys)
    assert "2 of 2 seed run(s) failed" in message and str(broken / "seed-6" / "train.log") in message
    assert "no-such-model" in message


def test_search_prunes_resumes_its_study_and_writes_a_loadable_best_config(shared_data, tmp_path, test_task):
    out, storage = tmp_path / "search", f"sqlite:///{tmp_path / 'study.db'}"
    space = tmp_path / "space.yaml"
    space.write_text("learning_rate: {type: float, low: 1e-7, high: 1e-1, log: true}\n"
                     "temperature: {type: float, low: 0.03, high: 0.1}\n")
    # The first two trials' parameters, queued in the study: lr 1e-2, which raises this tiny model's dev figure at
    # step 1 (15.37 -> 17.59 when written), then 1e-3, which lowers it (15.17). The median pruner compares a
    # trial's best figure so far (its step 0 included, 15.37) with trial 0's at the same step, so trial 1 is
    # pruned at step 1 (deterministic for a given code, data and seed).
    study = optuna.create_study(storage=storage, study_name="tiny", direction="maximize")
    study.enqueue_trial({"learning_rate": 1e-2, "temperature": 0.05})
    study.enqueue_trial({"learning_rate": 1e-3, "temperature": 0.05})
    argv = ["search", "--space", str(space), "--storage", storage, "--study_name", "tiny", "--output_dir", str(out),
            "--prune_startup_trials", "1", "--sampler_seed", "0",
            *_flags(shared_data, learning_rate=None, test_data=test_task)]
    assert sweep.main([*argv, "--trials", "2"]) == 0

    trials = optuna.load_study(study_name="tiny", storage=storage).trials
    assert [t.state.name for t in trials] == ["COMPLETE", "PRUNED"]
    metrics = json.loads((out / "trial-0" / "metrics.json").read_text())
    assert trials[0].value == metrics["best_value"]
    assert trials[0].intermediate_values == {e["step"]: e[f"{DEV}/cosine_spearman"] for e in metrics["evaluations"]}
    assert trials[0].user_attrs["test"] == metrics["test"]
    assert sorted(trials[1].intermediate_values) == [0, 1]  # stopped at its first evaluation after training
    assert not (out / "trial-1" / "metrics.json").exists()

    assert sweep.main([*argv, "--trials", "1"]) == 0  # the same study, one more trial
    trials = optuna.load_study(study_name="tiny", storage=storage).trials
    assert [t.number for t in trials] == [0, 1, 2] and trials[2].state.name in ("COMPLETE", "PRUNED")
    best = max((t for t in trials if t.state.name == "COMPLETE"), key=lambda t: t.value)

    recipe = load_config_file(out / "best_config.yaml")
    config = build_config(recipe, {"output_dir": str(tmp_path / "retrain")})
    trained = json.loads((out / f"trial-{best.number}" / "config.json").read_text())
    assert {**config.to_dict(), "output_dir": None} == {**trained, "output_dir": None}
    assert (config.learning_rate, config.temperature) == (best.params["learning_rate"], best.params["temperature"])
    table = (out / "search.md").read_text()
    assert "| 1 | PRUNED |" in table and f"| {best.number} | COMPLETE | {best.value:.2f} |" in table
    assert f"test {TEST}/cosine_spearman" in table


def test_two_workers_share_one_sqlite_study(shared_data, tmp_path):
    """Two processes started at once on a new SQLite file (both create the study): one trial each."""
    storage = f"sqlite:///{tmp_path / 'shared.db'}"
    space = tmp_path / "space.yaml"
    space.write_text("temperature: {type: float, low: 0.03, high: 0.1}\n")
    command = [sys.executable, "-m", "tf_simcse.sweep", "search", "--space", str(space), "--trials", "1",
               "--storage", storage, "--study_name", "workers", "--output_dir", str(tmp_path / "search"),
               *_flags(shared_data, max_steps=1)]
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    workers = [subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
               for _ in range(2)]
    for worker in workers:
        _, stderr = worker.communicate(timeout=300)
        assert worker.returncode == 0, stderr[-3000:]
    trials = optuna.load_study(study_name="workers", storage=storage).trials
    assert sorted(t.number for t in trials) == [0, 1]
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE"]
    for t in trials:
        assert t.user_attrs["output_dir"] == str(tmp_path / "search" / f"trial-{t.number}")
        assert json.loads((tmp_path / "search" / f"trial-{t.number}" / "metrics.json").read_text())["steps"] == 1


def test_a_parallel_run_in_a_bucket_logs_to_a_local_file(tmp_path):
    from tf_simcse.sweeping import runs

    assert runs._local_log_path(str(tmp_path / "seed-1"), "seed 1") == str(tmp_path / "seed-1" / runs.RUN_LOG_FILE)
    remote = runs._local_log_path("gs://bucket/sweep/seed-1", "seed 1")
    assert not remote.startswith("gs://") and os.path.isdir(os.path.dirname(remote)) and "seed-1" in remote


def test_a_killed_worker_s_trial_is_retried_with_its_parameters_from_its_checkpoint(shared_data, tmp_path, capsys):
    """Heartbeats: a worker killed (SIGKILL) mid-trial leaves the trial RUNNING; the next worker marks it FAIL
    after two heartbeat intervals and retries it with the same parameters in the same directory, resuming from
    the checkpoint the killed worker wrote."""
    storage, out = f"sqlite:///{tmp_path / 'study.db'}", tmp_path / "search"
    space = tmp_path / "space.yaml"
    space.write_text("temperature: {type: float, low: 0.03, high: 0.1}\n")
    argv = ["search", "--space", str(space), "--trials", "1", "--storage", storage, "--study_name", "hb",
            "--output_dir", str(out), "--heartbeat", "1", *_flags(shared_data, max_steps=40, checkpoint_steps=2,
                                                                     eval_steps=20)]
    worker = subprocess.Popen([sys.executable, "-m", "tf_simcse.sweep", *argv], env=dict(os.environ,
                              PYTHONPATH=str(REPO_ROOT)), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    checkpoints = out / "trial-0" / "checkpoints"
    deadline = time.monotonic() + 240
    # The manager's `checkpoint` file names a checkpoint only once all of it is written (an .index file alone may
    # be a save in progress, which a resume rightly ignores).
    while not (checkpoints / "checkpoint").exists() and time.monotonic() < deadline and worker.poll() is None:
        time.sleep(0.1)
    worker.kill()
    stderr = worker.communicate()[1].decode(errors="replace")
    assert (checkpoints / "checkpoint").exists(), f"no checkpoint before the kill: {stderr[-3000:]}"
    assert not (out / "trial-0" / "metrics.json").exists()  # killed mid-trial
    killed = optuna.load_study(study_name="hb", storage=storage).trials[0]
    assert killed.state.name == "RUNNING"
    # Past the grace period of two heartbeat intervals (2 s). Optuna stamps heartbeats with SQLite's
    # CURRENT_TIMESTAMP, whole seconds: 2.5 s of waiting can read as 2 s, not stale yet.
    time.sleep(4.5)

    capsys.readouterr()
    assert sweep.main(argv) == 0
    trials = optuna.load_study(study_name="hb", storage=storage).trials
    assert [t.state.name for t in trials] == ["FAIL", "COMPLETE"]
    retry = trials[1]
    assert retry.params == killed.params and retry.system_attrs["failed_trial"] == 0
    assert retry.user_attrs["output_dir"] == str(out / "trial-0")
    assert "resuming from" in capsys.readouterr().err
    metrics = json.loads((out / "trial-0" / "metrics.json").read_text())
    assert metrics["steps"] == 40 and retry.value == metrics["best_value"]
    assert not (out / "trial-1").exists()
    assert "retry of trial 0" in (out / "search.md").read_text()


@pytest.mark.parametrize("space, expected", [
    ("learning_rat: {type: float, low: 1.0e-5, high: 1.0e-4}", "learning_rat: not a training option"),
    ("temperature: {type: gaussian, mean: 0.05}", "temperature: expected {type: float | int | categorical"),
    ("temperature: {type: float, low: 0.1, high: 0.01}", "high=0.01"),
    ("temperature: {type: float, low: 0.0, high: 0.1}", "temperature: 0.0 is refused: config option 'temperature'"),
    ("temperature: {type: float, low: 0.01, hi: 0.1}", "temperature: unknown key(s) ['hi']"),
    ("batch_size: {type: float, low: 8, high: 32}", "batch_size: an integer option: use type int"),
    ("batch_size: {type: int, low: 8, high: 32.5}", "batch_size: high: expected an integer"),
    ("pooler: {type: categorical, choices: [cls, bogus]}", "pooler: 'bogus' is refused"),
    ("pooler: {type: float, low: 0, high: 1}", "pooler: not a numeric option"),
    ("train_data: {type: categorical, choices: [a.txt]}", "train_data: a list option cannot be searched"),
    ("max_steps: {type: int, low: 1, high: 3}", "max_steps: also given as --max_steps"),
    ("[1, 2]", "expected a mapping of option: distribution"),
    ("temperature: {type: float, low: 0.01, high: [0.1", "cannot parse"),
])
def test_a_bad_space_file_is_one_error_line_naming_the_key(shared_data, tmp_path, capsys, space, expected):
    path = tmp_path / "space.yaml"
    path.write_text(space + "\n")
    argv = ["search", "--space", str(path), "--trials", "1", "--storage", f"sqlite:///{tmp_path / 's.db'}",
            "--output_dir", str(tmp_path / "search"), *_flags(shared_data)]
    message = _error(argv, capsys)
    assert message.startswith(f"error: --space {path}: ") and expected in message, message
    assert not (tmp_path / "search").exists() and not (tmp_path / "s.db").exists()  # refused before any work


def test_search_without_optuna_says_what_to_install(shared_data, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)  # `import optuna` raises ImportError
    space = tmp_path / "space.yaml"
    space.write_text("temperature: {type: float, low: 0.03, high: 0.1}\n")
    argv = ["search", "--space", str(space), "--trials", "1", "--output_dir", str(tmp_path), *_flags(shared_data)]
    assert _error(argv, capsys) == 'error: `sweep search` needs Optuna: pip install "tf_simcse[sweep]"'


def test_the_package_does_not_import_optuna():
    code = "import sys, tf_simcse.sweep, tf_simcse.sweeping.search, tf_simcse.sweeping.seeds; print('optuna' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)),
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.stdout.strip() == "False", result.stderr[-2000:]
