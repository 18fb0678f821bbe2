"""klue_sts: the KLUE-STS v1.1 semantic textual similarity benchmark (train / dev)."""

import json

import numpy as np
import tensorflow_datasets as tfds

from tf_simcse.data import readers
from tfds_builders import _common

_FILES = {"train": "klue-sts-v1.1_train.json", "dev": "klue-sts-v1.1_dev.json"}
_URLS = {split: f"{_common.KLUE_RAW}/klue-sts-v1.1/{name}" for split, name in _FILES.items()}

_DESCRIPTION = """\
KLUE-STS v1.1 (Park et al., 2021): Korean sentence pairs from Airbnb reviews, policy news and paraphrased
utterances, with a similarity on a 0-5 scale. Features: `sentence1`, `sentence2`, `score` (the `real-label`,
the mean of the annotators' scores, which KLUE's Pearson is computed on), `label` (real-label rounded to one
decimal), `binary_label` (1 when real-label >= 3, which KLUE's F1 is computed on), `guid` and `source`.

The JSON files are read with tf_simcse's own reader (`tf_simcse.data.readers.read_klue_sts`), so an evaluation
on this dataset and one on the local file read the same pairs. Splits: `train` and `dev` (KLUE's test set is
not public; the dev set is the usual evaluation split).
"""


class Builder(_common.BuilderBase):
    """KLUE-STS sentence pairs with their similarity scores."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release (KLUE v1.1)."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = _common.manual_dir_instructions(_URLS.values())

    def _info(self):
        return _common.sts_pair_info(
            self, description=_DESCRIPTION, homepage=_common.KLUE_HOMEPAGE, citation=_common.KLUE_CITATION,
            license=_common.CC_BY_SA_4, text_columns=("guid", "source"),
            features={"label": tfds.features.Scalar(dtype=np.float32),
                      "binary_label": tfds.features.Scalar(dtype=np.int32)},
        )

    def available_splits(self):
        return tuple(_URLS)

    def _split_generators(self, dl_manager):
        urls = {split: _URLS[split] for split in self.requested_splits()}
        paths = _common.upstream_files(self, dl_manager, urls)
        return {split: self._generate_examples(paths[split]) for split in urls}

    def _generate_examples(self, path):
        pairs = readers.read_klue_sts(path)
        if pairs.binary_labels is None:
            raise ValueError(f"{path}: the entries have no labels['binary-label'] (expected KLUE-STS v1.1)")
        # read_klue_sts returns what evaluation uses (and has validated every entry); guid, source and the
        # rounded label are read from the same entries here.
        entries = json.loads(path.read_bytes().decode("utf-8-sig"))
        for i, entry in enumerate(entries):
            labels = entry["labels"]
            if "label" not in labels:
                raise ValueError(f"{path}: entry [{i}] (guid {entry.get('guid')!r}): missing labels['label']")
            yield i, {
                "sentence1": pairs.sentences1[i],
                "sentence2": pairs.sentences2[i],
                "score": np.float32(pairs.scores[i]),
                "label": np.float32(labels["label"]),
                "binary_label": np.int32(pairs.binary_labels[i]),
                "guid": str(entry.get("guid", "")),
                "source": str(entry.get("source", "")),
            }
