"""TFDS builder tests for kornli_triplets on its handwritten dummy_data."""

import tensorflow_datasets as tfds

from tfds_builders.kornli_triplets import kornli_triplets_dataset_builder

_DUMMY_FILES = {
    "snli": "snli_train.tsv",
    "mnli": "mnli_train.tsv",
    "xnli_dev": "xnli_dev.tsv",
    "xnli_test": "xnli_test.tsv",
}


class KornliTripletsSnliMnliTest(tfds.testing.DatasetBuilderTestCase):
    """snli_mnli: 4 premises complete once SNLI and MNLI rows are pooled (one only through an MNLI row)."""

    DATASET_CLASS = kornli_triplets_dataset_builder.Builder
    BUILDER_CONFIG_NAMES_TO_TEST = ["snli_mnli"]
    SPLITS = {"train": 4}
    DL_DOWNLOAD_RESULT = _DUMMY_FILES


class KornliTripletsXnliTest(tfds.testing.DatasetBuilderTestCase):
    """xnli: a premise in both files counts once in dev_test; a premise without an entailment is dropped."""

    DATASET_CLASS = kornli_triplets_dataset_builder.Builder
    BUILDER_CONFIG_NAMES_TO_TEST = ["xnli"]
    SPLITS = {"dev": 2, "test": 2, "dev_test": 3}
    OVERLAPPING_SPLITS = ["dev_test"]
    DL_DOWNLOAD_RESULT = _DUMMY_FILES


if __name__ == "__main__":
    tfds.testing.test_main()
