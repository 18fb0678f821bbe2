"""sick: SICK (Marelli et al., 2014) as released for SemEval-2014 task 1: relatedness and entailment of pairs."""

import numpy as np
import tensorflow_datasets as tfds

from tf_simcse.data import english_sts
from tfds_builders import _common

_FILES = {"train": "SICK_train.txt", "dev": "SICK_trial.txt", "test": "SICK_test_annotated.txt"}
_URLS = {split: _common.dataset_sts_url(f"sick2014/{name}") for split, name in _FILES.items()}

_DESCRIPTION = """\
SICK (Sentences Involving Compositional Knowledge; Marelli et al., 2014) as released for SemEval-2014 task 1:
English sentence pairs with a relatedness `score` (1 to 5, the mean of ten annotators; SentEval's SICK-R
regresses it and the SimCSE paper reports Spearman's correlation on `test`), the `entailment` label
(NEUTRAL / ENTAILMENT / CONTRADICTION) and the `pair_id`. Splits: `train` = SICK_train.txt (4,500 pairs),
`dev` = SICK_trial.txt (500), `test` = SICK_test_annotated.txt (4,927), as SentEval uses them.

The tab-separated files are read with tf_simcse's own reader (`tf_simcse.data.english_sts.read_sick`), so an
evaluation on this dataset and one on the local file read the same pairs. The files are taken from the copy in
brmson/dataset-sts (`data/sts/sick2014/`).
"""

_CITATION = """\
@inproceedings{marelli-etal-2014-sick,
  title     = {A {SICK} cure for the evaluation of compositional distributional semantic models},
  author    = {Marelli, Marco and Menini, Stefano and Baroni, Marco and Bentivogli, Luisa and Bernardi, Raffaella
               and Zamparelli, Roberto},
  booktitle = {Proceedings of the Ninth International Conference on Language Resources and Evaluation
               (LREC'14)},
  year      = {2014},
  url       = {http://www.lrec-conf.org/proceedings/lrec2014/pdf/363_Paper.pdf}
}"""


class Builder(_common.BuilderBase):
    """SICK sentence pairs with their relatedness scores and entailment labels."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release (the SemEval-2014 task 1 files)."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = _common.manual_dir_instructions(_URLS.values())

    def _info(self):
        return _common.sts_pair_info(
            self, description=_DESCRIPTION, homepage="https://marcobaroni.org/composes/sick.html", citation=_CITATION,
            license="CC BY-NC-SA 3.0 (https://creativecommons.org/licenses/by-nc-sa/3.0/)",
            text_columns=("entailment", "pair_id"),
        )

    def available_splits(self):
        return tuple(_URLS)

    def _split_generators(self, dl_manager):
        urls = {split: _URLS[split] for split in self.requested_splits()}
        paths = _common.upstream_files(self, dl_manager, urls)
        return {split: self._generate_examples(paths[split]) for split in urls}

    def _generate_examples(self, path):
        pairs = english_sts.read_sick(path)
        # read_sick returns what evaluation uses; the label and id come from the same rows.
        rows = [row for _, row in english_sts.iter_sick_rows(path)]
        for i, (s1, s2, score, row) in enumerate(zip(pairs.sentences1, pairs.sentences2, pairs.scores, rows)):
            yield i, {
                "sentence1": s1,
                "sentence2": s2,
                "score": np.float32(score),
                "entailment": row["entailment"],
                "pair_id": row["pair_ID"],
            }
