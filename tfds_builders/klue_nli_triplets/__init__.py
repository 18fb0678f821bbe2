"""The klue_nli_triplets dataset builder (registers it with TFDS on import)."""

from tfds_builders.klue_nli_triplets.klue_nli_triplets_dataset_builder import Builder

__all__ = ["Builder"]
