"""The exported SavedModels of tests/fixtures/tiny_bert, through every route a user loads them by.

References: transformers' own outputs stored with the fixture (reference.npz) for the encoder outputs, Hugging
Face `tokenizers` for the preprocessor ids, and `Encoder.encode` on the same checkpoint for every route's
embeddings (tf.saved_model.load, signatures, the sentence_encoder, the Keras Encoder rebuilt from the export, the
encode CLI, keras.layers.TFSMLayer, MirroredStrategy, and hub.KerasLayer in a tf_keras subprocess).
"""

import importlib.util
import json
import os
import pathlib
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import FIXTURES
from tests.export._tf_keras import run_tf_keras_script
from tf_simcse.encoders.encoder import Encoder
from tf_simcse.exporting import SavedModelLayer, export_model, read_export_config

tokenizers = pytest.importorskip("tokenizers")

CHECKPOINT = FIXTURES / "tiny_bert"
SEQ_LENGTH = 24
TOLERANCE = 1e-5
EDGE_CASES = [
    "",
    "   ",
    "\t\n",
    "한국어 문장 임베딩을 학습합니다.",
    "A man is playing a guitar.",
    "Mixed 한국어 English 中文 日本語 😀🚀 ＡＢＣ ﬁ ① café",
    "\u1112\u1161\u11ab\u1100\u116e\u11a8\u110b\u1165",  # "한국어" as conjoining jamo
    "a man " * 100,  # far longer than SEQ_LENGTH
    "x" * 150,  # one word over WordPiece's 100-character limit
    "[CLS] the cat [SEP] 는 [MASK]",
]


@pytest.fixture(scope="module")
def reference_encoder():
    """The checkpoint itself, through the package's one encode path."""
    return Encoder.from_pretrained(CHECKPOINT, pooler="cls", max_seq_length=SEQ_LENGTH)


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory, reference_encoder):
    return pathlib.Path(export_model(reference_encoder, tmp_path_factory.mktemp("tiny") / "export"))


@pytest.fixture(scope="module")
def loaded(export_dir):
    return {
        name: tf.saved_model.load(str(export_dir / name)) for name in ("preprocessor", "encoder", "sentence_encoder")
    }


@pytest.fixture(scope="module")
def korsts_sentences(shared_data):
    from tf_simcse.data.readers import read_korsts

    pairs = read_korsts(shared_data / "korsts" / "sts-dev.tsv")
    return list(dict.fromkeys(pairs.sentences1[:30] + pairs.sentences2[:30]))


def _hf_tokenizer():
    return tokenizers.Tokenizer.from_file(str(CHECKPOINT / "tokenizer.json"))


def _hf_packed(inputs, seq_length):
    tok = _hf_tokenizer()
    tok.enable_truncation(seq_length, strategy="longest_first")
    tok.enable_padding(length=seq_length, pad_id=tok.token_to_id("[PAD]"))
    enc = tok.encode_batch(inputs)
    return {
        "input_word_ids": np.array([e.ids for e in enc], np.int32),
        "input_mask": np.array([e.attention_mask for e in enc], np.int32),
        "input_type_ids": np.array([e.type_ids for e in enc], np.int32),
    }


def _assert_packed(packed, expected):
    assert set(packed) == set(expected)
    for key in expected:
        got = np.asarray(packed[key])
        assert got.dtype == np.int32, key
        np.testing.assert_array_equal(got, expected[key], err_msg=key)


def _normalized(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


# ----------------------------------------------------------------------------------------------- layout


def test_layout_config_and_model_card(export_dir):
    for name in ("preprocessor", "encoder", "sentence_encoder"):
        assert (export_dir / name / "saved_model.pb").is_file(), name
    assert (export_dir / "preprocessor" / "assets" / "vocab.txt").read_bytes() == (
        CHECKPOINT / "vocab.txt"
    ).read_bytes()
    info = read_export_config(export_dir)
    assert (info["pooler"], info["seq_length"], info["hidden_dim"], info["num_layers"]) == ("cls", SEQ_LENGTH, 32, 2)
    readme = (export_dir / "README.md").read_text(encoding="utf-8")
    for expected in (
        "| pooler | `cls` (with the trained MLP head) |",
        f"| max_seq_length | {SEQ_LENGTH} ",
        "## Example",
        "hub.KerasLayer",
        "keras.layers.TFSMLayer",
        "[2]   ",
    ):
        assert expected in readme, expected
    assert not list(export_dir.parent.glob(".export.*")), "temporary directories left behind"
    # One artifact of the export given as --model means the export.
    rebuilt = Encoder.from_pretrained(export_dir / "sentence_encoder")
    assert (rebuilt.pooler, rebuilt.max_seq_length, rebuilt.mlp_only_train) == ("cls", SEQ_LENGTH, False)


def test_the_export_holds_a_keras_hub_preset(export_dir, reference_encoder, korsts_sentences):
    """export/keras_hub: keras-hub's TextEmbedder.from_preset loads the exported model, and encode_text equals
    tf_simcse's encode (and the SavedModels: test_every_route_equals_encode_*)."""
    import keras_hub

    import tf_simcse  # noqa: F401  (registers the preset's classes)

    embedder = keras_hub.models.TextEmbedder.from_preset(str(export_dir / "keras_hub"))
    assert type(embedder).__name__ == "BertFamilyTextEmbedder"
    assert embedder.preprocessor.sequence_length == SEQ_LENGTH
    sentences = EDGE_CASES + korsts_sentences
    got = np.asarray(embedder.encode_text(sentences, verbose=0))
    np.testing.assert_allclose(got, reference_encoder.encode(sentences), atol=1e-5, rtol=0)
    readme = (export_dir / "README.md").read_text(encoding="utf-8")
    assert f'TextEmbedder.from_preset("{export_dir.name}/keras_hub")' in readme


def test_export_refuses_bad_arguments(tmp_path, reference_encoder):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "keep.txt").write_text("x")
    with pytest.raises(ValueError, match="exists and is not a tf_simcse export"):
        export_model(reference_encoder, tmp_path / "data")
    with pytest.raises(ValueError, match="exceeds the model's 40 position embeddings"):
        export_model(reference_encoder, tmp_path / "a", seq_length=41)
    with pytest.raises(ValueError, match=r"unknown keys \['metric'\]"):
        export_model(reference_encoder, tmp_path / "a", model_card={"metric": {}})
    bare = Encoder(reference_encoder.backbone, pooler="avg")
    with pytest.raises(ValueError, match="needs an Encoder with a preprocessor"):
        export_model(bare, tmp_path / "a")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


# ---------------------------------------------------------------------------------------------- encoder


def test_encoder_outputs_equal_transformers(loaded):
    """`default` of a cls export = the checkpoint's BERT pooler (the MLP head is initialised from it)."""
    ref = np.load(CHECKPOINT / "reference.npz")
    inputs = {
        "input_word_ids": tf.constant(ref["input_ids"], tf.int32),
        "input_mask": tf.constant(ref["attention_mask"], tf.int32),
        "input_type_ids": tf.constant(ref["token_type_ids"], tf.int32),
    }
    encoder = loaded["encoder"]
    out = encoder(inputs, training=False)
    assert sorted(out) == ["default", "encoder_outputs", "pooled_output", "sequence_output"]
    mask = ref["attention_mask"].astype(bool)
    np.testing.assert_allclose(out["default"].numpy(), ref["pooler_output"], atol=TOLERANCE)
    np.testing.assert_array_equal(out["pooled_output"].numpy(), out["default"].numpy())
    np.testing.assert_allclose(out["sequence_output"].numpy()[mask], ref["last_hidden_state"][mask], atol=TOLERANCE)
    assert len(out["encoder_outputs"]) == 2
    for got, want in zip(out["encoder_outputs"], ref["hidden_states"][1:]):
        np.testing.assert_allclose(got.numpy()[mask], want[mask], atol=TOLERANCE)
    for value in [out["default"], out["sequence_output"], *out["encoder_outputs"]]:
        assert value.dtype == tf.float32

    flat = encoder.signatures["serving_default"](**inputs)
    assert sorted(flat) == ["default", "encoder_outputs_0", "encoder_outputs_1", "pooled_output", "sequence_output"]
    # The same graph traced twice; oneDNN may pick other kernels for it (1.1e-6 apart seen on an AVX512-FP16 CPU).
    np.testing.assert_allclose(flat["default"].numpy(), out["default"].numpy(), atol=1e-5)
    np.testing.assert_allclose(flat["encoder_outputs_1"].numpy(), out["encoder_outputs"][1].numpy(), atol=1e-5)


def test_training_true_applies_dropout_and_advances_the_rng_state(loaded, reference_encoder):
    encoder = loaded["encoder"]
    inputs = loaded["preprocessor"](tf.constant(["a man is playing", "the cat"]))
    seeds = [v for v in encoder.variables if "seed_generator_state" in v.name]
    # Dropout layers of the backbone: embeddings + (attention, attention output, feed-forward) per layer.
    assert len(seeds) == 1 + 3 * 2 and not any(v.trainable for v in seeds)
    before = [v.numpy().copy() for v in seeds]
    inference = encoder(inputs, training=False)["default"].numpy()
    first = encoder(inputs, training=True)["default"].numpy()
    second = encoder(inputs, training=True)["default"].numpy()
    assert np.abs(first - inference).max() > 1e-3 and np.abs(first - second).max() > 1e-3
    assert all(not np.array_equal(b, v.numpy()) for b, v in zip(before, seeds))
    np.testing.assert_allclose(encoder(inputs, training=False)["default"].numpy(), inference, atol=1e-6)

    # Trainable = every weight the outputs depend on: the backbone without BERT's unused pooler, plus the MLP.
    used = [w for w in reference_encoder.backbone.weights if "pooled_dense" not in w.path]
    used += reference_encoder.mlp.weights
    assert sorted(tuple(v.shape) for v in encoder.trainable_variables) == sorted(tuple(w.shape) for w in used)
    assert list(encoder.regularization_losses) == []


# ----------------------------------------------------------------------------------------- preprocessor


def test_preprocessor_matches_hf_tokenizers(loaded, export_dir):
    pre = loaded["preprocessor"]
    # The fixture's tokenizer.json lists no added tokens, so `tokenizers` splits a literal "[CLS]" in the text
    # (transformers, like tf_simcse, maps it to its id): that sentence is left to the embedding routes.
    sentences = [s for s in EDGE_CASES if "[CLS]" not in s] + ["안전모를 가진 한 남자가 춤을 추고 있다."]
    _assert_packed(pre(tf.constant(sentences)), _hf_packed(sentences, SEQ_LENGTH))
    _assert_packed(
        pre.signatures["serving_default"](sentences=tf.constant(sentences)), _hf_packed(sentences, SEQ_LENGTH)
    )

    pieces = pre.tokenize(tf.constant(sentences))
    assert isinstance(pieces, tf.RaggedTensor) and pieces.dtype == tf.int32
    hf = _hf_tokenizer()
    assert pieces.to_list() == [e.ids for e in hf.encode_batch(sentences, add_special_tokens=False)]

    special = {k: int(v) for k, v in pre.tokenize.get_special_tokens_dict().items()}
    assert special == {
        "vocab_size": hf.get_vocab_size(),
        "start_of_sequence_id": hf.token_to_id("[CLS]"),
        "end_of_segment_id": hf.token_to_id("[SEP]"),
        "padding_id": hf.token_to_id("[PAD]"),
        "mask_id": hf.token_to_id("[MASK]"),
    }

    # Pairs, at lengths other than the default (a tensor argument of the loaded function).
    first, second = sentences, sentences[::-1]
    a, b = pre.tokenize(tf.constant(first)), pre.tokenize(tf.constant(second))
    for seq_length in (9, 16, 40):
        expected = _hf_packed(list(zip(first, second)), seq_length)
        _assert_packed(pre.bert_pack_inputs([a, b], seq_length=seq_length), expected)
        # Ragged rank 2 ([batch, (words), (pieces)], as TF Hub tokenizers return) packs the same.
        words = tf.RaggedTensor.from_uniform_row_length(a.values, 1)
        a2 = tf.RaggedTensor.from_row_splits(words, a.row_splits)
        _assert_packed(pre.bert_pack_inputs([a2, b], seq_length=seq_length), expected)
    _assert_packed(pre.bert_pack_inputs([a]), _hf_packed(first, SEQ_LENGTH))
    with pytest.raises(tf.errors.InvalidArgumentError, match="too short for the special tokens"):
        pre.bert_pack_inputs([a, b], seq_length=2)


def test_preprocessor_in_tf_data(loaded):
    pre = loaded["preprocessor"]
    first = ["a man is playing", "", "한 남자가 기타를 친다.", "the cat " * 30, "woman"]
    second = ["the cat", "a woman", "", "man", "이 고양이"]
    singles = tf.data.Dataset.from_tensor_slices(first).batch(2).map(pre)
    got = {
        k: np.concatenate([b[k].numpy() for b in singles]) for k in ("input_word_ids", "input_mask", "input_type_ids")
    }
    _assert_packed(got, _hf_packed(first, SEQ_LENGTH))

    def pack_pair(a, b):
        return pre.bert_pack_inputs([pre.tokenize(a), pre.tokenize(b)], seq_length=12)

    pairs = tf.data.Dataset.from_tensor_slices((first, second)).batch(5).map(pack_pair)
    _assert_packed(next(iter(pairs)), _hf_packed(list(zip(first, second)), 12))


# ---------------------------------------------------------------------------------- embedding routes


def _routes(export_dir, loaded, sentences, tmp_path):
    """Embeddings of `sentences` by every in-process route (L2-normalized ones marked by name)."""
    pre, enc, sent = loaded["preprocessor"], loaded["encoder"], loaded["sentence_encoder"]
    strings = tf.constant(sentences)
    packed = pre(strings)
    routes = {
        "preprocessor+encoder": enc(packed, training=False)["default"].numpy(),
        "encoder serving_default": enc.signatures["serving_default"](**packed)["default"].numpy(),
        "normalized: sentence_encoder": sent(strings).numpy(),
        "normalized: sentence_encoder serving_default": sent.signatures["serving_default"](sentences=strings)[
            "embeddings"
        ].numpy(),
        "Encoder.from_pretrained(export).encode": Encoder.from_pretrained(export_dir).encode(sentences, batch_size=7),
    }
    tfsm = keras.layers.TFSMLayer(str(export_dir / "encoder"), call_endpoint="serve")
    routes["keras.layers.TFSMLayer"] = np.asarray(tfsm(dict(packed))["default"])

    from tf_simcse import encode as encode_cli

    (tmp_path / "in.json").write_text(json.dumps({"sentences": sentences}, ensure_ascii=False), encoding="utf-8")
    encode_cli.main(
        ["--model", str(export_dir), "--input", str(tmp_path / "in.json"), "--output", str(tmp_path / "out.npy")]
    )
    routes["python -m tf_simcse.encode --model <export>"] = np.load(tmp_path / "out.npy")
    return routes


def _check_routes(routes, expected):
    differences = {}
    for name, value in routes.items():
        want = _normalized(expected) if name.startswith("normalized") else expected
        assert value.dtype == np.float32 and value.shape == want.shape, name
        differences[name] = float(np.abs(value - want).max())
    print("max |route - Encoder.encode|:", json.dumps(differences, indent=1))
    bad = {k: v for k, v in differences.items() if not v < TOLERANCE}
    assert not bad, f"routes differing from Encoder.encode by >= {TOLERANCE}: {bad}"


def test_every_route_equals_encode_on_edge_cases(export_dir, loaded, reference_encoder, tmp_path):
    # A zero-norm embedding cannot be normalized; none of these is one (every row packs [CLS] and [SEP]).
    _check_routes(_routes(export_dir, loaded, EDGE_CASES, tmp_path), reference_encoder.encode(EDGE_CASES))


def test_every_route_equals_encode_on_korsts(export_dir, loaded, reference_encoder, korsts_sentences, tmp_path):
    expected = reference_encoder.encode(korsts_sentences)
    _check_routes(_routes(export_dir, loaded, korsts_sentences, tmp_path), expected)


def test_mirrored_strategy_route(export_dir, reference_encoder):
    """The encoder loaded in a MirroredStrategy scope (2 logical CPUs), the preprocessor in tf.data."""
    from tests._tiny import mirrored

    strategy = mirrored()
    sentences = EDGE_CASES[:8] + ["한 남자가 기타를 친다.", "여자가 양파를 썬다."]
    preprocessor = tf.saved_model.load(str(export_dir / "preprocessor"))
    with strategy.scope():
        encoder = tf.saved_model.load(str(export_dir / "encoder"))
    assert all(isinstance(v, tf.distribute.DistributedValues) for v in encoder.trainable_variables)
    dataset = tf.data.Dataset.from_tensor_slices(sentences).batch(len(sentences)).map(preprocessor)

    @tf.function
    def step(batch):
        def replica_fn(inputs):
            with tf.GradientTape() as tape:
                train_out = encoder(inputs, training=True)["default"]
                loss = tf.reduce_sum(train_out**2)
            grads = tape.gradient(loss, encoder.trainable_variables)
            return encoder(inputs, training=False)["default"], tf.add_n([tf.reduce_sum(tf.abs(g)) for g in grads])

        return strategy.run(replica_fn, args=(batch,))

    outputs, grad_norms = step(next(iter(strategy.experimental_distribute_dataset(dataset))))
    local = strategy.experimental_local_results(outputs)
    assert len(local) == 2 and all(float(g) > 0 for g in strategy.experimental_local_results(grad_norms))
    got = np.concatenate([x.numpy() for x in local])
    np.testing.assert_allclose(got, reference_encoder.encode(sentences), atol=TOLERANCE)


def test_serving_signatures_for_saved_model_cli_and_tf1_loaders(export_dir, reference_encoder):
    """`saved_model_cli show` describes the sentence_encoder; a TF1 session (how `saved_model_cli run` and TF
    Serving load a SavedModel) restores every variable the graph reads and computes the same embeddings."""
    # The CLI in a subprocess (it imports TensorFlow afresh), while this process checks the TF1 loaders.
    show = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tensorflow.python.tools.saved_model_cli",
            "show",
            "--dir",
            str(export_dir / "sentence_encoder"),
            "--tag_set",
            "serve",
            "--signature_def",
            "serving_default",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
    )
    try:
        _check_tf1_sessions(export_dir, reference_encoder)
    except BaseException:
        show.kill()
        show.communicate()
        raise
    stdout, stderr = show.communicate(timeout=180)
    assert show.returncode == 0, stderr[-2000:]
    compact = " ".join(stdout.split())
    assert "inputs['sentences'] tensor_info: dtype: DT_STRING shape: (-1)" in compact, stdout
    assert "outputs['embeddings'] tensor_info: dtype: DT_FLOAT shape: (-1, 32)" in compact, stdout


def _check_tf1_sessions(export_dir, reference_encoder):
    sentences = ["a man is playing a guitar.", "", "한 남자가 기타를 친다."]
    expected = reference_encoder.encode(sentences)
    packed = {k: v.numpy() for k, v in reference_encoder.preprocessor(tf.constant(sentences)).items()}
    for name, feed, key, want in (
        ("sentence_encoder", {"sentences": np.array(sentences, object)}, "embeddings", _normalized(expected)),
        ("encoder", packed, "default", expected),
    ):
        with tf.Graph().as_default() as graph, tf.compat.v1.Session(graph=graph) as session:
            meta_graph = tf.compat.v1.saved_model.loader.load(session, ["serve"], str(export_dir / name))
            signature = meta_graph.signature_def["serving_default"]
            handles = [op.outputs[0] for op in graph.get_operations() if op.type == "VarHandleOp"]
            initialized = session.run([tf.raw_ops.VarIsInitializedOp(resource=h) for h in handles])
            assert handles and all(initialized), f"{name}: uninitialized variables after a TF1 restore"
            fetched = session.run(signature.outputs[key].name, {signature.inputs[k].name: v for k, v in feed.items()})
            np.testing.assert_allclose(fetched, want, atol=TOLERANCE, err_msg=name)


# ------------------------------------------------------------------------------------------ fine-tuning


def test_tfsm_layer_fine_tuning_with_adam(export_dir):
    """keras.layers.TFSMLayer cannot train with Adam (':0' in names); SavedModelLayer can."""
    path = str(export_dir / "encoder")
    rng = np.random.default_rng(0)
    x = {
        "input_word_ids": rng.integers(5, 62, size=(4, 10)).astype(np.int32),
        "input_mask": np.ones((4, 10), np.int32),
        "input_type_ids": np.zeros((4, 10), np.int32),
    }
    y = np.array([0, 1, 0, 1])

    def classifier(layer):
        inputs = {k: keras.Input((None,), dtype="int32", name=k) for k in x}
        model = keras.Model(inputs, keras.layers.Dense(2)(layer(inputs)["default"]))
        model.compile(
            optimizer=keras.optimizers.Adam(1e-2),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            jit_compile=False,
        )
        return model

    # The documented limitation (Keras 3.15): Adam cannot build its slots for TFSMLayer's weights.
    plain = keras.layers.TFSMLayer(path, call_endpoint="serve", call_training_endpoint="serve_training")
    with pytest.raises(ValueError, match=r"'token_embedding_embeddings:0_momentum' is not a valid scope name"):
        classifier(plain).fit(x, y, epochs=1, verbose=0)

    layer = SavedModelLayer(path)
    model = classifier(layer)
    assert all(":" not in w.name for w in layer.weights)
    trainable_before = [w.numpy().copy() for w in layer.trainable_weights]
    seeds_before = [w.numpy().copy() for w in layer.non_trainable_weights]
    features_before = np.asarray(layer(x)["default"])
    model.fit(x, y, epochs=1, verbose=0)
    assert len(trainable_before) == 39  # 37 backbone weights in use + the MLP head's kernel and bias
    assert all(not np.array_equal(b, w.numpy()) for b, w in zip(trainable_before, layer.trainable_weights))
    assert len(seeds_before) == 7 and all(
        not np.array_equal(b, w.numpy()) for b, w in zip(seeds_before, layer.non_trainable_weights)
    )
    # The endpoints compute with the trained variables.
    assert np.abs(np.asarray(layer(x)["default"]) - features_before).max() > 1e-4


# ------------------------------------------------------------------------------ hub.KerasLayer (tf_keras)

_HUB_SCRIPT = textwrap.dedent(
    r"""
    import json, os, sys
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    import numpy as np
    import tensorflow as tf
    import tensorflow_hub as hub
    import tensorflow_text  # noqa: F401

    export, work = sys.argv[1], sys.argv[2]
    sentences = json.load(open(os.path.join(work, "sentences.json"), encoding="utf-8"))
    pairs = json.load(open(os.path.join(work, "pairs.json"), encoding="utf-8"))
    keras = tf.keras
    results = {"keras": keras.__name__}

    # 1. The TF Hub BERT example: strings -> preprocessor -> encoder["default"].
    text = keras.layers.Input(shape=(), dtype=tf.string)
    preprocessor = hub.KerasLayer(os.path.join(export, "preprocessor"))
    encoder = hub.KerasLayer(os.path.join(export, "encoder"), trainable=True)
    outputs = encoder(preprocessor(text))
    model = keras.Model(text, outputs["default"])
    results["default"] = model.predict(tf.constant(sentences), verbose=0)
    results["sequence_output_shape"] = list(outputs["sequence_output"].shape)
    results["num_encoder_outputs"] = len(outputs["encoder_outputs"])

    # 2. A two-segment model: tokenize + bert_pack_inputs with an overridden seq_length.
    module = hub.load(os.path.join(export, "preprocessor"))
    first = keras.layers.Input(shape=(), dtype=tf.string)
    second = keras.layers.Input(shape=(), dtype=tf.string)
    tokenize = hub.KerasLayer(module.tokenize)
    pack = hub.KerasLayer(module.bert_pack_inputs, arguments=dict(seq_length=pairs["seq_length"]))
    pair_model = keras.Model([first, second], pack([tokenize(first), tokenize(second)]))
    packed = pair_model.predict([tf.constant(pairs["first"]), tf.constant(pairs["second"])], verbose=0)
    for key, value in packed.items():
        results["pair_" + key] = value

    # 3. Fine-tuning: every exported weight is trainable, one fit step changes all of them.
    results["trainable_shapes"] = sorted(list(w.shape) for w in encoder.trainable_weights)
    results["non_trainable_names"] = sorted(w.name for w in encoder.non_trainable_weights)
    classifier = keras.Model(text, keras.layers.Dense(2)(outputs["default"]))
    classifier.compile(optimizer=keras.optimizers.Adam(1e-2),
                       loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = [w.numpy().copy() for w in encoder.trainable_weights]
    classifier.fit(tf.constant(sentences[:4]), np.array([0, 1, 0, 1]), epochs=1, verbose=0)
    results["changed"] = [not np.array_equal(b, w.numpy()) for b, w in zip(before, encoder.trainable_weights)]

    # 4. The end-to-end sentence encoder as a hub.KerasLayer.
    sentence_encoder = hub.KerasLayer(os.path.join(export, "sentence_encoder"))
    results["sentence_encoder"] = sentence_encoder(tf.constant(sentences)).numpy()

    arrays = {k: np.asarray(v) for k, v in results.items() if isinstance(v, np.ndarray)}
    np.savez(os.path.join(work, "arrays.npz"), **arrays)
    json.dump({k: v for k, v in results.items() if k not in arrays}, open(os.path.join(work, "meta.json"), "w"))
    """
)


def test_hub_keras_layer_in_tf_keras(export_dir, reference_encoder, tmp_path):
    # Not imported here: tensorflow_hub needs TF_USE_LEGACY_KERAS=1 before TensorFlow is imported.
    for module in ("tensorflow_hub", "tf_keras"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed: pip install tensorflow-hub tf-keras (the hub.KerasLayer route)")
    sentences = ["a man is playing a guitar.", "", "한 남자가 기타를 친다.", "the cat " * 40, "Mixed 한국어 😀 ＡＢＣ"]
    pairs = {"first": sentences, "second": sentences[::-1], "seq_length": 14}
    (tmp_path / "sentences.json").write_text(json.dumps(sentences, ensure_ascii=False), encoding="utf-8")
    (tmp_path / "pairs.json").write_text(json.dumps(pairs, ensure_ascii=False), encoding="utf-8")
    run_tf_keras_script(_HUB_SCRIPT, [export_dir, tmp_path], tmp_path)
    arrays = np.load(tmp_path / "arrays.npz")
    meta = json.loads((tmp_path / "meta.json").read_text())

    assert meta["keras"].startswith("tf_keras")
    expected = reference_encoder.encode(sentences)
    np.testing.assert_allclose(arrays["default"], expected, atol=TOLERANCE)
    np.testing.assert_allclose(arrays["sentence_encoder"], _normalized(expected), atol=TOLERANCE)
    assert meta["sequence_output_shape"] == [None, SEQ_LENGTH, 32] and meta["num_encoder_outputs"] == 2
    hf = _hf_packed(list(zip(pairs["first"], pairs["second"])), pairs["seq_length"])
    _assert_packed({k: arrays["pair_" + k] for k in hf}, hf)

    used = [w for w in reference_encoder.backbone.weights if "pooled_dense" not in w.path]
    used += reference_encoder.mlp.weights
    assert meta["trainable_shapes"] == sorted(list(w.shape) for w in used)
    assert len(meta["changed"]) == len(used) and all(meta["changed"])
    assert len(meta["non_trainable_names"]) == 7 and all(
        "seed_generator_state" in n for n in meta["non_trainable_names"]
    )
