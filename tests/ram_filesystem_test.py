"""Models, CLI inputs/outputs and exports on a non-local TensorFlow filesystem: TF's in-memory `ram://`.

ram:// goes through the same `tf.io.gfile` calls as gs:// / s3:// (and has its own quirks, see tf_simcse.fileio), so
these tests stand in for a bucket in CI. ram:// lives in one process: the CLIs are called in-process, and the
hub.KerasLayer test runs its whole scenario (export, encode CLI, hub.KerasLayer) inside one tf_keras subprocess.

References: transformers' outputs and token ids stored with each fixture (reference.npz) for checkpoints read from
ram://, scipy's Spearman for the evaluate figures, and `Encoder.encode` on the local checkpoint elsewhere.
"""

import importlib.util
import io
import json
import textwrap
import uuid

import numpy as np
import pytest
import scipy.stats

from tests.conftest import FIXTURES
from tests.export._tf_keras import run_tf_keras_script
from tf_simcse import encode as encode_cli
from tf_simcse import evaluate as evaluate_cli
from tf_simcse import fileio
from tf_simcse import similarity as similarity_cli
from tf_simcse.encoders.encoder import Encoder

TINY = FIXTURES / "tiny_bert"
SENTENCES = ["A man is playing a guitar.", "", "한 남자가 기타를 친다.", "The cat sat on the mat!"]
# A KorSTS-format file (header + 6 pairs) for evaluate.
STS_ROWS = [
    ("5.0", "A man is playing a guitar.", "A man plays the guitar."),
    ("0.4", "A woman is slicing an onion.", "The cat sat on the mat."),
    ("3.2", "한 남자가 기타를 친다.", "남자가 악기를 연주한다."),
    ("1.0", "Two dogs run on the beach.", "A man is cooking pasta."),
    ("4.1", "The kids are playing football.", "Children play soccer."),
    ("2.5", "A plane is taking off.", "A bird is flying."),
]


def _ram(name):
    return f"ram://tf_simcse-test-{uuid.uuid4().hex[:8]}/{name}"


def _masked_mean(states, mask):
    mask = mask[:, :, None].astype(np.float64)
    return (states.astype(np.float64) * mask).sum(1) / mask.sum(1)


@pytest.mark.parametrize("name", ["tiny_bert", "tiny_distilbert", "tiny_klue_roberta", "tiny_xlm_roberta"])
def test_a_hugging_face_checkpoint_on_ram_loads_as_transformers_computes(name):
    checkpoint = _ram(name)
    fileio.copy_tree(str(FIXTURES / name), checkpoint)  # config.json, safetensors, vocab / SentencePiece files
    ref = np.load(FIXTURES / name / "reference.npz")
    encoder = Encoder.from_pretrained(checkpoint, pooler="avg", max_seq_length=ref["input_ids"].shape[1])
    for text, ids, mask in zip(ref["sentences"], ref["input_ids"], ref["attention_mask"]):
        segments = text.split("\t")  # "a\tb" is a sentence pair
        packed = encoder.preprocessor(tuple([s] for s in segments) if len(segments) == 2 else [text])
        np.testing.assert_array_equal(packed["input_word_ids"].numpy()[0], ids[: mask.sum()], err_msg=text)
    inputs = {
        "input_word_ids": ref["input_ids"].astype("int32"),
        "input_mask": ref["attention_mask"].astype("int32"),
        "input_type_ids": ref["token_type_ids"].astype("int32"),
    }
    embeddings = np.asarray(encoder(inputs, training=False))
    np.testing.assert_allclose(embeddings, _masked_mean(ref["last_hidden_state"], ref["attention_mask"]), atol=1e-5)


@pytest.fixture(scope="module")
def local_encoder():
    return Encoder.from_pretrained(TINY, pooler="cls", max_seq_length=24)


def test_save_pretrained_and_from_pretrained_on_ram(local_encoder):
    run = _ram("run")
    best = fileio.join(run, "best")
    local_encoder.save_pretrained(best)
    assert fileio.listdir(best) == ["assets", "config.json", "metadata.json", "model.weights.h5", "preprocessor.json",
                                    "task.json", "task.weights.h5", "tf_simcse_encoder.json"]
    local_encoder.save_pretrained(best)  # saving again over it (ram:// appends to rewritten files if let)
    # A training output directory resolves to its best/.
    loaded = Encoder.from_pretrained(run)
    assert (loaded.pooler, loaded.max_seq_length) == ("cls", 24)
    np.testing.assert_allclose(loaded.encode(SENTENCES), local_encoder.encode(SENTENCES), atol=1e-6)


def test_encode_evaluate_and_similarity_clis_read_and_write_ram(local_encoder, capsys):
    model = _ram("model")
    local_encoder.save_pretrained(model)
    root = fileio.dirname(model)
    fileio.write_text(fileio.join(root, "in.txt"), "\n".join(SENTENCES) + "\n")
    out = fileio.join(root, "out", "embeddings.npy")
    assert encode_cli.main(["--model", model, "--input", fileio.join(root, "in.txt"), "--output", out]) == 0
    vectors = np.load(io.BytesIO(fileio.read_bytes(out)))
    np.testing.assert_allclose(vectors, local_encoder.encode(SENTENCES), atol=1e-6)

    header = "genre\tfilename\tyear\tid\tscore\tsentence1\tsentence2\n"
    rows = "".join(f"g\tf\t2012\t{i:04d}\t{s}\t{a}\t{b}\n" for i, (s, a, b) in enumerate(STS_ROWS))
    fileio.write_text(fileio.join(root, "sts.tsv"), header + rows)
    metrics = fileio.join(root, "reports", "metrics.json")
    task = f"korsts:dev={fileio.join(root, 'sts.tsv')}"
    assert evaluate_cli.main(["--model", model, "--task", task, "--output", metrics]) == 0
    report = fileio.read_json(metrics)
    first = local_encoder.encode([a for _, a, _ in STS_ROWS]).astype(np.float64)
    second = local_encoder.encode([b for _, _, b in STS_ROWS]).astype(np.float64)
    cosine = (first * second).sum(1) / np.linalg.norm(first, axis=1) / np.linalg.norm(second, axis=1)
    expected = 100 * scipy.stats.spearmanr(cosine, [float(s) for s, _, _ in STS_ROWS]).statistic
    assert report["model"] == model and report["tasks"]["korsts:dev"]["num_pairs"] == len(STS_ROWS)
    assert report["tasks"]["korsts:dev"]["cosine_spearman"] == pytest.approx(expected, abs=1e-6)

    capsys.readouterr()
    assert similarity_cli.main(["--model", model, "--json", SENTENCES[0], SENTENCES[2]]) == 0
    printed = json.loads(capsys.readouterr().out)
    a, b = local_encoder.encode([SENTENCES[0], SENTENCES[2]]).astype(np.float64)
    assert printed["similarity"][0][1] == pytest.approx(a @ b / np.linalg.norm(a) / np.linalg.norm(b), abs=1e-4)


# The whole ram:// export scenario in one tf_keras process (ram:// is per process): the export CLI writes the
# export to ram://, the encode CLI reads it and writes its .npy there, and hub.KerasLayer loads the SavedModels.
_HUB_SCRIPT = textwrap.dedent(
    """
    import io
    import sys

    import numpy as np
    import tensorflow as tf
    import tensorflow_hub as hub
    import tensorflow_text  # noqa: F401

    from tf_simcse import encode, export, fileio

    checkpoint, sentences_file, out = sys.argv[1:]
    sentences = open(sentences_file, encoding="utf-8").read().split("\\n")
    fileio.copy_tree(checkpoint, "ram://hub/checkpoint")
    fileio.write_text("ram://hub/in.txt", "\\n".join(sentences))
    argv = ["--model", "ram://hub/checkpoint", "--output", "ram://hub/run/export", "--seq_length", "24"]
    assert export.main(argv) == 0
    assert fileio.listdir("ram://hub/run") == ["export"], fileio.listdir("ram://hub/run")  # no temporary left
    assert encode.main(["--model", "ram://hub/run/export", "--input", "ram://hub/in.txt",
                        "--output", "ram://hub/out.npy"]) == 0
    cli = np.load(io.BytesIO(fileio.read_bytes("ram://hub/out.npy")))

    text = tf.keras.layers.Input(shape=(), dtype=tf.string)
    preprocessor = hub.KerasLayer("ram://hub/run/export/preprocessor")
    encoder = hub.KerasLayer("ram://hub/run/export/encoder", trainable=True)
    model = tf.keras.Model(text, encoder(preprocessor(text))["default"])
    np.savez(out, cli=cli, hub=model(tf.constant(sentences)).numpy(), keras=str(type(model).__module__))
    """
)


@pytest.mark.slow
def test_export_to_ram_then_encode_cli_and_hub_keras_layer(tmp_path):
    for module in ("tensorflow_hub", "tf_keras"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed: pip install tensorflow-hub tf-keras (the hub.KerasLayer route)")
    (tmp_path / "sentences.txt").write_text("\n".join(SENTENCES), encoding="utf-8")
    run_tf_keras_script(_HUB_SCRIPT, [TINY, tmp_path / "sentences.txt", tmp_path / "out.npz"], tmp_path)
    result = np.load(tmp_path / "out.npz")
    assert str(result["keras"]).startswith("tf_keras")  # the model was built by tf_keras, not Keras 3
    expected = Encoder.from_pretrained(TINY, pooler="cls", max_seq_length=24).encode(SENTENCES)
    np.testing.assert_allclose(result["cli"], expected, atol=1e-5)
    np.testing.assert_allclose(result["hub"], expected, atol=1e-5)


_TRAIN_SCRIPT = textwrap.dedent(
    """
    import json, os, sys, uuid
    import numpy as np
    import keras
    import tensorflow as tf
    import tensorflow_hub as hub
    from tf_simcse import encode as encode_cli, fileio
    from tf_simcse.config import build_config
    from tf_simcse.encoders.encoder import Encoder
    from tf_simcse.trainer import Trainer

    tiny, train_file, sts_file, local_dir, out_file = sys.argv[1:]
    root = f"ram://tf_simcse-run-{uuid.uuid4().hex[:8]}"
    fileio.copy_tree(tiny, root + "/model")
    fileio.write_bytes(root + "/train.tsv", open(train_file, "rb").read())
    fileio.write_bytes(root + "/sts-dev.tsv", open(sts_file, "rb").read())

    def config(output_dir, model, data_root):
        return build_config(dict(
            model=model, objective="sup", train_data=[data_root + "/train.tsv"],
            eval_data=["korsts:dev=" + data_root + "/sts-dev.tsv"], output_dir=output_dir, strategy="cpu",
            batch_size=16, max_seq_length=24, learning_rate=1e-3, max_steps=4, eval_steps=2, checkpoint_steps=2,
            dropout=0.1, seed=5, export=True))

    class Kill(Exception):
        pass

    class KillAfter2(keras.callbacks.Callback):
        def __init__(self, trainer):
            super().__init__(); self.trainer = trainer
        def on_train_batch_end(self, batch, logs=None):
            if self.trainer.step >= 2:
                raise Kill()

    out = root + "/run"
    first = Trainer(config(out, root + "/model", root))
    try:
        first.run(callbacks=[KillAfter2(first)])
    except Kill:
        pass
    resumed = Trainer(config(out, root + "/model", root))
    report = resumed.run()
    reference = Trainer(config(local_dir, tiny, os.path.dirname(train_file)))
    reference.run()

    sentences = ["한 남자가 기타를 친다.", "A man plays the guitar.", "", "원숭이 한 마리가 드럼을 연주한다."]
    fileio.write_text(root + "/sentences.txt", "\\n".join(sentences))
    encode_cli.main(["--model", out + "/export", "--input", root + "/sentences.txt", "--output", root + "/emb.npy"])
    with fileio.open_file(root + "/emb.npy", "rb") as f:
        cli = np.load(f)
    layer = hub.KerasLayer(out + "/export/sentence_encoder")
    np.savez(out_file,
             names=np.array(sorted(fileio.listdir(out))),
             losses=np.array(fileio.read_json(out + "/trainer_state.json")["losses"]),
             reference_losses=np.array(fileio.read_json(local_dir + "/trainer_state.json")["losses"]),
             best=Encoder.from_pretrained(out + "/best").encode(sentences),
             cli=cli, hub=layer(tf.constant(sentences)).numpy(),
             keras=np.array(type(layer).__module__), steps=report["steps"], best_step=report["best_step"])
    """
)


@pytest.mark.slow
@pytest.mark.shared_data
def test_a_training_run_on_ram_is_killed_resumes_exports_and_loads(shared_data, tmp_path):
    """train -> kill after step 2 -> resume -> best/ -> export, all on ram://; then the encode CLI and
    hub.KerasLayer read the ram:// export. The resumed losses equal an uninterrupted run on the local disk."""
    for module in ("tensorflow_hub", "tf_keras"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed: pip install tensorflow-hub tf-keras (the hub.KerasLayer route)")
    local = tmp_path / "local"
    (local / "data").mkdir(parents=True)
    for name, source in (("train.tsv", shared_data / "kornli" / "xnli.dev.ko.tsv"),
                         ("sts-dev.tsv", shared_data / "korsts" / "sts-dev.tsv")):
        (local / "data" / name).write_bytes(source.read_bytes())
    run_tf_keras_script(_TRAIN_SCRIPT, [TINY, local / "data" / "train.tsv", local / "data" / "sts-dev.tsv",
                                        local / "run", tmp_path / "out.npz"], tmp_path, timeout=900)
    result = np.load(tmp_path / "out.npz")
    assert {"config.json", "checkpoints", "best", "logs", "metrics.json", "trainer_state.json", "export"} <= set(
        str(n).rstrip("/") for n in result["names"])
    assert int(result["steps"]) == 4
    assert [int(s) for s, _ in result["losses"]] == [1, 2, 3, 4]
    np.testing.assert_array_equal(result["losses"], result["reference_losses"])  # resume on ram:// is exact
    assert str(result["keras"]).startswith("tensorflow_hub")
    normalized = result["best"] / np.linalg.norm(result["best"], axis=1, keepdims=True)
    np.testing.assert_allclose(result["cli"], result["best"], atol=1e-5)
    np.testing.assert_allclose(result["hub"], normalized, atol=1e-5)
