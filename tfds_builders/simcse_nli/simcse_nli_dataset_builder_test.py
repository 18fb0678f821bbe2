"""TFDS builder tests for simcse_nli on its handwritten dummy_data."""

import tensorflow_datasets as tfds

from tfds_builders.simcse_nli import simcse_nli_dataset_builder


class SimcseNliTest(tfds.testing.DatasetBuilderTestCase):
    """4 CSV rows (quoted commas, quotes and a line break inside fields), one with an empty sent1."""

    DATASET_CLASS = simcse_nli_dataset_builder.Builder
    SPLITS = {"train": 3}
    DL_DOWNLOAD_RESULT = {"train": "nli.csv"}
    SKIP_CHECKSUMS = True  # The file's size and sha256 are not recorded (see checksums.tsv).


if __name__ == "__main__":
    tfds.testing.test_main()
