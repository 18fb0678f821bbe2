"""Folders saved by sentence-transformers itself load with the pooler and length they declare.

The folders are written by the installed sentence-transformers (the reference) around the tiny BERT fixture, so
the test follows its current config format (`1_Pooling/config.json` with `pooling_mode`, the length as the
tokenizer's `model_max_length`); the boolean keys of older versions are covered by files written here.
"""

import json

import numpy as np
import pytest

from tests.conftest import FIXTURES
from tf_simcse.encoders.encoder import Encoder
from tf_simcse.errors import UserInputError

SENTENCES = ["hello world", "the cat sat on the mat", "a", "hello hello world world the cat"]


def _st_folder(tmp_path, pooling_mode, max_seq_length=12):
    st = pytest.importorskip("sentence_transformers", reason="sentence-transformers writes the folders (pip install -e .[reference])")
    try:
        from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    except ImportError:  # sentence-transformers < 6
        from sentence_transformers.models import Pooling, Transformer

    transformer = Transformer(str(FIXTURES / "tiny_bert"), max_seq_length=max_seq_length)
    dimension = getattr(transformer, "get_embedding_dimension", None) or transformer.get_word_embedding_dimension
    pooling = Pooling(dimension(), pooling_mode=pooling_mode)
    model = st.SentenceTransformer(modules=[transformer, pooling], device="cpu")
    folder = tmp_path / f"st_{pooling_mode}"
    model.save(str(folder))
    return model, folder


@pytest.mark.parametrize("pooling_mode, pooler", [("mean", "avg"), ("cls", "cls_before_pooler")])
def test_a_sentence_transformers_folder_loads_with_its_pooling_and_length(tmp_path, pooling_mode, pooler):
    model, folder = _st_folder(tmp_path, pooling_mode)
    encoder = Encoder.from_pretrained(folder)
    assert (encoder.pooler, encoder.max_seq_length) == (pooler, 12)
    np.testing.assert_allclose(encoder.encode(SENTENCES, show_progress=False),
                               model.encode(SENTENCES, convert_to_numpy=True), atol=1e-4)


def test_a_pooling_without_a_tf_simcse_pooler_needs_pooler(tmp_path):
    _, folder = _st_folder(tmp_path, "max")
    with pytest.raises(UserInputError, match=r"1_Pooling.config\.json: pooling max has no tf_simcse pooler.*--pooler"):
        Encoder.from_pretrained(folder)
    assert Encoder.from_pretrained(folder, pooler="avg").pooler == "avg"


@pytest.mark.parametrize("keys, expected", [
    ({"pooling_mode_mean_tokens": True, "pooling_mode_cls_token": False}, "avg"),
    ({"pooling_mode_cls_token": True}, "cls_before_pooler"),
    ({"pooling_mode_max_tokens": True}, UserInputError),
    ({"pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": True}, UserInputError),  # concatenated
])
def test_the_boolean_pooling_keys_of_older_versions(tmp_path, keys, expected):
    import shutil

    folder = tmp_path / "legacy"
    shutil.copytree(FIXTURES / "tiny_bert", folder)
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({"word_embedding_dimension": 32, **keys}))
    (folder / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 20, "do_lower_case": False}))
    if expected is UserInputError:
        with pytest.raises(UserInputError, match="has no tf_simcse pooler"):
            Encoder.from_pretrained(folder)
    else:
        encoder = Encoder.from_pretrained(folder)
        assert (encoder.pooler, encoder.max_seq_length) == (expected, 20)
