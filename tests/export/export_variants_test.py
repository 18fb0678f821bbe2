"""Export variants: mixed-precision training, SentencePiece vocabularies, the MLP rule, atomic replacement, the
export and similarity CLIs on a training output directory.

References: the `sentencepiece` library (ids), transformers' outputs stored with the fixtures (reference.npz),
a float32 `Encoder.encode` of the same weights, and scikit-learn's cosine_similarity.
"""

import json
import pathlib
import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import FIXTURES
from tf_simcse.config import TrainConfig
from tf_simcse.encoders.encoder import Encoder
from tf_simcse.exporting import export_model, read_export_config
from tf_simcse.exporting import exporter
from tf_simcse.exporting.encoder_module import EncoderModule

tokenizers = pytest.importorskip("tokenizers")

XLMR = FIXTURES / "tiny_xlm_roberta"
SEQ_LENGTH = 20
TOLERANCE = 1e-5
SENTENCES = [
    "안전모를 가진 한 남자가 춤을 추고 있다.",
    "A man is playing a guitar.",
    "",
    "   ",
    "여자가 양파를 썬다. " * 20,
    "Mixed 한국어 English 中文 😀 ＡＢＣ",
]


@pytest.fixture(scope="module")
def mixed_precision_export(tmp_path_factory):
    """tiny XLM-R (SentencePiece) with a two-layer pooler, built as a GPU run builds it (mixed_float16, inside a
    MirroredStrategy scope) and exported from outside the scope with the mixed policy still set."""
    from tests._tiny import mirrored

    strategy = mirrored()
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        with strategy.scope():
            mixed = Encoder.from_pretrained(XLMR, pooler="avg_first_last", max_seq_length=SEQ_LENGTH)
            with pytest.raises(ValueError, match="call export_model outside the MirroredStrategy scope"):
                export_model(mixed, tmp_path_factory.mktemp("refused") / "export")
        assert mixed.backbone.compute_dtype == "float16"
        assert isinstance(mixed.backbone.weights[0].value, tf.distribute.DistributedValues)
        mixed_embeddings = mixed.encode(SENTENCES)
        path = pathlib.Path(export_model(mixed, tmp_path_factory.mktemp("xlmr") / "export"))
    finally:
        keras.config.set_dtype_policy(previous)
    float32 = Encoder.from_pretrained(XLMR, pooler="avg_first_last", max_seq_length=SEQ_LENGTH)
    return path, float32, mixed_embeddings


def test_mixed_precision_training_exports_float32(mixed_precision_export):
    path, float32, mixed_embeddings = mixed_precision_export
    expected = float32.encode(SENTENCES)
    # float16 compute is visibly off; the export must not be.
    assert np.abs(mixed_embeddings - expected).max() > 1e-4
    preprocessor = tf.saved_model.load(str(path / "preprocessor"))
    encoder = tf.saved_model.load(str(path / "encoder"))
    sentence_encoder = tf.saved_model.load(str(path / "sentence_encoder"))
    assert {v.dtype for v in encoder.trainable_variables} == {tf.float32}
    out = encoder(preprocessor(tf.constant(SENTENCES)), training=False)
    assert {x.dtype for x in [out["default"], out["sequence_output"], *out["encoder_outputs"]]} == {tf.float32}
    np.testing.assert_allclose(out["default"].numpy(), expected, atol=TOLERANCE)
    normalized = expected / np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(sentence_encoder(tf.constant(SENTENCES)).numpy(), normalized, atol=TOLERANCE)
    np.testing.assert_allclose(Encoder.from_pretrained(path).encode(SENTENCES), expected, atol=TOLERANCE)

    # The exported layers against transformers' own (reference.npz); XLM-R has no token types.
    ref = np.load(XLMR / "reference.npz")
    inputs = {
        "input_word_ids": tf.constant(ref["input_ids"], tf.int32),
        "input_mask": tf.constant(ref["attention_mask"], tf.int32),
        "input_type_ids": tf.zeros_like(tf.constant(ref["input_ids"], tf.int32)),
    }
    out = encoder(inputs, training=False)
    mask = ref["attention_mask"].astype(bool)
    for got, want in zip(out["encoder_outputs"], ref["hidden_states"][1:]):
        np.testing.assert_allclose(got.numpy()[mask], want[mask], atol=TOLERANCE)
    first_last = (ref["hidden_states"][1] + ref["hidden_states"][-1]) / 2.0
    weights = ref["attention_mask"][:, :, None].astype(np.float64)
    np.testing.assert_allclose(out["default"].numpy(), (first_last * weights).sum(1) / weights.sum(1), atol=TOLERANCE)


def _hf_packed(inputs, seq_length):
    tok = tokenizers.Tokenizer.from_file(str(XLMR / "tokenizer.json"))
    tok.enable_truncation(seq_length, strategy="longest_first")
    tok.enable_padding(length=seq_length, pad_id=tok.token_to_id("<pad>"))
    enc = tok.encode_batch(inputs)
    return {
        "input_word_ids": np.array([e.ids for e in enc], np.int32),
        "input_mask": np.array([e.attention_mask for e in enc], np.int32),
        "input_type_ids": np.zeros((len(enc), seq_length), np.int32),  # RoBERTa packs no token types
    }


def test_sentencepiece_preprocessor(mixed_precision_export):
    sentencepiece = pytest.importorskip("sentencepiece")
    path = mixed_precision_export[0]
    assert (path / "preprocessor" / "assets" / "sentencepiece.bpe.model").read_bytes() == (
        XLMR / "sentencepiece.bpe.model"
    ).read_bytes()
    pre = tf.saved_model.load(str(path / "preprocessor"))
    # Pieces: the sentencepiece library, with fairseq's id offset (<unk> 0 -> 3, others + 1).
    processor = sentencepiece.SentencePieceProcessor(model_file=str(XLMR / "sentencepiece.bpe.model"))
    expected = [[i + 1 if i else 3 for i in processor.encode(s)] for s in SENTENCES]
    assert pre.tokenize(tf.constant(SENTENCES)).to_list() == expected
    # Packing (<s> a </s></s> b </s>, pad <pad>): Hugging Face tokenizers.
    for key, value in _hf_packed(SENTENCES, SEQ_LENGTH).items():
        np.testing.assert_array_equal(pre(tf.constant(SENTENCES))[key].numpy(), value, err_msg=key)
    first, second = SENTENCES, SENTENCES[::-1]
    packed = pre.bert_pack_inputs([pre.tokenize(tf.constant(first)), pre.tokenize(tf.constant(second))], seq_length=13)
    for key, value in _hf_packed(list(zip(first, second)), 13).items():
        np.testing.assert_array_equal(packed[key].numpy(), value, err_msg=key)
    special = {k: int(v) for k, v in pre.tokenize.get_special_tokens_dict().items()}
    size = processor.get_piece_size()
    assert special == {
        "vocab_size": size + 2,
        "start_of_sequence_id": 0,
        "end_of_segment_id": 2,
        "padding_id": 1,
        "mask_id": size + 1,
    }


def test_mlp_only_train_exports_the_inference_embedding():
    """cls + mlp_only_train: the export's default is the [CLS] state (no MLP), in training mode too."""
    ref = np.load(FIXTURES / "tiny_bert" / "reference.npz")
    inputs = {
        "input_word_ids": tf.constant(ref["input_ids"], tf.int32),
        "input_mask": tf.constant(ref["attention_mask"], tf.int32),
        "input_type_ids": tf.constant(ref["token_type_ids"], tf.int32),
    }
    encoder = Encoder.from_pretrained(FIXTURES / "tiny_bert", pooler="cls", mlp_only_train=True, dropout=0.0)
    module = EncoderModule(exporter.float32_copy(encoder))
    cls_state = ref["last_hidden_state"][:, 0]
    for training in (False, True):
        np.testing.assert_allclose(module(inputs, training=training)["default"].numpy(), cls_state, atol=TOLERANCE)
    # The head is not part of what the export computes, so it is not trainable there; it is kept for reloading.
    shapes = sorted(tuple(v.shape) for v in module.trainable_variables)
    assert len(shapes) == len(encoder.backbone.weights) - 2  # everything but BERT's unused pooler
    assert len(module.mlp_weights) == 2


def test_failed_export_leaves_the_earlier_one_intact(mixed_precision_export, tmp_path, monkeypatch):
    source, float32, _ = mixed_precision_export
    target = tmp_path / "export"
    shutil.copytree(source, target)
    before = {p.relative_to(target): p.read_bytes() for p in target.rglob("*") if p.is_file()}

    class DiskFull(OSError):
        pass

    def fail(*args, **kwargs):  # after the preprocessor SavedModel was written
        raise DiskFull("No space left on device")

    monkeypatch.setattr(exporter, "EncoderModule", fail)
    with pytest.raises(DiskFull):
        export_model(float32, target)
    after = {p.relative_to(target): p.read_bytes() for p in target.rglob("*") if p.is_file()}
    assert after == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export"]


@pytest.fixture(scope="module")
def training_run(tmp_path_factory, shared_data):
    """A training output directory as tf_simcse.train leaves it (best/, config.json, metrics.json)."""
    run = tmp_path_factory.mktemp("run")
    Encoder.from_pretrained(FIXTURES / "tiny_bert", pooler="avg", max_seq_length=SEQ_LENGTH).save_pretrained(
        run / "best"
    )
    korsts = f"korsts:dev={shared_data / 'korsts' / 'sts-dev.tsv'}"
    config = TrainConfig(
        model=str(FIXTURES / "tiny_bert"),
        objective="sup",
        pooler="avg",
        train_data=["kornli/xnli.dev.ko.tsv"],
        eval_data=[korsts],
        max_seq_length=SEQ_LENGTH,
        output_dir=str(run),
    )
    (run / "config.json").write_text(json.dumps(config.to_dict(), indent=2), encoding="utf-8")
    evaluation = {"step": 40, "korsts:dev/cosine_spearman": 12.34, "korsts:dev/cosine_pearson": 11.11}
    metrics = {
        "steps": 50,
        "selection_metric": "korsts:dev/cosine_spearman",
        "best_step": 40,
        "best_value": 12.34,
        "evaluations": [{"step": 0, "korsts:dev/cosine_spearman": 1.0}, evaluation],
    }
    (run / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")
    return run


def test_export_cli_on_a_training_run_replaces_an_earlier_export(
    training_run, mixed_precision_export, tmp_path, capsys
):
    from tf_simcse import export as export_cli

    target = tmp_path / "export"
    shutil.copytree(mixed_precision_export[0], target)  # an earlier export (XLM-R) to be replaced
    assert export_cli.main(["--model", str(training_run), "--output", str(target)]) == 0
    info = read_export_config(target)
    assert (info["pooler"], info["seq_length"], info["vocab_size"]) == ("avg", SEQ_LENGTH, 62)
    assert not (target / "preprocessor" / "assets" / "sentencepiece.bpe.model").exists()
    readme = (target / "README.md").read_text(encoding="utf-8")
    for expected in (
        f"| base checkpoint | {FIXTURES / 'tiny_bert'} |",
        "| objective | sup |",
        "| training data | `kornli/xnli.dev.ko.tsv` |",
        "best korsts:dev/cosine_spearman = 12.34 at step 40 of 50",
        "12.34",
        "11.11",
        "| `temperature` | `0.05` |",
    ):
        assert expected in readme, expected
    assert info["model_card"]["metrics"] == {"korsts:dev": {"cosine_spearman": 12.34, "cosine_pearson": 11.11}}

    # The similarity CLI on the export and on the run's checkpoint, against scikit-learn's cosine.
    from sklearn.metrics.pairwise import cosine_similarity

    from tf_simcse import similarity

    sentences = ["한 남자가 음식을 먹는다.", "한 남자가 빵 한 조각을 먹고 있다.", "원숭이 한 마리가 드럼을 연주한다."]
    expected = cosine_similarity(Encoder.from_pretrained(training_run).encode(sentences))
    capsys.readouterr()
    assert similarity.main(["--model", str(target), "--json", *sentences]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["sentences"] == sentences
    np.testing.assert_allclose(printed["similarity"], expected, atol=1e-4)
    # From the checkpoint (the run directory) instead of the export: the same figures.
    assert similarity.main(["--model", str(training_run), "--digits", "3", *sentences]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[:3] == [f"[{i}] {s}" for i, s in enumerate(sentences)]
    assert table[4].split() == ["[0]", "[1]", "[2]"]
    np.testing.assert_allclose([[float(x) for x in line.split()[1:]] for line in table[5:8]], expected, atol=6e-4)
