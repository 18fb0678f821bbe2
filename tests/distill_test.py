"""`--objective distill`: students made of some of a model's layers, teacher embeddings computed once and cached,
and a projection when the teacher is wider (trained, and not part of the exported student)."""

import json
import shutil

import numpy as np
import pytest

from _tiny import Kill, kill_after
from tests.conftest import FIXTURES
from tf_simcse.config import build_config
from tf_simcse.data.distillation import CACHE_INFO_FILE
from tf_simcse.encoders.encoder import Encoder
from tf_simcse.encoders.students import keep_layers
from tf_simcse.errors import UserInputError
from tf_simcse.trainer import Trainer

SENTENCES = ["한 남자가 음식을 먹는다.", "A man is playing a guitar.", "두 남자가 체스를 두고 있다."]


def test_a_student_of_some_layers_is_transformers_with_those_layers():
    torch = pytest.importorskip("torch", reason="torch (extra 'reference') not installed")
    transformers = pytest.importorskip("transformers", reason="transformers (extra 'reference') not installed")
    encoder = Encoder.from_pretrained(FIXTURES / "tiny_bert", pooler="avg", max_seq_length=24)
    student = keep_layers(encoder, [1])
    assert len(student.backbone.transformer_layers) == 1 and len(encoder.backbone.transformer_layers) == 2
    reference = transformers.BertModel.from_pretrained(str(FIXTURES / "tiny_bert")).eval()
    reference.encoder.layer = torch.nn.ModuleList([reference.encoder.layer[1]])
    inputs = encoder.preprocessor(np.array(SENTENCES))
    with torch.no_grad():
        expected = reference(**{
            name: torch.tensor(inputs[key].numpy())
            for name, key in (("input_ids", "input_word_ids"), ("attention_mask", "input_mask"),
                              ("token_type_ids", "input_type_ids"))
        }).last_hidden_state.numpy()
    got = student.backbone(student.backbone_inputs(inputs))["sequence_output"].numpy()
    real = inputs["input_mask"].numpy().astype(bool)
    assert np.abs(got - expected)[real].max() < 1e-5
    np.testing.assert_array_equal(keep_layers(encoder, [0, 1]).encode(SENTENCES), encoder.encode(SENTENCES))
    with pytest.raises(UserInputError, match="increasing, distinct indices in 0..1"):
        keep_layers(encoder, [1, 0])


def _config(tmp_path, shared_data, name, **overrides):
    values = dict(model=str(FIXTURES / "tiny_bert"), objective="distill", teacher=str(FIXTURES / "tiny_bert"),
                  pooler="avg", train_data=[str(shared_data / "korsts" / "sts-dev.tsv")],
                  output_dir=str(tmp_path / name), strategy="cpu", batch_size=32, max_seq_length=24, max_steps=3,
                  checkpoint_steps=1, learning_rate=1e-3, seed=3, export=False, student_layers="1")
    values.update(overrides)
    return build_config(values)


@pytest.mark.shared_data
def test_distillation_caches_the_teacher_and_resumes(shared_data, tmp_path):
    """A 1-layer student of tiny_bert learns the full tiny_bert's embeddings of the KorSTS dev sentences."""
    config = _config(tmp_path, shared_data, "run")
    first = Trainer(config)
    with pytest.raises(Kill):
        first.run(callbacks=[kill_after(first, 2)])
    assert not first.teacher.cached
    sentences = first.examples.anchors
    assert len(sentences) == len(set(sentences)) and first.examples.report["duplicates_dropped"] > 0
    teacher = Encoder.from_pretrained(FIXTURES / "tiny_bert", max_seq_length=24)
    np.testing.assert_allclose(first.teacher.embeddings, teacher.encode(sentences), atol=1e-6)
    info = json.loads((tmp_path / "run" / CACHE_INFO_FILE).read_text())
    assert info["sentences"] == len(sentences) and info["dim"] == 32

    resumed = Trainer(config)
    report = resumed.run()
    assert resumed.teacher.cached and report["steps"] == 3
    assert len(resumed.encoder.backbone.transformer_layers) == 1 and resumed.model.projection is None
    losses = [x for _, x in json.loads((tmp_path / "run" / "trainer_state.json").read_text())["losses"]]
    assert len(losses) == 3 and all(np.isfinite(losses))


@pytest.mark.shared_data
def test_a_wider_teacher_gets_a_projection_that_is_not_exported(shared_data, tmp_path):
    transformers = pytest.importorskip("transformers", reason="transformers (extra 'reference') not installed")
    teacher_dir = tmp_path / "wide_teacher"
    config = transformers.BertConfig(vocab_size=62, hidden_size=48, num_hidden_layers=1, num_attention_heads=4,
                                     intermediate_size=64, max_position_embeddings=40)
    transformers.BertModel(config).save_pretrained(str(teacher_dir), safe_serialization=True)
    shutil.copy(FIXTURES / "tiny_bert" / "vocab.txt", teacher_dir / "vocab.txt")
    trainer = Trainer(_config(tmp_path, shared_data, "wide", teacher=str(teacher_dir), max_steps=2,
                              checkpoint_steps=2, student_layers=None))
    report = trainer.run()
    assert report["steps"] == 2
    assert trainer.teacher.embeddings.shape[1] == 48
    assert trainer.model.projection is not None and trainer.model.projection.kernel.shape == (32, 48)
    best = Encoder.from_pretrained(tmp_path / "wide" / "best")
    assert best.hidden_dim == 32 and best.encode(SENTENCES).shape == (3, 32)


def test_distill_needs_a_teacher(tmp_path):
    with pytest.raises(UserInputError, match="'teacher': required with objective 'distill'"):
        build_config(dict(model="m", objective="distill", train_data=["x.txt"], output_dir=str(tmp_path)))


@pytest.mark.shared_data
def test_distillation_learns_from_every_sentence_of_its_sources(shared_data, tmp_path):
    """NLI rows give their premise AND hypothesis, pair files both sides, sentence files every line; distinct,
    first occurrence first, blanks skipped and counted (the files read independently here with the csv module)."""
    import csv

    from tf_simcse.data.distillation import load_distillation_sentences

    nli, sts = shared_data / "kornli" / "xnli.dev.ko.tsv", shared_data / "korsts" / "sts-train.tsv"
    lines = tmp_path / "lines.txt"
    lines.write_text("첫 문장.\n\n한 남자가 음식을 먹는다.\n", encoding="utf-8")
    expected = []
    with open(nli, encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
            expected += [row["sentence1"], row["sentence2"]]
    with open(sts, encoding="utf-8", newline="") as f:
        scored = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    expected += [row["sentence1"] for row in scored] + [row["sentence2"] for row in scored]  # a pair file: column by column
    expected += ["첫 문장.", "한 남자가 음식을 먹는다."]
    examples = load_distillation_sentences([str(nli), str(sts), str(lines)])
    assert examples.anchors == list(dict.fromkeys(expected))
    report = examples.report
    assert [s["sentences"] for s in report["sources"]] == [2 * 2490, 2 * 5749, 2]
    assert report["sources"][0]["rows_read"] == 2490 and report["sources"][2]["rows_skipped"] == {"empty_sentence": 1}
    assert report["examples"] == len(examples.anchors) and report["duplicates_dropped"] == len(expected) - len(
        examples.anchors)
