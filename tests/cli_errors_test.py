"""Bad input at the command line, tried as a new user would: one `error: ...` line naming the file and the
problem, a non-zero exit, and no Python traceback.

Most cases call each CLI's `main()` in-process (the `SystemExit` message is what Python prints); one real
`python -m ...` process per CLI (run concurrently) proves that nothing else reaches the terminal. The full-disk
export runs on a real 6 MiB tmpfs, mounted in a private mount namespace (`unshare -rm`), so no root is needed where
unprivileged user namespaces are enabled; the test is skipped where they are not.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time

import pytest

from tests.conftest import FIXTURES, REPO_ROOT
from tf_simcse import encode as encode_cli
from tf_simcse import evaluate as evaluate_cli
from tf_simcse import export as export_cli
from tf_simcse import similarity as similarity_cli
from tf_simcse import train as train_cli

TINY = FIXTURES / "tiny_bert"
# TensorFlow's C++ logging writes these to stderr at import, whatever TF_CPP_MIN_LOG_LEVEL says.
_TF_LOG_LINE = re.compile(r"^(WARNING: All log messages before absl::InitializeLog\(\)|[IWEF]\d{4} \d\d:\d\d:\d\d)")


@pytest.fixture(scope="module")
def bad(tmp_path_factory):
    """Broken copies of tiny_bert and broken data files, the mistakes a user makes."""
    d = tmp_path_factory.mktemp("bad")

    def checkpoint(name, change):
        shutil.copytree(TINY, d / name)
        change(d / name)
        return d / name

    checkpoint("bad_config", lambda p: (p / "config.json").write_text('{"model_type": "bert", "hidden_size": \n'))
    weights = (TINY / "model.safetensors").read_bytes()
    checkpoint("truncated", lambda p: (p / "model.safetensors").write_bytes(weights[: len(weights) // 2]))
    checkpoint("no_vocab", lambda p: [(p / f).unlink() for f in ("vocab.txt", "tokenizer.json")])
    (d / "not_a_model").mkdir()
    (d / "ok.txt").write_text("a first sentence\na second sentence\n", encoding="utf-8")
    (d / "latin1.txt").write_bytes("caf\xe9 au lait\n".encode("latin-1"))
    (d / "nli.tsv").write_text("sentence1\tsentence2\tgold_label\nA man eats.\tSomeone eats.\n", encoding="utf-8")
    (d / "sts.tsv").write_text(
        "genre\tfilename\tyear\tid\tscore\tsentence1\tsentence2\ng\tf\t2012\t0001\tfive\ta\tb\n", encoding="utf-8"
    )
    (d / "a_file").write_text("not a directory", encoding="utf-8")
    return d


def _error_line(main, argv, capsys):
    """The `error:` line `main(argv)` exits with (asserting it is one line and nothing printed a traceback)."""
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in argv])
    message = exit_info.value.code
    assert isinstance(message, str) and message.startswith("error: ") and "\n" not in message, message
    assert "Traceback" not in capsys.readouterr().err
    return message


# (CLI, argv, what the line must say); {d} is the fixture directory.
CASES = {
    "encode: missing input": (encode_cli, ["--model", TINY, "--input", "{d}/nope.txt", "--output", "{d}/o.npy"],
                              r"--input .*/nope\.txt: no such file"),
    "encode: input not UTF-8": (encode_cli, ["--model", TINY, "--input", "{d}/latin1.txt", "--output", "{d}/o.npy"],
                                r"--input .*/latin1\.txt: line 1 is not UTF-8"),
    "encode: bad config.json": (encode_cli, ["--model", "{d}/bad_config", "--input", "{d}/ok.txt", "--output",
                                             "{d}/o.npy"], r"bad_config/config\.json: line 2, column 1: invalid JSON"),
    "encode: truncated safetensors": (encode_cli, ["--model", "{d}/truncated", "--input", "{d}/ok.txt", "--output",
                                                   "{d}/o.npy"],
                                      r"truncated/model\.safetensors: cannot read the tensors .*incomplete metadata"),
    "encode: no vocabulary": (encode_cli, ["--model", "{d}/no_vocab", "--input", "{d}/ok.txt", "--output",
                                           "{d}/o.npy"], r"no_vocab has no tokenizer files: expected vocab\.txt"),
    "encode: output is a directory": (encode_cli, ["--model", TINY, "--input", "{d}/ok.txt", "--output", "{d}"],
                                      r"bad\d*: --output is a directory; give a file name"),
    "encode: output under a file": (encode_cli, ["--model", TINY, "--input", "{d}/ok.txt", "--output",
                                                 "{d}/a_file/o.npy"], r"a_file: --output's parent is a file"),
    "evaluate: malformed task file": (evaluate_cli, ["--model", TINY, "--task", "korsts:dev={d}/sts.tsv"],
                                      r"sts\.tsv: line 2: score 'five' is not a number"),
    "evaluate: missing task file": (evaluate_cli, ["--model", TINY, "--task", "korsts:dev={d}/nope.tsv"],
                                    r"file .*/nope\.tsv does not exist"),
    "evaluate: output under a file": (evaluate_cli, ["--model", TINY, "--task", "korsts:dev={d}/sts.tsv",
                                                     "--output", "{d}/a_file/m.json"], r"a_file: --output's parent"),
    "similarity: bad config.json": (similarity_cli, ["--model", "{d}/bad_config", "a", "b"],
                                    r"bad_config/config\.json: line 2, column 1: invalid JSON"),
    "similarity: not a model": (similarity_cli, ["--model", "{d}/not_a_model", "a", "b"],
                                r"not_a_model: no config\.json"),
    "export: output is a file": (export_cli, ["--model", TINY, "--output", "{d}/a_file"],
                                 r"--output .*/a_file is a file; give the export directory"),
    "export: truncated safetensors": (export_cli, ["--model", "{d}/truncated", "--output", "{d}/export"],
                                      r"truncated/model\.safetensors: cannot read the tensors"),
    "train: missing data file": (train_cli, ["--model", TINY, "--train_data", "{d}/nope.txt", "--output_dir",
                                             "{d}/run1"], r"data file not found: .*/nope\.txt"),
    "train: malformed NLI file": (train_cli, ["--model", TINY, "--objective", "sup", "--train_data", "{d}/nli.tsv",
                                              "--output_dir", "{d}/run2"],
                                  r"nli\.tsv: line 2: expected 3 tab-separated fields"),
    "train: data not UTF-8": (train_cli, ["--model", TINY, "--train_data", "{d}/latin1.txt", "--output_dir",
                                          "{d}/run3"], r"latin1\.txt: line 1 is not valid UTF-8"),
    "train: bad config.json": (train_cli, ["--model", "{d}/bad_config", "--train_data", "{d}/ok.txt", "--batch_size",
                                           "2", "--output_dir", "{d}/run4"],
                               r"bad_config/config\.json: line 2, column 1: invalid JSON"),
    "train: cosent on a malformed score": (train_cli, ["--model", TINY, "--objective", "cosent", "--train_data",
                                                      "{d}/sts.tsv", "--output_dir", "{d}/run7"],
                                           r"sts\.tsv: line 2: score 'five' is not a number"),
}
for value in ("nan", "inf", "-inf", "0", "-1e-5"):
    CASES[f"train: --learning_rate {value}"] = (
        train_cli,
        ["--model", TINY, "--train_data", "{d}/ok.txt", "--output_dir", "{d}/run5", f"--learning_rate={value}"],
        r"config option 'learning_rate': must be (a finite number|> 0)",
    )
CASES["train: GradCache with MLM"] = (
    train_cli, ["--model", TINY, "--train_data", "{d}/ok.txt", "--output_dir", "{d}/run8", "--gradcache_chunk_size",
                "8", "--do_mlm", "true"],
    r"config option 'gradcache_chunk_size': cannot be combined with do_mlm",
)
CASES["train: --temperature nan"] = (
    train_cli, ["--model", TINY, "--train_data", "{d}/ok.txt", "--output_dir", "{d}/run6", "--temperature", "nan"],
    r"config option 'temperature': must be a finite number, got nan",
)


@pytest.mark.parametrize("case", CASES)
def test_a_bad_input_is_one_error_line(case, bad, capsys):
    cli, argv, expected = CASES[case]
    message = _error_line(cli.main, [str(a).format(d=bad) for a in argv], capsys)
    assert re.search(expected, message), message


def test_learning_rate_nan_in_a_config_file_is_refused_too(bad, capsys):
    (bad / "nan.yaml").write_text("learning_rate: .nan\n", encoding="utf-8")
    argv = ["--config", bad / "nan.yaml", "--model", TINY, "--train_data", bad / "ok.txt", "--output_dir", bad / "r"]
    message = _error_line(train_cli.main, argv, capsys)
    assert "config option 'learning_rate': must be a finite number, got nan" in message


def test_a_bug_still_shows_its_traceback(monkeypatch):
    # Only the user's mistakes become error lines: anything else keeps its exception (and so its traceback).
    def broken(*args, **kwargs):
        raise KeyError("a bug")

    monkeypatch.setattr("tf_simcse.encoders.encoder.Encoder.from_pretrained", broken)
    with pytest.raises(KeyError, match="a bug"):
        similarity_cli.main(["--model", str(TINY), "a", "b"])


# --------------------------------------------------------------------------------------- real processes
def _stderr_lines(stderr):
    return [line for line in stderr.splitlines() if line.strip() and not _TF_LOG_LINE.match(line)]


@pytest.mark.slow
def test_each_cli_in_a_real_process_prints_one_error_line_and_no_traceback(bad, tmp_path):
    (tmp_path / "manual").mkdir()
    (tmp_path / "manual" / "sts-dev.tsv").write_text("a local copy of one file\n", encoding="utf-8")
    d = str(bad)
    runs = {
        "tf_simcse.train": (["--model", TINY, "--objective", "sup", "--train_data", f"{d}/nli.tsv",
                             "--output_dir", f"{d}/run-sub"], r"nli\.tsv: line 2: expected 3 tab-separated fields"),
        "tf_simcse.evaluate": (["--model", TINY, "--task", f"korsts:dev={d}/sts.tsv"], r"sts\.tsv: line 2: score"),
        "tf_simcse.encode": (["--model", f"{d}/truncated", "--input", f"{d}/ok.txt", "--output", f"{d}/o.npy"],
                             r"truncated/model\.safetensors: cannot read the tensors"),
        "tf_simcse.export": (["--model", TINY, "--output", f"{d}/a_file"], r"a_file is a file"),
        "tf_simcse.similarity": (["--model", f"{d}/bad_config", "a", "b"], r"bad_config/config\.json: line 2"),
        # KorSTS's train split from a manual dir that lacks sts-train.tsv: the file is named with its URL and
        # nothing is downloaded (the dir holds another file: TFDS ignores an empty manual dir).
        "tfds_builders.prepare": (["korsts", "--manual_dir", tmp_path / "manual", "--data_dir", tmp_path / "tfds",
                                   "--splits", "train"],
                                  r"korsts: the manual dir .*/manual lacks sts-train\.tsv \(from https://raw\."
                                  r"githubusercontent\.com/kakaobrain/KorNLUDatasets/[0-9a-f]+/KorSTS/sts-train\.tsv\)"),
    }
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]))
    started = time.time()
    processes = {
        module: subprocess.Popen([sys.executable, "-m", module, *map(str, argv)], env=env, text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for module, (argv, _) in runs.items()
    }
    outputs = {module: process.communicate(timeout=600) for module, process in processes.items()}
    elapsed = time.time() - started
    for module, (_, expected) in runs.items():
        stdout, stderr = outputs[module]
        assert processes[module].returncode != 0, module
        assert "Traceback" not in stderr, f"{module}:\n{stderr}"
        errors = [line for line in _stderr_lines(stderr) if line.startswith("error: ")]
        assert len(errors) == 1 and re.search(expected, errors[0]), f"{module}:\n{stderr}"
        assert not stdout.strip(), f"{module} printed on stdout: {stdout}"
    # prepare stopped at once instead of trying to download (each retry of urllib3 is logged).
    assert "Retrying" not in outputs["tfds_builders.prepare"][1], outputs["tfds_builders.prepare"][1]
    print(f"6 CLI processes in {elapsed:.0f}s")


# ------------------------------------------------------------------------------------------ full disk
_FULL_DISK_SCRIPT = textwrap.dedent(
    """
    import hashlib, json, os, sys

    from tf_simcse import export
    from tf_simcse.encoders.encoder import Encoder
    from tf_simcse.exporting import export_model

    disk, checkpoint, report = sys.argv[1:]
    target = os.path.join(disk, "export")

    def digests():
        out = {}
        for root, _, files in os.walk(target):
            for name in files:
                path = os.path.join(root, name)
                out[os.path.relpath(path, target)] = hashlib.sha256(open(path, "rb").read()).hexdigest()
        return out

    export_model(Encoder.from_pretrained(checkpoint, pooler="avg"), target)  # the earlier export
    before = digests()
    # Fill the disk up to 256 KiB: the new export cannot fit.
    stat = os.statvfs(disk)
    with open(os.path.join(disk, "filler"), "wb") as f:
        f.write(b"\\0" * (stat.f_bavail * stat.f_frsize - 256 * 1024))
    try:
        export.main(["--model", checkpoint, "--output", target, "--name", "second"])
        message = None
    except SystemExit as e:
        message = e.code
    json.dump({"message": message, "before": before, "after": digests(), "listing": sorted(os.listdir(disk))},
              open(report, "w"))
    """
)


@pytest.mark.slow
def test_a_full_disk_during_export_says_so_and_keeps_the_earlier_export(tmp_path):
    if shutil.which("unshare") is None:
        pytest.skip("needs util-linux `unshare` to mount a small tmpfs in a private mount namespace")
    disk = tmp_path / "disk"
    disk.mkdir()
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", f"mount -t tmpfs -o size=64k tmpfs {disk}"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs in a user namespace here: {probe.stderr.strip()}")
    (tmp_path / "script.py").write_text(_FULL_DISK_SCRIPT, encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]))
    command = (f"mount -t tmpfs -o size=6m tmpfs {disk} && "
               f"exec {sys.executable} {tmp_path / 'script.py'} {disk} {TINY} {tmp_path / 'report.json'}")
    result = subprocess.run(["unshare", "-rm", "sh", "-c", command], env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr[-3000:]
    report = json.loads((tmp_path / "report.json").read_text())
    assert re.fullmatch(
        r"error: .*/disk/export: no space left on device while writing the export; the partial export was "
        r"removed and an earlier export there is unchanged",
        report["message"] or "",
    ), report["message"]
    assert report["after"] == report["before"] and "tf_simcse_export.json" in report["before"]
    assert report["listing"] == ["export", "filler"]  # no temporary directory left behind
