"""Scored pairs (STS regression) and labelled pairs (same / different), read from their published formats, and
their `tf.data` training batches.

Formats, recognised by `detect_pair_format` from the file's header whatever its extension (Question_pair ships
as `.txt`):

| format     | files                                                                                            |
|------------|--------------------------------------------------------------------------------------------------|
| `scored`   | a KLUE-STS v1.1 JSON (`.json`, score = `labels["real-label"]`, read by `readers.read_klue_sts`);   |
|            | a TSV or CSV whose header holds `sentence1`, `sentence2`, `score` (KorSTS `sts-*.tsv`);            |
|            | `tfds:NAME[/CONFIG]:SPLIT` with features `sentence1`, `sentence2`, `score` (`korsts`, `klue_sts`) |
| `labelled` | a TSV or CSV whose header holds two sentence columns (`sentence1, sentence2`, `question1,          |
|            | question2` or `sent0, sent1`) and a label column (`label`, `is_duplicate`, or the one named)        |

TSV files are split on tabs only, without quote handling, like the kakaobrain and songys files (their sentences
hold `"` characters that are text); CSV files are read with the csv module (quoted fields).

**Labels.** Which value means "same" is an option (`positive_label`), because published data disagree:
songys/Question_pair's `is_duplicate` is 0 when the two questions mean the same (Quora's column of the same name
means the opposite). Labels become 1 (same) / 0 (different). A label column holds two values: the positive one
and one other; a third value is an error. With the default (`positive_label=None`, meaning "1"), a file whose
pairs of two identical sentences are mostly labelled with the other value is refused, since that value then
evidently means "same"; pass `positive_label` explicitly to read such a file.

**Skipped rows** are counted by reason in `report["rows_skipped"]` (and per source): `empty_sentence` (an empty
or whitespace-only sentence), `empty_score`, `empty_label`. Structurally malformed rows (wrong number of fields,
a score that is not a number, broken quoting, invalid UTF-8) are errors naming the file and line.

**Carve-out slices.** A file or `tfds:` spec ending with `[a%:b%]` (`sts-train.tsv[10%:]`) reads only the pairs
whose `sentence1 + "\t" + sentence2` hash falls in the slice (`tf_simcse.data.carve`, the rule of the evaluation
tasks' `korsts:train[:10%]`, so `[10%:]` here and `[:10%]` there are complementary). The source's report says
what was kept under `carve`. Labels are judged (see **Labels**) on every row of the file, kept or not.
"""

import collections
import csv
import dataclasses
import os

import numpy as np

from tf_simcse.data import readers
from tf_simcse.data import carve as carve_lib
from tf_simcse.data import specs as specs_lib
from tf_simcse.data.examples import TrainingExamples, _open_text
from tf_simcse.errors import UserInputError

SCORED = "scored"
LABELLED = "labelled"
PAIR_FORMATS = (SCORED, LABELLED)

SENTENCE_COLUMNS = (("sentence1", "sentence2"), ("question1", "question2"), ("sent0", "sent1"))
SCORE_COLUMN = "score"
LABEL_COLUMNS = ("label", "is_duplicate")
DEFAULT_POSITIVE_LABEL = "1"
# With the default positive label, at least this many identical-sentence pairs must be present to judge the labels.
_MIN_IDENTICAL_PAIRS = 5


@dataclasses.dataclass
class PairExamples:
    """Sentence pairs with a gold score (`scores`) or a same/different label (`labels`, 1 = same).

    Attributes:
        sentence1, sentence2: the two sides of each pair.
        scores: float64 `[n]` gold similarity, as in the file (KorSTS / KLUE-STS: 0-5), or None.
        labels: int64 `[n]` 1 (same) / 0 (different), or None.
        report: `format`, `sources` (per spec: `spec`, `format`, `rows_read`, `rows_skipped` by reason), totals
            `rows_read`, `rows_skipped`, `pairs`; for scored pairs `score_min` / `score_max`; for labelled pairs
            `positive_label`, `negative_label`, `positives`, `negatives` and `identical_pairs` (pairs of two equal
            sentences by label: `same` / `different`).
    """

    sentence1: list
    sentence2: list
    scores: np.ndarray | None = None
    labels: np.ndarray | None = None
    report: dict = dataclasses.field(default_factory=dict)
    _examples: TrainingExamples | None = dataclasses.field(default=None, init=False, repr=False, compare=False)

    def __len__(self):
        return len(self.sentence1)

    @property
    def kind(self):
        return SCORED if self.scores is not None else LABELLED

    @property
    def target_name(self):
        """The batch key of the targets: `score` or `label`."""
        return "score" if self.kind == SCORED else "label"

    @property
    def targets(self):
        """float32 `[n]`: the scores or the 0/1 labels."""
        return np.asarray(self.scores if self.kind == SCORED else self.labels, dtype=np.float32)

    def as_training_examples(self):
        """The pairs as `TrainingExamples(anchors=sentence1, positives=sentence2)` (the same object each call)."""
        if self._examples is None:
            self._examples = TrainingExamples(
                list(self.sentence1), list(self.sentence2), report={"objective": "pair", **self.report}
            )
        return self._examples


# ------------------------------------------------------------------------------------------------ formats
def _sentence_columns(header, sentence_columns=None):
    candidates = [tuple(sentence_columns)] if sentence_columns else SENTENCE_COLUMNS
    return next((pair for pair in candidates if all(c in header for c in pair)), None)


def _label_column(header, label_column=None):
    if label_column is not None:
        return label_column if label_column in header else None
    return next((c for c in LABEL_COLUMNS if c in header), None)


def _header_layout(path, label_column=None, sentence_columns=None, want=None):
    """`(format, delimiter, sentence columns, target column)` from the header line, or None.

    `want` restricts the search to one format (a file may hold both a score and a label column).
    """
    first = specs_lib._read_first_line(path)
    for delimiter in ("\t", ","):
        header = specs_lib._header_fields(first, delimiter)
        if want in (None, SCORED) and all(c in header for c in (*SENTENCE_COLUMNS[0], SCORE_COLUMN)):
            return SCORED, delimiter, SENTENCE_COLUMNS[0], SCORE_COLUMN
        columns = _sentence_columns(header, sentence_columns)
        label = _label_column(header, label_column)
        if want in (None, LABELLED) and columns is not None and label is not None:
            return LABELLED, delimiter, columns, label
    return None


def _is_klue_sts_json(path):
    if not path.lower().endswith(".json"):
        return False
    with readers._open_binary(path) as f:
        head = f.read(1 << 16)
    # A KLUE-STS file is a list of objects whose `labels` hold a `real-label`; the first entry shows it.
    return head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"[") and b'"real-label"' in head


def _tfds_features(spec, data_dir):
    from tf_simcse.data.tfds_source import prepared_builder

    builder = prepared_builder(spec.tfds_name, what=f"data spec {spec}", data_dir=data_dir)
    return builder, builder.info.features


def detect_pair_format(path, *, label_column=None, sentence_columns=None, tfds_data_dir=None):
    """`"scored"`, `"labelled"` or None (not a pair file: use `specs.detect_file_format`).

    `path` is a file path or a `tfds:` spec (recognised as scored when the prepared dataset's features include
    `sentence1`, `sentence2` and `score`). A header with `sentence1`, `sentence2` and `score` is scored; with two
    sentence columns (`sentence_columns`, else a pair of `SENTENCE_COLUMNS`) and a label column (`label_column`,
    else one of `LABEL_COLUMNS`), labelled. An NLI TSV (`gold_label`) or a
    `sent0, sent1[, hard_neg]` file without a label column is None.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: a directory, a first line that is not UTF-8, or a `tfds:` dataset that is not prepared.
    """
    path, _ = _without_carve(path)
    if isinstance(path, specs_lib.DataSpec):
        _, features = _tfds_features(path, tfds_data_dir)
        return SCORED if all(k in features for k in (*SENTENCE_COLUMNS[0], SCORE_COLUMN)) else None
    specs_lib._read_first_line(path)  # existence, directory and UTF-8 checks, with their errors
    if _is_klue_sts_json(path):
        return SCORED
    layout = _header_layout(path, label_column, sentence_columns)
    return None if layout is None else layout[0]


# ------------------------------------------------------------------------------------------------ reading
class _Source:
    def __init__(self, spec, fmt):
        self.spec = spec
        self.format = fmt
        self.rows_read = 0
        self.skipped = collections.Counter()
        self.carving = carve_lib.CarveCount()

    def as_dict(self):
        report = {
            "spec": str(self.spec),
            "format": self.format,
            "rows_read": self.rows_read,
            "rows_skipped": dict(sorted(self.skipped.items())),
        }
        if self.carving.carve is not None:
            report["carve"] = self.carving.report()
        return report


def _without_carve(spec):
    """`(what to read, CarveSlice or None)`: a file path, or a `tfds:` `DataSpec` without its slice."""
    if isinstance(spec, specs_lib.DataSpec):
        base = dataclasses.replace(spec, carve=None)
        return (base if spec.kind == "tfds" else spec.path_or_name), spec.carve
    if str(spec).startswith(specs_lib.TFDS_PREFIX):
        return _without_carve(specs_lib.parse_data_spec(spec))
    return specs_lib.split_file_spec(os.fspath(spec))


def _csv_rows(path, delimiter):
    """Yields `(line number, {column: field})` of a headed CSV file (quoted fields, csv module)."""
    with _open_text(path) as f:
        reader = csv.reader(f, delimiter=delimiter, strict=True)
        try:
            header = [h.strip() for h in next(reader, [])]
            for row in reader:
                if not row:
                    continue  # an empty line is not a data row
                if len(row) != len(header):
                    raise UserInputError(
                        f"{path}: line {reader.line_num}: expected {len(header)} fields ({', '.join(header)}), "
                        f"found {len(row)}"
                    )
                yield reader.line_num, dict(zip(header, row))
        except csv.Error as e:
            raise UserInputError(f"{path}: line {reader.line_num}: malformed CSV ({e})") from None
        except UnicodeDecodeError as e:
            raise UserInputError(f"{path}: not valid UTF-8 ({e.reason} at byte {e.start})") from None


def _table_rows(path, delimiter, columns):
    """`(where, {column: field})` per data row: TSV split on tabs only, CSV with quoting."""
    if delimiter == "\t":
        for line_number, row in readers._iter_tsv(path, columns):
            yield f"line {line_number}", row
    else:
        for line_number, row in _csv_rows(path, delimiter):
            yield f"line {line_number}", row


def _as_specs(specs):
    if isinstance(specs, (str, os.PathLike, specs_lib.DataSpec)):
        specs = [specs]
    specs = list(specs)
    if not specs:
        raise UserInputError("no pair data given (expected at least one file or tfds: spec)")
    return [s if isinstance(s, specs_lib.DataSpec) else os.fspath(s) for s in specs]


def _scored_records(spec, source, data_dir):
    """Yields `(where, sentence1, sentence2, score text or float)` of a path or a `tfds:` `DataSpec` (no slice)."""
    if isinstance(spec, specs_lib.DataSpec):
        import tensorflow_datasets as tfds

        builder, features = _tfds_features(spec, data_dir)
        if not all(k in features for k in (*SENTENCE_COLUMNS[0], SCORE_COLUMN)):
            raise UserInputError(
                f"data spec {spec}: not scored pairs (features {sorted(features.keys())}; expected sentence1, "
                "sentence2, score)"
            )
        source.format = "tfds/scored"
        try:
            dataset = builder.as_dataset(split=spec.split, shuffle_files=False)
        except (ValueError, KeyError) as e:
            raise UserInputError(f"data spec {spec}: cannot read split {spec.split!r}: {e}") from None
        for i, row in enumerate(tfds.as_numpy(dataset)):
            yield f"example {i}", row["sentence1"].decode("utf-8"), row["sentence2"].decode("utf-8"), float(
                row["score"]
            )
        return
    path = spec
    specs_lib._read_first_line(path)
    if _is_klue_sts_json(path):
        source.format = "klue_sts_json"
        data = readers.read_klue_sts(path)
        for i, (s1, s2, score) in enumerate(zip(data.sentences1, data.sentences2, data.scores)):
            yield f"entry [{i}]", s1, s2, float(score)
        return
    layout = _header_layout(path, want=SCORED)
    if layout is None:
        raise UserInputError(
            f"{path}: not a scored-pair file; expected a KLUE-STS JSON or a TSV/CSV header with sentence1, "
            "sentence2 and score (KorSTS style)"
        )
    _, delimiter, (c1, c2), score = layout
    source.format = "scored_tsv" if delimiter == "\t" else "scored_csv"
    for where, row in _table_rows(path, delimiter, (c1, c2, score)):
        yield where, row[c1], row[c2], row[score]


def _blank(text):
    return not text.strip()


def load_scored_pairs(specs, *, tfds_data_dir=None):
    """Reads scored pairs (see the module docstring) from one spec or a list of them into `PairExamples`.

    Pairs come out in the order of the specs and of their rows. Scores are kept on the file's scale.

    Raises:
        ValueError: a source that is not scored pairs, a malformed row, or no pair at all.
        FileNotFoundError: a missing file.
    """
    sentence1, sentence2, scores, sources = [], [], [], []
    for spec in _as_specs(specs):
        source = _Source(spec, SCORED)
        sources.append(source)
        base, carve = _without_carve(spec)
        source.carving = carve_lib.CarveCount(carve)
        for where, s1, s2, score in _scored_records(base, source, tfds_data_dir):
            source.rows_read += 1
            if isinstance(score, str):
                if _blank(score):
                    source.skipped["empty_score"] += 1
                    continue
                score = readers._parse_score(score.strip(), base, where)
            if source.carving.carves_out(s1, s2):
                continue
            if _blank(s1) or _blank(s2):
                source.skipped["empty_sentence"] += 1
                continue
            sentence1.append(s1)
            sentence2.append(s2)
            scores.append(score)
    scores = np.asarray(scores, dtype=np.float64)
    report = _report(SCORED, sources, len(scores))
    if len(scores):
        report.update(score_min=float(scores.min()), score_max=float(scores.max()))
    return PairExamples(sentence1, sentence2, scores=scores, report=report)


def load_labelled_pairs(specs, *, label_column=None, positive_label=None, sentence_columns=None):
    """Reads labelled pairs (see the module docstring) from one file or a list of files into `PairExamples`.

    Args:
        specs: a file path or a list of them (TSV split on tabs, CSV quoted).
        label_column: the label column (default: the first of `LABEL_COLUMNS` in the header).
        positive_label: the label value (compared as a string, surrounding spaces removed) that means "same",
            e.g. `"0"` for songys/Question_pair. None means `"1"`, checked against the identical-sentence pairs
            (see the module docstring).
        sentence_columns: the two sentence columns (default: the first of `SENTENCE_COLUMNS` in the header).

    Returns:
        `PairExamples` with `labels` 1 (same) / 0 (different).

    Raises:
        ValueError: a file without the columns, a third label value, labels that contradict the default
            positive label, a malformed row, or no pair at all.
        FileNotFoundError: a missing file.
    """
    checked = positive_label is None
    positive = DEFAULT_POSITIVE_LABEL if positive_label is None else str(positive_label).strip()
    negative = None
    sentence1, sentence2, labels, sources = [], [], [], []
    identical = collections.Counter()
    for given in _as_specs(specs):
        if isinstance(given, specs_lib.DataSpec) or str(given).startswith(specs_lib.TFDS_PREFIX):
            raise UserInputError(f"data spec {given}: labelled pairs are read from TSV/CSV files, not TFDS")
        spec, carve = _without_carve(given)
        layout = _header_layout(spec, label_column, sentence_columns, want=LABELLED)
        if layout is None:
            known = sentence_columns and [tuple(sentence_columns)] or SENTENCE_COLUMNS
            wanted = " / ".join(", ".join(pair) for pair in known)
            labels_wanted = label_column or " or ".join(LABEL_COLUMNS)
            raise UserInputError(
                f"{spec}: not a labelled-pair file; expected a TSV/CSV header with two sentence columns ({wanted}) "
                f"and a label column ({labels_wanted}); first line: {specs_lib._read_first_line(spec)[:120]!r}"
            )
        _, delimiter, (c1, c2), column = layout
        source = _Source(given, "labelled_tsv" if delimiter == "\t" else "labelled_csv")
        source.carving = carve_lib.CarveCount(carve)
        sources.append(source)
        file_identical = collections.Counter()
        for where, row in _table_rows(spec, delimiter, (c1, c2, column)):
            source.rows_read += 1
            value = row[column].strip()
            if not value:
                source.skipped["empty_label"] += 1
                continue
            if value != positive:
                if negative is None:
                    negative = value
                elif value != negative:
                    raise UserInputError(
                        f"{spec}: {where}: label {value!r} is neither the positive label {positive!r} nor the "
                        f"other label {negative!r} seen before; a pair label column holds two values "
                        "(pass --positive_label / --label_column to choose them)"
                    )
            s1, s2 = row[c1], row[c2]
            if _blank(s1) or _blank(s2):
                source.skipped["empty_sentence"] += 1
                continue
            label = int(value == positive)
            if s1.strip() == s2.strip():
                file_identical["same" if label else "different"] += 1
            if source.carving.carves_out(s1, s2):
                continue
            sentence1.append(s1)
            sentence2.append(s2)
            labels.append(label)
        if checked and sum(file_identical.values()) >= _MIN_IDENTICAL_PAIRS and (
            file_identical["different"] > file_identical["same"]
        ):
            total = sum(file_identical.values())
            raise UserInputError(
                f"{spec}: {file_identical['different']} of the {total} pairs of two identical sentences are "
                f"labelled {negative!r}, not {positive!r}: in this file {negative!r} seems to mean 'same' "
                f"(songys/Question_pair labels duplicates 0); pass positive_label={negative!r} (--positive_label "
                f"{negative}), or positive_label={positive!r} to keep '1'"
            )
        identical.update(file_identical)
    labels = np.asarray(labels, dtype=np.int64)
    report = _report(LABELLED, sources, len(labels))
    report.update(
        positive_label=positive,
        negative_label=negative,
        positives=int(labels.sum()),
        negatives=int(len(labels) - labels.sum()),
        identical_pairs={"same": identical["same"], "different": identical["different"]},
    )
    return PairExamples(sentence1, sentence2, labels=labels, report=report)


def _report(fmt, sources, pairs):
    if not pairs:
        raise UserInputError(f"no pairs could be read from {', '.join(str(s.spec) for s in sources)}")
    skipped = collections.Counter()
    for source in sources:
        skipped.update(source.skipped)
    return {
        "format": fmt,
        "sources": [s.as_dict() for s in sources],
        "rows_read": sum(s.rows_read for s in sources),
        "rows_skipped": dict(sorted(skipped.items())),
        "pairs": pairs,
    }


def load_pairs(specs, *, label_column=None, positive_label=None, sentence_columns=None, tfds_data_dir=None):
    """`load_scored_pairs` or `load_labelled_pairs`, as `detect_pair_format` recognises the first spec."""
    first = _as_specs(specs)[0]
    fmt = detect_pair_format(
        first, label_column=label_column, sentence_columns=sentence_columns, tfds_data_dir=tfds_data_dir
    )
    if fmt == SCORED:
        given = [name for name, value in (("label_column", label_column), ("positive_label", positive_label),
                                          ("sentence_columns", sentence_columns)) if value is not None]
        if given:
            raise UserInputError(f"{first}: scored pairs take no {', '.join(given)} (options of labelled pairs)")
        return load_scored_pairs(specs, tfds_data_dir=tfds_data_dir)
    if fmt == LABELLED:
        return load_labelled_pairs(
            specs, label_column=label_column, positive_label=positive_label, sentence_columns=sentence_columns
        )
    raise UserInputError(f"{first}: neither scored nor labelled pairs (see tf_simcse.data.pairs for the formats)")


# ------------------------------------------------------------------------------------------------ tf.data
def make_pair_dataset(
    pairs,
    preprocessor,
    *,
    batch_size,
    seed=42,
    epoch=0,
    start_batch=0,
    drop_remainder=True,
    shuffle=True,
    length_grouping=False,
    grouping_window=64,
    pad_to_multiple_of=None,
):
    """One epoch of tokenized pair batches: `{"sentence1": P, "sentence2": P, "score" | "label": float32 [b]}`.

    `P` is the packed input dict of `tf_simcse.data.pipelines` (`input_word_ids`, `input_mask`,
    `input_type_ids`, int32 `[b, len]`); both sides of a batch share one padded length. The batches are those of
    `pipelines.make_training_dataset` for objective `pair` on `pairs.as_training_examples()` (same seeded epoch
    order, `start_batch` resume, length grouping, static shapes with a fixed-length preprocessor and
    `drop_remainder=True`), with the targets of the same rows beside them: scores as in the file (scale them
    for `cosine_mse`), labels 1 (same) / 0 (different).
    """
    import tensorflow as tf

    from tf_simcse.data import pipelines

    examples = pairs.as_training_examples()
    options = dict(objective="pair", batch_size=batch_size, seed=seed, epoch=epoch, shuffle=shuffle)
    texts = pipelines.make_training_dataset(
        examples,
        preprocessor,
        start_batch=start_batch,
        drop_remainder=drop_remainder,
        length_grouping=length_grouping,
        grouping_window=grouping_window,
        pad_to_multiple_of=pad_to_multiple_of,
        **options,
    )
    targets = pipelines.batched_row_values(
        examples, pairs.targets, preprocessor, start_batch=start_batch, drop_remainder=drop_remainder,
        length_grouping=length_grouping, grouping_window=grouping_window, **options,
    )
    name = pairs.target_name

    def rename(batch, target):
        return {"sentence1": batch["anchor"], "sentence2": batch["positive"], name: target}

    return tf.data.Dataset.zip(texts, targets).map(rename).prefetch(tf.data.AUTOTUNE)
