"""The simcse_nli dataset builder (registers it with TFDS on import)."""

from tfds_builders.simcse_nli.simcse_nli_dataset_builder import Builder

__all__ = ["Builder"]
