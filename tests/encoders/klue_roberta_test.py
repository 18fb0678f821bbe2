"""KLUE-RoBERTa-style checkpoints (RoBERTa weights + WordPiece vocab.txt) against transformers' outputs."""

import json
import pathlib
import shutil

import keras
import numpy as np
import pytest
import safetensors.numpy

from tf_simcse.encoders import checkpoints
from tf_simcse.encoders import klue_roberta

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures"
KLUE = FIXTURES / "tiny_klue_roberta"
TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def ref():
    return np.load(KLUE / "reference.npz")


@pytest.fixture(scope="module")
def backbone():
    return klue_roberta.load_klue_roberta(KLUE)


def run(backbone, ref):
    return backbone({"token_ids": ref["input_ids"], "padding_mask": ref["attention_mask"]})


def max_diff_on_tokens(actual, expected, mask):
    return float(np.abs(np.asarray(actual) - expected)[mask.astype(bool)].max())


def test_fixture_looks_like_klue(ref):
    """The fixture has KLUE's special-token layout, a pad id of 1, and a right-padded batch of mixed lengths."""
    vocab = (KLUE / "vocab.txt").read_text(encoding="utf-8").split("\n")[:4]
    assert vocab == ["[CLS]", "[PAD]", "[SEP]", "[UNK]"]
    config = json.loads((KLUE / "config.json").read_text())
    assert (config["model_type"], config["pad_token_id"], config["type_vocab_size"]) == ("roberta", 1, 1)
    lengths = ref["attention_mask"].sum(axis=1)
    assert len(set(lengths.tolist())) >= 3
    for row, length in zip(ref["input_ids"], lengths):
        assert row[0] == 0 and row[length - 1] == 2 and (row[length:] == 1).all()


def test_detection():
    assert klue_roberta.is_klue_roberta(KLUE)
    for other in ["tiny_bert", "tiny_xlm_roberta", "tiny_distilbert"]:
        assert not klue_roberta.is_klue_roberta(FIXTURES / other)


def test_byte_level_roberta_is_not_klue(tmp_path):
    target = tmp_path / "roberta"
    shutil.copytree(KLUE, target)
    (target / "vocab.json").write_text("{}")
    assert not klue_roberta.is_klue_roberta(target)
    with pytest.raises(ValueError, match="not a KLUE-RoBERTa-style checkpoint"):
        klue_roberta.load_klue_roberta(target)


def test_outputs_match_transformers(backbone, ref):
    outputs = run(backbone, ref)
    diff = max_diff_on_tokens(outputs["sequence_output"], ref["last_hidden_state"], ref["attention_mask"])
    assert diff < TOLERANCE, diff
    np.testing.assert_allclose(outputs["pooled_output"], ref["pooler_output"], atol=TOLERANCE, rtol=0)
    probe = keras.Model(backbone.inputs, [layer.output for layer in checkpoints.hidden_state_layers(backbone)])
    hidden_states = run(probe, ref)
    assert len(hidden_states) == len(ref["hidden_states"])
    for index, (actual, expected) in enumerate(zip(hidden_states, ref["hidden_states"])):
        assert max_diff_on_tokens(actual, expected, ref["attention_mask"]) < TOLERANCE, index


def test_position_rows_start_at_pad_plus_one(backbone):
    """Row i of our position table is transformers' row i + 2; the table is 2 rows shorter."""
    tensors = safetensors.numpy.load_file(str(KLUE / "model.safetensors"))
    hf_rows = tensors["embeddings.position_embeddings.weight"]
    ours = backbone.position_embedding.position_embeddings.numpy()
    assert ours.shape == (hf_rows.shape[0] - 2, hf_rows.shape[1])
    np.testing.assert_array_equal(ours, hf_rows[2:])
    assert backbone.max_sequence_length == 40


def test_token_type_row_and_epsilon_matter(backbone, ref):
    """Without the token-type row (keras-hub's RoBERTa converter) the outputs move far beyond the tolerance."""
    config = json.loads((KLUE / "config.json").read_text())
    without = checkpoints.create_backbone(config)
    without.set_weights(backbone.get_weights())
    without.segment_embedding.embeddings.assign(np.zeros(without.segment_embedding.embeddings.shape))
    diff = max_diff_on_tokens(run(without, ref)["sequence_output"], ref["last_hidden_state"], ref["attention_mask"])
    assert diff > 1e-2
    assert backbone.layer_norm_epsilon == 1e-5 and backbone.hidden_activation == "gelu"


def test_masked_lm_release_format(tmp_path, ref):
    """KLUE ships `RobertaForMaskedLM`: weights under `roberta.`, an `lm_head`, no pooler."""
    target = tmp_path / "klue_mlm"
    shutil.copytree(KLUE, target)
    tensors = safetensors.numpy.load_file(str(target / "model.safetensors"))
    renamed = {f"roberta.{key}": value for key, value in tensors.items() if not key.startswith("pooler.")}
    hidden = tensors["embeddings.word_embeddings.weight"].shape[1]
    renamed["lm_head.dense.weight"] = np.ones((hidden, hidden), np.float32)
    renamed["lm_head.bias"] = np.ones((tensors["embeddings.word_embeddings.weight"].shape[0],), np.float32)
    safetensors.numpy.save_file(renamed, str(target / "model.safetensors"))

    loaded = checkpoints.load_backbone(target)  # dispatches to the KLUE converter
    outputs = run(loaded, ref)
    assert sorted(outputs) == ["sequence_output"]
    diff = max_diff_on_tokens(outputs["sequence_output"], ref["last_hidden_state"], ref["attention_mask"])
    assert diff < TOLERANCE


def test_vocab_larger_than_embedding_is_an_error(tmp_path):
    target = tmp_path / "klue"
    shutil.copytree(KLUE, target)
    with open(target / "vocab.txt", "a", encoding="utf-8") as vocab:
        vocab.write("".join(f"extra{i}\n" for i in range(5)))
    with pytest.raises(ValueError, match=r"vocab.txt has \d+ tokens but config.json says vocab_size=55"):
        klue_roberta.load_klue_roberta(target)


def test_unknown_tensor_is_an_error(tmp_path):
    """A tensor the backbone cannot place (e.g. relative position weights) is reported, not silently dropped."""
    target = tmp_path / "klue"
    shutil.copytree(KLUE, target)
    tensors = safetensors.numpy.load_file(str(target / "model.safetensors"))
    tensors["encoder.layer.0.attention.self.distance_embedding.weight"] = np.zeros((3, 32), np.float32)
    safetensors.numpy.save_file(tensors, str(target / "model.safetensors"))
    with pytest.raises(ValueError, match="distance_embedding"):
        klue_roberta.load_klue_roberta(target)
