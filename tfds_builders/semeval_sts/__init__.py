"""The semeval_sts dataset builder (registers it with TFDS on import)."""

from tfds_builders.semeval_sts.semeval_sts_dataset_builder import Builder

__all__ = ["Builder"]
