"""A RoBERTa checkpoint with a byte-level BPE vocabulary (tests/fixtures/tiny_roberta: vocab.json + merges.txt
+ transformers' tokenizer files): `Encoder.from_pretrained` picks the BPE tokenizer and RoBERTa's packing, and
reproduces the ids and hidden states transformers computed (reference.npz); the export carries the vocabulary."""

import pathlib

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import FIXTURES
from tf_simcse.encoders.encoder import Encoder
from tf_simcse.preprocessing import ByteLevelBPETokenizer

ROBERTA = FIXTURES / "tiny_roberta"


@pytest.fixture(scope="module")
def encoder():
    return Encoder.from_pretrained(ROBERTA, pooler="avg", max_seq_length=40)


@pytest.fixture(scope="module")
def reference():
    return np.load(ROBERTA / "reference.npz")


def _packed(preprocessor, sentences, length):
    """The reference batch packed by our preprocessor: `a` alone or `a\\tb` as a pair, padded to `length`."""
    rows = []
    for sentence in sentences:
        parts = str(sentence).split("\t")
        texts = [tf.constant([p]) for p in parts]
        packed = preprocessor(tuple(texts) if len(texts) == 2 else texts[0])
        row = {k: v.numpy()[0] for k, v in packed.items()}  # dynamic padding: pad to the batch length here
        pad = {"input_word_ids": preprocessor.special_token_ids["pad_id"], "input_mask": 0, "input_type_ids": 0}
        rows.append({k: np.pad(v, (0, length - len(v)), constant_values=pad[k]) for k, v in row.items()})
    return {k: np.stack([r[k] for r in rows]) for k in rows[0]}


def test_the_bpe_tokenizer_and_roberta_packing_are_chosen(encoder, reference):
    preprocessor = encoder.preprocessor
    assert isinstance(preprocessor.tokenizer, ByteLevelBPETokenizer)
    assert preprocessor.pair_style == "roberta"
    assert preprocessor.special_token_ids == {"cls_id": 0, "sep_id": 2, "pad_id": 1, "unk_id": 3, "mask_id": 4}
    packed = _packed(preprocessor, reference["sentences"], reference["input_ids"].shape[1])
    np.testing.assert_array_equal(packed["input_word_ids"], reference["input_ids"])
    np.testing.assert_array_equal(packed["input_mask"], reference["attention_mask"])


def test_hidden_states_match_transformers(encoder, reference):
    backbone = encoder.backbone
    inputs = {"input_word_ids": reference["input_ids"], "input_mask": reference["attention_mask"],
              "input_type_ids": reference["token_type_ids"]}
    outputs = backbone(encoder.backbone_inputs(inputs))
    mask = reference["attention_mask"].astype(bool)
    diff = np.abs(outputs["sequence_output"].numpy() - reference["last_hidden_state"])[mask].max()
    assert diff < 1e-5, diff


@pytest.mark.slow
def test_export_carries_vocab_and_merges(encoder, tmp_path):
    from tf_simcse.exporting import export_model

    path = pathlib.Path(export_model(encoder, tmp_path / "export", seq_length=24))
    assets = sorted(p.name for p in (path / "preprocessor" / "assets").iterdir())
    assert assets == ["merges.txt", "vocab.json"]
    loaded = tf.saved_model.load(str(path / "preprocessor"))
    sentences = tf.constant(["A man is playing a guitar.", "한 남자가 기타를 친다.", "<mask> and <s>", ""])
    exported = loaded(sentences)
    ours = encoder.preprocessor(sentences)  # dynamic padding: pad to the export's static 24 here
    pad = {"input_word_ids": 1, "input_mask": 0, "input_type_ids": 0}
    for key, value in pad.items():
        width = 24 - ours[key].shape[1]
        np.testing.assert_array_equal(exported[key].numpy(), np.pad(ours[key].numpy(), [(0, 0), (0, width)],
                                                                    constant_values=value))
    reloaded = Encoder.from_pretrained(path)
    sentence = ["한 남자가 기타를 친다."]
    np.testing.assert_allclose(reloaded.encode(sentence), encoder.encode(sentence), atol=1e-5)
