"""keras-hub presets out and in: every model tf_simcse saves is a `TextEmbedder` preset, and keras-hub presets
(keras-hub's own files: BERT / XLM-R backbones with their tokenizers) are `--model` starting points."""

import copy
import subprocess
import sys

import keras
import keras_hub
import numpy as np
import pytest

import tf_simcse  # noqa: F401  (registers the classes keras-hub needs to load tf_simcse presets)
from tests.conftest import FIXTURES, REPO_ROOT
from tf_simcse.encoders import checkpoints
from tf_simcse.encoders.backbone import BertFamilyBackbone
from tf_simcse.encoders.bert_family_text_embedder import BertFamilyTextEmbedder
from tf_simcse.encoders.encoder import Encoder
from tf_simcse.errors import UserInputError

SENTENCES = ["the cat sat on the mat", "a", "[CLS] the cat [SEP] 는 [MASK]", "a man " * 40, "안녕하세요 세계"]


def _korsts_sentences(shared_data, n=48):
    from tf_simcse.data.readers import read_korsts

    pairs = read_korsts(shared_data / "korsts" / "sts-dev.tsv")
    return list(dict.fromkeys(pairs.sentences1[:n] + pairs.sentences2[:n]))


def _unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _keras_hub_embedder(directory):
    embedder = keras_hub.models.TextEmbedder.from_preset(str(directory))
    assert type(embedder) is BertFamilyTextEmbedder  # found by keras-hub through the registered classes
    return embedder


# ------------------------------------------------------------------------------------------- presets out


@pytest.mark.parametrize("pooler,mlp_only_train", [("cls", False), ("cls", True), ("avg_first_last", False)])
def test_save_pretrained_writes_a_text_embedder_preset(tmp_path, pooler, mlp_only_train):
    encoder = Encoder.from_pretrained(FIXTURES / "tiny_bert", pooler=pooler, max_seq_length=24)
    encoder.mlp_only_train = mlp_only_train
    if encoder.mlp is not None:  # a head that is not the checkpoint's pooler: only the saved weights give it
        encoder.mlp.dense.bias.assign(encoder.mlp.dense.bias + 0.5)
    encoder.save_pretrained(tmp_path)
    expected = encoder.encode(SENTENCES)

    embedder = _keras_hub_embedder(tmp_path)
    assert (embedder.pooler, embedder.mlp_only_train, embedder.preprocessor.sequence_length) == (
        pooler, mlp_only_train, 24)
    np.testing.assert_allclose(np.asarray(embedder.encode_text(SENTENCES, verbose=0)), expected, atol=1e-5, rtol=0)
    assert np.asarray(embedder.encode_text("a", verbose=0)).shape == (1, encoder.hidden_dim)

    loaded = Encoder.from_pretrained(tmp_path)
    assert (loaded.pooler, loaded.mlp_only_train, loaded.max_seq_length) == (pooler, mlp_only_train, 24)
    np.testing.assert_array_equal(loaded.encode(SENTENCES), expected)


def test_a_keras_hub_bert_backbone_is_saved_as_bert_family(tmp_path):
    """An Encoder built on keras-hub's own BertBackbone saves a preset keras-hub loads as our task (not as its
    BertTextEmbedder, which would mean-pool and normalize)."""
    from tf_simcse.preprocessing import TextPreprocessor

    keras.utils.set_random_seed(3)
    preprocessor = TextPreprocessor.from_pretrained(FIXTURES / "tiny_bert", seq_length=20, dynamic=True)
    backbone = keras_hub.models.BertBackbone(vocabulary_size=preprocessor.vocab_size, num_layers=2, num_heads=2,
                                             hidden_dim=16, intermediate_dim=24, max_sequence_length=20)
    encoder = Encoder(backbone, pooler="cls", preprocessor=preprocessor)
    sentences = ["the cat", "a dog sat on a mat"]
    expected = encoder.encode(sentences)
    encoder.save_pretrained(tmp_path)
    embedder = _keras_hub_embedder(tmp_path)
    assert type(embedder.backbone) is BertFamilyBackbone
    np.testing.assert_allclose(np.asarray(embedder.encode_text(sentences, verbose=0)), expected, atol=1e-5, rtol=0)


@pytest.mark.shared_data
def test_the_real_minilm_preset_equals_encode_on_korsts(minilm_dir, shared_data, tmp_path):
    encoder = Encoder.from_pretrained(minilm_dir)  # avg pooling, 256 tokens: its sentence-transformers config
    sentences = _korsts_sentences(shared_data)
    encoder.save_pretrained(tmp_path)
    embedder = _keras_hub_embedder(tmp_path)
    got = np.asarray(embedder.encode_text(sentences, batch_size=16, verbose=0))
    expected = encoder.encode(sentences)
    assert len(sentences) > 80
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)


@pytest.mark.shared_data
def test_keras_hub_gelu_differs_from_the_minilm_reference(minilm_dir, shared_data):
    """keras-hub's BertBackbone (the class of its MiniLM / BGE presets) computes tanh-approximate GELU; the
    Hugging Face checkpoint computes exact GELU. The same weights in keras-hub's class drift from the reference
    by far more than the 1e-4 of the exact path: the Hugging Face directory is the exact path."""
    st = pytest.importorskip("sentence_transformers", reason="sentence-transformers is the reference")
    exact = Encoder.from_pretrained(minilm_dir)
    source = exact.backbone
    keras_hub_bert = keras_hub.models.BertBackbone(
        vocabulary_size=source.vocabulary_size, num_layers=source.num_layers, num_heads=source.num_heads,
        hidden_dim=source.hidden_dim, intermediate_dim=source.intermediate_dim,
        max_sequence_length=source.max_sequence_length, num_segments=source.num_segments)
    keras_hub_bert.set_weights(source.get_weights())
    approximate = Encoder(checkpoints.as_bert_family(keras_hub_bert), pooler="avg", preprocessor=exact.preprocessor)
    sentences = _korsts_sentences(shared_data, n=16)
    # The sentence-transformers pipeline of all-MiniLM-L6-v2 ends in Normalize(): compare unit vectors.
    reference = st.SentenceTransformer(str(minilm_dir), device="cpu").encode(sentences, convert_to_numpy=True)
    exact_diff = np.abs(_unit(exact.encode(sentences)) - reference).max()
    approximate_diff = np.abs(_unit(approximate.encode(sentences)) - reference).max()
    print(f"max |embedding - sentence-transformers|: exact GELU {exact_diff:.2e}, keras-hub's GELU "
          f"{approximate_diff:.2e}")
    assert exact_diff < 1e-4 < approximate_diff


# -------------------------------------------------------------------------------------------- presets in


def _keras_hub_bert_preset(directory, vocabulary, lowercase, pooling_mode):
    keras.utils.set_random_seed(0)
    tokenizer = keras_hub.models.BertTokenizer(vocabulary=vocabulary, lowercase=lowercase)
    backbone = keras_hub.models.BertBackbone(vocabulary_size=tokenizer.vocabulary_size(), num_layers=2,
                                             num_heads=2, hidden_dim=16, intermediate_dim=24,
                                             max_sequence_length=64)
    preprocessor = keras_hub.models.BertTextEmbedderPreprocessor(tokenizer, sequence_length=64)
    embedder = keras_hub.models.BertTextEmbedder(backbone, preprocessor, pooling_mode=pooling_mode, normalize=False)
    embedder.save_to_preset(str(directory))
    return embedder


def _assert_same_ids(ours, theirs, sentences):
    for sentence in sentences:
        expected = theirs.preprocessor([sentence])
        got = ours.preprocessor(np.array([sentence]))
        n = int(np.asarray(expected["padding_mask"]).sum())
        np.testing.assert_array_equal(np.asarray(got["input_word_ids"])[0][:n],
                                      np.asarray(expected["token_ids"])[0][:n], err_msg=sentence)


@pytest.mark.shared_data
def test_a_keras_hub_bert_text_embedder_preset_is_a_starting_point(shared_data, tmp_path):
    """keras-hub's own files (BertBackbone, BertTokenizer on the real Korean WordPiece vocab, mean pooling):
    tf_simcse tokenizes id-exactly as keras-hub does and embeds as keras-hub's embedder does."""
    vocabulary = (shared_data / "vocabs" / "kr_bert_char_16424.txt").read_text(encoding="utf-8").splitlines()
    theirs = _keras_hub_bert_preset(tmp_path, vocabulary, lowercase=False, pooling_mode="mean")
    sentences = _korsts_sentences(shared_data)
    ours = Encoder.from_pretrained(tmp_path)
    assert (ours.pooler, ours.max_seq_length, type(ours.backbone)) == ("avg", 64, BertFamilyBackbone)
    _assert_same_ids(ours, theirs, sentences)
    expected = np.asarray(theirs.encode_text(sentences, verbose=0))
    np.testing.assert_allclose(ours.encode(sentences), expected, atol=1e-5, rtol=0)


def test_a_keras_hub_lowercasing_bert_preset_tokenizes_as_keras_hub(tmp_path):
    vocabulary = [line for line in (FIXTURES / "tiny_bert" / "vocab.txt").read_text(encoding="utf-8").splitlines()]
    theirs = _keras_hub_bert_preset(tmp_path, vocabulary, lowercase=True, pooling_mode="cls")
    ours = Encoder.from_pretrained(tmp_path)
    assert ours.pooler == "cls_before_pooler"
    sentences = ["The Cat SAT on the mat.", "A MAN, a plan!", "x" * 120, "Hello   world\t[SEP]"]
    _assert_same_ids(ours, theirs, sentences)
    np.testing.assert_allclose(ours.encode(sentences), np.asarray(theirs.encode_text(sentences, verbose=0)),
                               atol=1e-5, rtol=0)


def test_a_keras_hub_xlm_roberta_preset_is_a_starting_point_and_round_trips(tmp_path):
    """keras-hub's XLM-R (the architecture of multilingual_e5_* and bge_m3) with its SentencePiece tokenizer:
    loaded into BertFamilyBackbone, then saved by tf_simcse as a preset keras-hub loads back as our task."""
    source = FIXTURES / "tiny_xlm_roberta"
    tokenizer = keras_hub.models.XLMRobertaTokenizer.from_preset(str(source))
    backbone = keras_hub.models.XLMRobertaBackbone.from_preset(str(source))
    preprocessor = keras_hub.models.XLMRobertaTextEmbedderPreprocessor(tokenizer, sequence_length=32)
    theirs = keras_hub.models.XLMRobertaTextEmbedder(backbone, preprocessor, pooling_mode="mean", normalize=False)
    theirs.save_to_preset(str(tmp_path / "keras_hub"))
    sentences = ["hello world", "the quick brown fox jumps", "a"]

    ours = Encoder.from_pretrained(tmp_path / "keras_hub")
    assert (ours.pooler, ours.max_seq_length, type(ours.backbone)) == ("avg", 32, BertFamilyBackbone)
    _assert_same_ids(ours, theirs, sentences)
    expected = np.asarray(theirs.encode_text(sentences, verbose=0))
    np.testing.assert_allclose(ours.encode(sentences), expected, atol=1e-5, rtol=0)

    ours.save_pretrained(tmp_path / "ours")
    embedder = _keras_hub_embedder(tmp_path / "ours")
    np.testing.assert_allclose(np.asarray(embedder.encode_text(sentences, verbose=0)), expected, atol=1e-5, rtol=0)


def test_a_preset_handle_that_cannot_be_downloaded_is_one_error(tmp_path, monkeypatch):
    """Handles need the network (not here): the error names the handle, and the CLI prints one error line."""
    import kagglehub

    with pytest.raises(UserInputError, match="multilingual_e5_base"):
        Encoder.from_pretrained("multilingual_e5_base")  # offline here: the download fails as it is
    # kagglehub's own errors are plain Exceptions, not OSErrors: still one UserInputError.
    monkeypatch.setattr(kagglehub, "model_download", lambda handle: (_ for _ in ()).throw(
        kagglehub.exceptions.BackendError("unauthenticated")))
    with pytest.raises(UserInputError, match="bge_m3.*unauthenticated"):
        Encoder.from_pretrained("bge_m3")
    sentences = tmp_path / "sentences.txt"
    sentences.write_text("a\n", encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "tf_simcse.encode", "--model", "kaggle://nobody/no_model/keras/none/1",
                             "--input", str(sentences), "--output", str(tmp_path / "out.npy")], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "no_model" in errors[0], result.stderr[-2000:]
    assert "Traceback" not in result.stderr

    with pytest.raises(UserInputError, match="gemma"):  # a built-in preset of an architecture tf_simcse does not train
        Encoder.from_pretrained("gemma_2b_en")


def test_the_keras_classes_round_trip_their_configs():
    """keras-hub's convention: get_config -> from_config gives the same config (what presets are built on)."""
    encoder = Encoder.from_pretrained(FIXTURES / "tiny_bert", pooler="avg_top2", max_seq_length=24)
    encoder.mlp_only_train = True
    embedder = encoder.as_text_embedder()
    for layer in (embedder.backbone, embedder.preprocessor, embedder):
        config = keras.saving.serialize_keras_object(layer)
        rebuilt = keras.saving.deserialize_keras_object(copy.deepcopy(config))  # from_config edits its argument
        assert type(rebuilt) is type(layer)
        assert keras.saving.serialize_keras_object(rebuilt)["config"] == config["config"], type(layer).__name__
    assert (rebuilt.pooler, rebuilt.mlp_only_train, rebuilt.preprocessor.sequence_length) == ("avg_top2", True, 24)


def test_a_keras_hub_pooling_without_a_tf_simcse_pooler_asks_for_one(tmp_path):
    vocabulary = (FIXTURES / "tiny_bert" / "vocab.txt").read_text(encoding="utf-8").splitlines()
    _keras_hub_bert_preset(tmp_path, vocabulary, lowercase=True, pooling_mode="max")
    with pytest.raises(UserInputError, match="pooling_mode 'max'.*pass --pooler"):
        Encoder.from_pretrained(tmp_path)
    assert Encoder.from_pretrained(tmp_path, pooler="avg").pooler == "avg"


def test_saving_an_avg_encoder_over_a_cls_one_leaves_no_mlp_head(tmp_path):
    Encoder.from_pretrained(FIXTURES / "tiny_bert", pooler="cls").save_pretrained(tmp_path)
    assert (tmp_path / "task.weights.h5").exists()
    encoder = Encoder.from_pretrained(FIXTURES / "tiny_bert", pooler="avg")
    encoder.save_pretrained(tmp_path)
    assert not (tmp_path / "task.weights.h5").exists()
    np.testing.assert_allclose(np.asarray(_keras_hub_embedder(tmp_path).encode_text(SENTENCES, verbose=0)),
                               encoder.encode(SENTENCES), atol=1e-5, rtol=0)
