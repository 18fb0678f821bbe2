"""The simcse_wiki1m dataset builder (registers it with TFDS on import)."""

from tfds_builders.simcse_wiki1m.simcse_wiki1m_dataset_builder import Builder

__all__ = ["Builder"]
