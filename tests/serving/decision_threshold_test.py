"""The `decision_threshold.json` contract: write, read back, refuse malformed files; any tf.io.gfile path."""

import json

import pytest
import tensorflow as tf

from tf_simcse.exporting import DECISION_THRESHOLD_FILE, read_decision_threshold, write_decision_threshold

RECORD = {"threshold": 0.6125, "metric": "f1", "split": "klue_sts:validation", "source": "tf_simcse.evaluate"}


def test_round_trip_local_and_ram(tmp_path):
    assert read_decision_threshold(tmp_path) is None
    path = write_decision_threshold(tmp_path, 0.6125, metric="f1", split="klue_sts:validation",
                                    source="tf_simcse.evaluate")
    assert path == str(tmp_path / DECISION_THRESHOLD_FILE)
    assert json.loads((tmp_path / DECISION_THRESHOLD_FILE).read_text(encoding="utf-8")) == RECORD
    assert read_decision_threshold(tmp_path) == RECORD
    assert sorted(p.name for p in tmp_path.iterdir()) == [DECISION_THRESHOLD_FILE]  # no temporary file left
    # Replacing it.
    write_decision_threshold(tmp_path, -0.25, metric="accuracy", split="dev", source="test")
    assert read_decision_threshold(tmp_path)["threshold"] == -0.25

    tf.io.gfile.makedirs("ram://threshold_test/export")
    write_decision_threshold("ram://threshold_test/export", 0.5, metric="f1", split="dev", source="test")
    assert read_decision_threshold("ram://threshold_test/export")["threshold"] == 0.5


@pytest.mark.parametrize(
    "content,message",
    [
        ("[0.5]", "expected a JSON object"),
        ('{"threshold": 0.5}', r"missing \['metric', 'source', 'split'\]"),
        (json.dumps({**RECORD, "extra": 1}), r"unknown \['extra'\]"),
        (json.dumps({**RECORD, "threshold": "0.5"}), "'threshold' must be a finite number"),
        (json.dumps({**RECORD, "threshold": True}), "'threshold' must be a finite number"),
        ('{"threshold": NaN, "metric": "f1", "split": "d", "source": "s"}', "'threshold' must be a finite number"),
        (json.dumps({**RECORD, "split": ""}), "'split' must be a non-empty string"),
        ("{not json", "not valid UTF-8 JSON"),
    ],
)
def test_malformed_files_are_refused(tmp_path, content, message):
    (tmp_path / DECISION_THRESHOLD_FILE).write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        read_decision_threshold(tmp_path)


def test_write_refuses_bad_values(tmp_path):
    with pytest.raises(ValueError, match="'threshold' must be a finite number"):
        write_decision_threshold(tmp_path, float("inf"), metric="f1", split="dev", source="s")
    with pytest.raises(ValueError, match="'metric' must be a non-empty string"):
        write_decision_threshold(tmp_path, 0.5, metric=" ", split="dev", source="s")
    with pytest.raises(FileNotFoundError, match="no such export directory"):
        write_decision_threshold(tmp_path / "missing", 0.5, metric="f1", split="dev", source="s")
    assert list(tmp_path.iterdir()) == []
