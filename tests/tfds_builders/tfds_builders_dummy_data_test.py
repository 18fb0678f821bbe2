"""Runs every builder's `tfds.testing.DatasetBuilderTestCase` (on its dummy_data) under pytest.

The test cases live beside the builders, in the TFDS layout (`tfds_builders/<name>/<name>_dataset_builder_test.py`);
importing them here puts them in the project's test run. Each one prepares the dataset from its handwritten
dummy files through the download path (mocked by TFDS), checks the split sizes, reloads the prepared data, and
checks that every URL downloaded has its checksums recorded (except the SimCSE files and the brmson/dataset-sts
copies of SICK and SemEval STS, which have none).
"""

import pytest

pytest.importorskip("tensorflow_datasets", reason="the TFDS builders need tensorflow-datasets")
pytest.importorskip("dill", reason="tfds.testing needs dill (pip install dill importlib_resources)")
pytest.importorskip("importlib_resources", reason="tfds.testing needs importlib_resources")

from tfds_builders.klue_nli_triplets.klue_nli_triplets_dataset_builder_test import KlueNliTripletsTest  # noqa: E402
from tfds_builders.klue_sts.klue_sts_dataset_builder_test import KlueStsTest  # noqa: E402
from tfds_builders.korean_wiki_sentences.korean_wiki_sentences_dataset_builder_test import (  # noqa: E402
    KoreanWikiSentencesTest,
)
from tfds_builders.kornli_triplets.kornli_triplets_dataset_builder_test import (  # noqa: E402
    KornliTripletsSnliMnliTest,
    KornliTripletsXnliTest,
)
from tfds_builders.korsts.korsts_dataset_builder_test import KorstsTest  # noqa: E402
from tfds_builders.semeval_sts.semeval_sts_dataset_builder_test import (  # noqa: E402
    SemevalSts12Test,
    SemevalSts16Test,
)
from tfds_builders.sick.sick_dataset_builder_test import SickTest  # noqa: E402
from tfds_builders.simcse_nli.simcse_nli_dataset_builder_test import SimcseNliTest  # noqa: E402
from tfds_builders.simcse_wiki1m.simcse_wiki1m_dataset_builder_test import SimcseWiki1mTest  # noqa: E402
from tfds_builders.stsb.stsb_dataset_builder_test import StsbTest  # noqa: E402

__all__ = [
    "KlueNliTripletsTest",
    "KlueStsTest",
    "KoreanWikiSentencesTest",
    "KornliTripletsSnliMnliTest",
    "KornliTripletsXnliTest",
    "KorstsTest",
    "SemevalSts12Test",
    "SemevalSts16Test",
    "SickTest",
    "SimcseNliTest",
    "SimcseWiki1mTest",
    "StsbTest",
]
