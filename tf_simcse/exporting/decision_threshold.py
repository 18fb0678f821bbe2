"""`decision_threshold.json`: the cosine threshold an export decides "similar" by, stored in the export directory.

    {"threshold": 0.62, "metric": "f1", "split": "klue_sts:validation", "source": "tf_simcse.evaluate ..."}

- `threshold`: a pair is similar iff its cosine similarity is `>= threshold` (the rule of
  `tf_simcse.evaluation.classification` with `higher_is_positive=True`);
- `metric`: what the threshold maximizes, e.g. `f1` or `accuracy`;
- `split`: the data it was selected on (a dev split, never the test split it is reported on);
- `source`: what wrote it (the program or command), for the reader's provenance.

Training or evaluation writes it with `write_decision_threshold(export_dir, ...)` after selecting the threshold
on a dev split; `python -m tf_simcse.serve` reads it with `read_decision_threshold(export_dir)`. Paths may be any
location `tf.io.gfile` reads and writes (local, `gs://...`). `export_model` writes a new directory: a threshold
written for an earlier export at the same path is not carried over.
"""

import json
import math
import os

from tf_simcse.errors import UserInputError

DECISION_THRESHOLD_FILE = "decision_threshold.json"
_TEXT_KEYS = ("metric", "split", "source")


def write_decision_threshold(export_dir, threshold, *, metric, split, source):
    """Writes `export_dir/decision_threshold.json` (replacing an earlier one); returns its path."""
    import tensorflow as tf

    record = _check({"threshold": threshold, "metric": metric, "split": split, "source": source}, "arguments")
    path = os.path.join(str(export_dir), DECISION_THRESHOLD_FILE)
    if not tf.io.gfile.isdir(str(export_dir)):
        raise FileNotFoundError(f"{export_dir}: no such export directory.")
    staging = f"{path}.tmp"
    with tf.io.gfile.GFile(staging, "w") as f:
        f.write(json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    tf.io.gfile.rename(staging, path, overwrite=True)  # readers never see a half-written file
    return path


def read_decision_threshold(export_dir):
    """The `decision_threshold.json` dict of an export, or None when it has none (ValueError if malformed)."""
    import tensorflow as tf

    path = os.path.join(str(export_dir), DECISION_THRESHOLD_FILE)
    if not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path, "rb") as f:
        data = f.read()
    try:
        record = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UserInputError(f"{path} is not valid UTF-8 JSON: {e}") from None
    return _check(record, path)


def _check(record, where):
    if not isinstance(record, dict):
        raise UserInputError(f"{where}: expected a JSON object, got {type(record).__name__}.")  # noqa: TRY004
    expected = {"threshold", *_TEXT_KEYS}
    missing, unknown = sorted(expected - set(record)), sorted(set(record) - expected)
    if missing or unknown:
        raise UserInputError(f"{where}: keys must be {sorted(expected)}; missing {missing}, unknown {unknown}.")
    threshold = record["threshold"]
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not math.isfinite(threshold):
        raise UserInputError(f"{where}: 'threshold' must be a finite number, got {threshold!r}.")
    for key in _TEXT_KEYS:
        if not isinstance(record[key], str) or not record[key].strip():
            raise UserInputError(f"{where}: {key!r} must be a non-empty string, got {record[key]!r}.")
    return {"threshold": float(threshold), **{key: record[key] for key in _TEXT_KEYS}}
