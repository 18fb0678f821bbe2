"""Clears notebook outputs before a commit: `python colab/strip_outputs.py colab/*.ipynb`.

Removes every code cell's outputs and execution count, the per-cell metadata Jupyter and Colab add while running
(timings, output ids, scroll state) and the saved widget state, and empties Colab's edit history
(`metadata.colab.provenance`). Sources, cell tags (`parameters`) and the rest of the metadata are kept.

`--check` changes nothing: it lists the notebooks that are not clean and exits with status 1 if there are any.
Only the standard library is used, so it runs anywhere.
"""

import argparse
import json
import pathlib
import sys

# Cell metadata written by running a notebook, not by its author.
RUNTIME_CELL_METADATA = ("execution", "executionInfo", "outputId", "collapsed", "scrolled", "colab")


def strip_notebook(notebook):
    """Cleans a notebook dict in place; returns True if anything changed."""
    changed = False
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") == "code":
            if cell.get("outputs") or cell.get("execution_count") is not None:
                changed = True
            cell["outputs"] = []
            cell["execution_count"] = None
        metadata = cell.get("metadata", {})
        for key in RUNTIME_CELL_METADATA:
            if key in metadata:
                del metadata[key]
                changed = True
    metadata = notebook.get("metadata", {})
    if "widgets" in metadata:
        del metadata["widgets"]
        changed = True
    colab = metadata.get("colab")
    if isinstance(colab, dict) and colab.get("provenance"):
        colab["provenance"] = []
        changed = True
    return changed


def _read(path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise SystemExit(f"error: {path} is not a notebook (invalid JSON: {e})") from None


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python colab/strip_outputs.py", description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=pathlib.Path, help=".ipynb files")
    parser.add_argument("--check", action="store_true", help="report notebooks that are not clean; change nothing")
    args = parser.parse_args(argv)
    dirty = []
    for path in args.notebooks:
        notebook = _read(path)
        if not strip_notebook(notebook):
            continue
        dirty.append(path)
        if not args.check:
            # The layout nbformat writes (sorted keys, indent 1, UTF-8 text), so that diffs stay small.
            text = json.dumps(notebook, sort_keys=True, indent=1, ensure_ascii=False) + "\n"
            path.write_text(text, encoding="utf-8")
            print(f"stripped {path}")
    if args.check and dirty:
        print("not clean (run python colab/strip_outputs.py on them): " + " ".join(map(str, dirty)))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
