"""tf_simcse: SimCSE sentence-embedding training on TensorFlow / Keras 3.

Importing the package registers its Keras classes (`BertFamilyBackbone`, `BertFamilyTextEmbedder` and its
preprocessor), so that keras-hub loads the presets tf_simcse writes:
`import tf_simcse; keras_hub.models.TextEmbedder.from_preset("runs/sup/best")`.
"""

import os
import platform
import sys

# Keras 3 picks its backend at import time; this package is TensorFlow-only.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# TensorFlow enables its oneDNN CPU kernels by default only on some CPUs (those with AVX-512 and the like); on
# others, e.g. AVX2 AMD EPYC, its default kernels made the CPU training step 1.37-1.68x slower (see
# docs/benchmarks.md). Only effective if TensorFlow is not imported yet; TF_ENABLE_ONEDNN_OPTS=0 opts out.
if platform.machine().lower() in ("x86_64", "amd64"):  # ARM builds choose their own oneDNN backend
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
# The commands (`python -m tf_simcse.<command>`) keep TensorFlow's C++ INFO and WARNING lines off the terminal.
# This package is imported before the command's module, and TensorFlow reads the level once, at its import.
_argv = getattr(sys, "orig_argv", [])
if "-m" in _argv[:-1] and _argv[_argv.index("-m") + 1].startswith("tf_simcse."):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"

from tf_simcse.encoders import bert_family_text_embedder as _registers_keras_classes  # noqa: E402,F401
