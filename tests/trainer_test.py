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
    # best/ and export/keras_hub are keras-hub presets: keras-hub's own loader gives tf_simcse's embeddings.
    import keras_hub
    import numpy as np

    from tf_simcse.encoders.encoder import Encoder

    sentences = ["한 남자가 음식을 먹는다.", "원숭이 한 마리가 드럼을 연주한다.", "a"]
    expected = Encoder.from_pretrained(out).encode(sentences)
    for preset in (out / "best", out / "export" / "keras_hub"):
        embedder = keras_hub.models.TextEmbedder.from_preset(str(preset))
        np.testing.assert_allclose(np.asarray(embedder.encode_text(sentences, verbose=0)), expected, atol=1e-5,
                                   rtol=0, err_msg=str(preset))


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
    state_file = tmp_path / "killed" / "trainer_state.json"

    def checkpointed():  # the checkpoint of step 2 and the state saved right after it (written atomically)
        return state_file.exists() and any(s >= 2 for s, _ in json.loads(state_file.read_text())["losses"])

    deadline = time.time() + 300
    while not checkpointed() and process.poll() is None and time.time() < deadline:
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


@pytest.mark.parametrize("apart", [False, True], ids=["one_pass", "anchors_apart"])
def test_length_grouping_reaches_the_training_batches(shared_data, tmp_path, apart):
    """With dropout off, step 1's logged loss is the paper's loss on batch 0 of the length-grouped epoch
    (with `encode_anchors_apart`, padded and encoded in two blocks)."""
    import numpy as np

    from tf_simcse.data.pipelines import make_training_dataset
    from tf_simcse.encoders.encoder import Encoder

    config = _config(shared_data, tmp_path / "grouped", pooler="avg", dropout=0.0, length_grouping=True,
                     grouping_window=8, max_steps=1, eval_steps=100, encode_anchors_apart=apart)
    trainer = Trainer(config)
    trainer.run()
    logged = json.loads((tmp_path / "grouped" / "trainer_state.json").read_text())["losses"][0][1]

    encoder = Encoder.from_pretrained(config.model, pooler="avg", max_seq_length=24, dropout=0.0,
                                      dynamic_padding=True)

    def numpy_loss(batch):  # SimCSE supervised InfoNCE: anchor i vs all positives and hard negatives, tau 0.05
        z = {k: encoder(v, training=False).numpy().astype(np.float64) for k, v in batch.items()}
        z = {k: v / np.linalg.norm(v, axis=1, keepdims=True) for k, v in z.items()}
        logits = z["anchor"] @ np.concatenate([z["positive"], z["hard_negative"]]).T / 0.05
        logits -= logits.max(axis=1, keepdims=True)
        log_softmax = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        return -np.mean(np.diag(log_softmax))

    kwargs = dict(objective="sup", batch_size=16, seed=7, epoch=0, pad_anchors_separately=apart)
    grouped = next(iter(make_training_dataset(trainer.examples, trainer.train_preprocessor, length_grouping=True,
                                              grouping_window=8, **kwargs)))
    plain = next(iter(make_training_dataset(trainer.examples, trainer.train_preprocessor, **kwargs)))
    assert logged == pytest.approx(numpy_loss(grouped), abs=1e-4)
    assert abs(numpy_loss(plain) - numpy_loss(grouped)) > 1e-2  # the option changed which batch was trained on
    widths = {view: grouped[view]["input_mask"].shape[1] for view in grouped}
    assert (widths["anchor"] != widths["positive"]) == apart, widths
    assert trainer.model.encode_anchors_apart == apart


def test_batching_options_that_defeat_their_purpose_are_warned_about(shared_data, tmp_path):
    from tf_simcse.trainer import _batching_warnings

    sup = _config(shared_data, tmp_path, encode_anchors_apart=True)
    assert _batching_warnings(sup, static_shapes=False) == []
    assert "static shapes saves no padding" in _batching_warnings(sup, static_shapes=True)[0]
    unsup = _config(shared_data, tmp_path, objective="unsup", encode_anchors_apart=True)
    assert "no effect with objective 'unsup'" in _batching_warnings(unsup, static_shapes=False)[0]
    xla = _config(shared_data, tmp_path, jit_compile=True)
    assert "pad_to_multiple_of" in _batching_warnings(xla, static_shapes=False)[0]
    assert _batching_warnings(_config(shared_data, tmp_path, jit_compile=True, pad_to_multiple_of=16), False) == []
