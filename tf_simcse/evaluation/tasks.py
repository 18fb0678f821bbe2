"""Evaluation tasks: `NAME[:SPLIT][=PATH]` -> data -> `Encoder.encode` -> metrics.

| task        | data (upstream format)                  | figures                                                   |
|-------------|-----------------------------------------|-----------------------------------------------------------|
| `korsts`    | KorSTS TSV (kakaobrain/KorNLUDatasets)  | the 8-column STS table (cosine/euclidean/manhattan/dot × Pearson/Spearman) + mean |
| `klue_sts`  | KLUE-STS v1.1 JSON                       | the STS table + KLUE's official Pearson (real-label) and F1 (binary-label)        |
| `kornli`    | KorNLI TSV                               | entailment (1) vs contradiction (0) pair classification from the pair similarity; neutral pairs are left out |

Without `=PATH` a task reads the prepared TFDS dataset of `TFDS_NAMES` (see tfds_builders/README.md); from TFDS,
`kornli` uses the XNLI triplets (premises that have both an entailment and a contradiction).

Each task embeds every distinct sentence of the split once, with the encoder's single encode path.
"""

import dataclasses

import numpy as np

from tf_simcse import fileio
from tf_simcse.data import readers
from tf_simcse.errors import UserInputError
from tf_simcse.evaluation.classification import binary_classification_metrics
from tf_simcse.evaluation.klue_sts import cosine_to_klue_scale, klue_sts_metrics
from tf_simcse.evaluation.sts import sts_metrics, sts_scores

TASKS = ("korsts", "klue_sts", "kornli")
DEFAULT_SPLITS = {"korsts": "dev", "klue_sts": "dev", "kornli": "dev"}


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    name: str
    split: str
    path: str | None = None

    @property
    def label(self):
        return f"{self.name}:{self.split}"


def parse_task(text):
    """Parses `NAME[:SPLIT][=PATH]`, e.g. `korsts:dev=../shared/data/korsts/sts-dev.tsv`."""
    spec, _, path = text.partition("=")
    name, _, split = spec.partition(":")
    name = name.strip().lower()
    if name not in TASKS:
        raise UserInputError(f"--task {text!r}: unknown task {name!r}; choose one of {', '.join(TASKS)}.")
    if "=" in text and not path:
        raise UserInputError(f"--task {text!r}: '=' must be followed by the path of the upstream file.")
    if path and not fileio.exists(path):
        raise FileNotFoundError(f"--task {text!r}: file {path} does not exist.")
    return TaskSpec(name=name, split=split.strip() or DEFAULT_SPLITS[name], path=path or None)


# The TFDS dataset (tfds_builders/) that serves each task when no local file is given.
TFDS_NAMES = {"korsts": "korsts", "klue_sts": "klue_sts", "kornli": "kornli_triplets/xnli"}


def load_task_data(task, tfds_data_dir=None):
    """Reads the task's split from its local upstream file, or without a path from the prepared TFDS dataset."""
    if task.path is not None:
        reader = {"korsts": readers.read_korsts, "klue_sts": readers.read_klue_sts, "kornli": readers.read_kornli}
        return reader[task.name](task.path)
    return _load_from_tfds(task, tfds_data_dir)


def _load_from_tfds(task, data_dir):
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
    binary = np.array([row["binary_label"] for row in rows]) if task.name == "klue_sts" else None
    return readers.SentencePairs(
        [text(row["sentence1"]) for row in rows],
        [text(row["sentence2"]) for row in rows],
        np.array([row["score"] for row in rows], dtype=np.float64),
        binary_labels=binary,
        source=source,
    )


def _embed_pairs(encoder, first, second, batch_size):
    """Embeds both sides of a pair list, encoding each distinct sentence once."""
    unique = list(dict.fromkeys(list(first) + list(second)))
    index = {s: i for i, s in enumerate(unique)}
    vectors = encoder.encode(unique, batch_size=batch_size)
    return vectors[[index[s] for s in first]], vectors[[index[s] for s in second]]


def run_task(encoder, task, batch_size=64, data=None):
    """Evaluates `encoder` on `task` (a TaskSpec or its string form); returns a flat dict of figures."""
    if isinstance(task, str):
        task = parse_task(task)
    data = load_task_data(task) if data is None else data
    if task.name in ("korsts", "klue_sts"):
        emb1, emb2 = _embed_pairs(encoder, data.sentences1, data.sentences2, batch_size)
        metrics = sts_metrics(emb1, emb2, data.scores)
        if task.name == "klue_sts":
            cosine = sts_scores(emb1, emb2)["cosine"]
            metrics.update(klue_sts_metrics(cosine_to_klue_scale(cosine), data.scores, data.binary_labels))
        metrics["num_pairs"] = len(data.scores)
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

