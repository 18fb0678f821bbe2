"""The korsts dataset builder (registers it with TFDS on import)."""

from tfds_builders.korsts.korsts_dataset_builder import Builder

__all__ = ["Builder"]
