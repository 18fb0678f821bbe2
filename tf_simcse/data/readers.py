"""Readers for the upstream evaluation and training files, in their published formats.

| reader          | upstream file                                                                  | returns         |
|-----------------|--------------------------------------------------------------------------------|-----------------|
| `read_korsts`   | kakaobrain KorSTS `sts-{train,dev,test}.tsv`                                   | `SentencePairs` |
| `read_klue_sts` | KLUE `klue-sts-v1.1_{train,dev}.json`                                          | `SentencePairs` |
| `read_kornli`   | kakaobrain KorNLI `xnli.{dev,test}.ko.tsv`, `{snli_1.0,multinli}.train.ko.tsv` | `NLIExamples`   |
| `read_lines`    | one sentence per line (e.g. the SimCSE `wiki1m` text file)                     | `Lines`         |

The kakaobrain TSV files are split on tabs only, with no quote handling: their sentences contain `"` characters
that are not CSV quoting (a CSV/pandas reader with default quoting merges or drops rows). Lines end at `\\n`
(a trailing `\\r` is removed); other Unicode line separators (U+2028, U+0085, ...) are text, not line breaks,
which is why lines are split on bytes and not with `str.splitlines`.

Every malformed row raises `tf_simcse.errors.UserInputError` (a `ValueError`) naming the file and the 1-based line
(for JSON, the 0-based index of the list entry): a silently dropped evaluation pair would change the reported
figures.

Paths with a URL scheme (`gs://...`, `ram://...`) are opened with `tf.io.gfile` (`tf_simcse.fileio`); TensorFlow
is imported only then, so reading local files needs nothing beyond NumPy.
"""

import dataclasses
import json
import math
import os

import numpy as np

from tf_simcse.errors import UserInputError

NLI_LABELS = ("entailment", "neutral", "contradiction")


@dataclasses.dataclass
class SentencePairs:
    """Sentence pairs with a graded similarity, for STS-style evaluation.

    Attributes:
        sentences1, sentences2: the two sides of each pair.
        scores: float64 `[n]` gold similarity (KorSTS `score`, KLUE-STS `real-label`; 0-5 scale).
        binary_labels: int64 `[n]` KLUE-STS `binary-label` (1 = similar), or None when the file has none.
        source: the path the pairs were read from.
        report: what a carve-out slice kept (`{"carve": ...}`, `tf_simcse.data.carve`), or None.
    """

    sentences1: list
    sentences2: list
    scores: np.ndarray
    binary_labels: np.ndarray | None = None
    source: str = ""
    report: dict | None = None

    def __len__(self):
        return len(self.sentences1)


@dataclasses.dataclass
class NLIExamples:
    """Premise / hypothesis pairs with a three-way NLI label.

    Attributes:
        premises, hypotheses: the `sentence1` and `sentence2` columns.
        labels: one of `NLI_LABELS` per pair.
        skipped: rows dropped because their label is not one of the three classes (SNLI's `-`, no annotator
            majority).
        source: the path the examples were read from.
        report: what a carve-out slice kept (`{"carve": ...}`, `tf_simcse.data.carve`), or None.
    """

    premises: list
    hypotheses: list
    labels: list
    skipped: int = 0
    source: str = ""
    report: dict | None = None

    def __len__(self):
        return len(self.premises)


class Lines(list):
    """A `list[str]` of the non-blank lines of a file, with `skipped` (blank lines dropped) and `source`."""

    def __init__(self, lines=(), skipped=0, source=""):
        super().__init__(lines)
        self.skipped = skipped
        self.source = source


def _open_binary(path):
    path = os.fspath(path)
    if "://" in path:
        from tf_simcse import fileio  # Only for remote file systems (gs://, s3://, ram://): imports TensorFlow.

        return fileio.open_file(path, "rb")
    return open(path, "rb")


def _decode(raw, path, line_number):
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UserInputError(
            f"{path}: line {line_number}: not valid UTF-8 ({e.reason} at byte {e.start} of the line)"
        ) from None


def _iter_lines(path):
    """Yields `(1-based line number, text)` for each line, without its `\\n` / `\\r\\n` terminator."""
    with _open_binary(path) as f:
        for line_number, raw in enumerate(f, start=1):
            raw = raw.rstrip(b"\n")
            if raw.endswith(b"\r"):
                raw = raw[:-1]
            if line_number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]  # A UTF-8 byte-order mark is not part of the first field name.
            yield line_number, _decode(raw, path, line_number)


def _iter_tsv(path, required_columns):
    """Yields `(line number, {column: field})` for each data row of a headed TSV file.

    Every row must have as many fields as the header. Empty lines are tolerated only at the end of the file
    (an editor's trailing newline); an empty line followed by more rows is malformed.
    """
    lines = _iter_lines(path)
    header = None
    for line_number, text in lines:
        header = text.split("\t")
        break
    if header is None:
        raise UserInputError(f"{path}: the file is empty; expected a header with {', '.join(required_columns)}")
    missing = [c for c in required_columns if c not in header]
    if missing:
        raise UserInputError(
            f"{path}: line 1: the header has no column {', '.join(repr(c) for c in missing)} "
            f"(found {', '.join(repr(c) for c in header)})"
        )
    index = {c: header.index(c) for c in required_columns}
    pending_empty = None
    for line_number, text in lines:
        if text == "":
            pending_empty = pending_empty or line_number
            continue
        if pending_empty is not None:
            raise UserInputError(f"{path}: line {pending_empty}: empty line inside the data")
        fields = text.split("\t")
        if len(fields) != len(header):
            raise UserInputError(
                f"{path}: line {line_number}: expected {len(header)} tab-separated fields "
                f"({', '.join(header)}), found {len(fields)}"
            )
        yield line_number, {c: fields[i] for c, i in index.items()}


def _parse_score(text, path, where):
    try:
        value = float(text)
    except ValueError:
        raise UserInputError(f"{path}: {where}: score {text!r} is not a number") from None
    if not math.isfinite(value):
        raise UserInputError(f"{path}: {where}: score {text!r} is not a finite number")
    return value


def read_korsts(path):
    """Reads a KorSTS TSV (`genre filename year id score sentence1 sentence2`) into `SentencePairs`."""
    sentences1, sentences2, scores = [], [], []
    for line_number, row in _iter_tsv(path, ("score", "sentence1", "sentence2")):
        scores.append(_parse_score(row["score"], path, f"line {line_number}"))
        sentences1.append(row["sentence1"])
        sentences2.append(row["sentence2"])
    return SentencePairs(
        sentences1, sentences2, np.asarray(scores, dtype=np.float64), None, source=os.fspath(path)
    )


def read_kornli(path):
    """Reads a KorNLI TSV (`sentence1 sentence2 gold_label`) into `NLIExamples`.

    Rows whose `gold_label` is not entailment / neutral / contradiction (SNLI marks pairs without an annotator
    majority with `-`) are dropped and counted in `skipped`, as every NLI training recipe does.
    """
    premises, hypotheses, labels = [], [], []
    skipped = 0
    for _, row in _iter_tsv(path, ("sentence1", "sentence2", "gold_label")):
        if row["gold_label"] not in NLI_LABELS:
            skipped += 1
            continue
        premises.append(row["sentence1"])
        hypotheses.append(row["sentence2"])
        labels.append(row["gold_label"])
    return NLIExamples(premises, hypotheses, labels, skipped=skipped, source=os.fspath(path))


def read_klue_sts(path):
    """Reads a KLUE-STS v1.1 JSON file into `SentencePairs` (`scores` = `labels["real-label"]`).

    The upstream file is a JSON list of objects with `guid`, `source`, `sentence1`, `sentence2` and
    `labels: {"label", "real-label", "binary-label"}` (`label` is `real-label` rounded to one decimal;
    `binary-label` is 1 when `real-label >= 3`). `binary_labels` is None when no entry has a `binary-label`.
    """
    with _open_binary(path) as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line_number = raw[: e.start].count(b"\n") + 1
        raise UserInputError(f"{path}: line {line_number}: not valid UTF-8 ({e.reason})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise UserInputError(f"{path}: line {e.lineno}, column {e.colno}: invalid JSON ({e.msg})") from None
    if not isinstance(data, list):
        raise UserInputError(f"{path}: expected a JSON list of examples, found {type(data).__name__}")

    sentences1, sentences2, scores, binary = [], [], [], []
    has_binary = None  # Decided by entry [0]: every entry has a binary-label, or none does.
    for i, entry in enumerate(data):
        where = f"entry [{i}] (guid {entry.get('guid')!r})" if isinstance(entry, dict) else f"entry [{i}]"
        if not isinstance(entry, dict):
            raise UserInputError(f"{path}: {where}: expected an object, found {type(entry).__name__}")
        for key in ("sentence1", "sentence2"):
            if not isinstance(entry.get(key), str):
                raise UserInputError(f"{path}: {where}: missing or non-string {key!r}")
        labels = entry.get("labels")
        if not isinstance(labels, dict) or "real-label" not in labels:
            raise UserInputError(f"{path}: {where}: missing labels['real-label']")
        real = labels["real-label"]
        # bool is an int subclass in Python; a true/false score is a malformed file, not 1.0 / 0.0.
        if isinstance(real, bool) or not isinstance(real, (int, float)):
            raise UserInputError(f"{path}: {where}: real-label {real!r} is not a number")
        scores.append(_parse_score(real, path, where))
        present = "binary-label" in labels
        if has_binary is None:
            has_binary = present
        elif present != has_binary:
            state = "has" if present else "lacks"
            raise UserInputError(f"{path}: {where}: {state} labels['binary-label'], unlike entry [0]")
        if present:
            value = labels["binary-label"]
            if isinstance(value, bool) or value not in (0, 1):
                raise UserInputError(f"{path}: {where}: binary-label {value!r} is not 0 or 1")
            binary.append(int(value))
        sentences1.append(entry["sentence1"])
        sentences2.append(entry["sentence2"])
    return SentencePairs(
        sentences1,
        sentences2,
        np.asarray(scores, dtype=np.float64),
        np.asarray(binary, dtype=np.int64) if has_binary else None,
        source=os.fspath(path),
    )


def read_lines(path):
    """Reads a UTF-8 file with one sentence per line into `Lines` (a `list[str]`).

    Lines are kept as written (only the line terminator is removed); blank or whitespace-only lines are dropped
    and counted in `Lines.skipped`.
    """
    lines, skipped = [], 0
    for _, text in _iter_lines(path):
        if text.strip():
            lines.append(text)
        else:
            skipped += 1
    return Lines(lines, skipped=skipped, source=os.fspath(path))
