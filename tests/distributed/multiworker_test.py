"""Two worker processes on 127.0.0.1 under MultiWorkerMirroredStrategy (TF_CONFIG), dropout on, AdamW with
clipping and weight decay: the same weights as one process with MirroredStrategy over 2 logical CPUs; only the
chief writes the run's files; killing both workers and restarting them ends with the uninterrupted weights."""

import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.conftest import FIXTURES, REPO_ROOT

pytestmark = [pytest.mark.shared_data, pytest.mark.slow]
DRIVER = pathlib.Path(__file__).with_name("multiworker_driver.py")


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    env.update(PYTHONPATH=str(REPO_ROOT), **extra)
    return env


def _start_workers(out, weights_dir, train_file, **env):
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    processes = []
    for index in range(2):
        tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        command = [sys.executable, str(DRIVER), "multiworker", str(out), str(weights_dir / f"worker{index}.npz"),
                   str(train_file), str(FIXTURES / "tiny_bert")]
        log = open(weights_dir / f"worker{index}.log", "w")
        processes.append(subprocess.Popen(command, env=_env(TF_CONFIG=tf_config, **env), stdout=log, stderr=log))
    return processes


def _wait(processes, weights_dir, timeout=900):
    for index, p in enumerate(processes):
        p.wait(timeout=timeout)
        log = (weights_dir / f"worker{index}.log").read_text()
        assert p.returncode == 0, log[-3000:]


def _weights(path):
    with np.load(path) as f:
        return [f[k] for k in sorted(f.files, key=lambda k: int(k.split("_")[1]))]


def _max_diff(a, b):
    return max(float(np.abs(x - y).max()) for x, y in zip(a, b))


def test_two_workers_train_like_two_local_devices_and_resume(shared_data, tmp_path):
    train_file = shared_data / "kornli" / "xnli.dev.ko.tsv"
    reference = tmp_path / "reference.npz"
    subprocess.run([sys.executable, str(DRIVER), "mirrored", str(tmp_path / "mirrored"), str(reference),
                    str(train_file), str(FIXTURES / "tiny_bert")], env=_env(), check=True, capture_output=True,
                   timeout=900)

    out, logs = tmp_path / "multi", tmp_path / "logs"
    logs.mkdir()
    _wait(_start_workers(out, logs, train_file), logs)
    chief, other = _weights(logs / "worker0.npz"), _weights(logs / "worker1.npz")
    diff = _max_diff(chief, _weights(reference))
    print(f"2 workers x 1 device vs 1 worker x 2 devices: max |weight diff| {diff:.2e}")
    assert _max_diff(chief, other) == 0.0  # the workers hold the same (mirrored) weights
    assert diff < 1e-6
    # Only the chief's files; the other worker's temporary checkpoints are gone.
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["config.json", "checkpoints", "best", "logs", "metrics.json", "trainer_state.json"])
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["steps"] == 6 and metrics["skipped_steps"] == 0

    # Kill both workers after the chief checkpointed step 3, restart both: the uninterrupted weights.
    killed, logs2 = tmp_path / "killed", tmp_path / "logs2"
    logs2.mkdir()
    processes = _start_workers(killed, logs2, train_file)
    state = killed / "trainer_state.json"
    deadline = time.time() + 600
    while time.time() < deadline and all(p.poll() is None for p in processes):
        if state.exists() and max([s for s, _ in json.loads(state.read_text())["losses"]], default=0) >= 3:
            break
        time.sleep(0.05)
    for p in processes:
        p.send_signal(signal.SIGKILL)
        p.wait()
    interrupted_at = max(s for s, _ in json.loads(state.read_text())["losses"])
    assert interrupted_at < 6, "the run finished before it could be killed; nothing was tested"
    _wait(_start_workers(killed, logs2, train_file), logs2)
    assert "resuming from" in (logs2 / "worker0.log").read_text()
    resumed = _weights(logs2 / "worker0.npz")
    print(f"killed at step {interrupted_at} and resumed vs uninterrupted: max |weight diff| {_max_diff(resumed, chief):.2e}")
    assert _max_diff(resumed, chief) == 0.0
    losses = json.loads(state.read_text())["losses"]
    assert [s for s, _ in losses] == [1, 2, 3, 4, 5, 6]


def test_two_workers_with_two_steps_per_call_train_like_one_step_per_call(shared_data, tmp_path):
    """steps_per_execution 2 under MultiWorkerMirroredStrategy (tf_simcse's unrolled calls: 2 + 2 + 1 steps) ends
    with the weights of MirroredStrategy over 2 logical CPUs at 1 step per call."""
    train_file = shared_data / "kornli" / "xnli.dev.ko.tsv"
    reference = tmp_path / "reference.npz"
    subprocess.run([sys.executable, str(DRIVER), "mirrored", str(tmp_path / "mirrored"), str(reference),
                    str(train_file), str(FIXTURES / "tiny_bert")], env=_env(STEPS="5"), check=True,
                   capture_output=True, timeout=900)
    logs = tmp_path / "logs"
    logs.mkdir()
    _wait(_start_workers(tmp_path / "multi", logs, train_file, STEPS="5", CHECKPOINT_STEPS="2",
                         STEPS_PER_EXECUTION="2"), logs)
    diff = _max_diff(_weights(logs / "worker0.npz"), _weights(reference))
    print(f"2 workers at 2 steps per call vs 2 local devices at 1: max |weight diff| {diff:.2e}")
    assert diff < 1e-6
    losses = json.loads((tmp_path / "multi" / "trainer_state.json").read_text())["losses"]
    assert [s for s, _ in losses] == [2, 4, 5]  # the loss is read once per call: after steps 2, 4 and the tail 5
