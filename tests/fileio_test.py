"""tf_simcse.fileio on a local disk and on TF's in-memory `ram://` filesystem (the stand-in for gs:// in CI).

The first test pins the three ram:// behaviours the module works around (TensorFlow 2.21): if TensorFlow changes
them, it fails and says which workaround to revisit.
"""

import errno
import uuid

import pytest
import tensorflow as tf

from tf_simcse import fileio
from tf_simcse.errors import UserInputError

gfile = tf.io.gfile


def _ram(name):
    return f"ram://fileio-{uuid.uuid4().hex[:8]}/{name}"


def _tree(root):
    """{relative path: bytes} of every file under `root`, through fileio."""
    out = {}
    for name in fileio.listdir(root):
        path = fileio.join(root, name)
        if fileio.isdir(path):
            out.update({f"{name}/{k}": v for k, v in _tree(path).items()})
        else:
            out[name] = fileio.read_bytes(path)
    return out


def test_the_ram_filesystem_quirks_fileio_works_around():
    root = _ram("quirks")
    # 1. Rewriting a file appends to it.
    with gfile.GFile(f"{root}/f", "w") as f:
        f.write("old")
    with gfile.GFile(f"{root}/f", "w") as f:
        f.write("new")
    assert gfile.GFile(f"{root}/f").read() == "oldnew"
    fileio.write_text(f"{root}/f", "new")
    assert fileio.read_bytes(f"{root}/f") == b"new"
    # 2. Renaming a directory moves the entry, not the files.
    gfile.makedirs(f"{root}/a")
    with gfile.GFile(f"{root}/a/x", "w") as f:
        f.write("x")
    gfile.rename(f"{root}/a", f"{root}/b")
    assert not gfile.exists(f"{root}/b/x") and gfile.exists(f"{root}/a/x")
    fileio.write_text(f"{root}/c/x", "x")
    fileio.move_dir(f"{root}/c", f"{root}/d")
    assert fileio.read_bytes(f"{root}/d/x") == b"x" and not fileio.exists(f"{root}/c")
    # 3. A listing shows entries of siblings whose name extends the directory's, which gfile.rmtree then trips on.
    fileio.write_text(f"{root}/p/assets/vocab.txt", "v")
    fileio.write_text(f"{root}/p/assets.extra/config.json", "{}")
    assert ".extra" in gfile.listdir(f"{root}/p/assets")
    assert fileio.listdir(f"{root}/p/assets") == ["vocab.txt"]
    fileio.remove(f"{root}/p")
    assert not fileio.exists(f"{root}/p/assets/vocab.txt") and not fileio.exists(f"{root}/p/assets.extra")


@pytest.mark.parametrize("where", ["local", "ram"])
def test_replace_dir_swaps_in_the_new_directory_and_leaves_nothing_else(where, tmp_path):
    root = str(tmp_path) if where == "local" else _ram("swap")
    target = fileio.join(root, "export")
    fileio.write_text(fileio.join(target, "old.txt"), "old")
    fileio.write_text(fileio.join(target, "sub", "kept-name.txt"), "old")
    staging = fileio.temp_sibling(target, "tmp")
    fileio.write_text(fileio.join(staging, "new.txt"), "new")
    fileio.write_text(fileio.join(staging, "sub", "kept-name.txt"), "new")
    fileio.replace_dir(staging, target)
    assert _tree(target) == {"new.txt": b"new", "sub/kept-name.txt": b"new"}
    assert fileio.listdir(root) == ["export"]  # neither the staging nor the set-aside directory is left


@pytest.mark.parametrize("where", ["local", "ram"])
def test_replace_dir_restores_the_earlier_directory_when_the_swap_fails(where, tmp_path, monkeypatch):
    root = str(tmp_path) if where == "local" else _ram("restore")
    target = fileio.join(root, "export")
    fileio.write_text(fileio.join(target, "old.txt"), "old")
    staging = fileio.join(root, ".export.tmp-1")
    fileio.write_text(fileio.join(staging, "new.txt"), "new")
    move_dir = fileio.move_dir

    def fail_on_staging(source, destination):  # the move of the new directory into place fails
        if source == staging:
            raise OSError(errno.EIO, "Input/output error", source)
        move_dir(source, destination)

    monkeypatch.setattr(fileio, "move_dir", fail_on_staging)
    with pytest.raises(OSError, match="Input/output error"):
        fileio.replace_dir(staging, target)
    assert _tree(target) == {"old.txt": b"old"}
    assert sorted(fileio.listdir(root)) == [".export.tmp-1", "export"]


@pytest.mark.parametrize("where", ["local", "ram"])
def test_errors_name_the_path(where, tmp_path):
    root = str(tmp_path) if where == "local" else _ram("errors")
    fileio.write_text(fileio.join(root, "file"), "x")
    with pytest.raises(FileNotFoundError) as missing:
        fileio.read_bytes(fileio.join(root, "missing.txt"))
    assert missing.value.filename == fileio.join(root, "missing.txt")
    with pytest.raises(NotADirectoryError) as under_file:
        fileio.write_text(fileio.join(root, "file", "x.json"), "{}")
    assert under_file.value.filename == fileio.join(root, "file")
    with pytest.raises(IsADirectoryError):
        fileio.write_text(root, "x")
    fileio.write_bytes(fileio.join(root, "bad.json"), b'{"a": 1,\n "b": }')
    with pytest.raises(UserInputError, match=r"bad\.json: line 2, column 7: invalid JSON"):
        fileio.read_json(fileio.join(root, "bad.json"))
    fileio.write_bytes(fileio.join(root, "latin1.txt"), "ok\ncaf\xe9\n".encode("latin-1"))
    with pytest.raises(UserInputError, match=r"latin1\.txt: line 2: not valid UTF-8"):
        fileio.read_text(fileio.join(root, "latin1.txt"))


def test_url_paths_are_never_mangled():
    assert fileio.join("gs://bucket/run", "best", "config.json") == "gs://bucket/run/best/config.json"
    assert fileio.dirname("gs://bucket/run/export/") == "gs://bucket/run"
    assert fileio.basename("gs://bucket/run/export/") == "export"
    assert fileio.temp_sibling("gs://bucket/run/export", "tmp").startswith("gs://bucket/run/.export.tmp-")
    assert fileio.is_remote("ram://x") and not fileio.is_remote("file:///tmp/x") and not fileio.is_remote("a/b")
