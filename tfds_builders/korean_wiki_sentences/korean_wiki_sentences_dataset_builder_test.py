"""TFDS builder tests for korean_wiki_sentences on its handwritten dummy_data (an extracted corpus.zip)."""

import tensorflow_datasets as tfds

from tfds_builders.korean_wiki_sentences import korean_wiki_sentences_dataset_builder


class KoreanWikiSentencesTest(tfds.testing.DatasetBuilderTestCase):
    """3 files, 5 headings, 8 sentence lines of which 2 repeat earlier ones."""

    DATASET_CLASS = korean_wiki_sentences_dataset_builder.Builder
    SPLITS = {"train": 6}
    DL_EXTRACT_RESULT = {"archive": "extracted"}


if __name__ == "__main__":
    tfds.testing.test_main()
