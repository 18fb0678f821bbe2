"""TFDS builder tests for stsb on its handwritten dummy_data (an extracted Stsbenchmark.tar.gz)."""

import tensorflow_datasets as tfds

from tfds_builders.stsb import stsb_dataset_builder


class StsbTest(tfds.testing.DatasetBuilderTestCase):
    """3 / 1 / 2 rows; a train row has two license fields after the sentences, another a quoted word."""

    DATASET_CLASS = stsb_dataset_builder.Builder
    SPLITS = {"train": 3, "dev": 1, "test": 2}
    DL_EXTRACT_RESULT = {"archive": "extracted"}


if __name__ == "__main__":
    tfds.testing.test_main()
