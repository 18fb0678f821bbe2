"""TFDS builder tests for semeval_sts on its handwritten dummy_data."""

import tensorflow_datasets as tfds

from tfds_builders.semeval_sts import semeval_sts_dataset_builder


class SemevalSts12Test(tfds.testing.DatasetBuilderTestCase):
    """sts12: the four subsets of the mirror (no MSRvid), 5 scored pairs."""

    DATASET_CLASS = semeval_sts_dataset_builder.Builder
    BUILDER_CONFIG_NAMES_TO_TEST = ["sts12"]
    SPLITS = {"test": 5}
    DL_DOWNLOAD_RESULT = {s: f"2012_{s}.tsv" for s in ("MSRpar", "SMTeuroparl", "OnWN", "SMTnews")}
    SKIP_CHECKSUMS = True  # The files' sizes and sha256 are not recorded (see checksums.tsv).


class SemevalSts16Test(tfds.testing.DatasetBuilderTestCase):
    """sts16: 4 scored pairs; 4 unscored rows skipped, one subset has no scored pair at all."""

    DATASET_CLASS = semeval_sts_dataset_builder.Builder
    BUILDER_CONFIG_NAMES_TO_TEST = ["sts16"]
    SPLITS = {"test": 4}
    DL_DOWNLOAD_RESULT = {
        s: f"2016_{s}.tsv" for s in ("answer-answer", "headlines", "plagiarism", "postediting", "question-question")
    }
    SKIP_CHECKSUMS = True


if __name__ == "__main__":
    tfds.testing.test_main()
