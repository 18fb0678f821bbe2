"""Readers for the English STS sets of SentEval (the SimCSE paper's evaluation), in their published formats.

| reader             | upstream files                                                                  | returns         |
|--------------------|---------------------------------------------------------------------------------|-----------------|
| `read_stsb`        | the STS benchmark archive's `stsbenchmark/sts-{train,dev,test}.csv`             | `SentencePairs` |
| `read_sick`        | SemEval-2014 task 1 `SICK_{train,trial,test_annotated}.txt`, or the full `SICK.txt` (rows picked by its `SemEval_set` column) | `SentencePairs` |
| `read_semeval_sts` | one year folder (2012-2016) of SemEval STS test sets, in either layout below    | `SemEvalSTS`    |
| `read_semeval_tsv` | one brmson/dataset-sts `<subset>.test.tsv`                                      | `(SentencePairs, unscored rows)` |

SemEval STS year folders come in two layouts, both read:

- the SemEval release (what SentEval downloads): `STS.input.<subset>.txt` (sentence1 TAB sentence2; further
  fields, such as 2016's source notes, are ignored) beside `STS.gs.<subset>.txt` (one gold score a line, empty
  for an unscored pair); 2012's OnWN and SMTnews are `STS.input.surprise.OnWN.txt` etc., and 2016 names its
  files `STS2016.input.<subset>.txt` / `STS2016.gs.<subset>.txt`;
- brmson/dataset-sts's `data/sts/semeval-sts/<year>/<subset>.test.tsv`: score TAB sentence1 TAB sentence2 (the
  two files pasted together; an empty score marks an unscored pair). That mirror leaves out 2012's MSRvid
  (licence restriction).

Only SentEval's subsets of each year are read (`SENTEVAL_SUBSETS`; STS13 without SMT, whose licence keeps it out
of SentEval too); other files in the folder are ignored, and subsets without a file are listed in `missing`.
Rows without a gold score (2015 and 2016 release every candidate pair, most unscored) are skipped, as SentEval
does, and counted per subset.

All files are split on tabs and `\\n` only, with no quote handling (sentences contain `"`), by the same line
reader as `tf_simcse.data.readers`. Sentences are returned as written; the evaluation tasks normalize
whitespace the way SentEval does (`tf_simcse.evaluation.tasks`). Every malformed row raises `ValueError` naming
the file and the 1-based line.
"""

import dataclasses
import os

import numpy as np

from tf_simcse.data import readers
from tf_simcse.data.readers import SentencePairs

# SentEval's subsets per year, in its concatenation order (2012's OnWN / SMTnews are its "surprise." sets).
SENTEVAL_SUBSETS = {
    2012: ("MSRpar", "MSRvid", "SMTeuroparl", "OnWN", "SMTnews"),
    2013: ("FNWN", "headlines", "OnWN"),
    2014: ("deft-forum", "deft-news", "headlines", "images", "OnWN", "tweet-news"),
    2015: ("answers-forums", "answers-students", "belief", "headlines", "images"),
    2016: ("answer-answer", "headlines", "plagiarism", "postediting", "question-question"),
}
_SURPRISE_2012 = ("OnWN", "SMTnews")

# The STS benchmark's columns; license fields may follow the last one.
STSB_COLUMNS = ("genre", "filename", "year", "id", "score", "sentence1", "sentence2")
# SICK's split names (`SemEval_set` of the full file) for the split names the tasks use.
SICK_SPLITS = {"train": "TRAIN", "dev": "TRIAL", "trial": "TRIAL", "test": "TEST"}


@dataclasses.dataclass
class SemEvalSTS:
    """The scored pairs of one SemEval STS year, per subset.

    Attributes:
        year: 2012 ... 2016.
        subsets: `{subset: SentencePairs}` of the subsets found, in SentEval's order; scored pairs only.
        unscored: `{subset: rows skipped because they have no gold score}`.
        missing: SentEval subsets of this year with no file in the folder.
        source: the folder (or dataset) read.
    """

    year: int
    subsets: dict
    unscored: dict
    missing: tuple = ()
    source: str = ""

    def pairs(self):
        """All scored pairs of the year, subsets concatenated in order (SentEval's "all" setting)."""
        parts = list(self.subsets.values())
        return SentencePairs(
            [s for p in parts for s in p.sentences1],
            [s for p in parts for s in p.sentences2],
            np.concatenate([p.scores for p in parts]) if parts else np.zeros([0]),
            source=self.source,
        )

    @property
    def report(self):
        """What was read, for logs and metrics files: subsets found and missing, unscored rows skipped."""
        return {
            "source": self.source,
            "subsets": {name: len(pairs) for name, pairs in self.subsets.items()},
            "unscored_skipped": dict(self.unscored),
            "subsets_missing": list(self.missing),
        }

    def __len__(self):
        return sum(len(p) for p in self.subsets.values())


def _data_lines(path):
    """Yields `(line number, text)` of a headerless file; empty lines only at its end."""
    pending_empty = None
    for line_number, text in readers._iter_lines(path):
        if text == "":
            pending_empty = pending_empty or line_number
            continue
        if pending_empty is not None:
            raise ValueError(f"{path}: line {pending_empty}: empty line inside the data")
        yield line_number, text


def iter_stsb_rows(path):
    """Yields `(line number, {column: field})` for each row of an STS benchmark CSV (`STSB_COLUMNS`)."""
    for line_number, text in _data_lines(path):
        fields = text.split("\t")
        if len(fields) < len(STSB_COLUMNS):
            raise ValueError(
                f"{path}: line {line_number}: expected at least {len(STSB_COLUMNS)} tab-separated fields "
                f"({', '.join(STSB_COLUMNS)}), found {len(fields)}"
            )
        yield line_number, dict(zip(STSB_COLUMNS, fields))


def read_stsb(path):
    """Reads an STS benchmark `sts-{train,dev,test}.csv` (no header; tab-separated, no quoting)."""
    sentences1, sentences2, scores = [], [], []
    for line_number, row in iter_stsb_rows(path):
        scores.append(readers._parse_score(row["score"], path, f"line {line_number}"))
        sentences1.append(row["sentence1"])
        sentences2.append(row["sentence2"])
    return SentencePairs(sentences1, sentences2, np.asarray(scores, np.float64), source=os.fspath(path))


def iter_sick_rows(path, split=None):
    """Yields `(line number, row)` of a SICK file; `row` has sentence_A, sentence_B, relatedness_score, pair_ID
    and `entailment` (the SemEval files' `entailment_judgment`, the full file's `entailment_label`; empty if the
    file has neither).

    The full `SICK.txt` holds every split: `split` (train, dev = trial, test) then picks the rows whose
    `SemEval_set` is that split, and is required. The SemEval-2014 files hold one split each and ignore it.
    """
    required = ("pair_ID", "sentence_A", "sentence_B", "relatedness_score")
    lines = readers._iter_lines(path)
    header = next(lines, (1, ""))[1].split("\t")
    lines.close()
    label = next((c for c in ("entailment_judgment", "entailment_label") if c in header), None)
    full_file = "SemEval_set" in header
    wanted = None
    if full_file:
        if split is None or split.lower() not in SICK_SPLITS:
            raise ValueError(
                f"{path} is the full SICK file (it has a SemEval_set column): name the split to read, one of "
                f"train, dev (SICK's trial set), test; got {split!r}"
            )
        wanted = SICK_SPLITS[split.lower()]
    columns = required + ((label,) if label else ()) + (("SemEval_set",) if full_file else ())
    for line_number, row in readers._iter_tsv(path, columns):
        if wanted is not None:
            if row["SemEval_set"] not in SICK_SPLITS.values():
                raise ValueError(f"{path}: line {line_number}: SemEval_set {row['SemEval_set']!r} is not one of "
                                 "TRAIN, TRIAL, TEST")
            if row["SemEval_set"] != wanted:
                continue
        row["entailment"] = row.pop(label) if label else ""
        yield line_number, row


def read_sick(path, split=None):
    """Reads SICK's relatedness pairs (`relatedness_score`, 1-5) into `SentencePairs`; see `iter_sick_rows`."""
    sentences1, sentences2, scores = [], [], []
    for line_number, row in iter_sick_rows(path, split):
        scores.append(readers._parse_score(row["relatedness_score"], path, f"line {line_number}"))
        sentences1.append(row["sentence_A"])
        sentences2.append(row["sentence_B"])
    return SentencePairs(sentences1, sentences2, np.asarray(scores, np.float64), source=os.fspath(path))


def _exists(path):
    if "://" in path:
        import tensorflow as tf  # Only for remote file systems.

        return tf.io.gfile.exists(path)
    return os.path.isfile(path)


def subset_files(directory, year):
    """`{subset: (layout, files)}` for the SentEval subsets of `year` found in `directory`.

    `layout` is "tsv" (`files` = the brmson TSV) or "semeval" (`files` = input, gold-standard).
    """
    if year not in SENTEVAL_SUBSETS:
        raise ValueError(f"no SemEval STS year {year}; choose one of {', '.join(map(str, SENTEVAL_SUBSETS))}")
    directory = os.fspath(directory).rstrip("/")
    found = {}
    for subset in SENTEVAL_SUBSETS[year]:
        tsv = f"{directory}/{subset}.test.tsv"
        names = [f"surprise.{subset}", subset] if year == 2012 and subset in _SURPRISE_2012 else [subset]
        semeval = [
            (f"{directory}/{prefix}.input.{n}.txt", f"{directory}/{prefix}.gs.{n}.txt")
            for prefix in ("STS", f"STS{year}")
            for n in names
            if _exists(f"{directory}/{prefix}.input.{n}.txt")
        ]
        if _exists(tsv) and semeval:
            raise ValueError(f"{directory}: subset {subset} is there twice ({tsv} and {semeval[0][0]}); keep one")
        if _exists(tsv):
            found[subset] = ("tsv", (tsv,))
        elif semeval:
            inputs, gold = semeval[0]
            if not _exists(gold):
                raise ValueError(f"{inputs} has no gold-standard file beside it ({gold})")
            found[subset] = ("semeval", (inputs, gold))
    return found


def read_semeval_tsv(path):
    """Reads one brmson/dataset-sts `<subset>.test.tsv`: `(SentencePairs of the scored rows, unscored rows)`."""
    rows, unscored = _read_tsv_subset(path)
    return _pairs(rows, path), unscored


def _pairs(rows, source):
    return SentencePairs(
        [r[0] for r in rows], [r[1] for r in rows], np.asarray([r[2] for r in rows], np.float64), source=str(source)
    )


def _read_tsv_subset(path):
    """`(scored rows as (s1, s2, score), unscored count)` of a brmson `<subset>.test.tsv`."""
    rows, unscored = [], 0
    for line_number, text in _data_lines(path):
        fields = text.split("\t")
        if len(fields) != 3:
            raise ValueError(
                f"{path}: line {line_number}: expected 3 tab-separated fields (score, sentence1, sentence2), "
                f"found {len(fields)}"
            )
        if fields[0].strip() == "":
            unscored += 1
            continue
        rows.append((fields[1], fields[2], readers._parse_score(fields[0], path, f"line {line_number}")))
    return rows, unscored


def _read_semeval_subset(inputs, gold):
    """`(scored rows, unscored count)` of an `STS.input` / `STS.gs` file pair, matched line by line."""
    pairs = []
    for line_number, text in _data_lines(inputs):
        fields = text.split("\t")
        if len(fields) < 2:
            raise ValueError(f"{inputs}: line {line_number}: expected sentence1 TAB sentence2, found no tab")
        pairs.append((fields[0], fields[1]))
    # A gold file's empty lines are unscored pairs, not separators: read every line.
    scores = [(n, t) for n, t in readers._iter_lines(gold)]
    while scores and scores[-1][1].strip() == "" and len(scores) > len(pairs):
        scores.pop()  # the editor's final newline
    if len(scores) != len(pairs):
        raise ValueError(f"{gold} has {len(scores)} lines but {inputs} has {len(pairs)} sentence pairs")
    rows, unscored = [], 0
    for (s1, s2), (line_number, text) in zip(pairs, scores):
        if text.strip() == "":
            unscored += 1
            continue
        rows.append((s1, s2, readers._parse_score(text.strip(), gold, f"line {line_number}")))
    return rows, unscored


def read_semeval_sts(directory, year):
    """Reads the SentEval subsets of one SemEval STS year folder (see the module notes) into `SemEvalSTS`.

    Raises:
        ValueError: no SentEval subset of `year` is in `directory`, or a file is malformed.
    """
    year = int(year)
    found = subset_files(directory, year)
    if not found:
        expected = ", ".join(f"{s}.test.tsv" for s in SENTEVAL_SUBSETS[year])
        raise ValueError(
            f"{directory}: no SemEval STS {year} subset found (expected {expected}, or STS.input.<subset>.txt "
            "with STS.gs.<subset>.txt)"
        )
    subsets, unscored = {}, {}
    for subset, (layout, files) in found.items():
        rows, skipped = _read_tsv_subset(*files) if layout == "tsv" else _read_semeval_subset(*files)
        subsets[subset] = _pairs(rows, files[0])
        unscored[subset] = skipped
    missing = tuple(s for s in SENTEVAL_SUBSETS[year] if s not in found)
    return SemEvalSTS(year, subsets, unscored, missing, source=os.fspath(directory))
