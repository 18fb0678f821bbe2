"""klue_nli_triplets: supervised SimCSE triplets (premise, entailment, contradiction) from KLUE-NLI v1.1."""

import tensorflow_datasets as tfds

from tfds_builders import _common
from tfds_builders import _nli

_FILES = {"train": "klue-nli-v1.1_train.json", "dev": "klue-nli-v1.1_dev.json"}
_URLS = {split: f"{_common.KLUE_RAW}/klue-nli-v1.1/{name}" for split, name in _FILES.items()}

_DESCRIPTION = """\
Supervised SimCSE triplets from KLUE-NLI v1.1 (Park et al., 2021), Korean premises written from Wikinews,
Wikipedia, policy news, Wikitree and Airbnb reviews, with crowd-written hypotheses. Each example is a premise,
one hypothesis it entails (the positive) and one it contradicts (the hard negative).

The JSON fields premise, hypothesis and gold_label are grouped with tf_simcse's own rule (the one used for
KorNLI, `tf_simcse.data.examples.load_training_examples(..., "sup")`): one triplet per premise at the position
of its first row, with its first entailment and first contradiction in reading order; premises lacking either
are dropped. The counts are in `info.metadata[split]`. Splits: `train`, `dev` (KLUE's test set is not public).
"""


class Builder(_common.BuilderBase):
    """KLUE-NLI grouped into SimCSE triplets."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release (KLUE v1.1)."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = _common.manual_dir_instructions(_URLS.values())

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            description=_DESCRIPTION,
            features=tfds.features.FeaturesDict({name: tfds.features.Text() for name in _nli.TRIPLET_FEATURES}),
            supervised_keys=None,
            disable_shuffling=True,  # Keep the library's reading order: shuffling is the pipeline's job.
            homepage=_common.KLUE_HOMEPAGE,
            citation=_common.KLUE_CITATION,
            license=_common.CC_BY_SA_4,
            metadata=_common.new_metadata(),
        )

    def available_splits(self):
        return tuple(_URLS)

    def _split_generators(self, dl_manager):
        urls = {split: _URLS[split] for split in self.requested_splits()}
        paths = _common.upstream_files(self, dl_manager, urls)
        return {split: self._generate_examples(split, paths[split]) for split in urls}

    def _generate_examples(self, split, path):
        triplets, report = _nli.group_klue_nli_files([path], [_FILES[split]])
        self.info.metadata[split] = report
        yield from _nli.triplet_examples(triplets)
