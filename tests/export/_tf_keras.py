"""Runs a script in a fresh interpreter with tf_keras (TF_USE_LEGACY_KERAS=1), for the hub.KerasLayer routes."""

import os
import subprocess
import sys

from tests.conftest import REPO_ROOT


def run_tf_keras_script(script, args, work_dir, timeout=300):
    """Runs `script` in a fresh interpreter with TF_USE_LEGACY_KERAS=1 (tf_keras + tensorflow_hub).

    tensorflow-hub 0.16.1 imports `pkg_resources`, which setuptools 82 removed: the `hub` / `test` extras pin
    setuptools<82, as users must.
    """
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="2")
    paths = [str(REPO_ROOT)]
    env["PYTHONPATH"] = os.pathsep.join(paths + [env.get("PYTHONPATH", "")])
    result = subprocess.run(
        [sys.executable, "-c", script, *map(str, args)], env=env, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, f"tf_keras subprocess failed:\n{result.stderr[-4000:]}"
    return result
