"""Encoder + poolers against NumPy formulas applied to transformers' own hidden states (tests/fixtures)."""

import numpy as np
import pytest

from tests.conftest import FIXTURES
from tf_simcse.encoders import checkpoints
from tf_simcse.encoders.encoder import Encoder
from tf_simcse.encoders.poolers import POOLERS

ARCHITECTURES = ["tiny_bert", "tiny_klue_roberta", "tiny_xlm_roberta", "tiny_distilbert"]


def _reference(name):
    ref = np.load(FIXTURES / name / "reference.npz")
    inputs = {
        "input_word_ids": ref["input_ids"].astype("int32"),
        "input_mask": ref["attention_mask"].astype("int32"),
        "input_type_ids": ref["token_type_ids"].astype("int32"),
    }
    return ref, inputs


def _masked_mean(states, mask):
    mask = mask[:, :, None].astype(np.float64)
    return (states.astype(np.float64) * mask).sum(1) / mask.sum(1)


def _numpy_pooler(pooler, ref):
    """The official SimCSE definitions over HF hidden_states (index 0 = embeddings, 1 = first block)."""
    hidden, mask = ref["hidden_states"], ref["attention_mask"]
    if pooler in ("cls", "cls_before_pooler"):
        return ref["last_hidden_state"][:, 0]
    if pooler == "avg":
        return _masked_mean(ref["last_hidden_state"], mask)
    if pooler == "avg_top2":
        return _masked_mean((hidden[-1] + hidden[-2]) / 2.0, mask)
    if pooler == "avg_first_last":
        return _masked_mean((hidden[1] + hidden[-1]) / 2.0, mask)
    raise AssertionError(pooler)


@pytest.mark.parametrize("name", ARCHITECTURES)
@pytest.mark.parametrize("pooler", ["cls_before_pooler", "avg", "avg_top2", "avg_first_last"])
def test_poolers_match_numpy_on_transformers_hidden_states(name, pooler):
    ref, inputs = _reference(name)
    encoder = Encoder(checkpoints.load_backbone(FIXTURES / name), pooler=pooler)
    ours = np.asarray(encoder(inputs, training=False))
    np.testing.assert_allclose(ours, _numpy_pooler(pooler, ref), atol=1e-5)


def test_cls_pooler_with_checkpoint_pooler_equals_hf_pooler_output():
    # Released SimCSE checkpoints keep their MLP as BERT's pooler: cls = HF pooler_output.
    ref, inputs = _reference("tiny_bert")
    encoder = Encoder.from_pretrained(FIXTURES / "tiny_bert", pooler="cls")
    np.testing.assert_allclose(np.asarray(encoder(inputs, training=False)), ref["pooler_output"], atol=1e-5)


def test_mlp_only_train_rule():
    ref, inputs = _reference("tiny_bert")
    backbone = checkpoints.load_backbone(FIXTURES / "tiny_bert", dropout=0.0)
    cls_state = ref["last_hidden_state"][:, 0]
    for mlp_only_train in (False, True):
        encoder = Encoder(backbone, pooler="cls", mlp_only_train=mlp_only_train)
        kernel, bias = encoder.mlp.dense.kernel.numpy(), encoder.mlp.dense.bias.numpy()
        with_mlp = np.tanh(cls_state @ kernel + bias)
        # Training always applies the MLP; inference applies it unless mlp_only_train.
        np.testing.assert_allclose(np.asarray(encoder(inputs, training=True)), with_mlp, atol=1e-5)
        expected = cls_state if mlp_only_train else with_mlp
        np.testing.assert_allclose(np.asarray(encoder(inputs, training=False)), expected, atol=1e-5)


def test_unknown_pooler_is_a_clear_error():
    backbone = checkpoints.load_backbone(FIXTURES / "tiny_bert")
    with pytest.raises(ValueError, match="Unknown pooler 'mean'"):
        Encoder(backbone, pooler="mean")
    assert set(POOLERS) == {"cls", "cls_before_pooler", "avg", "avg_top2", "avg_first_last"}


@pytest.mark.parametrize("name", ["tiny_bert", "tiny_klue_roberta"])
def test_encode_matches_reference_sentences_in_input_order(name):
    ref, _ = _reference(name)
    sentences = [str(s) for s in ref["sentences"]]
    single = [i for i, s in enumerate(sentences) if "\t" not in s]  # "a\tb" rows are sentence pairs
    sentences = [sentences[i] for i in single]
    encoder = Encoder.from_pretrained(FIXTURES / name, pooler="avg", max_seq_length=ref["input_ids"].shape[1])
    # batch_size 2: sentences are regrouped longest-first, padded per batch, and put back in order.
    ours = encoder.encode(sentences, batch_size=2)
    np.testing.assert_allclose(ours, _numpy_pooler("avg", ref)[single], atol=1e-5)
    assert ours.dtype == np.float32 and ours.shape == (len(sentences), encoder.hidden_dim)
    assert encoder.encode([]).shape == (0, encoder.hidden_dim)
    with pytest.raises(TypeError, match="item 1"):
        encoder.encode(["ok", 3])


def test_save_pretrained_round_trip(tmp_path):
    encoder = Encoder.from_pretrained(FIXTURES / "tiny_bert", pooler="cls", max_seq_length=24, mlp_only_train=True)
    encoder.mlp.dense.bias.assign(encoder.mlp.dense.bias + 0.5)  # something the checkpoint does not hold
    sentences = ["hello world", "a b c d e f", ""]
    before_train_mode = encoder(encoder.preprocessor(np.array(sentences, dtype=object)), training=False)
    encoder.save_pretrained(tmp_path / "enc")
    loaded = Encoder.from_pretrained(tmp_path / "enc")
    assert (loaded.pooler, loaded.mlp_only_train, loaded.max_seq_length) == ("cls", True, 24)
    np.testing.assert_array_equal(loaded.encode(sentences), encoder.encode(sentences))
    np.testing.assert_array_equal(loaded.mlp.dense.bias.numpy(), encoder.mlp.dense.bias.numpy())
    assert before_train_mode.shape == (3, encoder.hidden_dim)
    # A training output directory resolves to its best/ checkpoint; flags override saved settings.
    (tmp_path / "run").mkdir()
    (tmp_path / "enc").rename(tmp_path / "run" / "best")
    overridden = Encoder.from_pretrained(tmp_path / "run", pooler="avg", max_seq_length=8)
    assert (overridden.pooler, overridden.max_seq_length) == ("avg", 8)


def test_missing_model_path_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        Encoder.from_pretrained(tmp_path / "nope")


def test_max_seq_length_beyond_the_position_table_is_a_clear_error():
    with pytest.raises(ValueError, match="max_seq_length 64 exceeds the model's 40 position embeddings"):
        Encoder.from_pretrained(FIXTURES / "tiny_bert", max_seq_length=64)
    assert Encoder.from_pretrained(FIXTURES / "tiny_bert").max_seq_length == 40  # the default 128, capped
