"""tf_simcse: SimCSE sentence-embedding training on TensorFlow / Keras 3."""

import os
import platform

# Keras 3 picks its backend at import time; this package is TensorFlow-only.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# TensorFlow enables its oneDNN CPU kernels by default only on some CPUs (those with AVX-512 and the like); on
# others, e.g. AVX2 AMD EPYC, its default kernels made the CPU training step 1.37-1.68x slower (see
# docs/benchmarks.md). Only effective if TensorFlow is not imported yet; TF_ENABLE_ONEDNN_OPTS=0 opts out.
if platform.machine().lower() in ("x86_64", "amd64"):  # ARM builds choose their own oneDNN backend
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

__version__ = "0.1.0"
