"""The repository passes its own lint configuration (`[tool.ruff]` in pyproject.toml)."""

import shutil
import subprocess

import pytest

from tests.conftest import REPO_ROOT


def test_ruff_finds_nothing():
    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff (extra 'test') not installed")
    result = subprocess.run([ruff, "check", "--no-cache", "."], cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-4000:]
