"""The trainer's step accounting and loop on two replicas: float16 skips, steps_per_execution + XLA, reruns.

Runs the real Trainer on the tiny checkpoint and the real KorNLI file, under `MirroredStrategy` over the two
logical CPUs of tests/conftest.py, with dropout on and the real optimizer (AdamW, clipping, weight decay).
"""

import errno
import json
import subprocess

import keras
import numpy as np
import pytest
import tensorflow as tf

from _tiny import Kill, kill_after
from tests.conftest import FIXTURES
from tf_simcse import _cli, distribute
from tf_simcse.config import build_config
from tf_simcse.errors import DiskFullError
from tf_simcse.trainer import Trainer, TrainingError

pytestmark = pytest.mark.shared_data


def _config(shared_data, output_dir, **overrides):
    values = dict(
        model=str(FIXTURES / "tiny_bert"),
        objective="sup",
        train_data=[str(shared_data / "kornli" / "xnli.dev.ko.tsv")],
        output_dir=str(output_dir),
        strategy="mirrored",
        batch_size=16,
        max_seq_length=24,
        learning_rate=1e-3,
        weight_decay=0.01,
        max_grad_norm=1.0,
        max_steps=6,
        eval_steps=100,
        checkpoint_steps=1,
        dropout=0.1,
        seed=7,
        export=False,
    )
    values.update(overrides)
    return build_config(values)


def _weights(trainer):
    return [v.numpy() for v in trainer.encoder.weights]


def _state(output_dir):
    return json.loads((output_dir / "trainer_state.json").read_text())


OVERFLOW_STEP = 3
INITIAL_SCALE = 2.0**10


class OverflowOnceAtStep(distribute.SyncedLossScaleOptimizer):
    """Fault injection: at the update of step OVERFLOW_STEP (while the loss scale is still the initial one),
    replica 1's float16 gradients overflow, as a backward pass on that replica's data can."""

    def apply(self, grads, trainable_variables=None):
        ctx = tf.distribute.get_replica_context()
        bad = tf.logical_and(
            tf.logical_and(tf.equal(self.iterations, OVERFLOW_STEP - 1), tf.equal(self.dynamic_scale, INITIAL_SCALE)),
            tf.equal(ctx.replica_id_in_sync_group, 1),
        )
        grads = [tf.where(bad, tf.fill(tf.shape(g), np.inf), g) for g in grads]
        return super().apply(grads, trainable_variables)


@pytest.fixture
def overflow_once(monkeypatch):
    real = distribute.make_optimizer

    def make_optimizer(**kwargs):
        inner = real(**dict(kwargs, precision="float32"))
        return OverflowOnceAtStep(inner, initial_scale=INITIAL_SCALE)

    monkeypatch.setattr(distribute, "make_optimizer", make_optimizer)
    yield
    keras.config.set_dtype_policy("float32")  # the trainer set mixed_float16 globally


@pytest.mark.slow
def test_float16_skip_counts_as_a_step_and_resume_matches(shared_data, tmp_path, overflow_once):
    """An overflow on one replica at step 3 of a mixed_float16 run: the step is logged and counted as skipped,
    the data position moves on; killed after step 5 and rerun, no batch is trained twice, no step logged twice,
    and the weights equal those of the uninterrupted run."""
    full = Trainer(_config(shared_data, tmp_path / "full", precision="mixed_float16"))
    report = full.run()
    assert report["steps"] == 6 and report["skipped_steps"] == 1
    assert int(full.optimizer.iterations.numpy()) == 5  # one update fewer than batches
    state = _state(tmp_path / "full")
    assert [s for s, _ in state["losses"]] == [1, 2, 3, 4, 5, 6]
    assert state["skipped"] == [OVERFLOW_STEP]
    assert json.loads((tmp_path / "full" / "metrics.json").read_text())["skipped_steps"] == 1

    config = _config(shared_data, tmp_path / "killed", precision="mixed_float16")
    first = Trainer(config)
    with pytest.raises(Kill):
        first.run(callbacks=[kill_after(first, 5)])
    assert [s for s, _ in _state(tmp_path / "killed")["losses"]] == [1, 2, 3, 4, 5]
    resumed = Trainer(config)
    report = resumed.run()
    assert report["steps"] == 6 and report["skipped_steps"] == 1
    state = _state(tmp_path / "killed")
    assert [s for s, _ in state["losses"]] == [1, 2, 3, 4, 5, 6]  # nothing trained or logged twice
    assert state["losses"] == _state(tmp_path / "full")["losses"]
    for a, b in zip(_weights(full), _weights(resumed)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_steps_per_execution_trains_like_one_step_per_call(shared_data, tmp_path):
    """4 steps per compiled call (with XLA, static shapes, dropout on) end with the weights of 1 step per call,
    and evaluations and checkpoints keep their steps."""
    common = dict(static_shapes=True, max_steps=8, checkpoint_steps=4, log_steps=4, eval_steps=4, jit_compile=True,
                  strategy="cpu", eval_data=[f"korsts:dev={shared_data / 'korsts' / 'sts-dev.tsv'}"])
    one = Trainer(_config(shared_data, tmp_path / "one", steps_per_execution=1, **common))
    one.run()
    four = Trainer(_config(shared_data, tmp_path / "four", steps_per_execution=4, **common))
    report = four.run()
    assert four.steps_per_execution == 4
    assert [e["step"] for e in report["evaluations"]] == [0, 4, 8]
    checkpoints = tf.train.get_checkpoint_state(str(tmp_path / "four" / "checkpoints"))
    assert [p.rsplit("-", 1)[1] for p in checkpoints.all_model_checkpoint_paths] == ["4", "8"]
    diff = max(float(np.abs(a - b).max()) for a, b in zip(_weights(one), _weights(four)))
    print(f"steps_per_execution 4 vs 1 (XLA, one device): max |weight diff| {diff:.2e}")
    assert diff < 1e-6


@pytest.mark.slow
def test_steps_per_execution_on_two_replicas_trains_like_one_step_per_call(shared_data, tmp_path):
    """MirroredStrategy over 2 devices, dropout on: calls of 2 steps, then the epoch's last one (Keras's own loop
    fails there; tf_simcse.multi_step unrolls it), end with the weights of 1 step per call. (2 steps a call, not
    4: each unrolled step is traced per replica, and tracing dominates this test's time.)"""
    # No eval data (the cadence of evaluations is the checkpoints' rule, tested with XLA on one device above).
    common = dict(max_steps=5, checkpoint_steps=4, log_steps=4, strategy="mirrored")
    one = Trainer(_config(shared_data, tmp_path / "one", steps_per_execution=1, **common))
    one.run()
    two = Trainer(_config(shared_data, tmp_path / "two", steps_per_execution=2, **common))
    two.run()
    assert two.strategy.num_replicas_in_sync == 2
    assert [s for s, _ in _state(tmp_path / "two")["losses"]] == [2, 4, 5]  # one loss a call
    checkpoints = tf.train.get_checkpoint_state(str(tmp_path / "two" / "checkpoints"))
    assert [p.rsplit("-", 1)[1] for p in checkpoints.all_model_checkpoint_paths] == ["4", "5"]
    diff = max(float(np.abs(a - b).max()) for a, b in zip(_weights(one), _weights(two)))
    print(f"steps_per_execution 2 vs 1 (2 replicas): max |weight diff| {diff:.2e}")
    assert diff < 1e-6


def test_xla_on_several_non_tpu_replicas_is_refused(shared_data, tmp_path):
    with pytest.raises(TrainingError, match="one XLA program"):
        Trainer(_config(shared_data, tmp_path / "x", jit_compile=True)).run()


def test_reruns_after_a_failed_start_and_without_eval_data(shared_data, tmp_path):
    """A run that failed before its first step does not block the corrected rerun; a run without eval data saves
    its last step as best/; a resume that would move the end of the schedule is refused."""
    out = tmp_path / "run"
    bad = _config(shared_data, out, train_data=[str(tmp_path / "missing.tsv")], strategy="cpu")
    with pytest.raises((FileNotFoundError, ValueError, TrainingError)):
        Trainer(bad).run()
    good = _config(shared_data, out, strategy="cpu", max_steps=2, checkpoint_steps=2)
    report = Trainer(good).run()
    assert report["steps"] == 2 and report["best_step"] == 2
    assert (out / "best" / "tf_simcse_encoder.json").exists()
    with pytest.raises(TrainingError, match="scheduled for 2 steps"):
        Trainer(_config(shared_data, out, strategy="cpu", max_steps=4, checkpoint_steps=2)).run()


@pytest.fixture
def small_disk(tmp_path):
    """A 16 MiB tmpfs: a disk that really fills up (ENOSPC from the kernel, not a mock)."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount_point)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"a full disk is simulated with a small tmpfs, and mounting one needs root: {mounted.stderr}")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=False)


class _FillDiskAfter(keras.callbacks.Callback):
    """Once step `step` is checkpointed, writes a filler file until the disk is full."""

    def __init__(self, trainer, step, filler):
        super().__init__()
        self.trainer, self.step, self.filler = trainer, step, filler

    def on_train_batch_end(self, batch, logs=None):
        if self.trainer.step != self.step:
            return
        with open(self.filler, "wb") as f:
            try:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            except OSError as error:
                assert error.errno == errno.ENOSPC


def test_a_full_disk_while_checkpointing_keeps_the_previous_checkpoint(shared_data, small_disk):
    out = small_disk / "run"
    config = _config(shared_data, out, strategy="cpu", max_steps=4)
    trainer = Trainer(config)
    with pytest.raises(DiskFullError) as raised:
        trainer.run(callbacks=[_FillDiskAfter(trainer, 2, small_disk / "filler")])
    message = _cli.error_message(raised.value)
    assert "checkpoint of step 3" in message and "ckpt-2 is intact" in message and "\n" not in message
    assert tf.train.latest_checkpoint(str(out / "checkpoints")).endswith("ckpt-2")
    assert not [p.name for p in (out / "checkpoints").iterdir() if p.name.startswith("ckpt-3")]

    (small_disk / "filler").unlink()
    report = Trainer(config).run()  # the same command again, with space freed: resumes at step 2
    assert report["steps"] == 4
    assert [s for s, _ in _state(out)["losses"]] == [1, 2, 3, 4]
