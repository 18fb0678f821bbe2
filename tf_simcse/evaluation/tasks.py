"""Evaluation tasks: `NAME[:SPLIT][[a%:b%]][=PATH]` -> data -> `Encoder.encode` -> metrics.

| task        | data (upstream format)                  | figures                                                   |
|-------------|-----------------------------------------|-----------------------------------------------------------|
| `korsts`    | KorSTS TSV (kakaobrain/KorNLUDatasets)  | the 8-column STS table (cosine/euclidean/manhattan/dot × Pearson/Spearman) + mean |
| `klue_sts`  | KLUE-STS v1.1 JSON                       | the STS table + KLUE's official Pearson (real-label) and F1 (binary-label)        |
| `kornli`    | KorNLI TSV                               | entailment (1) vs contradiction (0) pair classification from the pair similarity; neutral pairs are left out |
| `question_pair` | songys/Question_pair TSV (question1, question2, is_duplicate; **0 = same**) | same (1) vs different (0) pair classification from the pair similarity; needs `=PATH` |
| `stsb`      | STS benchmark `sts-{train,dev,test}.csv` | the STS table                                             |
| `sick_r`    | SICK `SICK_{train,trial,test_annotated}.txt` or the full `SICK.txt` | the STS table on `relatedness_score` |
| `sts12` … `sts16` | a SemEval STS year folder (`tf_simcse.data.english_sts`) | the STS table over all scored pairs of the year, + per-subset cosine figures |

Without `=PATH` a task reads the prepared TFDS dataset of `TFDS_NAMES` (see tfds_builders/README.md); from TFDS,
`kornli` uses the XNLI triplets (premises that have both an entailment and a contradiction).

The English tasks follow SentEval as the SimCSE paper ran it. Each sentence is whitespace-normalized first
(`" ".join(s.split())`, as SentEval's `split()` and SimCSE's batcher `" ".join(tokens)`; it changes nothing for a
WordPiece tokenizer but does for byte-level BPE). `stsb` and `sick_r` default to the test split, the paper's
figure. `sts12` ... `sts16` have one split, `test`; their headline figure (`cosine_spearman`) is SentEval's
"all" setting that the paper reports: Spearman x 100 of the cosine similarity against the gold score over the
scored pairs of every subset of the year, concatenated (not a mean of per-subset correlations). Pairs with no
gold score are skipped and counted (`num_unscored`); each subset found also gets `<subset>/cosine_spearman`,
`<subset>/cosine_pearson`, `<subset>/num_pairs` and `<subset>/num_unscored`. SentEval subsets missing from the
folder (2012's MSRvid in the brmson/dataset-sts mirror) are listed in the data's `report`.

**Carve-out slices.** `NAME:SPLIT[a%:b%][=PATH]` (`korsts:train[:10%]=sts-train.tsv`) evaluates only the rows of
the split whose content hash falls in the slice (`tf_simcse.data.carve`: bucket = the first 8 bytes of
sha256(sentence1 + "\t" + sentence2), big-endian, mod 100; `[a%:b%]` keeps `a <= bucket < b`), whether the split
is read from PATH or from TFDS; training data with the complementary slice (`--train_data sts-train.tsv[10%:]`)
holds exactly the other rows. The slice is part of the task's label (`korsts:train[:10%]`, so its figures are
`korsts:train[:10%]/cosine_spearman`), and the data's `report["carve"]` gives the rows kept and carved out.
`sts12` ... `sts16` take no slice.

Each task embeds every distinct sentence of the split once, with the encoder's single encode path.
"""

import dataclasses

import numpy as np

from tf_simcse import fileio
from tf_simcse.data import carve as carve_lib
from tf_simcse.data import english_sts, readers
from tf_simcse.errors import UserInputError
from tf_simcse.evaluation.classification import binary_classification_metrics
from tf_simcse.evaluation.klue_sts import cosine_to_klue_scale, klue_sts_metrics
from tf_simcse.evaluation.sts import pearson, spearman, sts_metrics, sts_scores

# SemEval STS tasks and their year.
SEMEVAL_YEARS = {f"sts{year % 100}": year for year in english_sts.SENTEVAL_SUBSETS}
ENGLISH_STS_TASKS = ("stsb", "sick_r") + tuple(SEMEVAL_YEARS)
# Tasks scored as pair classification (accuracy, F1, precision, recall, average precision, best thresholds).
CLASSIFICATION_TASKS = ("kornli", "question_pair")
TASKS = ("korsts", "klue_sts") + CLASSIFICATION_TASKS + ENGLISH_STS_TASKS
DEFAULT_SPLITS = {"korsts": "dev", "klue_sts": "dev", "kornli": "dev", "question_pair": "validation",
                  **{name: "test" for name in ENGLISH_STS_TASKS}}
# songys/Question_pair labels a pair 0 when the two questions mean the same (its README: 같은 질문 0).
QUESTION_PAIR_SAME_LABEL = "0"


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    name: str
    split: str
    path: str | None = None
    carve: carve_lib.CarveSlice | None = None  # a carve-out slice of the split (tf_simcse.data.carve)

    @property
    def label(self):
        return f"{self.name}:{self.split}{'' if self.carve is None else self.carve}"


def split_task_text(text, what=None):
    """`NAME[:SPLIT][[a%:b%]][=PATH]` -> `(name, split, CarveSlice or None, path or None)`, without reading files.

    The name is lower-cased and checked, the split defaulted (`DEFAULT_SPLITS`), the slice parsed; `what` names
    the option in errors (default `--task 'TEXT'`).
    """
    what = what or f"--task {text!r}"
    spec, _, path = text.partition("=")
    spec, carve = carve_lib.split_suffix(spec.rstrip(), what, mode="task")
    name, _, split = spec.partition(":")
    name = name.strip().lower()
    if name not in TASKS:
        raise UserInputError(f"{what}: unknown task {name!r}; choose one of {', '.join(TASKS)}.")
    split = split.strip() or DEFAULT_SPLITS[name]
    if any(c in split for c in "[]%"):
        raise UserInputError(
            f"{what}: bad split {split!r}: a carve-out slice goes once at the end of the split, "
            "NAME:SPLIT[a%:b%][=PATH] (e.g. korsts:train[:10%])"
        )
    if carve is not None and name in SEMEVAL_YEARS:
        raise UserInputError(f"{what}: {name} takes no carve-out slice (its figure is SentEval's, over every pair)")
    return name, split, carve, path or None


def parse_task(text):
    """Parses `NAME[:SPLIT][[a%:b%]][=PATH]`, e.g. `korsts:dev=../shared/data/korsts/sts-dev.tsv`, `sts12=DIR` or
    `korsts:train[:10%]=sts-train.tsv` (a carve-out slice, see the module docstring)."""
    name, split, carve, path = split_task_text(text)
    if "=" in text and not path:
        raise UserInputError(f"--task {text!r}: '=' must be followed by the path of the upstream file.")
    if path and not fileio.exists(path):
        raise FileNotFoundError(f"--task {text!r}: file {path} does not exist.")
    if name in SEMEVAL_YEARS:
        if split != "test":
            raise ValueError(f"--task {text!r}: {name} has one split, test (got {split!r}).")
        if path and not fileio.isdir(path):
            raise ValueError(f"--task {text!r}: {name}=PATH takes the folder of the year's files, not a file.")
    return TaskSpec(name=name, split=split, path=path or None, carve=carve)


# The TFDS dataset (tfds_builders/) that serves each task when no local file is given.
TFDS_NAMES = {
    "korsts": "korsts",
    "klue_sts": "klue_sts",
    "kornli": "kornli_triplets/xnli",
    "stsb": "stsb",
    "sick_r": "sick",
    **{name: f"semeval_sts/{name}" for name in SEMEVAL_YEARS},
}


def load_task_data(task, tfds_data_dir=None):
    """Reads the task's split from its local upstream file, or without a path from the prepared TFDS dataset;
    with a carve-out slice, only the rows of the slice (see the module docstring)."""
    data = _load_split(task, tfds_data_dir)
    return data if task.carve is None else _carve(task, data)


def _carve(task, data):
    """The rows of `data` in `task.carve`, with `report["carve"]` saying how many were kept."""
    carve = task.carve
    if isinstance(data, readers.SentencePairs):
        first, second = data.sentences1, data.sentences2
    elif isinstance(data, readers.NLIExamples):
        first, second = data.premises, data.hypotheses
    else:  # question_pair: PairExamples (tf_simcse.data.pairs)
        first, second = data.sentence1, data.sentence2
    keep = np.flatnonzero(carve.keep_mask(first, second))
    if not len(keep):
        raise UserInputError(f"--task {task.label}: the carve-out slice {carve} keeps none of the {len(first)} rows")
    note = carve.report(len(keep), len(first))

    def take(values):
        return [values[i] for i in keep]

    if isinstance(data, readers.SentencePairs):
        binary = None if data.binary_labels is None else data.binary_labels[keep]
        return readers.SentencePairs(take(first), take(second), data.scores[keep], binary, source=data.source,
                                     report={"carve": note})
    if isinstance(data, readers.NLIExamples):
        return readers.NLIExamples(take(first), take(second), take(data.labels), skipped=data.skipped,
                                   source=data.source, report={"carve": note})
    labels = data.labels[keep]
    report = {**data.report, "pairs": len(keep), "positives": int(labels.sum()),
              "negatives": int(len(labels) - labels.sum()), "carve": note}
    return type(data)(take(first), take(second), labels=labels, report=report)


def carve_note(task, data):
    """The log line of a carved task (`korsts:train[:10%]: carve-out keeps 585 of 5749 rows ...`), else None."""
    note = (getattr(data, "report", None) or {}).get("carve") if task.carve is not None else None
    if note is None:
        return None
    return (f"{task.label}: carve-out keeps {note['rows_kept']} of {note['rows_total']} rows (buckets "
            f"{task.carve.start} <= sha256(sentence1 TAB sentence2)[:8] mod 100 < {task.carve.stop})")


def _load_split(task, tfds_data_dir):
    if task.path is not None:
        if task.name in SEMEVAL_YEARS:
            return english_sts.read_semeval_sts(task.path, SEMEVAL_YEARS[task.name])
        if task.name == "sick_r":
            return english_sts.read_sick(task.path, split=task.split)
        if task.name == "question_pair":
            from tf_simcse.data.pairs import load_labelled_pairs

            return load_labelled_pairs([task.path], positive_label=QUESTION_PAIR_SAME_LABEL)
        reader = {
            "korsts": readers.read_korsts,
            "klue_sts": readers.read_klue_sts,
            "kornli": readers.read_kornli,
            "stsb": english_sts.read_stsb,
        }
        return reader[task.name](task.path)
    return _load_from_tfds(task, tfds_data_dir)


def _load_from_tfds(task, data_dir):
    if task.name not in TFDS_NAMES:
        raise UserInputError(f"--task {task.label}: has no TFDS dataset; give its file: {task.label}=PATH")
    import tensorflow_datasets as tfds

    from tf_simcse.data.tfds_source import prepared_builder

    name = TFDS_NAMES[task.name]
    what = f"--task {task.label} (no =PATH given, so it is read from TFDS {name!r})"
    builder = prepared_builder(name, what=what, data_dir=data_dir)
    if task.split not in builder.info.splits:
        raise UserInputError(f"{what}: no split {task.split!r}; prepared splits: {sorted(builder.info.splits)}")
    rows = list(tfds.as_numpy(builder.as_dataset(split=task.split, shuffle_files=False)))

    def text(value):
        return value.decode("utf-8")

    source = f"tfds:{name}:{task.split}"
    if task.name == "kornli":
        premises, hypotheses, labels = [], [], []
        for row in rows:  # a triplet is one entailment and one contradiction pair of its premise
            for field in ("entailment", "contradiction"):
                premises.append(text(row["premise"]))
                hypotheses.append(text(row[field]))
                labels.append(field)
        return readers.NLIExamples(premises, hypotheses, labels, source=source)

    def pairs(rows):
        return readers.SentencePairs(
            [text(row["sentence1"]) for row in rows],
            [text(row["sentence2"]) for row in rows],
            np.array([row["score"] for row in rows], dtype=np.float64),
            binary_labels=np.array([row["binary_label"] for row in rows]) if task.name == "klue_sts" else None,
            source=source,
        )

    if task.name in SEMEVAL_YEARS:
        # The builder keeps scored pairs in SentEval's subset order and records what it skipped.
        metadata = builder.info.metadata or {}
        unscored = {subset: int(n) for subset, n in metadata.get("unscored", {}).items()}
        subsets = {subset: [] for subset in unscored}  # also the subsets with no scored pair
        for row in rows:
            subsets.setdefault(text(row["subset"]), []).append(row)
        return english_sts.SemEvalSTS(
            SEMEVAL_YEARS[task.name],
            {subset: pairs(subset_rows) for subset, subset_rows in subsets.items()},
            {subset: unscored.get(subset, 0) for subset in subsets},
            tuple(metadata.get("subsets_missing", ())),
            source=source,
        )
    return pairs(rows)


def _embed_pairs(encoder, first, second, batch_size):
    """Embeds both sides of a pair list, encoding each distinct sentence once."""
    unique = list(dict.fromkeys(list(first) + list(second)))
    index = {s: i for i, s in enumerate(unique)}
    vectors = encoder.encode(unique, batch_size=batch_size)
    return vectors[[index[s] for s in first]], vectors[[index[s] for s in second]]


def senteval_whitespace(sentence):
    """SentEval's view of a sentence: split on whitespace, joined by single spaces."""
    return " ".join(sentence.split())


def _english_sts(encoder, data, batch_size):
    pairs = data.pairs() if isinstance(data, english_sts.SemEvalSTS) else data
    emb1, emb2 = _embed_pairs(
        encoder,
        [senteval_whitespace(s) for s in pairs.sentences1],
        [senteval_whitespace(s) for s in pairs.sentences2],
        batch_size,
    )
    metrics = sts_metrics(emb1, emb2, pairs.scores)
    metrics["num_pairs"] = len(pairs.scores)
    if isinstance(data, english_sts.SemEvalSTS):
        metrics["num_unscored"] = int(sum(data.unscored.values()))
        cosine = sts_scores(emb1, emb2)["cosine"]
        start = 0
        for subset, subset_pairs in data.subsets.items():
            part = slice(start, start + len(subset_pairs))
            start = part.stop
            if len(subset_pairs) >= 2:
                metrics[f"{subset}/cosine_pearson"] = 100.0 * pearson(cosine[part], pairs.scores[part])
                metrics[f"{subset}/cosine_spearman"] = 100.0 * spearman(cosine[part], pairs.scores[part])
            metrics[f"{subset}/num_pairs"] = len(subset_pairs)
            metrics[f"{subset}/num_unscored"] = int(data.unscored.get(subset, 0))
    return metrics


def run_task(encoder, task, batch_size=64, data=None):
    """Evaluates `encoder` on `task` (a TaskSpec or its string form); returns a flat dict of figures."""
    if isinstance(task, str):
        task = parse_task(task)
    data = load_task_data(task) if data is None else data
    if task.name in ENGLISH_STS_TASKS:
        return _english_sts(encoder, data, batch_size)
    if task.name in ("korsts", "klue_sts"):
        emb1, emb2 = _embed_pairs(encoder, data.sentences1, data.sentences2, batch_size)
        metrics = sts_metrics(emb1, emb2, data.scores)
        if task.name == "klue_sts":
            cosine = sts_scores(emb1, emb2)["cosine"]
            metrics.update(klue_sts_metrics(cosine_to_klue_scale(cosine), data.scores, data.binary_labels))
        metrics["num_pairs"] = len(data.scores)
        return metrics
    if task.name == "question_pair":
        emb1, emb2 = _embed_pairs(encoder, data.sentence1, data.sentence2, batch_size)
        metrics = binary_classification_metrics(sts_scores(emb1, emb2)["cosine"], np.asarray(data.labels))
        metrics["num_pairs"] = len(data)
        return metrics
    # kornli: entailment vs contradiction.
    keep = [i for i, label in enumerate(data.labels) if label in ("entailment", "contradiction")]
    premises = [data.premises[i] for i in keep]
    hypotheses = [data.hypotheses[i] for i in keep]
    labels = np.array([data.labels[i] == "entailment" for i in keep], dtype=np.int64)
    emb1, emb2 = _embed_pairs(encoder, premises, hypotheses, batch_size)
    metrics = binary_classification_metrics(sts_scores(emb1, emb2)["cosine"], labels)
    metrics["num_pairs"] = len(keep)
    return metrics
