"""The sick dataset builder (registers it with TFDS on import)."""

from tfds_builders.sick.sick_dataset_builder import Builder

__all__ = ["Builder"]
