"""The benchmark scripts run end to end on the tiny checkpoint for two steps, so that they cannot rot.

No timing is asserted here (speed is measured by the scripts themselves, figures in docs/benchmarks.md).
"""

import json
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import FIXTURES, REPO_ROOT

pytestmark = pytest.mark.shared_data


def _run(args, timeout=900):
    result = subprocess.run([sys.executable, *map(str, args)], cwd=REPO_ROOT, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, result.stderr[-4000:]
    return result.stdout


def test_train_throughput_runs_every_arm(shared_data, tmp_path):
    pytest.importorskip("sentence_transformers", reason="sentence-transformers (extra 'reference') not installed")
    pytest.importorskip("datasets", reason="datasets (extra 'bench') not installed")
    output = tmp_path / "throughput.json"
    stdout = _run([
        "benchmarks/train_throughput.py", "--checkpoint", FIXTURES / "tiny_bert", "--max_seq_length", 32,
        "--batch_size", 8, "--steps", 2, "--chunk", 1, "--train_data", shared_data / "kornli" / "xnli.dev.ko.tsv",
        "--tf_arm", "group=0,split=0", "--tf_arm", "group=1,split=1", "--output", output,
    ])
    record = json.loads(output.read_text())
    names = [arm["name"] for arm in record["arms"]]
    assert names == ["tf_simcse (no XLA, float32, dynamic padding)",
                     "tf_simcse (no XLA, float32, length grouping, anchors apart)", "sentence-transformers"]
    assert all(len(record["steps"][name]) == 2 for name in names)
    for row in record["summary"]:
        assert row["steps"] == 2 and row["sentences_per_s"] > 0, row
    # One block for the one-pass arm; anchors and candidates as two blocks when encoded apart (and in ST).
    one_pass, apart, st = (record["steps"][name][0]["shapes"] for name in names)
    assert len({width for _, width in one_pass}) == 1
    assert [rows for rows, _ in apart] == [rows for rows, _ in st] == [8, 8, 8]
    assert "| sentence-transformers |" in stdout and "1.00x" in stdout


def test_padding_counts_tokens_of_each_option(shared_data):
    stdout = _run(["benchmarks/padding.py", "--checkpoint", FIXTURES / "tiny_bert", "--max_seq_length", 32,
                   "--batch_size", 8, "--train_data", shared_data / "kornli" / "xnli.dev.ko.tsv"])
    assert "length grouping" in stdout and "sentence-transformers" in stdout


def test_sentence_transformers_recipe_trains_and_scores(shared_data, tmp_path):
    pytest.importorskip("sentence_transformers", reason="sentence-transformers (extra 'reference') not installed")
    pytest.importorskip("datasets", reason="datasets (extra 'bench') not installed")
    output = tmp_path / "st.json"
    _run(["benchmarks/sentence_transformers_recipe.py", "--checkpoint", FIXTURES / "tiny_bert", "--max_seq_length", 32,
          "--batch_size", 8, "--max_steps", 2, "--eval_steps", 1, "--seed", 1,
          "--train_data", shared_data / "kornli" / "xnli.dev.ko.tsv",
          "--eval_data", f"korsts:train[:10%]={shared_data / 'korsts' / 'sts-train.tsv'}",
          "--test_data", f"korsts:dev={shared_data / 'korsts' / 'sts-dev.tsv'}", "--output", output])
    run = json.loads(output.read_text())["runs"][0]
    assert [h["step"] for h in run["history"]] == [0, 1, 2]
    assert all(-100 <= h["cosine_spearman"] <= 100 for h in run["history"])
    assert -100 <= run["test"]["cosine_spearman"] <= 100


def test_sentence_transformers_question_pair_recipe_trains_and_scores(shared_data, tmp_path):
    pytest.importorskip("sentence_transformers", reason="sentence-transformers (extra 'reference') not installed")
    pytest.importorskip("datasets", reason="datasets (extra 'bench') not installed")
    output = tmp_path / "st_qp.json"
    _run(["benchmarks/st_question_pair.py", "--checkpoint", FIXTURES / "tiny_bert", "--max_seq_length", 32,
          "--batch_size", 8, "--max_steps", 2, "--seed", 1, "--output", output,
          "--train_data", shared_data / "question_pair" / "train.txt",
          "--eval_data", shared_data / "question_pair" / "validation.txt"])
    record = json.loads(output.read_text())
    assert record["pairs"] == 6136 and [r["seed"] for r in record["runs"]] == [1]
    assert all(0 <= record["runs"][0][k] <= 100 for k in ("accuracy", "f1", "average_precision"))


def test_serve_load_runs_every_server(shared_data, tmp_path):
    pytest.importorskip("sentence_transformers", reason="sentence-transformers (extra 'reference') not installed")
    pytest.importorskip("fastapi", reason="fastapi (extra 'serve') not installed")
    output = tmp_path / "serve.json"
    stdout = _run(["benchmarks/serve_load.py", "--checkpoint", FIXTURES / "tiny_bert", "--clients", "1,3",
                   "--seconds", 0.3, "--warmup", 0.1, "--sentences", shared_data / "korsts" / "sts-dev.tsv",
                   "--output", output])
    record = json.loads(output.read_text())
    arms = [(r["server"], r["batching"], r["clients"]) for r in record["rows"]]
    assert sorted(arms) == sorted((server, batching, clients) for server in ("tf_simcse", "sentence-transformers")
                                  for batching in ("on", "off") for clients in (1, 3))
    for row in record["rows"]:
        assert row["errors"] == 0 and row["requests"] > 0 and row["p99_ms"] >= row["p50_ms"] > 0, row
    # Both servers embed with the same model (mean pooling, same weights).
    assert record["cosine_max_abs_difference"] < 1e-4
    assert "| tf_simcse | on | 3 |" in stdout and "| sentence-transformers | off | 1 |" in stdout


def test_gradcache_benchmark_runs_every_cell(shared_data, tmp_path):
    pytest.importorskip("sentence_transformers", reason="sentence-transformers (extra 'reference') not installed")
    output = tmp_path / "gradcache.json"
    stdout = _run(["benchmarks/gradcache.py", "--checkpoint", FIXTURES / "tiny_bert", "--batch", 6, "--chunk", 4,
                   "--objective", "sup", "--steps", 1, "--max_seq_length", 16, "--output", output])
    results = json.loads(output.read_text())["results"]
    assert [(r["library"], r["chunk"]) for r in results] == [
        ("tf_simcse", None), ("tf_simcse", 4), ("sentence-transformers", None), ("sentence-transformers", 4)]
    for r in results:
        assert "error" not in r, r
        assert len(r["step_times"]) == 2 and r["ms_per_step"] > 0
        # ru_maxrss and VmHWM are counted apart by the kernel and can differ by a few pages.
        assert r["peak_gib"] >= 0.99 * r["steady_peak_gib"] > 0
    assert "| sup | 6 | tf_simcse | C=4 |" in stdout
    assert "sup batch 6: GradCache time / one-pass time = " in stdout


def test_sentence_transformers_sts_pipeline_runs_every_stage(shared_data, tmp_path):
    pytest.importorskip("sentence_transformers", reason="sentence-transformers (extra 'reference') not installed")
    pytest.importorskip("datasets", reason="datasets (extra 'bench') not installed")
    output = tmp_path / "st_pipeline.json"
    stdout = _run(["benchmarks/st_sts_pipeline.py", "--checkpoint", FIXTURES / "tiny_bert", "--max_seq_length", 32,
                   "--max_steps", 2, "--student_layers", "1", "--output", output])
    record = json.loads(output.read_text())
    assert [s["stage"] for s in record["stages"]] == ["simcse", "sts", "student", "student_sts"]
    assert record["triplets"] == 2499 and record["sts_train_pairs"] == 5749
    for stage in record["stages"]:
        assert [h["step"] for h in stage["history"]] == [0, 2], stage["stage"]
    assert "| student_sts |" in stdout


def test_sentence_transformers_sts_pipeline_stops_and_saves_models_tf_simcse_reads(shared_data, tmp_path):
    st = pytest.importorskip("sentence_transformers", reason="sentence-transformers (extra 'reference') not installed")
    pytest.importorskip("datasets", reason="datasets (extra 'bench') not installed")
    output, saved = tmp_path / "st_pipeline.json", tmp_path / "models"
    _run(["benchmarks/st_sts_pipeline.py", "--checkpoint", FIXTURES / "tiny_bert", "--max_seq_length", 32,
          "--max_steps", 2, "--stop_after", "sts", "--save_dir", saved, "--output", output])
    assert [s["stage"] for s in json.loads(output.read_text())["stages"]] == ["simcse", "sts"]
    assert sorted(p.name for p in saved.iterdir()) == ["01-simcse", "02-sts"]
    # A tf_simcse stage can start from the model a sentence-transformers stage selected: the same embeddings.
    from tf_simcse.encoders.encoder import Encoder

    sentences = ["첫 번째 문장입니다.", "두 번째 문장은 조금 더 깁니다, 그렇죠?"]
    reference = st.SentenceTransformer(str(saved / "02-sts"), device="cpu").encode(sentences)
    encoder = Encoder.from_pretrained(saved / "02-sts", pooler="avg", max_seq_length=32)
    np.testing.assert_allclose(encoder.encode(sentences), reference, atol=1e-5)


def test_sentence_transformers_sts_pipeline_starts_from_a_tf_simcse_model(shared_data, tmp_path):
    pytest.importorskip("sentence_transformers", reason="sentence-transformers (extra 'reference') not installed")
    pytest.importorskip("datasets", reason="datasets (extra 'bench') not installed")
    trained, output = tmp_path / "tf_stage1", tmp_path / "st_from_tf.json"
    _run(["-m", "tf_simcse.train", "--model", FIXTURES / "tiny_bert", "--objective", "sup", "--pooler", "avg",
          "--max_seq_length", 32, "--train_data", shared_data / "kornli" / "xnli.dev.ko.tsv", "--batch_size", 8,
          "--max_steps", 2, "--eval_steps", 2, "--eval_data", f"korsts:dev={shared_data / 'korsts' / 'sts-dev.tsv'}",
          "--export", "false", "--output_dir", trained])
    _run(["benchmarks/st_sts_pipeline.py", "--checkpoint", FIXTURES / "tiny_bert", "--max_seq_length", 32,
          "--max_steps", 2, "--start_at", "sts", "--start_model", trained, "--stop_after", "sts", "--output", output])
    record = json.loads(output.read_text())
    # The copy into transformers' BertModel embeds as tf_simcse does (checked by the script on KorSTS dev
    # sentences; on MiniLM: 2.5e-7). The tiny vocab makes most of them [UNK], so their cosines tie and the two
    # evaluators' Spearman figures are not compared here.
    assert record["start_model_max_abs_difference"] < 1e-5
    (stage,) = record["stages"]
    assert stage["stage"] == "sts" and [h["step"] for h in stage["history"]] == [0, 2]


def test_encode_throughput_measures_every_model(shared_data, tmp_path):
    output = tmp_path / "encode.json"
    stdout = _run(["benchmarks/encode_throughput.py", "--model", FIXTURES / "tiny_bert", "--model",
                   FIXTURES / "tiny_bert", "--rounds", 2, "--max_seq_length", 32, "--output", output])
    record = json.loads(output.read_text())
    assert record["sentences"] == 3000 and len(record["models"]) == 2
    for row in record["models"]:
        assert len(row["round_seconds"]) == 2 and row["sentences_per_s"] > 0 and row["layers"] == 2
    assert "| sentences/s" in stdout.splitlines()[0].replace("| model | layers ", "")


def test_encoder_passes_benchmark_times_both_libraries_on_the_same_model(tmp_path):
    pytest.importorskip("transformers", reason="transformers (extra 'reference') not installed")
    output = tmp_path / "passes.json"
    stdout = _run(["benchmarks/encoder_passes.py", "--checkpoint", FIXTURES / "tiny_bert", "--batch", 3,
                   "--rounds", 1, "--max_seq_length", 8, "--output", output])
    (row,) = json.loads(output.read_text())["results"]
    for library in ("tf_simcse", "pytorch"):
        assert set(row[library]["ms"]) == {"eval forward", "train forward", "forward + backward"}
        assert all(ms > 0 for ms in row[library]["ms"].values())
    # The script refuses to time two different computations: the eval embeddings agree.
    np.testing.assert_allclose(row["tf_simcse"]["eval_sum"], row["pytorch"]["eval_sum"], rtol=1e-4, atol=1e-4)
    assert "| 3 | backward (difference) |" in stdout


@pytest.mark.parametrize("stage", ["simcse", "sts"])
def test_torch_trajectory_trains_both_libraries_on_the_same_batches(tmp_path, stage):
    pytest.importorskip("transformers", reason="transformers (extra 'reference') not installed")
    output = tmp_path / "trajectory.json"
    _run(["benchmarks/torch_trajectory.py", "--model", FIXTURES / "tiny_bert", "--stage", stage, "--steps", 3,
          "--batch_size", 8, "--max_seq_length", 16, "--output", output])
    result = json.loads(output.read_text())
    assert len(result["losses"]["tf_simcse"]) == len(result["losses"]["pytorch"]) == 3
    np.testing.assert_allclose(result["losses"]["tf_simcse"], result["losses"]["pytorch"], rtol=1e-4)
    # The sts stage warms up (lr 0 at its first step), so it moves the embeddings less in 3 steps.
    assert result["max_abs_embedding_diff"] < 1e-5 < result["max_abs_embedding_change_tf"]
    assert set(result["korsts_dev_spearman"]) == {"before", "tf_simcse", "pytorch"}


def test_torch_trajectory_starts_from_a_tf_simcse_model(tmp_path):
    pytest.importorskip("transformers", reason="transformers (extra 'reference') not installed")
    from tf_simcse.encoders.encoder import Encoder

    # A tf_simcse model directory: PyTorch gets its weights (hugging_face_tensors) and tf_simcse's token ids.
    Encoder.from_pretrained(FIXTURES / "tiny_bert", pooler="avg", max_seq_length=16).save_pretrained(tmp_path / "m")
    output = tmp_path / "trajectory.json"
    _run(["benchmarks/torch_trajectory.py", "--model", tmp_path / "m", "--stage", "sts", "--steps", 3,
          "--batch_size", 8, "--max_seq_length", 16, "--output", output])
    result = json.loads(output.read_text())
    np.testing.assert_allclose(result["losses"]["tf_simcse"], result["losses"]["pytorch"], rtol=1e-4)
    assert result["max_abs_embedding_diff"] < 1e-5 < result["max_abs_embedding_change_tf"]


def test_dropout_statistics_compares_both_libraries_under_dropout(tmp_path):
    pytest.importorskip("transformers", reason="transformers (extra 'reference') not installed")
    output = tmp_path / "dropout.json"
    _run(["benchmarks/dropout_statistics.py", "--model", FIXTURES / "tiny_bert", "--draws", 4, "--batch_size", 8,
          "--max_seq_length", 16, "--output", output])
    result = json.loads(output.read_text())
    for library in ("tf_simcse", "pytorch"):
        assert result["loss"][library]["standard_error"] > 0  # the draws differ: dropout is on in both
    assert set(result["matrices"]) == {"token embeddings", "layer 0 query", "last layer feed-forward output"}
    for row in result["matrices"].values():
        assert 0 < row["cosine_of_mean_gradients"] <= 1
