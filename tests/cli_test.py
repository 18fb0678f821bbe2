"""The encode / evaluate CLIs (contracts in DESIGN.md), run in-process through their main(argv)."""

import json
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import FIXTURES
from tf_simcse import encode as encode_cli
from tf_simcse import evaluate as evaluate_cli
from tf_simcse.encoders.encoder import Encoder

TINY = str(FIXTURES / "tiny_bert")


def test_encode_text_and_json_inputs(tmp_path):
    lines = ["A man is playing a guitar.", "", "한 남자가 기타를 친다.", "The cat sat on the mat!"]
    (tmp_path / "in.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tmp_path / "in.json").write_text(json.dumps({"sentences": lines}, ensure_ascii=False), encoding="utf-8")
    for name in ("in.txt", "in.json"):
        out = tmp_path / f"{name}.npy"
        assert encode_cli.main(["--model", TINY, "--input", str(tmp_path / name), "--output", str(out),
                                "--pooler", "avg", "--max_seq_length", "16", "--batch_size", "3"]) == 0
        vectors = np.load(out)
        assert vectors.dtype == np.float32 and vectors.shape == (4, 32)  # every line, the empty one too
        expected = Encoder.from_pretrained(TINY, pooler="avg", max_seq_length=16).encode(lines)
        np.testing.assert_allclose(vectors, expected, atol=1e-6)


@pytest.mark.parametrize(
    "content, message",
    [
        (b'{"text": []}', "expected a JSON object with a \"sentences\" list"),
        (b'{"sentences": ["a", 2]}', "\"sentences\"\\[1\\] is int"),
        (b"{broken", "invalid JSON at line 1"),
    ],
)
def test_encode_bad_json_is_a_clear_error(tmp_path, content, message):
    (tmp_path / "bad.json").write_bytes(content)
    with pytest.raises(SystemExit, match=message):
        encode_cli.main(["--model", TINY, "--input", str(tmp_path / "bad.json"), "--output", str(tmp_path / "o.npy")])


def test_encode_missing_or_non_utf8_input(tmp_path):
    with pytest.raises(SystemExit, match="no such file"):
        encode_cli.main(["--model", TINY, "--input", str(tmp_path / "x.txt"), "--output", str(tmp_path / "o.npy")])
    (tmp_path / "latin1.txt").write_bytes("caf\xe9\n".encode("latin-1"))
    with pytest.raises(SystemExit, match="not UTF-8"):
        encode_cli.main(["--model", TINY, "--input", str(tmp_path / "latin1.txt"), "--output", str(tmp_path / "o.npy")])
    (tmp_path / "ok.txt").write_text("hello\n", encoding="utf-8")
    with pytest.raises(SystemExit, match="--model .*no such file"):
        encode_cli.main(["--model", str(tmp_path / "nope"), "--input", str(tmp_path / "ok.txt"),
                         "--output", str(tmp_path / "o.npy")])


def test_evaluate_writes_every_figure(tmp_path, shared_data, capsys):
    out = tmp_path / "metrics.json"
    task = f"kornli:dev={shared_data / 'kornli' / 'xnli.dev.ko.tsv'}"
    assert evaluate_cli.main(["--model", TINY, "--task", task, "--output", str(out)]) == 0
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["pooler"] == "cls" and set(report["tasks"]) == {"kornli:dev"}
    assert report["tasks"]["kornli:dev"]["num_pairs"] == 1660
    assert "kornli:dev" in capsys.readouterr().out


def test_evaluate_bad_task_is_a_clear_error():
    with pytest.raises(SystemExit, match="unknown task 'sts'"):
        evaluate_cli.main(["--model", TINY, "--task", "sts:dev"])


@pytest.mark.parametrize("module", ["encode", "evaluate", "train"])
def test_help_runs(module):
    result = subprocess.run([sys.executable, "-m", f"tf_simcse.{module}", "--help"], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert "--model" in result.stdout


@pytest.mark.minilm
@pytest.mark.slow
def test_minilm_korsts_dev_spearman_is_the_sentence_transformers_figure(minilm_dir, shared_data, tmp_path):
    # 41.0 is what sentence-transformers gives for this checkpoint and split (mean pooling, max length 64).
    out = tmp_path / "metrics.json"
    evaluate_cli.main(["--model", str(minilm_dir), "--pooler", "avg", "--max_seq_length", "64",
                       "--task", f"korsts:dev={shared_data / 'korsts' / 'sts-dev.tsv'}", "--output", str(out)])
    figures = json.loads(out.read_text())["tasks"]["korsts:dev"]
    assert figures["cosine_spearman"] == pytest.approx(41.0, abs=0.2)
