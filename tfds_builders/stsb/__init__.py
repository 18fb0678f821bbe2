"""The stsb dataset builder (registers it with TFDS on import)."""

from tfds_builders.stsb.stsb_dataset_builder import Builder

__all__ = ["Builder"]
