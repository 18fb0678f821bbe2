"""TFDS builder tests for klue_sts on its handwritten dummy_data."""

import tensorflow_datasets as tfds

from tfds_builders.klue_sts import klue_sts_dataset_builder


class KlueStsTest(tfds.testing.DatasetBuilderTestCase):
    DATASET_CLASS = klue_sts_dataset_builder.Builder
    SPLITS = {"train": 3, "dev": 1}
    DL_DOWNLOAD_RESULT = {"train": "train.json", "dev": "dev.json"}


if __name__ == "__main__":
    tfds.testing.test_main()
