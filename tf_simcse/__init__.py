"""tf_simcse: SimCSE sentence-embedding training on TensorFlow / Keras 3."""

import os

# Keras 3 picks its backend at import time; this package is TensorFlow-only.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

__version__ = "0.1.0"
