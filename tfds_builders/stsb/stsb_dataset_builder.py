"""stsb: the STS benchmark (Cer et al., 2017), English sentence pairs with a 0-5 similarity (train / dev / test)."""

import numpy as np
import tensorflow_datasets as tfds

from tf_simcse.data import english_sts
from tfds_builders import _common

# The release archive SentEval downloads; it extracts to stsbenchmark/sts-{train,dev,test}.csv.
_URL = "http://ixa2.si.ehu.es/stswiki/images/4/48/Stsbenchmark.tar.gz"
_EXTRACTED = "stsbenchmark"
_FILES = {"train": "sts-train.csv", "dev": "sts-dev.csv", "test": "sts-test.csv"}
_METADATA_COLUMNS = ("genre", "filename", "year", "id")

_DESCRIPTION = """\
The STS benchmark (Cer et al., 2017): English sentence pairs from news, captions and forums, selected from the
SemEval STS tasks 2012-2017, each with its gold similarity `score` (0 to 5) and the provenance columns `genre`,
`filename`, `year` and `id`, as strings. Splits: `train` (5,749 pairs), `dev` (1,500) and `test` (1,379); the
SimCSE paper reports Spearman's correlation on `test`.

The CSV files have no header and no quoting (sentences contain `"`), and some rows carry license fields after
the second sentence; they are read with tf_simcse's own reader (`tf_simcse.data.english_sts.read_stsb`), so an
evaluation on this dataset and one on the local file read the same pairs.
"""

_CITATION = """\
@inproceedings{cer-etal-2017-semeval,
  title     = {{S}em{E}val-2017 Task 1: Semantic Textual Similarity Multilingual and Crosslingual Focused
               Evaluation},
  author    = {Cer, Daniel and Diab, Mona and Agirre, Eneko and Lopez-Gazpio, I{\\~n}igo and Specia, Lucia},
  booktitle = {Proceedings of the 11th International Workshop on Semantic Evaluation (SemEval-2017)},
  year      = {2017},
  url       = {https://aclanthology.org/S17-2001}
}"""


class Builder(_common.BuilderBase):
    """STS benchmark sentence pairs with their similarity scores."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = _common.manual_dir_instructions(
        [_URL], extra=f"  (or its extracted folder `{_EXTRACTED}/`)"
    )

    def _info(self):
        return _common.sts_pair_info(
            self, description=_DESCRIPTION, homepage="https://ixa2.si.ehu.eus/stswiki/index.php/STSbenchmark",
            citation=_CITATION, license="Per source, see LICENSE.txt in the archive", text_columns=_METADATA_COLUMNS,
        )

    def available_splits(self):
        return tuple(_FILES)

    def _split_generators(self, dl_manager):
        splits = self.requested_splits()
        root = _common.upstream_archive(self, dl_manager, _URL, _EXTRACTED) / _EXTRACTED
        return {split: self._generate_examples(root / _FILES[split]) for split in splits}

    def _generate_examples(self, path):
        pairs = english_sts.read_stsb(path)
        # read_stsb returns what evaluation uses; the provenance columns come from the same row splitter.
        metadata = [{k: row[k] for k in _METADATA_COLUMNS} for _, row in english_sts.iter_stsb_rows(path)]
        for i, (s1, s2, score, row) in enumerate(zip(pairs.sentences1, pairs.sentences2, pairs.scores, metadata)):
            yield i, {"sentence1": s1, "sentence2": s2, "score": np.float32(score), **row}
