"""The korean_wiki_sentences dataset builder (registers it with TFDS on import)."""

from tfds_builders.korean_wiki_sentences.korean_wiki_sentences_dataset_builder import Builder

__all__ = ["Builder"]
