"""NLI pairs -> SimCSE triplets, with the library's own grouping rule (`tf_simcse.data.examples`).

The builders do not group premises themselves: they hand the upstream files to
`tf_simcse.data.examples.load_training_examples(..., "sup")`, so a TFDS triplet dataset holds exactly the
triplets that training on the same files given as local paths builds (one per premise: its first entailment
and first contradiction, in reading order; premises lacking either yield nothing; all files of one split are
pooled before grouping).
"""

import json
import os
import tempfile

from etils import epath

from tf_simcse.data import examples as examples_lib
from tf_simcse.data import specs as specs_lib

TRIPLET_FEATURES = ("premise", "entailment", "contradiction")


def _report(training_examples, names):
    """The grouping report without the machine-specific paths, keyed by upstream file name."""
    report = training_examples.report
    out = {
        "triplets": report["triplets"],
        "rows_read": report["rows_read"],
        "rows_skipped": report["rows_skipped"],
        "sources": [
            {"file": name, "rows_read": s["rows_read"], "rows_skipped": s["rows_skipped"]}
            for name, s in zip(names, report["sources"])
        ],
    }
    out.update(report.get("nli", {}))
    return out


def group_kornli_files(paths, names=None):
    """Groups KorNLI-format TSV files (`sentence1 sentence2 gold_label`) into triplets.

    Args:
        paths: the files of one split, pooled in this order.
        names: how the report names each file (default: the file names).

    Returns:
        `(triplets, report)`: a list of `(premise, entailment, contradiction)` and a JSON-able dict of counts
        (rows read / skipped by reason, premises, premises without an entailment / contradiction, premises with
        several, hypotheses left unused).
    """
    paths = [os.fspath(p) for p in paths]
    specs = [specs_lib.DataSpec(kind="file", path_or_name=p, format=specs_lib.FORMAT_NLI_TSV) for p in paths]
    result = examples_lib.load_training_examples(specs, "sup")
    triplets = list(zip(result.anchors, result.positives, result.hard_negatives))
    return triplets, _report(result, names or [epath.Path(p).name for p in paths])


def _klue_rows(path):
    """Yields `(premise, hypothesis, gold_label)` from a KLUE-NLI v1.1 JSON file, checking every entry."""
    raw = epath.Path(path).read_bytes()
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not valid UTF-8 ({e.reason} at byte {e.start})") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: line {e.lineno}, column {e.colno}: invalid JSON ({e.msg})") from None
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of examples, found {type(data).__name__}")
    for i, entry in enumerate(data):
        if not isinstance(entry, dict):
            raise ValueError(f"{path}: entry [{i}]: expected an object, found {type(entry).__name__}")
        where = f"{path}: entry [{i}] (guid {entry.get('guid')!r})"
        row = []
        for key in ("premise", "hypothesis", "gold_label"):
            value = entry.get(key)
            if not isinstance(value, str):
                raise ValueError(f"{where}: missing or non-string {key!r}")
            # The rows are handed on as a KorNLI TSV, which has no quoting.
            if any(c in value for c in "\t\n\r"):
                raise ValueError(f"{where}: {key!r} contains a tab or line break")
            row.append(value)
        yield tuple(row)


def group_klue_nli_files(paths, names=None):
    """Groups KLUE-NLI v1.1 JSON files (`premise`, `hypothesis`, `gold_label`) into triplets.

    The JSON rows are written to a temporary KorNLI-format TSV and grouped by `group_kornli_files`, so both
    datasets follow one rule. Returns `(triplets, report)` as `group_kornli_files` does.
    """
    names = names or [epath.Path(p).name for p in paths]
    with tempfile.TemporaryDirectory(prefix="klue_nli_") as tmp:
        tsv_paths = []
        for i, path in enumerate(paths):
            tsv = os.path.join(tmp, f"{i}.tsv")
            with open(tsv, "w", encoding="utf-8", newline="") as f:
                f.write("\t".join(("sentence1", "sentence2", "gold_label")) + "\n")
                for row in _klue_rows(path):
                    f.write("\t".join(row) + "\n")
            tsv_paths.append(tsv)
        return group_kornli_files(tsv_paths, names)


def read_simcse_nli_csv(path, name=None):
    """Reads the SimCSE paper's `nli_for_simcse.csv` (quoted CSV `sent0,sent1,hard_neg`) with the library's parser.

    Returns `(triplets, report)`; rows with an empty field are skipped and counted, as in training.
    """
    path = os.fspath(path)
    spec = specs_lib.DataSpec(kind="file", path_or_name=path, format=specs_lib.FORMAT_PAIRS_CSV)
    result = examples_lib.load_training_examples([spec], "sup")
    triplets = list(zip(result.anchors, result.positives, result.hard_negatives))
    return triplets, _report(result, [name or epath.Path(path).name])


def triplet_examples(triplets):
    """`(key, example)` pairs for a TFDS generator; the key is the triplet's position."""
    for i, (premise, entailment, contradiction) in enumerate(triplets):
        yield i, {"premise": premise, "entailment": entailment, "contradiction": contradiction}
