"""TFDS builder tests for korsts on its handwritten dummy_data."""

import tensorflow_datasets as tfds

from tfds_builders.korsts import korsts_dataset_builder


class KorstsTest(tfds.testing.DatasetBuilderTestCase):
    DATASET_CLASS = korsts_dataset_builder.Builder
    SPLITS = {"train": 3, "dev": 1, "test": 2}
    DL_DOWNLOAD_RESULT = {"train": "dummy-train.tsv", "dev": "dummy-dev.tsv", "test": "dummy-test.tsv"}


if __name__ == "__main__":
    tfds.testing.test_main()
