"""simcse_nli: the SimCSE paper's supervised training triplets (`nli_for_simcse.csv`)."""

import tensorflow_datasets as tfds

from tfds_builders import _common
from tfds_builders import _nli

_FILE = "nli_for_simcse.csv"
_URL = f"{_common.SIMCSE_DATA_URL}/{_FILE}"

_DESCRIPTION = """\
The supervised training set of SimCSE (Gao et al., 2021): SNLI + MultiNLI premises with an entailed hypothesis
and a contradicting one, as the paper's `nli_for_simcse.csv` (a quoted CSV with columns sent0, sent1, hard_neg).
The columns become `premise` (sent0), `entailment` (sent1) and `contradiction` (hard_neg), the feature names of
the other triplet datasets. The file is read with tf_simcse's own CSV parser; rows with an empty field are
skipped and counted in `info.metadata["train"]`.
"""

_LICENSE = (
    "Derived from SNLI (CC BY-SA 4.0) and MultiNLI (mostly open licenses; see its data description); the SimCSE "
    "code is MIT-licensed. No separate license is stated for the file."
)


class Builder(_common.BuilderBase):
    """The SimCSE paper's NLI triplets."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = _common.manual_dir_instructions([_URL])

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            description=_DESCRIPTION,
            features=tfds.features.FeaturesDict({name: tfds.features.Text() for name in _nli.TRIPLET_FEATURES}),
            supervised_keys=None,
            disable_shuffling=True,  # Keep the file's order: shuffling is the pipeline's job.
            homepage=_common.SIMCSE_HOMEPAGE,
            citation=_common.SIMCSE_CITATION,
            license=_LICENSE,
            metadata=_common.new_metadata(),
        )

    def available_splits(self):
        return ("train",)

    def _split_generators(self, dl_manager):
        self.requested_splits()  # Rejects a split name other than train.
        path = _common.upstream_files(self, dl_manager, {"train": _URL})["train"]
        return {"train": self._generate_examples(path)}

    def _generate_examples(self, path):
        triplets, report = _nli.read_simcse_nli_csv(path, _FILE)
        self.info.metadata["train"] = report
        yield from _nli.triplet_examples(triplets)
