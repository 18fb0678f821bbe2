"""The training run end to end on the tiny checkpoint and real KorNLI/KorSTS files: outputs, resume, errors."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import FIXTURES, REPO_ROOT
from tf_simcse.config import build_config
from tf_simcse.trainer import Trainer, TrainingError

pytestmark = pytest.mark.shared_data


def _config(shared_data, output_dir, **overrides):
    values = dict(
        model=str(FIXTURES / "tiny_bert"),
        objective="sup",
        train_data=[str(shared_data / "kornli" / "xnli.dev.ko.tsv")],
        eval_data=[f"korsts:dev={shared_data / 'korsts' / 'sts-dev.tsv'}"],
        output_dir=str(output_dir),
        batch_size=16,
        max_seq_length=24,
        learning_rate=1e-3,
        max_steps=6,
        eval_steps=3,
        checkpoint_steps=3,
        dropout=0.1,
        seed=7,
        export=False,
    )
    values.update(overrides)
    return build_config(values)


def _cli_args(config):
    args = []
    for key, value in config.to_dict().items():
        if value is None or value == [] or value == "":
            continue
        for item in value if isinstance(value, list) else [value]:
            args += [f"--{key}", str(item)]
    return args


def test_run_writes_the_output_contract(shared_data, tmp_path):
    report = Trainer(_config(shared_data, tmp_path / "run", export=True)).run()
    out = tmp_path / "run"
    for name in ("config.json", "metrics.json", "best/tf_simcse_encoder.json", "checkpoints/checkpoint", "logs",
                 "export/preprocessor", "export/encoder", "export/sentence_encoder", "export/README.md"):
        assert (out / name).exists(), name
    assert report["steps"] == 6
    assert [e["step"] for e in report["evaluations"]] == [0, 3, 6]  # the baseline, then every eval_steps
    assert report["data_report"]["triplets"] == 830
    assert json.loads((out / "config.json").read_text())["objective"] == "sup"
    best = max(report["evaluations"], key=lambda e: e["korsts:dev/cosine_spearman"])
    assert report["best_step"] == best["step"]


@pytest.mark.slow
def test_killed_run_resumes_bit_exactly(shared_data, tmp_path):
    """SIGKILL a CPU run after its first checkpoint; rerunning the same command continues with identical losses."""
    full = _config(shared_data, tmp_path / "full", max_steps=12, checkpoint_steps=2, eval_steps=100)
    Trainer(full).run()
    expected = json.loads((tmp_path / "full" / "trainer_state.json").read_text())["losses"]
    assert [s for s, _ in expected] == list(range(1, 13))

    killed = _config(shared_data, tmp_path / "killed", max_steps=12, checkpoint_steps=2, eval_steps=100)
    command = [sys.executable, "-m", "tf_simcse.train", *_cli_args(killed)]
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first_checkpoint = tmp_path / "killed" / "checkpoints" / "ckpt-2.index"
    deadline = time.time() + 300
    while not first_checkpoint.exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    state = json.loads((tmp_path / "killed" / "trainer_state.json").read_text())
    interrupted_at = state["losses"][-1][0]
    assert interrupted_at < 12, "the run finished before it could be killed; nothing was tested"

    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "resuming from" in result.stderr
    resumed = json.loads((tmp_path / "killed" / "trainer_state.json").read_text())["losses"]
    assert resumed == expected  # bit-exact: the same floats, step for step


def test_non_finite_loss_stops_naming_the_step(shared_data, tmp_path):
    # A temperature this small overflows the logits to inf on the first step.
    config = _config(shared_data, tmp_path / "nan", temperature=1e-38, checkpoint_steps=1)
    with pytest.raises(TrainingError, match=r"the loss became (nan|inf) at step 1; stopped\. The last good checkpoint"):
        Trainer(config).run()


def test_a_different_config_in_the_same_output_dir_is_refused(shared_data, tmp_path):
    Trainer(_config(shared_data, tmp_path / "run", max_steps=3)).run()
    with pytest.raises(TrainingError, match=r"learning_rate: 0\.001 -> 0\.002"):
        Trainer(_config(shared_data, tmp_path / "run", max_steps=3, learning_rate=2e-3)).run()


def test_selection_split_cannot_be_a_test_split(shared_data, tmp_path):
    with pytest.raises(ValueError, match="test_data.*also an eval_data split"):
        _config(shared_data, tmp_path, test_data=[f"korsts:dev={shared_data / 'korsts' / 'sts-dev.tsv'}"])


def test_bad_options_name_the_option(shared_data, tmp_path):
    with pytest.raises(ValueError, match="config option 'objective'"):
        _config(shared_data, tmp_path, objective="simcse")
    with pytest.raises(ValueError, match="config option 'batch_size'"):
        _config(shared_data, tmp_path, batch_size=0)
