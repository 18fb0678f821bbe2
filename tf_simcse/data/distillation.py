"""Data of `--objective distill` (Reimers & Gurevych, 2020): sentences, their teacher embeddings, the batches.

The student regresses the teacher's embedding of each training sentence (MSE). The sentences come from any data
spec the other objectives read: sentence files (one a line), NLI files (premises and hypotheses), pair and
triplet files (every column), scored / labelled pair files (both sides). They are deduplicated, first occurrence
first.

The teacher embeds every distinct sentence ONCE, before training; the embeddings are cached in the output
directory (`teacher_embeddings.npy` + `teacher_embeddings.json`, which names the teacher and a digest of the
sentences), so a resumed run or a second epoch reuses them instead of running the teacher again.
"""

import dataclasses
import hashlib
import io

import numpy as np

from tf_simcse import fileio
from tf_simcse.data.examples import TrainingExamples, load_sentences
from tf_simcse.errors import UserInputError

CACHE_FILE = "teacher_embeddings.npy"
CACHE_INFO_FILE = "teacher_embeddings.json"


def load_distillation_sentences(specs, *, label_column=None, positive_label=None):
    """The distinct sentences of `specs`, as `TrainingExamples(anchors=...)` with a report of what was read.

    `label_column` / `positive_label` are passed on for labelled pair files (their labels are not used, but the
    loader checks them).
    """
    from tf_simcse.data import pairs as pairs_lib

    sentences, sources = [], []
    for spec in specs:
        kind = pairs_lib.detect_pair_format(spec, label_column=label_column)
        if kind is not None:
            options = {} if kind == pairs_lib.SCORED else dict(label_column=label_column, positive_label=positive_label)
            pairs = pairs_lib.load_pairs([spec], **options)
            found = list(pairs.sentence1) + list(pairs.sentence2)
            sources.append({"spec": str(spec), "format": kind, "sentences": len(found)})
        else:
            examples = load_sentences([spec])
            found = list(examples.anchors)
            (source,) = examples.report["sources"]
            sources.append({"spec": str(spec), "format": source["format"], "rows_read": source["rows_read"],
                            "sentences": len(found), "rows_skipped": source["rows_skipped"]})
        sentences.extend(found)
    unique = list(dict.fromkeys(sentences))
    if not unique:
        raise UserInputError(f"--objective distill: no sentences in {', '.join(map(str, specs))}")
    report = {"objective": "distill", "sources": sources, "sentences_read": len(sentences),
              "duplicates_dropped": len(sentences) - len(unique), "examples": len(unique)}
    return TrainingExamples(unique, report=report)


def _digest(sentences):
    h = hashlib.sha256()
    for s in sentences:
        h.update(s.encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()


@dataclasses.dataclass
class TeacherEmbeddings:
    embeddings: np.ndarray  # float32 [n, teacher dim], row i = sentence i
    cached: bool  # read from the cache (not computed by this call)


def teacher_embeddings(teacher, teacher_name, sentences, cache_dir, *, batch_size=64, write=True, log=print):
    """The teacher's embeddings of `sentences`, from `cache_dir`'s cache when it was made by the same teacher for
    the same sentences, else computed (with a progress bar) and cached there.

    `teacher` is an object with `encode(list of str, batch_size=..., show_progress=...)` (an `Encoder`), or a
    callable returning one (only called when the cache cannot serve), `teacher_name` what identifies it (its
    `--teacher` value). `write=False` (a non-chief worker) computes without writing the cache.
    """
    info_path, data_path = fileio.join(cache_dir, CACHE_INFO_FILE), fileio.join(cache_dir, CACHE_FILE)
    wanted = {"teacher": str(teacher_name), "sentences": len(sentences), "sha256": _digest(sentences)}
    info = fileio.read_json_if_exists(info_path, None)
    if info is not None and {k: info.get(k) for k in wanted} == wanted and fileio.exists(data_path):
        embeddings = np.load(io.BytesIO(fileio.read_bytes(data_path)), allow_pickle=False)
        if embeddings.shape[0] == len(sentences):
            log(f"teacher embeddings: {embeddings.shape[0]} x {embeddings.shape[1]} from the cache {data_path}")
            return TeacherEmbeddings(embeddings.astype(np.float32), cached=True)
    if callable(teacher) and not hasattr(teacher, "encode"):
        teacher = teacher()
    log(f"teacher embeddings: encoding {len(sentences)} distinct sentences with {teacher_name} (once; cached)")
    embeddings = np.asarray(teacher.encode(list(sentences), batch_size=batch_size, show_progress=True), np.float32)
    if write:
        buffer = io.BytesIO()
        np.save(buffer, embeddings, allow_pickle=False)
        fileio.write_bytes(data_path, buffer.getvalue())
        # The info file last: a cache interrupted before it is complete is not taken for a valid one.
        fileio.write_json(info_path, {**wanted, "dim": int(embeddings.shape[1])}, atomic=True)
    return TeacherEmbeddings(embeddings, cached=False)


def make_distillation_dataset(examples, embeddings, preprocessor, *, batch_size, seed=42, epoch=0, start_batch=0,
                              drop_remainder=True, shuffle=True, length_grouping=False, grouping_window=64,
                              pad_to_multiple_of=None):
    """One epoch of `{"anchor": P, "teacher": float32 [b, teacher dim]}`: the sentences tokenized and batched as
    `make_training_dataset(objective="unsup")` does, each beside its teacher embedding."""
    import tensorflow as tf

    from tf_simcse.data import pipelines

    options = dict(objective="unsup", batch_size=batch_size, seed=seed, epoch=epoch, shuffle=shuffle,
                   start_batch=start_batch, drop_remainder=drop_remainder, length_grouping=length_grouping,
                   grouping_window=grouping_window)
    texts = pipelines.make_training_dataset(examples, preprocessor, pad_to_multiple_of=pad_to_multiple_of, **options)
    targets = pipelines.batched_row_values(examples, np.asarray(embeddings, np.float32), preprocessor, **options)
    return tf.data.Dataset.zip(texts, targets).map(
        lambda batch, teacher: {"anchor": batch["anchor"], "teacher": teacher}
    ).prefetch(tf.data.AUTOTUNE)
