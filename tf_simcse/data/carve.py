"""Carve-out slices: a deterministic part of a data split, chosen by row content, for selection on training data.

A slice `[a%:b%]` (whole percentages 0..100, either bound optional: `[:10%]`, `[10%:]`, `[20%:30%]`) follows a
split or a file:

* evaluation tasks (`--eval_data`, `--test_data`, `tf_simcse.evaluate --task`): `NAME:SPLIT[a%:b%][=PATH]`,
  e.g. `korsts:train[:10%]=sts-train.tsv`, or `korsts:train[:10%]` from the prepared TFDS dataset;
* training data (`--train_data`): `PATH[a%:b%]` or `tfds:NAME[/CONFIG]:SPLIT[a%:b%]`.

**The rule** (`bucket`, the one place it is written): a row's bucket is the first 8 bytes of the SHA-256 of the
UTF-8 of its texts joined by a tab (`sentence1 + "\\t" + sentence2` for a pair; the sentence alone for a line of a
text file), read as a big-endian unsigned integer, modulo 100. `[a%:b%]` keeps the rows with `a <= bucket < b`.
The texts are those of the file as read (before any whitespace normalization); scores and labels take no part.

So the kept rows do not depend on the order of the file, identical rows share a bucket (a duplicate never lands
on both sides), complementary slices (`[:10%]` and `[10%:]`) are disjoint and cover every row, and a file and
the TFDS dataset prepared from it give the same rows. TFDS's own positional slicing is not used for `%` slices;
row-count slices of a TFDS training split (`train[:1000]`) still go to TFDS.

What a row's texts are, per source: a scored or labelled pair (KorSTS, KLUE-STS, question pairs) and an NLI row
(premise, hypothesis) give both sentences; a `sent0, sent1[, hard_neg]` row its `sent0` and `sent1`; a TFDS
triplet (premise, entailment, contradiction) its premise and entailment; a text line itself. NLI rows are carved
one (premise, hypothesis) row at a time, so a premise with several hypotheses may have rows on both sides.
"""

import dataclasses
import hashlib
import re

from tf_simcse.errors import UserInputError

BUCKETS = 100
_SLICE = re.compile(r"\[(?:(\d+)%)?:(?:(\d+)%)?\]")
_EXPECTED = "expected [a%:b%] with whole percentages 0..100, either bound optional (e.g. [:10%], [10%:], [20%:30%])"


class CarveSliceError(UserInputError):
    """A malformed carve-out slice; the message names the option or spec and says what is expected."""


def bucket(*texts):
    """The carve-out bucket (0..99) of a row with these texts (see the module docstring)."""
    digest = hashlib.sha256("\t".join(texts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


@dataclasses.dataclass(frozen=True)
class CarveSlice:
    """The buckets `start <= bucket < stop` of a carve-out slice (`0 <= start < stop <= 100`, not both ends)."""

    start: int = 0
    stop: int = BUCKETS

    def __str__(self):
        return f"[{f'{self.start}%' if self.start else ''}:{f'{self.stop}%' if self.stop != BUCKETS else ''}]"

    def keeps(self, *texts):
        """Whether the row with these texts is in the slice."""
        return self.start <= bucket(*texts) < self.stop

    def keep_mask(self, *columns):
        """`[bool]` per row of the parallel text columns: the rows the slice keeps."""
        return [self.keeps(*texts) for texts in zip(*columns)]

    def overlaps(self, other):
        """Whether two slices share a bucket; None stands for the whole split."""
        other = other or FULL
        return max(self.start, other.start) < min(self.stop, other.stop)

    def report(self, kept, total):
        """What was kept, for data reports and logs."""
        return {"slice": str(self), "buckets": [self.start, self.stop], "rows_kept": kept,
                "rows_carved_out": total - kept, "rows_total": total}


FULL = CarveSlice()


class CarveCount:
    """A source's carve-out slice (or None) and the rows it kept while the source was read."""

    def __init__(self, carve=None):
        self.carve = carve
        self.seen = self.kept = 0

    def carves_out(self, *texts):
        """Counts a row; True when the slice leaves it out (never without a slice)."""
        if self.carve is None:
            return False
        self.seen += 1
        if self.carve.keeps(*texts):
            self.kept += 1
            return False
        return True

    def report(self):
        """`CarveSlice.report` of the rows counted so far; None without a slice."""
        return None if self.carve is None else self.carve.report(self.kept, self.seen)


def overlaps(a, b):
    """Whether two slices (None: the whole split) share a bucket."""
    return (a or FULL).overlaps(b)


def describe(carve):
    """`[:10%]`, or `in full` for None."""
    return "in full" if carve is None else str(carve)


def parse_slice(text, what):
    """`[a%:b%]` -> `CarveSlice`; anything else is a `CarveSliceError` naming `what` (the option or spec)."""
    match = _SLICE.fullmatch(text)
    if match is None:
        hint = ""
        if re.fullmatch(r"\[\d*:\d*\]", text):
            hint = " (carve-out bounds are percentages with a % sign, e.g. [10%:20%]; row counts are not carve-outs)"
        raise CarveSliceError(f"{what}: bad carve-out slice {text!r}: {_EXPECTED}{hint}")
    start, stop = (None if g is None else int(g) for g in match.groups())
    for bound in (start, stop):
        if bound is not None and bound > BUCKETS:
            raise CarveSliceError(f"{what}: bad carve-out slice {text!r}: {bound}% is past 100%; {_EXPECTED}")
    start = 0 if start is None else start
    stop = BUCKETS if stop is None else stop
    if start >= stop:
        raise CarveSliceError(
            f"{what}: bad carve-out slice {text!r}: the start {start}% is not below the stop {stop}%, so it keeps "
            "no row"
        )
    if (start, stop) == (0, BUCKETS):
        raise CarveSliceError(f"{what}: carve-out slice {text!r} keeps every row; leave it out to use the whole split")
    return CarveSlice(start, stop)


def split_suffix(text, what, *, mode):
    """`(text without its trailing carve-out slice, CarveSlice or None)`.

    `mode` says what a trailing `[...]` is:
      `"task"`: always a carve-out slice (an evaluation task's split has no other brackets);
      `"file"`: a carve-out slice when it holds `:` or `%` (`data[1].tsv`, `notes[v2]` stay file names);
      `"tfds"`: a carve-out slice when it holds `%`; otherwise TFDS's own row-count slicing (`train[:1000]`).
    """
    if not text.endswith("]") or "[" not in text:
        return text, None
    at = text.rindex("[")
    bracket = text[at:]
    if mode == "tfds" and "%" not in bracket:
        return text, None
    if mode == "file" and ":" not in bracket and "%" not in bracket:
        return text, None
    return text[:at], parse_slice(bracket, what)
