"""kornli_triplets: supervised SimCSE triplets (premise, entailment, contradiction) from KorNLI."""

import tensorflow_datasets as tfds

from tfds_builders import _common
from tfds_builders import _nli

_FILES = {
    "snli": "snli_1.0_train.ko.tsv",
    "mnli": "multinli.train.ko.tsv",
    "xnli_dev": "xnli.dev.ko.tsv",
    "xnli_test": "xnli.test.ko.tsv",
}
_URLS = {key: f"{_common.KORNLU_RAW}/KorNLI/{name}" for key, name in _FILES.items()}

# split -> the files pooled (in this order) before grouping.
_SPLITS = {
    "snli_mnli": {"train": ("snli", "mnli")},
    "xnli": {"dev": ("xnli_dev",), "test": ("xnli_test",), "dev_test": ("xnli_dev", "xnli_test")},
}

_DESCRIPTION = """\
Supervised SimCSE triplets from KorNLI (Ham et al., 2020), the machine-translated and partly human-checked Korean
SNLI, MultiNLI and XNLI. Each example is a premise, one hypothesis it entails (the positive) and one hypothesis
it contradicts (the hard negative).

Pairs are grouped by their exact premise text with tf_simcse's own rule
(`tf_simcse.data.examples.load_training_examples(..., "sup")`): all files of a split are pooled, each premise
yields one triplet at the position of its first row, with its first entailment and first contradiction in
reading order; premises lacking either are dropped, rows whose gold_label is not entailment / neutral /
contradiction or with an empty sentence are skipped. The counts are in `info.metadata[split]`.

Configs: `snli_mnli` (split `train`: snli_1.0_train.ko.tsv + multinli.train.ko.tsv, the KoSimCSE-sup training
set) and `xnli` (splits `dev` = xnli.dev.ko.tsv, `test` = xnli.test.ko.tsv, and `dev_test` = both grouped
together: one premise occurs in both files, so `dev_test` has one triplet less than `dev` + `test`).
"""


class Builder(_common.BuilderBase):
    """KorNLI grouped into SimCSE triplets."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    BUILDER_CONFIGS = [
        tfds.core.BuilderConfig(
            name="snli_mnli", description="split train: KorNLI SNLI + MultiNLI train files, grouped together."
        ),
        tfds.core.BuilderConfig(
            name="xnli", description="splits dev, test and dev_test (both files grouped together): KorNLI XNLI."
        ),
    ]
    MANUAL_DOWNLOAD_INSTRUCTIONS = _common.manual_dir_instructions(_URLS.values())

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            description=_DESCRIPTION,
            features=tfds.features.FeaturesDict({name: tfds.features.Text() for name in _nli.TRIPLET_FEATURES}),
            supervised_keys=None,
            disable_shuffling=True,  # Keep the library's reading order: shuffling is the pipeline's job.
            homepage=_common.KORNLU_HOMEPAGE,
            citation=_common.KORNLU_CITATION,
            license=_common.CC_BY_SA_4,
            metadata=_common.new_metadata(),
        )

    def available_splits(self):
        return tuple(_SPLITS[self.builder_config.name])

    def _split_generators(self, dl_manager):
        splits = {split: _SPLITS[self.builder_config.name][split] for split in self.requested_splits()}
        needed = sorted({key for keys in splits.values() for key in keys})
        paths = _common.upstream_files(self, dl_manager, {key: _URLS[key] for key in needed})
        return {
            split: self._generate_examples(split, [paths[k] for k in keys], [_FILES[k] for k in keys])
            for split, keys in splits.items()
        }

    def _generate_examples(self, split, paths, names):
        triplets, report = _nli.group_kornli_files(paths, names)
        self.info.metadata[split] = report
        yield from _nli.triplet_examples(triplets)
