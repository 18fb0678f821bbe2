"""korsts: the KorSTS semantic textual similarity benchmark (train / dev / test)."""

import numpy as np
import tensorflow_datasets as tfds

from tf_simcse.data import readers
from tfds_builders import _common

_FILES = {"train": "sts-train.tsv", "dev": "sts-dev.tsv", "test": "sts-test.tsv"}
_URLS = {split: f"{_common.KORNLU_RAW}/KorSTS/{name}" for split, name in _FILES.items()}
_METADATA_COLUMNS = ("genre", "filename", "year", "id")

_DESCRIPTION = """\
KorSTS (Ham et al., 2020): the STS-B benchmark machine-translated into Korean, with the dev and test sets
post-edited by humans. Each example is a sentence pair with its gold similarity `score` (0 to 5) and the STS-B
provenance columns `genre`, `filename`, `year` and `id`, as strings.

The TSV files have no quoting (sentences contain `"`); they are read with tf_simcse's own reader
(`tf_simcse.data.readers.read_korsts`), so an evaluation on this dataset and one on the local file read the same
pairs. Splits: `train` (5,749 pairs), `dev` (1,500) and `test` (1,379).
"""


class Builder(_common.BuilderBase):
    """KorSTS sentence pairs with their similarity scores."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = _common.manual_dir_instructions(_URLS.values())

    def _info(self):
        return _common.sts_pair_info(
            self, description=_DESCRIPTION, homepage=_common.KORNLU_HOMEPAGE, citation=_common.KORNLU_CITATION,
            license=_common.CC_BY_SA_4, text_columns=_METADATA_COLUMNS,
        )

    def available_splits(self):
        return tuple(_URLS)

    def _split_generators(self, dl_manager):
        urls = {split: _URLS[split] for split in self.requested_splits()}
        paths = _common.upstream_files(self, dl_manager, urls)
        return {split: self._generate_examples(paths[split]) for split in urls}

    def _generate_examples(self, path):
        pairs = readers.read_korsts(path)
        # read_korsts returns only what evaluation uses; the provenance columns come from the same row splitter.
        metadata = [row for _, row in readers._iter_tsv(path, _METADATA_COLUMNS)]
        if len(metadata) != len(pairs):
            raise ValueError(f"{path}: read {len(pairs)} pairs but {len(metadata)} rows of {_METADATA_COLUMNS}")
        for i, (s1, s2, score, row) in enumerate(zip(pairs.sentences1, pairs.sentences2, pairs.scores, metadata)):
            yield i, {"sentence1": s1, "sentence2": s2, "score": np.float32(score), **row}
