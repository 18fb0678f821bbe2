"""Evaluation tasks: spec parsing, local upstream files vs prepared TFDS data, and the tiny encoder end to end."""

import numpy as np
import pytest

from tests.conftest import FIXTURES
from tf_simcse.encoders.encoder import Encoder
from tf_simcse.evaluation import sts_metrics
from tf_simcse.evaluation.tasks import TaskSpec, load_task_data, parse_task, run_task


def test_parse_task_forms(tmp_path):
    f = tmp_path / "sts-dev.tsv"
    f.write_text("x")
    assert parse_task("korsts") == TaskSpec("korsts", "dev", None)
    assert parse_task("KorSTS:train") == TaskSpec("korsts", "train", None)
    assert parse_task(f"korsts:dev={f}") == TaskSpec("korsts", "dev", str(f))
    with pytest.raises(ValueError, match="unknown task 'sts17'"):
        parse_task("sts17:test")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        parse_task(f"korsts:dev={tmp_path / 'missing.tsv'}")
    with pytest.raises(ValueError, match="must be followed by the path"):
        parse_task("korsts:dev=")


@pytest.fixture(scope="module")
def tiny_encoder():
    return Encoder.from_pretrained(FIXTURES / "tiny_bert", pooler="avg", max_seq_length=32)


@pytest.mark.minilm
def test_korsts_task_is_the_sts_table_of_the_encoders_vectors(minilm_dir, shared_data):
    # A real model: the tiny one maps most Korean text to [UNK], and its tied similarities would rank at random
    # under float32 noise.
    encoder = Encoder.from_pretrained(minilm_dir, pooler="avg", max_seq_length=64)
    path = shared_data / "korsts" / "sts-dev.tsv"
    data = load_task_data(parse_task(f"korsts:dev={path}"))
    data.sentences1, data.sentences2, data.scores = data.sentences1[:64], data.sentences2[:64], data.scores[:64]
    figures = run_task(encoder, parse_task(f"korsts:dev={path}"), data=data)
    # Independent of the task's de-duplication: embed each side directly.
    expected = sts_metrics(encoder.encode(data.sentences1), encoder.encode(data.sentences2), data.scores)
    for key, value in expected.items():
        # Batches are composed differently (float32 noise ~1e-7 in the vectors): figures agree to 1e-4 points.
        assert figures[key] == pytest.approx(value, abs=1e-4), key
    assert figures["num_pairs"] == 64


def test_kornli_task_counts_entailment_and_contradiction_pairs(tiny_encoder, shared_data):
    path = shared_data / "kornli" / "xnli.dev.ko.tsv"
    figures = run_task(tiny_encoder, f"kornli:dev={path}")
    assert figures["num_pairs"] == 2 * 830  # one entailment + one contradiction per premise; neutrals left out
    assert 0.0 <= figures["accuracy"] <= 100.0


def test_tasks_read_prepared_tfds_data_like_the_local_file(tiny_encoder, shared_data, tmp_path, monkeypatch):
    pytest.importorskip("tensorflow_datasets")
    from tfds_builders.prepare import prepare

    prepare("korsts", data_dir=str(tmp_path), manual_dir=str(shared_data / "korsts"), splits=["dev"])
    from_tfds = load_task_data(parse_task("korsts:dev"), tfds_data_dir=str(tmp_path))
    local = load_task_data(parse_task(f"korsts:dev={shared_data / 'korsts' / 'sts-dev.tsv'}"))
    assert from_tfds.sentences1 == local.sentences1 and from_tfds.sentences2 == local.sentences2
    np.testing.assert_allclose(from_tfds.scores, local.scores, atol=1e-6)  # TFDS stores float32
    with pytest.raises(ValueError, match="no split 'test'"):
        load_task_data(parse_task("korsts:test"), tfds_data_dir=str(tmp_path))
    with pytest.raises(ValueError, match="not prepared"):
        load_task_data(parse_task("klue_sts:dev"), tfds_data_dir=str(tmp_path / "empty"))
