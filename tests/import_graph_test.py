"""The package's import graph has no cycles: loading never imports exporting, reading never imports the builders.

The graph is read from the source (every `import` statement, those inside functions included), so an import put
off into a function to dodge a cycle at import time still counts.
"""

import ast
import json
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT

PACKAGES = ("tf_simcse", "tfds_builders")


def _modules():
    modules = {}
    for package in PACKAGES:
        for path in (REPO_ROOT / package).rglob("*.py"):
            parts = path.relative_to(REPO_ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            modules[name] = path
    return modules


def _import_graph():
    """{module: {modules of this repository it imports}} (a package's import of its own submodules excluded:
    `__init__` re-exports are not dependencies of the submodules)."""
    modules = _modules()
    graph = {name: set() for name in modules}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        package = name if is_package else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + [base]).strip(".")
                # `from pkg import sub` imports the submodule when there is one.
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if not target or target == name or (is_package and target.startswith(name + ".")):
                    continue
                graph[name].add(target)
    return graph


def _cycles(graph):
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_import_graph_has_no_cycles():
    graph = _import_graph()
    assert len(graph) > 80 and graph["tf_simcse.exporting.exporter"]  # the reader found the modules
    cycles = _cycles(graph)
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_layering():
    graph = _import_graph()

    def reaches(start):
        seen, todo = set(), [start]
        while todo:
            for w in graph[todo.pop()] - seen:
                seen.add(w)
                todo.append(w)
        return seen

    # Loading a model (any --model) never needs the exporting code; reading data never needs the TFDS builders.
    assert not {m for m in reaches("tf_simcse.encoders.encoder") if m.startswith("tf_simcse.exporting")}
    assert not {m for m in reaches("tf_simcse.data.examples") | reaches("tf_simcse.evaluation.tasks")
                if m.startswith("tfds_builders")}
    assert "tf_simcse.encoders.exported" in reaches("tf_simcse.exporting.exporter")


@pytest.mark.shared_data
def test_prepared_tfds_data_is_read_without_importing_the_builders(shared_data, tmp_path):
    """In a fresh process: a dataset prepared by tfds_builders is read through TFDS's read-only builder, and an
    unprepared project dataset's error still names the prepare command."""
    prepare = subprocess.run(
        [sys.executable, "-m", "tfds_builders.prepare", "kornli_triplets/xnli", "--data_dir", str(tmp_path),
         "--manual_dir", str(shared_data / "kornli")], cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert prepare.returncode == 0, prepare.stderr[-3000:]
    script = f"""
import json, sys
import tf_simcse.encoders.encoder, tf_simcse.evaluation.tasks
from tf_simcse.data.examples import load_training_examples
from tf_simcse.data.specs import parse_data_spec
from tf_simcse.errors import UserInputError
examples = load_training_examples([parse_data_spec("tfds:kornli_triplets/xnli:dev_test")], "sup",
                                  tfds_data_dir={str(tmp_path)!r})
try:
    load_training_examples([parse_data_spec("tfds:simcse_wiki1m:train")], "unsup", tfds_data_dir={str(tmp_path)!r})
    error = None
except UserInputError as e:
    error = str(e)
print(json.dumps({{"triplets": len(examples), "error": error,
                  "modules": sorted(m for m in sys.modules if m.startswith(("tfds_builders", "tf_simcse.exporting")))}}))
"""
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    record = json.loads(result.stdout.strip().splitlines()[-1])
    assert record["triplets"] == 2499 and record["modules"] == []
    assert "'simcse_wiki1m' is not prepared" in record["error"]
    assert "python -m tfds_builders.prepare simcse_wiki1m" in record["error"]


def test_the_feature_names_are_written_once():
    """`tf_simcse.features` defines the packed batch's names; other library code refers to them (docstrings may
    spell them out)."""
    import io
    import tokenize

    names = ("input_word_ids", "input_mask", "input_type_ids", "token_ids", "padding_mask", "segment_ids")
    found = []
    for path in sorted((REPO_ROOT / "tf_simcse").rglob("*.py")):
        if path.name == "features.py" or path.parent.name == "encoders" and path.name == "backbone.py":
            continue  # the definitions, and the backbone's own keras-hub inputs
        tokens = list(tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline))
        for i, token in enumerate(tokens):
            previous = tokens[i - 1] if i else None
            is_docstring = previous is None or previous.type in (tokenize.INDENT, tokenize.NEWLINE, tokenize.NL,
                                                                 tokenize.DEDENT)
            if token.type == tokenize.STRING and not is_docstring and token.string.strip("\"'") in names:
                found.append(f"{path.relative_to(REPO_ROOT)}:{token.start[0]}: {token.string}")
    assert not found, "feature names written outside tf_simcse.features: " + "; ".join(found)
