"""semeval_sts: the SemEval STS 2012-2016 English test sets that SentEval (and the SimCSE paper) evaluates on."""

import numpy as np
import tensorflow_datasets as tfds

from tf_simcse.data import english_sts
from tfds_builders import _common


def _url(year, subset):
    commit = _common.DATASET_STS_2016_COMMIT if year == 2016 else _common.DATASET_STS_COMMIT
    return _common.dataset_sts_url(f"semeval-sts/{year}/{subset}.test.tsv", commit)


# config -> year; brmson/dataset-sts leaves out 2012's MSRvid (licence restriction), so sts12 cannot have it.
_YEARS = {f"sts{year % 100}": year for year in english_sts.SENTEVAL_SUBSETS}
_NOT_IN_MIRROR = {2012: ("MSRvid",)}
_URLS = {
    year: {s: _url(year, s) for s in subsets if s not in _NOT_IN_MIRROR.get(year, ())}
    for year, subsets in english_sts.SENTEVAL_SUBSETS.items()
}

_DESCRIPTION = """\
The English test sets of the SemEval Semantic Textual Similarity tasks 2012-2016 (Agirre et al.), one config per
year (`sts12` ... `sts16`, split `test`), restricted to the subsets SentEval evaluates (2013 without SMT). Each
example is a sentence pair with its gold `score` (0 to 5) and its `subset` (e.g. `headlines`), in SentEval's
subset order and each file's row order. The SimCSE paper reports, per year, Spearman's correlation over all
subsets concatenated (SentEval's "all").

The files are brmson/dataset-sts's `data/sts/semeval-sts/<year>/<subset>.test.tsv` (the SemEval input and gold
files pasted together), read with tf_simcse's own reader (`tf_simcse.data.english_sts`). That mirror leaves out
2012's MSRvid, so `sts12` has 4 of SentEval's 5 subsets (2,358 of 3,108 pairs). Pairs without a gold score (most
of the 2015 and 2016 candidate pairs) are skipped as SentEval does; `info.metadata` records per subset the
rows skipped (`unscored`) and the subsets missing (`subsets_missing`). Scored pairs: sts12 2,358, sts13 1,500,
sts14 3,750, sts15 3,000, sts16 1,186.
"""

_CITATION = """\
@inproceedings{agirre-etal-2012-semeval,
  title     = {{S}em{E}val-2012 Task 6: A Pilot on Semantic Textual Similarity},
  author    = {Agirre, Eneko and Cer, Daniel and Diab, Mona and Gonzalez-Agirre, Aitor},
  booktitle = {*SEM 2012: The First Joint Conference on Lexical and Computational Semantics},
  year      = {2012},
  url       = {https://aclanthology.org/S12-1051}
}
@inproceedings{agirre-etal-2016-semeval,
  title     = {{S}em{E}val-2016 Task 1: Semantic Textual Similarity, Monolingual and Cross-Lingual Evaluation},
  author    = {Agirre, Eneko and Banea, Carmen and Cer, Daniel and Diab, Mona and Gonzalez-Agirre, Aitor and
               Mihalcea, Rada and Rigau, German and Wiebe, Janyce},
  booktitle = {Proceedings of the 10th International Workshop on Semantic Evaluation (SemEval-2016)},
  year      = {2016},
  url       = {https://aclanthology.org/S16-1081}
}"""


class Builder(_common.BuilderBase):
    """One SemEval STS year's scored test pairs, with their subset."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    BUILDER_CONFIGS = [
        tfds.core.BuilderConfig(
            name=name, description=f"SemEval STS {year} test sets: {', '.join(_URLS[year])} (split test)."
        )
        for name, year in _YEARS.items()
    ]
    MANUAL_DOWNLOAD_INSTRUCTIONS = _common.manual_dir_instructions(
        [url for urls in _URLS.values() for url in urls.values()],
        extra="  The manual dir of a config is that year's folder (the file names repeat across years).",
    )

    def _info(self):
        # Also keeps SentEval's subset order.
        return _common.sts_pair_info(
            self, description=_DESCRIPTION, homepage=_common.DATASET_STS_HOMEPAGE, citation=_CITATION,
            license="Per subset, see the LICENSE / readme files of each year", text_columns=("subset",),
            metadata=_common.new_metadata(),
        )

    def available_splits(self):
        return ("test",)

    def _split_generators(self, dl_manager):
        self.requested_splits()  # Rejects a split name other than test.
        year = _YEARS[self.builder_config.name]
        paths = _common.upstream_files(self, dl_manager, _URLS[year])
        return {"test": self._generate_examples(year, paths)}

    def _generate_examples(self, year, paths):
        unscored = {}
        index = 0
        for subset in english_sts.SENTEVAL_SUBSETS[year]:
            if subset not in paths:
                continue
            pairs, unscored[subset] = english_sts.read_semeval_tsv(paths[subset])
            for s1, s2, score in zip(pairs.sentences1, pairs.sentences2, pairs.scores):
                yield index, {"sentence1": s1, "sentence2": s2, "score": np.float32(score), "subset": subset}
                index += 1
        self.info.metadata["unscored"] = unscored
        self.info.metadata["subsets_missing"] = [s for s in english_sts.SENTEVAL_SUBSETS[year] if s not in paths]
