"""The klue_sts dataset builder (registers it with TFDS on import)."""

from tfds_builders.klue_sts.klue_sts_dataset_builder import Builder

__all__ = ["Builder"]
