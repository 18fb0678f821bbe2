"""Training examples for the three SimCSE objectives, read from data specs (files or TFDS), in Python.

`load_training_examples(specs, objective)` returns `TrainingExamples`: parallel lists of anchors, positives and
hard negatives, plus a `report` of what was read, skipped and built. Reading is deterministic: examples come out
in the order of the specs and of the rows within them (shuffling is the pipeline's job, seeded).

What each source gives each objective:

* a `.txt` file or a TFDS `text` dataset: `unsup` gets every line; `pair` / `sup` are errors.
* an NLI TSV or a TFDS `premise, hypothesis, label` dataset: `unsup` gets the distinct premises; `pair` and `sup`
  get one example per premise (grouped, below).
* a `sent0, sent1[, hard_neg]` CSV/TSV or TFDS dataset: `unsup` gets every `sent0`, `pair` `(sent0, sent1)`,
  `sup` `(sent0, sent1, hard_neg)` (a source without a `hard_neg` column is an error for `sup`).
* a TFDS `premise, entailment, contradiction` dataset: one example per row, like the above.

**NLI grouping.** Labelled pairs from *all* NLI sources of one call are pooled and grouped by the exact premise
text, so a premise that occurs in two files (KorNLI's XNLI dev and test translate two different English premises
to the same Korean sentence once) forms one group. A group yields **one** example, at the position of the
premise's first row: the premise, its *first* entailment (in reading order) and, for `sup`, its *first*
contradiction. A premise without an entailment (or, for `sup`, without a contradiction) yields nothing.
Neutral rows are read but unused. The report counts premises, premises missing each label, premises with
several entailments / contradictions, and the hypotheses left unused because of that. (Taking the first
instead of every combination keeps one anchor per premise: several triplets with the same anchor in one
batch would be false negatives of each other.) On KorNLI's `xnli.dev.ko.tsv` + `xnli.test.ko.tsv` (7,500 pairs;
830 + 1,670 premises, one of them in both files) this gives the recipe's 2,499 triplets.

**Skipped rows** (counted by reason in `report["rows_skipped"]`, per source in `report["sources"]`):
`empty_sentence` (a blank line, or an empty/whitespace-only field that the objective uses), `bad_label` (an NLI
label other than entailment/neutral/contradiction, such as SNLI's `-`). Structurally malformed rows (wrong number
of fields, broken quoting, invalid UTF-8) are errors naming the file and line, never skipped silently.

**Carve-out slices.** A spec ending with `[a%:b%]` (`nli.tsv[10%:]`, `tfds:NAME:SPLIT[:10%]`) reads only the rows
of that slice (`tf_simcse.data.carve`: a line's bucket is that of its text; an NLI row's, of its premise and
hypothesis, before grouping; a `sent0, sent1[, hard_neg]` row's or a TFDS triplet's, of its first two texts).
The source's report says what was kept under `carve` (`slice`, `rows_kept`, `rows_carved_out`, `rows_total`).
"""

import collections
import csv
import dataclasses
import io
import os

from tf_simcse.data import readers
from tf_simcse.data import carve as carve_lib
from tf_simcse.data import specs as specs_lib
from tf_simcse.errors import UserInputError
from tf_simcse.objectives import SIMCSE_OBJECTIVES

_EXAMPLE_NOUN = {"unsup": "sentences", "pair": "pairs", "sup": "triplets"}

# TFDS feature families, checked in this order (the first whose names are all present wins).
_TFDS_FAMILIES = (
    ("triplet", ("premise", "entailment", "contradiction")),
    ("nli", ("premise", "hypothesis", "label")),
    ("pairs", ("sent0", "sent1")),
    ("text", ("text",)),
)


@dataclasses.dataclass
class TrainingExamples:
    """Parallel lists of training texts for one objective.

    Attributes:
        anchors: the first sentence of each example (for `unsup`, the only one).
        positives: the positive of each anchor (`pair`, `sup`), else None.
        hard_negatives: the hard negative of each anchor (`sup`), else None.
        report: what was read and built: `objective`, `sources` (per spec: `spec`, `format`, `rows_read`,
            `rows_skipped` by reason), totals `rows_read` and `rows_skipped` (by reason), `examples` and the same
            number under `sentences` / `pairs` / `triplets`, and when NLI data was grouped, `nli` (see the module
            docstring).
    """

    anchors: list
    positives: list | None = None
    hard_negatives: list | None = None
    report: dict = dataclasses.field(default_factory=dict)

    def __len__(self):
        return len(self.anchors)


# ------------------------------------------------------------------------------------------------ records
# Every source is turned into a stream of records of three kinds, then the objective decides what to build:
#   ("text", sentence)
#   ("nli", premise, hypothesis, label)              label in readers.NLI_LABELS (bad labels already skipped)
#   ("rows", anchor, positive, hard_negative|None)   explicit pairs / triplets


class _Source:
    """Per-source bookkeeping: rows read and skipped by reason."""

    def __init__(self, spec, fmt):
        self.spec = spec
        self.format = fmt
        self.rows_read = 0
        self.skipped = collections.Counter()
        self.has_hard_negatives = True
        self.carving = carve_lib.CarveCount(getattr(spec, "carve", None))

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


def _blank(text):
    return not text.strip()


def _file_records(spec, source):
    if spec.format == specs_lib.FORMAT_TEXT:
        lines = readers.read_lines(spec.path_or_name)
        source.rows_read = len(lines) + lines.skipped
        if lines.skipped:
            source.skipped["empty_sentence"] += lines.skipped
        for line in lines:
            yield ("text", line)
    elif spec.format == specs_lib.FORMAT_NLI_TSV:
        nli = readers.read_kornli(spec.path_or_name)
        source.rows_read = len(nli) + nli.skipped
        if nli.skipped:
            source.skipped["bad_label"] += nli.skipped
        for premise, hypothesis, label in zip(nli.premises, nli.hypotheses, nli.labels):
            yield ("nli", premise, hypothesis, label)
    else:
        yield from _pairs_file_records(spec, source)


def _open_text(path):
    if "://" in path:
        from tf_simcse import fileio  # Only for remote file systems: imports TensorFlow.

        try:
            return io.StringIO(fileio.read_bytes(path).decode("utf-8-sig"), newline="")
        except UnicodeDecodeError as e:
            raise UserInputError(f"{path}: not valid UTF-8 ({e.reason} at byte {e.start})") from None
    return open(path, encoding="utf-8-sig", newline="")


def _pairs_file_records(spec, source):
    """Reads a quoted `sent0,sent1[,hard_neg]` CSV (or TSV) with the csv module (fields may hold `,`, `"`, newlines)."""
    path = spec.path_or_name
    delimiter = "\t" if spec.format == specs_lib.FORMAT_PAIRS_TSV else ","
    with _open_text(path) as f:
        reader = csv.reader(f, delimiter=delimiter, strict=True)
        try:
            header = [h.strip() for h in next(reader)]
            index = {c: header.index(c) for c in specs_lib.PAIR_COLUMNS}
            hard = header.index(specs_lib.HARD_NEGATIVE_COLUMN) if specs_lib.HARD_NEGATIVE_COLUMN in header else None
            source.has_hard_negatives = hard is not None
            for row in reader:
                if not row:
                    continue  # csv yields [] for an empty line; it is not a data row.
                source.rows_read += 1
                if len(row) != len(header):
                    raise UserInputError(
                        f"{path}: line {reader.line_num}: expected {len(header)} fields ({', '.join(header)}), "
                        f"found {len(row)}"
                    )
                yield ("rows", row[index["sent0"]], row[index["sent1"]], None if hard is None else row[hard])
        except csv.Error as e:
            raise UserInputError(f"{path}: line {reader.line_num}: malformed CSV ({e})") from None
        except UnicodeDecodeError as e:
            raise UserInputError(f"{path}: not valid UTF-8 ({e.reason} at byte {e.start})") from None


def _tfds_records(spec, source, data_dir):
    import tensorflow_datasets as tfds

    from tf_simcse.data.tfds_source import prepared_builder

    builder = prepared_builder(spec.tfds_name, what=f"data spec {spec}", data_dir=data_dir)
    features = builder.info.features
    family = next((f for f, keys in _TFDS_FAMILIES if all(k in features for k in keys)), None)
    if family is None:
        raise UserInputError(
            f"data spec {spec}: unsupported TFDS features {sorted(features.keys())}; expected `text`, "
            "`premise, entailment, contradiction`, `premise, hypothesis, label` or `sent0, sent1[, hard_neg]`"
        )
    try:
        dataset = builder.as_dataset(split=spec.split, shuffle_files=False)
    except (ValueError, KeyError) as e:
        raise UserInputError(f"data spec {spec}: cannot read split {spec.split!r}: {e}") from None

    def text(value):
        return value.decode("utf-8") if isinstance(value, bytes) else str(value)

    label_names = None
    if family == "nli":
        label_feature = features["label"]
        label_names = getattr(label_feature, "names", None)  # ClassLabel ids -> names; Text labels are names.
    has_hard = "hard_neg" in features
    source.has_hard_negatives = family == "triplet" or has_hard
    source.format = f"tfds/{family}"
    for example in tfds.as_numpy(dataset):
        source.rows_read += 1
        if family == "text":
            yield ("text", text(example["text"]))
        elif family == "triplet":
            yield ("rows", text(example["premise"]), text(example["entailment"]), text(example["contradiction"]))
        elif family == "pairs":
            hard = text(example["hard_neg"]) if has_hard else None
            yield ("rows", text(example["sent0"]), text(example["sent1"]), hard)
        else:
            label = example["label"]
            if label_names is not None and not isinstance(label, bytes):
                label = label_names[int(label)] if 0 <= int(label) < len(label_names) else None
            else:
                label = text(label)
            if label not in readers.NLI_LABELS:
                source.skipped["bad_label"] += 1
                continue
            yield ("nli", text(example["premise"]), text(example["hypothesis"]), label)


def _parse_specs(specs):
    if isinstance(specs, (str, os.PathLike, specs_lib.DataSpec)):
        specs = [specs]
    return [specs_lib.parse_data_spec(s) for s in specs]


def _records(spec, source, tfds_data_dir):
    """The records of one source (see above), counting its rows in `source`."""
    return _tfds_records(spec, source, tfds_data_dir) if spec.kind == "tfds" else _file_records(spec, source)


def _sources_report(sources):
    """The per-source part of a report: each source's counts, rows read and skipped over all."""
    skipped = collections.Counter()
    for source in sources:
        skipped.update(source.skipped)
    return {"sources": [s.as_dict() for s in sources], "rows_read": sum(s.rows_read for s in sources),
            "rows_skipped": dict(sorted(skipped.items()))}


# ----------------------------------------------------------------------------------------------- grouping
class _PremiseGroup:
    __slots__ = ("premise", "entailments", "contradictions", "neutrals")

    def __init__(self, premise):
        self.premise = premise
        self.entailments = []
        self.contradictions = []
        self.neutrals = 0


def load_training_examples(specs, objective, *, tfds_data_dir=None):
    """Reads data specs into `TrainingExamples` for one objective.

    Args:
        specs: a list of spec strings (`tfds:NAME[/CONFIG]:SPLIT` or file paths) or `DataSpec`s (a single one
            is accepted too).
        objective: `"unsup"`, `"sup"` or `"pair"` (see the module docstring for what each source gives).
        tfds_data_dir: the TFDS data directory (default: TFDS's own, `$TFDS_DATA_DIR` or `~/tensorflow_datasets`).

    Raises:
        tf_simcse.errors.UserInputError (a ValueError): an unknown objective, a source that cannot serve it (a
            sentence file for `sup`), a malformed row, an unprepared TFDS dataset, or no examples at all.
        FileNotFoundError: a missing file.
    """
    if objective not in SIMCSE_OBJECTIVES:
        raise UserInputError(f"objective must be one of {SIMCSE_OBJECTIVES}, got {objective!r}")
    specs = _parse_specs(specs)
    if not specs:
        raise UserInputError("no training data given (expected at least one data spec)")

    # Entries are finished examples (tuples) or _PremiseGroups, resolved at the end so that a group keeps the
    # position of its premise's first row while collecting hypotheses from every NLI source.
    entries = []
    groups = {}
    sources = []
    for spec in specs:
        source = _Source(spec, spec.format)
        sources.append(source)
        for record in _records(spec, source, tfds_data_dir):
            kind = record[0]
            if source.carving.carves_out(*record[1:3]):  # a line's text; the first two texts of a pair, NLI row or triplet
                continue
            if kind == "text":
                if objective != "unsup":
                    raise UserInputError(
                        f"data spec {spec}: objective {objective!r} needs (anchor, positive"
                        f"{', hard negative' if objective == 'sup' else ''}) examples, but this source holds "
                        "single sentences (use it with --objective unsup)"
                    )
                entries.append((record[1],))
            elif kind == "nli":
                _, premise, hypothesis, label = record
                used = (premise,) if objective == "unsup" else (premise, hypothesis)
                if any(_blank(t) for t in used):
                    source.skipped["empty_sentence"] += 1
                    continue
                group = groups.get(premise)
                if group is None:
                    group = groups[premise] = _PremiseGroup(premise)
                    entries.append(group)
                if label == "entailment":
                    group.entailments.append(hypothesis)
                elif label == "contradiction":
                    group.contradictions.append(hypothesis)
                else:
                    group.neutrals += 1
            else:
                _, anchor, positive, hard_negative = record
                if objective == "sup" and not source.has_hard_negatives:
                    raise UserInputError(
                        f"data spec {spec}: objective 'sup' needs a hard_neg column; this source has only "
                        "sent0, sent1 (use --objective pair)"
                    )
                used = {"unsup": (anchor,), "pair": (anchor, positive), "sup": (anchor, positive, hard_negative)}
                if any(_blank(t) for t in used[objective]):
                    source.skipped["empty_sentence"] += 1
                    continue
                entries.append(used[objective])

    nli = _group_stats(groups, objective) if groups else None
    examples = []
    for entry in entries:
        if isinstance(entry, _PremiseGroup):
            if objective == "unsup":
                examples.append((entry.premise,))
            elif entry.entailments and (objective == "pair" or entry.contradictions):
                example = (entry.premise, entry.entailments[0])
                examples.append(example + (entry.contradictions[0],) if objective == "sup" else example)
        else:
            examples.append(entry)
    if not examples:
        raise UserInputError(
            f"no {_EXAMPLE_NOUN[objective]} could be built for objective {objective!r} from "
            f"{', '.join(str(s) for s in specs)}"
        )

    report = {
        "objective": objective,
        **_sources_report(sources),
        "examples": len(examples),
        _EXAMPLE_NOUN[objective]: len(examples),
    }
    if nli is not None:
        report["nli"] = nli
    columns = list(zip(*examples))
    return TrainingExamples(
        anchors=list(columns[0]),
        positives=list(columns[1]) if objective != "unsup" else None,
        hard_negatives=list(columns[2]) if objective == "sup" else None,
        report=report,
    )


def load_sentences(specs, *, tfds_data_dir=None):
    """Every sentence of `specs`, in reading order and with repeats: each line of a sentence file, the premise and
    the hypothesis of each NLI row, each text of a pair / triplet row (what `--objective distill` learns from).

    Returns `TrainingExamples(anchors=sentences)`; its report counts rows read and blank texts skipped per source.
    """
    sentences, sources = [], []
    for spec in _parse_specs(specs):
        source = _Source(spec, spec.format)
        sources.append(source)
        for record in _records(spec, source, tfds_data_dir):
            if source.carving.carves_out(*record[1:3]):
                continue
            texts = record[1:3] if record[0] == "nli" else [t for t in record[1:] if t is not None]
            kept = [t for t in texts if not _blank(t)]
            if len(kept) < len(texts):
                source.skipped["empty_sentence"] += len(texts) - len(kept)
            sentences.extend(kept)
    return TrainingExamples(anchors=sentences, report={**_sources_report(sources), "sentences": len(sentences)})


def _group_stats(groups, objective):
    """Counts for the NLI grouping report (see the module docstring)."""
    stats = collections.Counter(premises=len(groups))
    for g in groups.values():
        stats["entailment_rows"] += len(g.entailments)
        stats["contradiction_rows"] += len(g.contradictions)
        stats["neutral_rows"] += g.neutrals
        stats["premises_without_entailment"] += not g.entailments
        stats["premises_without_contradiction"] += not g.contradictions
        stats["premises_with_several_entailments"] += len(g.entailments) > 1
        stats["premises_with_several_contradictions"] += len(g.contradictions) > 1
        if objective == "unsup":
            continue
        used = bool(g.entailments) and (objective == "pair" or bool(g.contradictions))
        stats["premises_used"] += used
        if used:
            stats["unused_entailments"] += len(g.entailments) - 1
            if objective == "sup":
                stats["unused_contradictions"] += len(g.contradictions) - 1
    keys = [
        "premises",
        "premises_used",
        "entailment_rows",
        "contradiction_rows",
        "neutral_rows",
        "premises_without_entailment",
        "premises_without_contradiction",
        "premises_with_several_entailments",
        "premises_with_several_contradictions",
        "unused_entailments",
        "unused_contradictions",
    ]
    if objective == "unsup":
        keys = keys[:1] + keys[2:-2]
    return {k: int(stats[k]) for k in keys}
