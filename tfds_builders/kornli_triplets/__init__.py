"""The kornli_triplets dataset builder (registers it with TFDS on import)."""

from tfds_builders.kornli_triplets.kornli_triplets_dataset_builder import Builder

__all__ = ["Builder"]
