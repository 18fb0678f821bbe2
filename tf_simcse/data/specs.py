"""Data specs: the strings given to `--train_data` / `--eval_data`, parsed and checked before any reading.

A spec is either

* `tfds:NAME[/CONFIG]:SPLIT` — a TensorFlow Datasets dataset (the split may use TFDS's row-count slicing,
  `train[:1000]`, and the name may carry a TFDS version, `NAME/CONFIG:1.0.0`: the split is what follows the last
  `:` outside brackets); or
* a local (or `gs://`) file, whose format is recognised from its extension and its first line:

* `text`: extension `.txt`; one sentence per line.
* `nli_tsv`: a tab-separated header with `sentence1`, `sentence2`, `gold_label`; KorNLI-style labelled pairs
  (split on tabs, no quoting: the sentences hold `"` characters).
* `pairs_csv`: a comma-separated header with `sent0`, `sent1`[, `hard_neg`]; the SimCSE paper's
  `nli_for_simcse.csv` (quoted CSV, read with the csv module).
* `pairs_tsv`: the same columns, tab-separated (quoted like CSV).

Anything else is an error naming the file, its first line and the formats above.

Either form may end with a carve-out slice, `[a%:b%]` (`sts-train.tsv[10%:]`, `tfds:korsts:train[10%:]`): only the
rows whose content hash falls in the slice are read (`tf_simcse.data.carve`, the same rule as the evaluation
tasks' `korsts:train[:10%]`). A `%` slice of a TFDS split is always a carve-out, never TFDS's positional slicing.
"""

import csv
import dataclasses
import io
import os

from tf_simcse.data import carve as carve_lib
from tf_simcse.errors import UserInputError

TFDS_PREFIX = "tfds:"

FORMAT_TEXT = "text"
FORMAT_NLI_TSV = "nli_tsv"
FORMAT_PAIRS_CSV = "pairs_csv"
FORMAT_PAIRS_TSV = "pairs_tsv"
FILE_FORMATS = (FORMAT_TEXT, FORMAT_NLI_TSV, FORMAT_PAIRS_CSV, FORMAT_PAIRS_TSV)

NLI_COLUMNS = ("sentence1", "sentence2", "gold_label")
PAIR_COLUMNS = ("sent0", "sent1")
HARD_NEGATIVE_COLUMN = "hard_neg"

_EXPECTED = (
    "a .txt file (one sentence per line), a TSV with a header holding sentence1, sentence2 and gold_label "
    "(KorNLI style), or a CSV/TSV with a header holding sent0, sent1[, hard_neg] (nli_for_simcse.csv style), "
    "or tfds:NAME[/CONFIG]:SPLIT; either may end with a carve-out slice [a%:b%]"
)


@dataclasses.dataclass(frozen=True)
class DataSpec:
    """One parsed `--train_data` / `--eval_data` value.

    Attributes:
        kind: `"tfds"` or `"file"`.
        path_or_name: the file path, or the TFDS dataset name (without config).
        config: the TFDS builder config (possibly with a `:VERSION` suffix), or None.
        split: the TFDS split (slicing allowed), or None for files.
        format: one of `FILE_FORMATS` for files, None for TFDS (the features decide).
        carve: the carve-out slice (`tf_simcse.data.carve.CarveSlice`) of the rows to read, or None for all.
    """

    kind: str
    path_or_name: str
    config: str | None = None
    split: str | None = None
    format: str | None = None
    carve: carve_lib.CarveSlice | None = None

    def __post_init__(self):
        if self.kind not in ("tfds", "file"):
            raise ValueError(f"DataSpec.kind must be 'tfds' or 'file', got {self.kind!r}")
        if self.kind == "file" and self.format not in FILE_FORMATS:
            raise ValueError(f"DataSpec.format must be one of {FILE_FORMATS} for a file, got {self.format!r}")

    @property
    def tfds_name(self):
        """`NAME/CONFIG` (or `NAME`) as `tfds.builder` takes it."""
        return self.path_or_name if self.config is None else f"{self.path_or_name}/{self.config}"

    def __str__(self):
        suffix = "" if self.carve is None else str(self.carve)
        if self.kind == "tfds":
            return f"{TFDS_PREFIX}{self.tfds_name}:{self.split}{suffix}"
        return self.path_or_name + suffix


def parse_data_spec(spec):
    """Parses `tfds:NAME[/CONFIG]:SPLIT` or a file path into a `DataSpec`.

    For a file, checks that it exists and recognises its format (see the module docstring). A `DataSpec` is
    returned unchanged.

    Raises:
        UserInputError (a ValueError): a malformed `tfds:` spec, or a file whose format is not recognised.
        FileNotFoundError: the file does not exist.
    """
    if isinstance(spec, DataSpec):
        return spec
    if isinstance(spec, os.PathLike):
        spec = os.fspath(spec)
    if not isinstance(spec, str) or not spec.strip():
        raise UserInputError(f"a data spec must be a non-empty string, got {spec!r}; expected {_EXPECTED}")
    if spec.startswith(TFDS_PREFIX):
        return _parse_tfds(spec)
    path, carve = split_file_spec(spec)
    return DataSpec(kind="file", path_or_name=path, format=detect_file_format(path), carve=carve)


def split_file_spec(spec):
    """`PATH[a%:b%]` -> `(PATH, CarveSlice)`; a path without a slice -> `(path, None)`."""
    return carve_lib.split_suffix(spec, f"data spec {spec!r}", mode="file")


def _parse_tfds(spec):
    rest = spec[len(TFDS_PREFIX) :]
    # The split follows the last ':' outside brackets, so that `train[:10%]` and `name:1.0.0` both survive.
    depth, cut = 0, -1
    for i, ch in enumerate(rest):
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        elif ch == ":" and depth == 0:
            cut = i
    if cut <= 0 or cut == len(rest) - 1:
        raise UserInputError(
            f"data spec {spec!r}: expected tfds:NAME[/CONFIG]:SPLIT (e.g. tfds:kornli/xnli:validation)"
        )
    name, split = rest[:cut], rest[cut + 1 :]
    split, carve = carve_lib.split_suffix(split, f"data spec {spec!r}", mode="tfds")
    if "%" in split or not split:
        raise carve_lib.CarveSliceError(
            f"data spec {spec!r}: a % slice of a TFDS split is a carve-out (rows chosen by content hash), given "
            "once at the end of one split: tfds:NAME[/CONFIG]:SPLIT[a%:b%]; TFDS's positional slices take row "
            "counts (train[:1000])"
        )
    name, _, config = name.partition("/")
    if not name or (config == "" and "/" in rest[:cut]) or "/" in config:
        raise UserInputError(f"data spec {spec!r}: expected tfds:NAME[/CONFIG]:SPLIT with a non-empty NAME and CONFIG")
    return DataSpec(kind="tfds", path_or_name=name, config=config or None, split=split, carve=carve)


def _read_first_line(path):
    """The first line of a file (without BOM or line terminator), read through `tf.io.gfile` for URLs."""
    if "://" in path:
        from tf_simcse import fileio  # Only for remote file systems: imports TensorFlow.

        if not fileio.exists(path):
            raise FileNotFoundError(f"data file not found: {path} (expected {_EXPECTED})")
        if fileio.isdir(path):
            raise UserInputError(f"data spec {path} is a directory; expected {_EXPECTED}")
        opener = fileio.open_file(path, "rb")
    else:
        if not os.path.exists(path):
            raise FileNotFoundError(f"data file not found: {path} (expected {_EXPECTED})")
        if os.path.isdir(path):
            raise UserInputError(f"data spec {path} is a directory; expected {_EXPECTED}")
        opener = open(path, "rb")
    with opener as f:
        # tf.io.gfile's readline takes no size limit.
        raw = f.readline() if "://" in path else f.readline(1 << 16)
    raw = raw.rstrip(b"\r\n")
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UserInputError(f"{path}: line 1 is not valid UTF-8; expected {_EXPECTED}") from None


def _header_fields(line, delimiter):
    return [field.strip() for field in next(csv.reader(io.StringIO(line), delimiter=delimiter), [])]


def detect_file_format(path):
    """Recognises the format of a data file: one of `FILE_FORMATS`.

    `.txt` is always `text` (a sentence file has no header). Other files are recognised by their header line,
    whatever their extension.
    """
    path = os.fspath(path)
    first = _read_first_line(path)
    if path.lower().endswith(".txt"):
        return FORMAT_TEXT
    tab_fields = _header_fields(first, "\t")
    if all(c in tab_fields for c in NLI_COLUMNS):
        return FORMAT_NLI_TSV
    if all(c in tab_fields for c in PAIR_COLUMNS):
        return FORMAT_PAIRS_TSV
    if all(c in _header_fields(first, ",") for c in PAIR_COLUMNS):
        return FORMAT_PAIRS_CSV
    shown = first if len(first) <= 120 else first[:117] + "..."
    raise UserInputError(f"{path}: unrecognised data format (first line {shown!r}); expected {_EXPECTED}")
