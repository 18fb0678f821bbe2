"""simcse_wiki1m: the SimCSE paper's unsupervised training sentences (`wiki1m_for_simcse.txt`)."""

import collections

import tensorflow_datasets as tfds

from tf_simcse.data import readers
from tfds_builders import _common

_FILE = "wiki1m_for_simcse.txt"
_URL = f"{_common.SIMCSE_DATA_URL}/{_FILE}"

_DESCRIPTION = """\
The unsupervised training set of SimCSE (Gao et al., 2021): one million sentences sampled from English
Wikipedia, one per line, as the paper's `wiki1m_for_simcse.txt`. The file is read with tf_simcse's own line
reader (`tf_simcse.data.readers.read_lines`): lines are kept as written, blank lines are dropped; repeated
sentences are kept, as the paper trained on them. `info.metadata["train"]` counts the lines read, the blank
lines dropped and the lines that repeat an earlier one.
"""

_LICENSE = (
    "Sentences from English Wikipedia, whose text is licensed CC BY-SA 3.0 "
    "(https://creativecommons.org/licenses/by-sa/3.0/); the SimCSE code is MIT-licensed."
)


class Builder(_common.BuilderBase):
    """The SimCSE paper's 1M Wikipedia sentences."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = _common.manual_dir_instructions([_URL])

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            description=_DESCRIPTION,
            features=tfds.features.FeaturesDict({"text": tfds.features.Text()}),
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
        lines = readers.read_lines(path)
        repeats = sum(n - 1 for n in collections.Counter(lines).values())
        self.info.metadata["train"] = {
            "sentences": len(lines),
            "blank_lines_skipped": lines.skipped,
            "repeated_sentences_kept": repeats,
        }
        for i, line in enumerate(lines):
            yield i, {"text": line}
