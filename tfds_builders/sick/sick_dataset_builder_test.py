"""TFDS builder tests for sick on its handwritten dummy_data."""

import tensorflow_datasets as tfds

from tfds_builders.sick import sick_dataset_builder


class SickTest(tfds.testing.DatasetBuilderTestCase):
    """2 / 1 / 3 pairs; the test file has CRLF line ends, as the real SICK_test_annotated.txt."""

    DATASET_CLASS = sick_dataset_builder.Builder
    SPLITS = {"train": 2, "dev": 1, "test": 3}
    DL_DOWNLOAD_RESULT = {"train": "train.txt", "dev": "dev.txt", "test": "test.txt"}
    SKIP_CHECKSUMS = True  # The files' sizes and sha256 are not recorded (see checksums.tsv).


if __name__ == "__main__":
    tfds.testing.test_main()
