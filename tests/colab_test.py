"""The Colab notebooks in colab/: committed clean, and executed top to bottom in their CPU smoke mode.

The smoke run is what keeps the notebooks from rotting: each one runs in a fresh Jupyter kernel (nbclient +
ipykernel) with `TF_SIMCSE_NOTEBOOK_SMOKE=1`, which its `parameters` cell turns into a tiny model, local data
from the shared data folder and a few training steps. Any failing cell fails the test, with the cell's
traceback in the message.
"""

import configparser
import importlib.util
import json
import os
import re
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT

COLAB_DIR = REPO_ROOT / "colab"
TRAINING_NOTEBOOKS = {
    # notebook: (run name in the parameters cell, the training data spec the smoke run must use)
    "unsupervised_simcse_tpu.ipynb": ("korean_unsup", "korsts_train_sentences.txt"),
    "supervised_simcse_tpu.ipynb": ("korean_sup", "tfds:kornli_triplets/xnli:dev"),
}
NOTEBOOKS = (*TRAINING_NOTEBOOKS, "export_and_use.ipynb")
SMOKE_STEPS = 4  # the max_steps the training notebooks set in smoke mode
CELL_TIMEOUT = 600  # seconds per cell: generous, the machine is shared


def _read(name):
    return json.loads((COLAB_DIR / name).read_text(encoding="utf-8"))


def _source(cell):
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _code_cells(notebook):
    return [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]


# ------------------------------------------------------------------------------------------- committed state
def test_colab_folder_holds_exactly_the_notebooks():
    assert sorted(p.name for p in COLAB_DIR.glob("*.ipynb")) == sorted(NOTEBOOKS)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_committed_without_outputs(name):
    notebook = _read(name)
    assert notebook["nbformat"] == 4
    dirty = [
        i
        for i, cell in enumerate(notebook["cells"])
        if cell["cell_type"] == "code" and (cell.get("outputs") or cell.get("execution_count") is not None)
    ]
    assert not dirty, (
        f"colab/{name}: cells {dirty} have outputs or execution counts; "
        f"run `python colab/strip_outputs.py colab/*.ipynb` before committing"
    )
    assert "widgets" not in notebook["metadata"], f"colab/{name}: saved widget state; run colab/strip_outputs.py"
    assert notebook["metadata"]["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_parameters_cell_switches_to_smoke_mode_before_anything_runs(name):
    cells = _code_cells(_read(name))
    tagged = [i for i, cell in enumerate(cells) if "parameters" in cell.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"colab/{name}: expected one code cell tagged `parameters`, found {len(tagged)}"
    parameters = _source(cells[tagged[0]])
    assert re.search(r"^SMOKE = False\b", parameters, re.MULTILINE), f"colab/{name}: the parameters cell must default SMOKE = False"
    assert 'os.environ.get("TF_SIMCSE_NOTEBOOK_SMOKE") == "1"' in parameters
    # Nothing may import TensorFlow or install packages before the smoke switch is known.
    for cell in cells[: tagged[0]]:
        assert not re.search(r"import|%pip|!pip", _source(cell)), f"colab/{name}: code before the parameters cell"
    # Installs are what smoke mode skips: every pip line sits under `if not SMOKE:`.
    for cell in cells:
        source = _source(cell)
        if re.search(r"^\s*[%!]pip\b", source, re.MULTILINE):
            assert "if not SMOKE:" in source, f"colab/{name}: a pip install that also runs in smoke mode:\n{source}"


@pytest.mark.parametrize("name", TRAINING_NOTEBOOKS)
def test_tpu_notebooks_pin_a_tensorflow_the_package_accepts(name):
    """The TPU wheel's version (tensorflow-tpu 2.20) must stay within setup.cfg's TensorFlow range."""
    from packaging.requirements import Requirement

    setup = configparser.ConfigParser()
    setup.read(REPO_ROOT / "setup.cfg", encoding="utf-8")
    requirements = [Requirement(line) for line in setup["options"]["install_requires"].splitlines() if line.strip()
                    and not line.strip().startswith("#")]
    tensorflow = next(r for r in requirements if r.name == "tensorflow")
    sources = "\n".join(_source(cell) for cell in _code_cells(_read(name)))
    match = re.search(r'^TF_VERSION = "(\d+\.\d+)"', sources, re.MULTILINE)
    assert match, f"colab/{name}: no TF_VERSION pin"
    assert f"{match.group(1)}.0" in tensorflow.specifier, f"TF {match.group(1)} is outside setup.cfg's {tensorflow}"
    assert '"tensorflow-tpu=={TF_VERSION}.0"' in sources
    assert 'TPUClusterResolver(tpu="local")' in "".join(_source(c) for c in _read(name)["cells"])


def test_strip_outputs_cleans_an_executed_notebook(tmp_path):
    notebook = _read("export_and_use.ipynb")
    sources = [_source(cell) for cell in notebook["cells"]]
    for n, cell in enumerate(_code_cells(notebook), start=1):
        cell["execution_count"] = n
        cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["run\n"]}]
        cell["metadata"]["executionInfo"] = {"elapsed": 12}
    notebook["metadata"]["widgets"] = {"application/vnd.jupyter.widget-state+json": {}}
    path = tmp_path / "executed.ipynb"
    path.write_text(json.dumps(notebook), encoding="utf-8")
    script = [sys.executable, str(COLAB_DIR / "strip_outputs.py")]

    check = subprocess.run([*script, "--check", str(path)], capture_output=True, text=True, check=False)
    assert check.returncode == 1 and "executed.ipynb" in check.stdout
    subprocess.run([*script, str(path)], check=True, capture_output=True)
    stripped = json.loads(path.read_text(encoding="utf-8"))
    assert all(not c["outputs"] and c["execution_count"] is None for c in _code_cells(stripped))
    assert all("executionInfo" not in c["metadata"] for c in stripped["cells"])
    assert "widgets" not in stripped["metadata"]
    assert [_source(cell) for cell in stripped["cells"]] == sources
    assert subprocess.run([*script, "--check", str(path)], capture_output=True, check=False).returncode == 0


# ----------------------------------------------------------------------------------------------- execution
def _kernel_env(tmp_path, shared_data):
    env = dict(
        os.environ,
        TF_SIMCSE_NOTEBOOK_SMOKE="1",
        TF_SIMCSE_NOTEBOOK_WORKDIR=str(tmp_path),
        TF_SIMCSE_SHARED_DATA=str(shared_data),
        TF_CPP_MIN_LOG_LEVEL="2",
    )
    return env


@pytest.mark.slow
@pytest.mark.shared_data
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_top_to_bottom_in_smoke_mode(name, shared_data, tmp_path):
    nbformat = pytest.importorskip("nbformat", reason="executing notebooks needs nbformat: pip install nbformat")
    nbclient = pytest.importorskip("nbclient", reason="executing notebooks needs nbclient: pip install nbclient")
    pytest.importorskip("ipykernel", reason="executing notebooks needs a Python kernel: pip install ipykernel")
    if name == "export_and_use.ipynb":
        for module in ("tensorflow_hub", "tf_keras"):
            if importlib.util.find_spec(module) is None:
                pytest.skip(f"{name} loads the export with hub.KerasLayer: pip install tensorflow-hub tf-keras")

    notebook = nbformat.read(COLAB_DIR / name, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT,
        startup_timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(REPO_ROOT)}},  # the kernel's working directory
    )
    try:
        client.execute(env=_kernel_env(tmp_path, shared_data))
    except nbclient.exceptions.CellExecutionError as e:
        pytest.fail(f"colab/{name} failed in smoke mode:\n{e}", pytrace=False)

    errors = [o for cell in _code_cells(notebook) for o in cell["outputs"] if o["output_type"] == "error"]
    assert not errors
    if name in TRAINING_NOTEBOOKS:
        run_name, data = TRAINING_NOTEBOOKS[name]
        run_dir = tmp_path / "runs" / run_name
        config = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
        # The smoke switch reached the trainer: the tiny model, the local data, the few steps.
        assert config["model"] == str(REPO_ROOT / "tests" / "fixtures" / "tiny_bert")
        assert config["train_data"] == [str(tmp_path / data) if data.endswith(".txt") else data]
        metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
        assert metrics["steps"] == SMOKE_STEPS
        assert [e["step"] for e in metrics["evaluations"]] == [0, 2, 4]
        export = run_dir / "export"
    else:
        export = tmp_path / "exports" / "tiny_bert"  # the fallback export of the tiny test model
    assert (export / "tf_simcse_export.json").is_file()
    for part in ("preprocessor", "encoder", "sentence_encoder"):
        assert (export / part / "saved_model.pb").is_file()
