"""TFDS builder tests for klue_nli_triplets on its handwritten dummy_data."""

import tensorflow_datasets as tfds

from tfds_builders.klue_nli_triplets import klue_nli_triplets_dataset_builder


class KlueNliTripletsTest(tfds.testing.DatasetBuilderTestCase):
    """train: 3 premises, one without a contradiction; dev: 1 premise."""

    DATASET_CLASS = klue_nli_triplets_dataset_builder.Builder
    SPLITS = {"train": 2, "dev": 1}
    DL_DOWNLOAD_RESULT = {"train": "train.json", "dev": "dev.json"}


if __name__ == "__main__":
    tfds.testing.test_main()
