"""Checkpoints -> backbones, measured against transformers' own outputs.

The tiny checkpoints and their `reference.npz` (transformers' outputs) come from
`tests/fixtures/make_tiny_checkpoints.py`; only the MiniLM test runs transformers itself.
"""

import json
import pathlib
import shutil

import keras
import keras_hub
import numpy as np
import pytest

from tf_simcse.encoders import checkpoints
from tf_simcse.encoders.backbone import BertFamilyBackbone

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures"
ARCHITECTURES = ["tiny_bert", "tiny_klue_roberta", "tiny_xlm_roberta", "tiny_distilbert"]
TOLERANCE = 1e-4


def reference(name):
    return np.load(FIXTURES / name / "reference.npz")


def hf_config(name):
    return json.loads((FIXTURES / name / "config.json").read_text())


def features(backbone, ref):
    """The reference batch under the backbone's own input names."""
    packed = {
        "input_word_ids": ref["input_ids"],
        "input_mask": ref["attention_mask"],
        "input_type_ids": ref["token_type_ids"],
    }
    return {theirs: packed[ours] for ours, theirs in checkpoints.backbone_input_names(backbone).items()}


def max_diff_on_tokens(actual, expected, mask):
    """Max |actual - expected| over real (non-padding) tokens; padded rows are not comparable."""
    return float(np.abs(np.asarray(actual) - expected)[mask.astype(bool)].max())


@pytest.fixture(scope="module")
def loaded():
    cache = {}

    def load(name):
        if name not in cache:
            cache[name] = checkpoints.load_backbone(FIXTURES / name)
        return cache[name]

    return load


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_sequence_output_matches_transformers(loaded, name):
    backbone, ref = loaded(name), reference(name)
    outputs = backbone(features(backbone, ref))
    diff = max_diff_on_tokens(outputs["sequence_output"], ref["last_hidden_state"], ref["attention_mask"])
    assert diff < TOLERANCE, f"{name}: max abs diff {diff}"
    # The pooler exists exactly where the checkpoint has one, and matches too.
    assert ("pooled_output" in outputs) == ("pooler_output" in ref.files)
    if "pooled_output" in outputs:
        np.testing.assert_allclose(outputs["pooled_output"], ref["pooler_output"], atol=TOLERANCE, rtol=0)


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_hidden_states_match_transformers(loaded, name):
    backbone, ref = loaded(name), reference(name)
    layers = checkpoints.hidden_state_layers(backbone)
    assert len(layers) == len(ref["hidden_states"])
    probe = keras.Model(backbone.inputs, [layer.output for layer in layers])
    for index, (actual, expected) in enumerate(zip(probe(features(backbone, ref)), ref["hidden_states"])):
        diff = max_diff_on_tokens(actual, expected, ref["attention_mask"])
        assert diff < TOLERANCE, f"{name}: hidden_states[{index}] max abs diff {diff}"


@pytest.mark.parametrize(
    "name, change",
    [
        ("tiny_bert", {"hidden_act": "gelu_new"}),  # keras-hub BertBackbone's activation
        ("tiny_bert", {"layer_norm_eps": 1e-5}),
        ("tiny_klue_roberta", {"layer_norm_eps": 1e-12}),  # keras-hub BertBackbone's epsilon
        ("tiny_distilbert", {"activation": "gelu_new"}),
    ],
)
def test_parity_tolerance_detects_wrong_activation_or_epsilon(loaded, name, change):
    """The fixtures are sensitive enough: the same weights with keras-hub's hard-coded choices miss 1e-4."""
    wrong = checkpoints.create_backbone({**hf_config(name), **change})
    right = loaded(name)
    wrong.set_weights(right.get_weights())
    ref = reference(name)
    diff = max_diff_on_tokens(
        wrong(features(wrong, ref))["sequence_output"], ref["last_hidden_state"], ref["attention_mask"]
    )
    assert diff > 3 * TOLERANCE


def test_backbone_input_names(loaded):
    assert checkpoints.backbone_input_names(loaded("tiny_bert")) == {
        "input_word_ids": "token_ids",
        "input_mask": "padding_mask",
        "input_type_ids": "segment_ids",
    }
    # One token type (RoBERTa family) or none (DistilBERT): no segment input to feed out-of-range ids into.
    for name in ["tiny_klue_roberta", "tiny_xlm_roberta", "tiny_distilbert"]:
        assert checkpoints.backbone_input_names(loaded(name)) == {
            "input_word_ids": "token_ids",
            "input_mask": "padding_mask",
        }


def test_segment_ids_reach_the_bert_output(loaded):
    """The pair row of the BERT reference has type ids 1; feeding zeros instead must change it."""
    backbone, ref = loaded("tiny_bert"), reference("tiny_bert")
    inputs = features(backbone, ref)
    zeros = dict(inputs, segment_ids=np.zeros_like(ref["token_type_ids"]))
    pair = ref["token_type_ids"].any(axis=1)
    assert pair.sum() == 1
    a = np.asarray(backbone(inputs)["sequence_output"])[pair]
    b = np.asarray(backbone(zeros)["sequence_output"])[pair]
    assert np.abs(a - b).max() > 1e-2


@pytest.mark.parametrize("name, key", [("tiny_bert", "hidden_dropout_prob"), ("tiny_distilbert", "dropout")])
def test_dropout_defaults_to_the_checkpoint(loaded, name, key):
    assert loaded(name).dropout == hf_config(name)[key]
    assert all(layer.dropout == hf_config(name)[key] for layer in loaded(name).transformer_layers)


def test_dropout_override():
    ref = reference("tiny_bert")
    noisy = checkpoints.load_backbone(FIXTURES / "tiny_bert", dropout=0.3)
    assert noisy.dropout == 0.3
    inputs = features(noisy, ref)
    mask = ref["attention_mask"]
    # Inference ignores dropout: still the transformers output.
    inference = noisy(inputs, training=False)["sequence_output"]
    assert max_diff_on_tokens(inference, ref["last_hidden_state"], mask) < TOLERANCE
    first = noisy(inputs, training=True)["sequence_output"]
    second = noisy(inputs, training=True)["sequence_output"]
    assert max_diff_on_tokens(first, np.asarray(inference), mask) > 1e-2
    assert max_diff_on_tokens(first, np.asarray(second), mask) > 1e-2

    silent = checkpoints.load_backbone(FIXTURES / "tiny_bert", dropout=0.0)
    np.testing.assert_array_equal(
        silent(inputs, training=True)["sequence_output"], silent(inputs, training=False)["sequence_output"]
    )


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_save_load_round_trip_is_bit_exact(loaded, name, tmp_path):
    original, ref = loaded(name), reference(name)
    checkpoints.save_backbone(original, tmp_path / "preset")
    restored = checkpoints.load_backbone(tmp_path / "preset")
    assert type(restored) is type(original)
    assert restored.get_config() == original.get_config()
    for a, b in zip(original.weights, restored.weights, strict=True):
        assert a.path == b.path
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    inputs = features(restored, ref)
    expected, actual = original(inputs), restored(inputs)
    assert sorted(actual) == sorted(expected)
    for key in expected:
        np.testing.assert_array_equal(actual[key], expected[key])
    # The checkpoint's activation and epsilon survive saving: still transformers' numbers.
    diff = max_diff_on_tokens(actual["sequence_output"], ref["last_hidden_state"], ref["attention_mask"])
    assert diff < TOLERANCE


@pytest.mark.parametrize("name", ["tiny_bert", "tiny_distilbert"])
def test_hugging_face_tensors_give_back_the_checkpoint_file(loaded, name):
    from tf_simcse.encoders import _hf_checkpoint

    expected = {k: v for k, v in _hf_checkpoint.read_weights(FIXTURES / name).items()
                if k not in _hf_checkpoint._IGNORED_TENSORS}
    actual = _hf_checkpoint.hugging_face_tensors(loaded(name), hf_config(name)["model_type"])
    assert sorted(actual) == sorted(expected)
    for key, value in expected.items():
        np.testing.assert_array_equal(actual[key], value.astype(np.float32), err_msg=key)


def test_hugging_face_tensors_refuse_roberta_positions(loaded):
    from tf_simcse.encoders import _hf_checkpoint

    with pytest.raises(ValueError, match="only bert and distilbert"):
        _hf_checkpoint.hugging_face_tensors(loaded("tiny_klue_roberta"), "roberta")


def test_saved_preset_dropout_override(loaded, tmp_path):
    checkpoints.save_backbone(loaded("tiny_klue_roberta"), tmp_path)
    assert checkpoints.load_backbone(tmp_path).dropout == 0.1
    restored = checkpoints.load_backbone(tmp_path, dropout=0.25)
    assert restored.dropout == 0.25
    assert all(layer.dropout == 0.25 for layer in restored.transformer_layers)


def test_dtype_policy_is_applied():
    backbone = checkpoints.load_backbone(FIXTURES / "tiny_bert", dtype="mixed_bfloat16")
    assert backbone.dtype_policy.name == "mixed_bfloat16"
    assert backbone.token_embedding.embeddings.dtype == "float32"
    ref = reference("tiny_bert")
    output = backbone(features(backbone, ref))["sequence_output"]
    assert output.dtype == "bfloat16"
    # bfloat16 keeps ~3 significant digits: close to the float32 reference, not equal.
    output = np.asarray(keras.ops.cast(output, "float32"))
    diff = max_diff_on_tokens(output, ref["last_hidden_state"], ref["attention_mask"])
    assert diff < 0.25


def test_keras_hub_format_xlm_roberta_is_rebuilt_with_dict_outputs(tmp_path):
    """A preset in keras-hub's own format (XLMRobertaBackbone, via keras-hub's converter) -> dict outputs."""
    keras_hub_backbone = keras_hub.models.XLMRobertaBackbone.from_preset(str(FIXTURES / "tiny_xlm_roberta"))
    keras_hub_backbone.save_to_preset(str(tmp_path))
    backbone = checkpoints.load_backbone(tmp_path)
    assert isinstance(backbone, BertFamilyBackbone)
    ref = reference("tiny_xlm_roberta")
    outputs = backbone(features(backbone, ref))
    diff = max_diff_on_tokens(outputs["sequence_output"], ref["last_hidden_state"], ref["attention_mask"])
    assert diff < TOLERANCE
    probe = keras.Model(backbone.inputs, [layer.output for layer in checkpoints.hidden_state_layers(backbone)])
    hidden = probe(features(backbone, ref))
    assert max_diff_on_tokens(hidden[-1], ref["hidden_states"][-1], ref["attention_mask"]) < TOLERANCE


def test_keras_hub_format_distilbert_and_bert(tmp_path):
    """Random keras-hub backbones saved in keras-hub's format load with the same outputs as keras-hub's own."""
    ref = reference("tiny_distilbert")
    inputs = {"token_ids": ref["input_ids"], "padding_mask": ref["attention_mask"]}
    kwargs = dict(vocabulary_size=62, num_layers=2, num_heads=4, hidden_dim=32, intermediate_dim=37)

    distilbert = keras_hub.models.DistilBertBackbone(**kwargs, max_sequence_length=40)
    distilbert.save_to_preset(str(tmp_path / "distilbert"))
    loaded = checkpoints.load_backbone(tmp_path / "distilbert", dropout=0.2)
    assert loaded.dropout == 0.2
    np.testing.assert_allclose(loaded(inputs)["sequence_output"], distilbert(inputs), atol=1e-6, rtol=0)

    bert = keras_hub.models.BertBackbone(**kwargs, max_sequence_length=40)
    bert.save_to_preset(str(tmp_path / "bert"))
    loaded = checkpoints.load_backbone(tmp_path / "bert")
    # Rebuilt as BertFamilyBackbone (the class tf_simcse's presets name) with keras-hub's tanh GELU and epsilon.
    assert type(loaded) is BertFamilyBackbone
    assert (loaded.hidden_activation, loaded.layer_norm_epsilon) == ("gelu_new", 1e-12)
    inputs["segment_ids"] = ref["token_type_ids"]
    assert checkpoints.backbone_input_names(loaded)["input_type_ids"] == "segment_ids"
    for key in ("sequence_output", "pooled_output"):
        np.testing.assert_allclose(loaded(inputs)[key], bert(inputs)[key], atol=1e-6, rtol=0)
    assert len(checkpoints.hidden_state_layers(loaded)) == 3


TINY_CONFIG = {
    "model_type": "bert",
    "vocab_size": 50,
    "hidden_size": 16,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 24,
    "max_position_embeddings": 20,
    "hidden_dropout_prob": 0.15,
    "hidden_act": "relu",
    "type_vocab_size": 3,
}


def test_create_backbone_from_a_tiny_config():
    backbone = checkpoints.create_backbone(TINY_CONFIG)
    assert isinstance(backbone, BertFamilyBackbone)
    assert (backbone.num_layers, backbone.hidden_dim, backbone.num_segments) == (2, 16, 3)
    assert (backbone.dropout, backbone.hidden_activation, backbone.layer_norm_epsilon) == (0.15, "relu", 1e-12)
    assert backbone.position_embedding.position_embeddings.shape == (20, 16)
    inputs = {
        "token_ids": np.array([[2, 7, 9, 3, 0], [2, 5, 3, 0, 0]], np.int32),
        "padding_mask": np.array([[1, 1, 1, 1, 0], [1, 1, 1, 0, 0]], np.int32),
        "segment_ids": np.array([[0, 0, 0, 2, 0], [0, 1, 1, 0, 0]], np.int32),
    }
    outputs = backbone(inputs)
    assert outputs["sequence_output"].shape == (2, 5, 16)
    assert outputs["pooled_output"].shape == (2, 16)
    # Fresh weights are random, not zeros: the outputs differ between tokens.
    assert float(np.std(np.asarray(outputs["sequence_output"])[0, :4], axis=0).mean()) > 0.1


@pytest.mark.parametrize(
    "config, expected",
    [
        (
            {**TINY_CONFIG, "model_type": "roberta", "pad_token_id": 1, "type_vocab_size": 1},
            {"max_sequence_length": 18, "num_segments": 1, "layer_norm_epsilon": 1e-5, "use_pooler": True},
        ),
        (
            {**TINY_CONFIG, "model_type": "roberta", "use_pooler": False},
            {"max_sequence_length": 18, "num_segments": 3, "use_pooler": False},
        ),
        (
            {
                "model_type": "distilbert",
                "vocab_size": 50,
                "dim": 16,
                "n_layers": 1,
                "n_heads": 2,
                "hidden_dim": 24,
                "max_position_embeddings": 20,
                "dropout": 0.2,
            },
            {"num_segments": 0, "use_pooler": False, "dropout": 0.2, "hidden_activation": "gelu"},
        ),
    ],
)
def test_create_backbone_follows_model_type_conventions(config, expected):
    backbone = checkpoints.create_backbone(config)
    assert {key: getattr(backbone, key) for key in expected} == expected


@pytest.mark.parametrize(
    "change, message",
    [
        ({"model_type": "gpt2"}, "model_type 'gpt2' is not supported"),
        ({"hidden_act": "mish"}, "activation 'mish' is not supported"),
        ({"hidden_size": None}, None),
        ({"position_embedding_type": "relative_key"}, "position_embedding_type 'relative_key'"),
    ],
)
def test_create_backbone_rejects_bad_configs(change, message):
    config = {**TINY_CONFIG, **change}
    if message is None:
        del config["hidden_size"]
        message = "missing 'hidden_size'"
    with pytest.raises(ValueError, match=message):
        checkpoints.create_backbone(config)


def copy_fixture(name, tmp_path):
    target = tmp_path / name
    shutil.copytree(FIXTURES / name, target)
    return target


def test_load_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no config.json"):
        checkpoints.load_backbone(tmp_path)

    no_weights = copy_fixture("tiny_bert", tmp_path)
    (no_weights / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="no model.safetensors"):
        checkpoints.load_backbone(no_weights)

    wrong_shape = copy_fixture("tiny_distilbert", tmp_path)
    config = json.loads((wrong_shape / "config.json").read_text())
    config["vocab_size"] += 1
    (wrong_shape / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"'embeddings.word_embeddings.weight' has shape \(62, 32\)"):
        checkpoints.load_backbone(wrong_shape)


@pytest.mark.minilm
def test_minilm_matches_transformers(minilm_dir):
    """all-MiniLM-L6-v2 (exact GELU, eps 1e-12): our backbone vs transformers on English and Korean."""
    transformers = pytest.importorskip("transformers")
    torch = pytest.importorskip("torch")
    sentences = [
        "A man is playing a guitar.",
        "The quick brown fox jumps over the lazy dog.",
        "SimCSE uses dropout as minimal data augmentation.",
        "Hi!",
        "한 남자가 기타를 치고 있다.",
        "오늘 날씨가 정말 좋네요.",
        "서울은 대한민국의 수도이다.",
        "Mixed 한국어 and English 문장 with numbers 123.",
    ]
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(minilm_dir))
    batch = tokenizer(sentences, padding=True, truncation=True, max_length=128, return_tensors="np")
    model = transformers.AutoModel.from_pretrained(str(minilm_dir)).eval()
    with torch.no_grad():
        expected = model(**{key: torch.from_numpy(value) for key, value in batch.items()})
    backbone = checkpoints.load_backbone(minilm_dir)
    assert backbone.hidden_activation == "gelu" and backbone.layer_norm_epsilon == 1e-12
    outputs = backbone(
        {
            "token_ids": batch["input_ids"].astype(np.int32),
            "padding_mask": batch["attention_mask"].astype(np.int32),
            "segment_ids": batch["token_type_ids"].astype(np.int32),
        }
    )
    diff = max_diff_on_tokens(
        outputs["sequence_output"], expected.last_hidden_state.numpy(), batch["attention_mask"]
    )
    print(f"all-MiniLM-L6-v2 max abs diff vs transformers: {diff:.3g}")
    assert diff < TOLERANCE
    np.testing.assert_allclose(outputs["pooled_output"], expected.pooler_output.numpy(), atol=TOLERANCE, rtol=0)
