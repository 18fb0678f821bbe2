"""Reads and writes on any TensorFlow filesystem: local paths, `gs://`, `s3://` / `hdfs://` (with tensorflow-io),
and TF's in-memory `ram://`.

Every file tf_simcse reads or writes (checkpoints, encoder directories, exports, CLI inputs and outputs) goes
through these helpers. A URL (`scheme://...`) goes to `tf.io.gfile`; a local path to Python's `os` / `open`, which
behave the same on a local disk and need no TensorFlow import (a mistyped CLI path fails at once). Paths are
strings: `pathlib` turns `gs://bucket/run` into `gs:/bucket/run`, a local folder. A `pathlib.Path` is accepted
for local paths; `~` is expanded there.

Errors are the Python exceptions a caller expects, with the path: `FileNotFoundError`, `NotADirectoryError`,
`IsADirectoryError`, `PermissionError` (gfile's `tf.errors.*` are translated), `tf_simcse.errors.DiskFullError`
for a full disk on a URL, and `tf_simcse.errors.UserInputError` for a file that is not UTF-8 or not JSON.

What differs between filesystems:
- Renaming a directory is one atomic rename(2) on a local disk only. On object stores (gs://, s3://) there are no
  directories and a "rename" copies and deletes object by object; TF's `ram://` renames only the directory entry
  and leaves the files under the old name. `move_dir` / `replace_dir` therefore copy then delete on every
  filesystem but the local one (see `replace_dir` for what still holds there).
- `ram://` (TensorFlow 2.21) appends to an existing file opened for writing instead of truncating it: the write
  helpers delete the old file first there. Its directory listing also shows, under `a`, the entries of every
  sibling whose name starts with `a` (`assets` lists `.extra` of `assets.extra`), and omits directories that were
  never created explicitly: `listdir` drops entries that do not exist, `remove` deletes a ram:// tree entry by
  entry (`tf.io.gfile.rmtree` trips over those entries), and the helpers create every directory they write into
  (so does `tf.saved_model.save`).
"""

import contextlib
import errno
import json
import os
import posixpath
import re
import shutil
import tempfile
import uuid

from tf_simcse.errors import DiskFullError, UserInputError, is_disk_full

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def _gfile():
    import tensorflow as tf  # Imported on first use: `import tf_simcse.fileio` stays cheap.

    return tf.io.gfile


# ------------------------------------------------------------------------------------------------- paths
def as_path(path):
    """`path` as a string: a URL unchanged, a local path (str or PathLike) with `~` expanded."""
    path = os.fspath(path)
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    return path if is_remote(path) else os.path.expanduser(path)


def is_remote(path):
    """True for a URL other than `file://` (gs://, s3://, hdfs://, ram://, ...)."""
    path = os.fspath(path)
    return bool(_SCHEME.match(path)) and not path.startswith("file://")


def join(path, *parts):
    path = as_path(path)
    return posixpath.join(path, *parts) if is_remote(path) else os.path.join(path, *parts)


def dirname(path):
    path = as_path(path)
    if is_remote(path):
        scheme, _, rest = path.partition("://")
        head = posixpath.dirname(rest.rstrip("/"))
        return f"{scheme}://{head}"
    return os.path.dirname(os.path.abspath(path))


def basename(path):
    path = as_path(path)
    return posixpath.basename(path.rstrip("/")) if is_remote(path) else os.path.basename(os.path.abspath(path))


def absolute(path):
    """A local path made absolute (relative paths break once the working directory changes); URLs unchanged."""
    path = as_path(path)
    return path if is_remote(path) else os.path.abspath(path)


# --------------------------------------------------------------------------------------------- errors
@contextlib.contextmanager
def _translated_errors(path):
    """gfile's `tf.errors.*` -> the Python exceptions callers expect, naming `path`."""
    import tensorflow as tf

    try:
        yield
    except tf.errors.NotFoundError:
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", path) from None
    except tf.errors.PermissionDeniedError:
        raise PermissionError(errno.EACCES, "Permission denied", path) from None
    except tf.errors.ResourceExhaustedError as e:
        if is_disk_full(e):
            raise DiskFullError(errno.ENOSPC, "No space left on device", path) from None
        raise
    except tf.errors.FailedPreconditionError as e:  # "Is a directory", "Not a directory", unreachable bucket...
        message = e.message if path in e.message else f"{path}: {e.message}"
        raise UserInputError(" ".join(message.split())) from None


# ------------------------------------------------------------------------------------------- queries
def exists(path):
    path = as_path(path)
    if not is_remote(path):
        return os.path.exists(path)
    with _translated_errors(path):
        return _gfile().exists(path)


def isdir(path):
    path = as_path(path)
    if not is_remote(path):
        return os.path.isdir(path)
    with _translated_errors(path):
        return _gfile().isdir(path)


def isfile(path):
    path = as_path(path)
    if not is_remote(path):
        return os.path.isfile(path)
    with _translated_errors(path):
        return _gfile().exists(path) and not _gfile().isdir(path)


def listdir(path):
    """The names in directory `path`, sorted."""
    path = as_path(path)
    if not is_remote(path):
        return sorted(os.listdir(path))
    with _translated_errors(path):
        names = sorted(name.rstrip("/") for name in _gfile().listdir(path))
        if path.startswith("ram://"):  # see the module docstring
            names = [name for name in names if _gfile().exists(join(path, name))]
        return names


# ------------------------------------------------------------------------------------- reads / writes
def open_file(path, mode="rb"):
    """A binary file object on `path` (`"rb"` or `"wb"`); a writer creates the parent directories.

    On a URL it is a `tf.io.gfile.GFile` whose errors are translated (a full disk shows at write or close).
    """
    if mode not in ("rb", "wb"):
        raise ValueError(f"open_file supports modes 'rb' and 'wb', got {mode!r}")
    path = as_path(path)
    if mode == "wb":
        if isdir(path):
            raise IsADirectoryError(errno.EISDIR, "Is a directory (expected a file name)", path)
        makedirs(dirname(path))
        if path.startswith("ram://") and exists(path):
            remove(path)  # ram:// would append (see the module docstring)
    if not is_remote(path):
        return open(path, mode)
    return _GFileWithErrors(path, mode)


class _GFileWithErrors:
    """A GFile whose reads, writes and close raise the translated errors."""

    def __init__(self, path, mode):
        self.path = path
        with _translated_errors(path):
            self._file = _gfile().GFile(path, mode)

    def __getattr__(self, name):
        attr = getattr(self._file, name)
        if not callable(attr):
            return attr

        def call(*args, **kwargs):
            with _translated_errors(self.path):
                return attr(*args, **kwargs)

        return call

    def __iter__(self):
        with _translated_errors(self.path):
            yield from self._file

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        with _translated_errors(self.path):
            self._file.close()


def read_bytes(path):
    with open_file(path, "rb") as f:
        return f.read()


def read_text(path):
    """The file's text, UTF-8 (a byte-order mark is dropped); `UserInputError` if it is not UTF-8."""
    path = as_path(path)
    raw = read_bytes(path)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise UserInputError(f"{path}: line {line}: not valid UTF-8 ({e.reason})") from None


def read_json(path):
    """The parsed JSON of `path`; `UserInputError` naming the file, line and column if it is not JSON."""
    path = as_path(path)
    text = read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise UserInputError(f"{path}: line {e.lineno}, column {e.colno}: invalid JSON ({e.msg})") from None


def read_json_if_exists(path, default=None):
    return read_json(path) if exists(path) else default


def write_bytes(path, data):
    try:
        with open_file(path, "wb") as f:
            f.write(data)
    except OSError as e:
        if is_disk_full(e) and not isinstance(e, DiskFullError):  # Python's own ENOSPC error has no path
            raise DiskFullError(errno.ENOSPC, "No space left on device", as_path(path)) from None
        raise


def write_text(path, text):
    write_bytes(path, text.encode("utf-8"))


def write_json(path, data, *, atomic=False, **dumps_kwargs):
    """Writes `data` as indented UTF-8 JSON (+ newline).

    `atomic=True` writes a temporary sibling and renames it over `path`, so that a reader (or a process killed
    mid-write) never leaves a half-written file on a local disk; on object stores an upload is all-or-nothing
    anyway, and the rename is a copy.
    """
    dumps_kwargs = {"indent": 2, "ensure_ascii": False, **dumps_kwargs}
    text = json.dumps(data, **dumps_kwargs) + "\n"
    if not atomic:
        return write_text(path, text)
    path = as_path(path)
    tmp = temp_sibling(path, "tmp")
    try:
        write_text(tmp, text)
        if is_remote(path):
            with _translated_errors(path):
                _gfile().rename(tmp, path, overwrite=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        remove(tmp)
        raise


# --------------------------------------------------------------------------------------- directories
def makedirs(path):
    """Creates directory `path` and its parents if missing; `NotADirectoryError` if it (or a parent) is a file."""
    path = as_path(path)
    if isdir(path):
        return
    if exists(path):
        raise NotADirectoryError(errno.ENOTDIR, "Not a directory (it is a file)", path)
    if not is_remote(path):
        try:
            os.makedirs(path, exist_ok=True)
        except (FileExistsError, NotADirectoryError):  # a parent is a file
            parent = path
            while parent and not os.path.exists(parent):
                parent = os.path.dirname(parent)
            raise NotADirectoryError(errno.ENOTDIR, "Not a directory (it is a file)", parent) from None
        return
    with _translated_errors(path):
        _gfile().makedirs(path)


def remove(path):
    """Deletes a file or a directory tree if it exists."""
    path = as_path(path)
    if not is_remote(path):
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        elif os.path.lexists(path):
            os.remove(path)
        return
    with _translated_errors(path):
        if not _gfile().exists(path):
            return
        if not _gfile().isdir(path):
            _gfile().remove(path)
            return
        if path.startswith("ram://"):
            # Longest names first: a sibling listed by mistake under a shorter one (see the module docstring) is
            # gone before the shorter one is emptied and removed.
            for name in sorted(listdir(path), reverse=True):
                remove(join(path, name))
        _gfile().rmtree(path)


def copy_tree(source, target):
    """Copies the directory `source` to `target` (created; files already there are overwritten), across
    filesystems too.

    Subdirectories are copied before the files at the top: a copy that stops half-way lacks its top-level
    marker files (e.g. `tf_simcse_export.json`), so it is not taken for a complete directory.
    """
    source, target = as_path(source), as_path(target)
    makedirs(target)
    names = listdir(source)
    subdirs = [n for n in names if isdir(join(source, n))]
    for name in subdirs:
        copy_tree(join(source, name), join(target, name))
    for name in names:
        if name in subdirs:
            continue
        src, dst = join(source, name), join(target, name)
        if not is_remote(src) and not is_remote(dst):
            shutil.copyfile(src, dst)
            continue
        if dst.startswith("ram://") and exists(dst):
            remove(dst)  # ram:// would append (see the module docstring)
        with _translated_errors(dst):
            _gfile().copy(src, dst, overwrite=True)


def move_dir(source, target):
    """Moves the directory `source` to the path `target` (which must not exist).

    A single rename on a local disk; elsewhere a copy followed by deleting `source` (see the module docstring).
    """
    source, target = as_path(source), as_path(target)
    if not is_remote(source) and not is_remote(target):
        os.rename(source, target)
        return
    copy_tree(source, target)
    remove(source)


def temp_sibling(path, tag):
    """A fresh hidden name next to `path`: `<parent>/.<name>.<tag>-<random>`."""
    return join(dirname(path), f".{basename(path)}.{tag}-{uuid.uuid4().hex[:8]}")


def replace_dir(staging, target):
    """Puts the finished directory `staging` at `target`, replacing a directory already there.

    The directory at `target` is set aside under a temporary sibling name, `staging` is moved in, then the old
    one is deleted; if moving `staging` in fails, the old directory is moved back. On a local disk each move is
    one rename, so a reader sees either the old directory or the new one, never a mix. On other filesystems a
    move is a copy: `staging` is complete before `target` is touched, but a reader listing `target` during the
    swap can see it partly copied, and a process killed during the swap can leave the old directory under
    `.<name>.old-*` and the new one under `staging`, next to a partial `target`.
    """
    staging, target = as_path(staging), as_path(target)
    if not exists(target):
        move_dir(staging, target)
        return
    retired = temp_sibling(target, "old")
    move_dir(target, retired)
    try:
        move_dir(staging, target)
    except BaseException:
        remove(target)
        move_dir(retired, target)
        raise
    remove(retired)


@contextlib.contextmanager
def local_dir_for_reading(path):
    """Yields a local directory with the contents of `path`: `path` itself if local, else a temporary copy.

    For libraries that read local files only (keras-hub presets, h5py); the copy is deleted afterwards.
    """
    path = as_path(path)
    if not is_remote(path):
        yield path
        return
    local = tempfile.mkdtemp(prefix="tf_simcse-")
    try:
        copy_tree(path, os.path.join(local, "copy"))
        yield os.path.join(local, "copy")
    finally:
        shutil.rmtree(local, ignore_errors=True)


@contextlib.contextmanager
def local_dir_for_writing(path):
    """Yields a local directory whose contents end up at `path`: `path` itself if local, else a temporary
    directory copied to `path` when the block succeeds (for libraries that write local files only)."""
    path = as_path(path)
    if not is_remote(path):
        makedirs(path)
        yield path
        return
    local = tempfile.mkdtemp(prefix="tf_simcse-")
    try:
        yield local
        copy_tree(local, path)
    finally:
        shutil.rmtree(local, ignore_errors=True)
