"""TFDS builder tests for simcse_wiki1m on its handwritten dummy_data."""

import tensorflow_datasets as tfds

from tfds_builders.simcse_wiki1m import simcse_wiki1m_dataset_builder


class SimcseWiki1mTest(tfds.testing.DatasetBuilderTestCase):
    """7 lines, 2 of them blank."""

    DATASET_CLASS = simcse_wiki1m_dataset_builder.Builder
    SPLITS = {"train": 5}
    DL_DOWNLOAD_RESULT = {"train": "wiki1m.txt"}
    SKIP_CHECKSUMS = True  # The file's size and sha256 are not recorded (see checksums.tsv).


if __name__ == "__main__":
    tfds.testing.test_main()
