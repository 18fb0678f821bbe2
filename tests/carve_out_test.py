"""Carve-out slices (`tf_simcse.data.carve`): a selection split carved out of a training file by content hash.

On the real KorSTS `sts-train.tsv` (5,749 pairs, 5,700 distinct): `[:10%]` keeps 585 pairs (10.2%), `[10%:]` the
other 5,164. The same rule serves the evaluation tasks (`korsts:train[:10%]=PATH`, or from TFDS) and the training
loaders (`PATH[10%:]`, `tfds:korsts:train[10%:]`), so complementary slices split the file without a shared row.
"""

import collections
import hashlib
import json
import random
import re

import numpy as np
import pytest
import scipy.stats

from cli_errors_test import _error_line
from tests.conftest import FIXTURES
from tf_simcse import evaluate as evaluate_cli
from tf_simcse import train as train_cli
from tf_simcse.config import build_config
from tf_simcse.data import carve
from tf_simcse.data import readers
from tf_simcse.data.examples import load_training_examples
from tf_simcse.data.pairs import load_scored_pairs
from tf_simcse.data.specs import parse_data_spec
from tf_simcse.errors import UserInputError
from tf_simcse.evaluation.tasks import load_task_data, parse_task, run_task

pytestmark = pytest.mark.shared_data

TINY = FIXTURES / "tiny_bert"
KEPT_IN_FIRST_TENTH = 585  # of the 5,749 pairs of KorSTS sts-train.tsv


@pytest.fixture(scope="module")
def train_tsv(shared_data):
    return shared_data / "korsts" / "sts-train.tsv"


@pytest.fixture(scope="module")
def train_rows(train_tsv):
    data = readers.read_korsts(train_tsv)
    return list(zip(data.sentences1, data.sentences2, data.scores.tolist()))


def _rows(data):
    """The (sentence1, sentence2, score) rows of `SentencePairs` (evaluation) or `PairExamples` (training)."""
    first = getattr(data, "sentences1", None) or data.sentence1
    second = getattr(data, "sentences2", None) or data.sentence2
    return collections.Counter(zip(first, second, np.asarray(data.scores).tolist()))


def test_the_bucket_is_the_documented_hash():
    s1, s2 = "비행기가 이륙하고 있다.", "남자가 플루트를 연주하고 있다."
    digest = hashlib.sha256(f"{s1}\t{s2}".encode("utf-8")).digest()
    assert carve.bucket(s1, s2) == int.from_bytes(digest[:8], "big") % 100
    assert carve.bucket(s1) == int.from_bytes(hashlib.sha256(s1.encode("utf-8")).digest()[:8], "big") % 100


def test_the_kept_rows_do_not_depend_on_the_row_order(train_tsv, tmp_path):
    header, *lines = train_tsv.read_text(encoding="utf-8").splitlines()
    random.Random(0).shuffle(lines)
    shuffled = tmp_path / "sts-train-shuffled.tsv"
    shuffled.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    original = load_task_data(parse_task(f"korsts:train[:10%]={train_tsv}"))
    reordered = load_task_data(parse_task(f"korsts:train[:10%]={shuffled}"))
    assert len(original) == len(reordered) == KEPT_IN_FIRST_TENTH
    assert _rows(original) == _rows(reordered)
    assert _rows(load_scored_pairs(f"{train_tsv}[10%:]")) == _rows(load_scored_pairs(f"{shuffled}[10%:]"))


def test_complementary_slices_are_disjoint_cover_every_row_and_keep_about_a_tenth(train_tsv, train_rows):
    first = load_task_data(parse_task(f"korsts:train[:10%]={train_tsv}"))
    rest = load_task_data(parse_task(f"korsts:train[10%:]={train_tsv}"))
    assert len(first) + len(rest) == len(train_rows) == 5749
    assert _rows(first) + _rows(rest) == collections.Counter(train_rows)
    assert not set(zip(first.sentences1, first.sentences2)) & set(zip(rest.sentences1, rest.sentences2))
    assert len(first) == KEPT_IN_FIRST_TENTH  # 10.2%
    assert abs(len(first) / len(train_rows) - 0.10) < 0.01
    middle = load_task_data(parse_task(f"korsts:train[20%:30%]={train_tsv}"))
    buckets = [carve.bucket(s1, s2) for s1, s2 in zip(middle.sentences1, middle.sentences2)]
    assert buckets and all(20 <= b < 30 for b in buckets)


def test_identical_pairs_share_a_bucket(train_rows):
    by_pair = collections.defaultdict(list)
    for i, (s1, s2, _) in enumerate(train_rows):
        by_pair[(s1, s2)].append(i)
    repeated = {pair: rows for pair, rows in by_pair.items() if len(rows) > 1}
    assert len(repeated) >= 40  # KorSTS train repeats 49 rows
    for slice_ in (carve.CarveSlice(0, 10), carve.CarveSlice(10, 100), carve.CarveSlice(20, 30)):
        mask = slice_.keep_mask([r[0] for r in train_rows], [r[1] for r in train_rows])
        for rows in repeated.values():
            assert len({mask[i] for i in rows}) == 1


def test_evaluation_on_the_carve_out_scores_exactly_the_kept_pairs(train_tsv, train_rows, tmp_path, capsys):
    from tf_simcse.encoders.encoder import Encoder

    task = parse_task(f"korsts:train[:10%]={train_tsv}")
    assert task.label == "korsts:train[:10%]"
    data = load_task_data(task)
    kept = [row for row in train_rows if carve.bucket(row[0], row[1]) < 10]
    assert list(zip(data.sentences1, data.sentences2, data.scores.tolist())) == kept  # file order
    assert data.report["carve"] == {"slice": "[:10%]", "buckets": [0, 10], "rows_kept": KEPT_IN_FIRST_TENTH,
                                    "rows_carved_out": 5749 - KEPT_IN_FIRST_TENTH, "rows_total": 5749}

    encoder = Encoder.from_pretrained(TINY, pooler="avg", max_seq_length=32)
    figures = run_task(encoder, task, data=data)
    assert figures["num_pairs"] == KEPT_IN_FIRST_TENTH
    # The kept rows, embedded here as the task embeds a split (each distinct sentence once, in order of first
    # appearance, batch 64: the same vectors), scored with SciPy.
    first, second = [r[0] for r in kept], [r[1] for r in kept]
    unique = list(dict.fromkeys(first + second))
    vectors = dict(zip(unique, encoder.encode(unique, batch_size=64)))
    a = np.array([vectors[s] for s in first], dtype=np.float64)
    b = np.array([vectors[s] for s in second], dtype=np.float64)
    cosine = np.einsum("nd,nd->n", a, b) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    expected = 100.0 * scipy.stats.spearmanr(cosine, [r[2] for r in kept]).statistic
    assert figures["cosine_spearman"] == pytest.approx(expected, abs=1e-9)

    # Through the CLI: the figures are named with the slice and the kept rows are logged and reported.
    out = tmp_path / "metrics.json"
    assert evaluate_cli.main(["--model", str(TINY), "--pooler", "avg", "--task", f"korsts:train[:10%]={train_tsv}",
                              "--output", str(out)]) == 0
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["tasks"]["korsts:train[:10%]"]["num_pairs"] == KEPT_IN_FIRST_TENTH
    assert report["data"]["korsts:train[:10%]"]["carve"]["rows_kept"] == KEPT_IN_FIRST_TENTH
    assert f"korsts:train[:10%]: carve-out keeps {KEPT_IN_FIRST_TENTH} of 5749 rows" in capsys.readouterr().err


def test_training_data_with_the_complementary_slice_holds_exactly_the_other_rows(train_tsv, train_rows):
    evaluated = load_task_data(parse_task(f"korsts:train[:10%]={train_tsv}"))
    trained = load_scored_pairs(f"{train_tsv}[10%:]")
    assert len(trained) == 5749 - KEPT_IN_FIRST_TENTH
    assert _rows(evaluated) + _rows(trained) == collections.Counter(train_rows)
    assert not set(zip(evaluated.sentences1, evaluated.sentences2)) & set(zip(trained.sentence1, trained.sentence2))
    assert trained.report["sources"][0]["carve"]["rows_kept"] == 5749 - KEPT_IN_FIRST_TENTH
    assert trained.report["sources"][0]["spec"] == f"{train_tsv}[10%:]"


def test_sentence_and_nli_training_sources_take_the_slice_too(shared_data, train_rows, tmp_path):
    lines = [row[0] for row in train_rows]
    text = tmp_path / "sentences.txt"
    text.write_text("\n".join(lines) + "\n", encoding="utf-8")
    sentences = load_training_examples([f"{text}[:10%]"], "unsup")
    assert sentences.anchors == [s for s in lines if carve.bucket(s) < 10]
    assert sentences.report["sources"][0]["carve"]["rows_kept"] == len(sentences.anchors)

    nli = shared_data / "kornli" / "xnli.dev.ko.tsv"
    evaluated = load_task_data(parse_task(f"kornli:dev[:10%]={nli}"))  # premise, hypothesis rows
    trained = load_training_examples([f"{nli}[10%:]"], "pair")
    kept = trained.report["sources"][0]["carve"]
    assert kept["rows_total"] == len(readers.read_kornli(nli)) == 2490
    assert kept["rows_kept"] + len(evaluated) == 2490
    assert not set(zip(evaluated.premises, evaluated.hypotheses)) & set(zip(trained.anchors, trained.positives))


def test_tfds_and_the_file_carve_out_the_same_rows(shared_data, train_tsv, tmp_path):
    pytest.importorskip("tensorflow_datasets")
    from tfds_builders.prepare import prepare

    prepare("korsts", data_dir=str(tmp_path), manual_dir=str(shared_data / "korsts"), splits=["train"])
    from_tfds = load_task_data(parse_task("korsts:train[:10%]"), tfds_data_dir=str(tmp_path))
    from_file = load_task_data(parse_task(f"korsts:train[:10%]={train_tsv}"))
    assert (from_tfds.sentences1, from_tfds.sentences2) == (from_file.sentences1, from_file.sentences2)
    trained_tfds = load_scored_pairs("tfds:korsts:train[10%:]", tfds_data_dir=str(tmp_path))
    trained_file = load_scored_pairs(f"{train_tsv}[10%:]")
    assert (trained_tfds.sentence1, trained_tfds.sentence2) == (trained_file.sentence1, trained_file.sentence2)


def test_data_specs_carry_the_slice():
    spec = parse_data_spec("tfds:korsts:train[10%:]")
    assert (spec.split, spec.carve, str(spec)) == ("train", carve.CarveSlice(10, 100), "tfds:korsts:train[10%:]")
    assert parse_data_spec("tfds:kornli/snli:train[:1000]").carve is None  # TFDS's own row-count slicing
    with pytest.raises(UserInputError, match="carve-out"):
        parse_data_spec("tfds:kornli/snli:train[:10%]+test")


def test_training_selects_on_the_carve_out_it_does_not_train_on(train_tsv, tmp_path, capsys):
    out = tmp_path / "run"
    assert train_cli.main([str(a) for a in [
        "--objective", "cosent", "--model", TINY, "--pooler", "avg", "--batch_size", "16", "--max_steps", "2",
        "--eval_steps", "2", "--checkpoint_steps", "2", "--export", "false", "--output_dir", out,
        "--train_data", f"{train_tsv}[10%:]", "--eval_data", f"korsts:train[:10%]={train_tsv}",
    ]]) == 0
    report = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert report["selection_metric"] == "korsts:train[:10%]/cosine_spearman"
    assert report["train_examples"] == 5749 - KEPT_IN_FIRST_TENTH
    assert report["data_report"]["sources"][0]["carve"]["rows_kept"] == 5749 - KEPT_IN_FIRST_TENTH
    assert report["carve_outs"]["korsts:train[:10%]"]["rows_kept"] == KEPT_IN_FIRST_TENTH
    assert f"korsts:train[:10%]: carve-out keeps {KEPT_IN_FIRST_TENTH} of 5749 rows" in capsys.readouterr().err


def test_overlapping_selection_or_test_splits_are_one_error_line(train_tsv, tmp_path, capsys, monkeypatch):
    base = ["--model", TINY, "--objective", "cosent", "--output_dir", tmp_path / "run"]
    cases = [
        # the whole training file, selected on a part of it
        ([f"{train_tsv}"], [f"korsts:train[:10%]={train_tsv}"], [],
         r"config options 'eval_data' and 'train_data': .*reads rows the model trains on \(the same file, \[:10%\] "
         r"here and in full in train_data"),
        # overlapping slices of the same file, the training side named by a relative path
        (["sts-train.tsv[5%:]"], [f"korsts:train[:10%]={train_tsv}"], [], r"\[:10%\] here and \[5%:\] in train_data"),
        # the same TFDS split (nothing is read to judge it)
        (["tfds:korsts:train[10%:]"], ["korsts:train"], [], r"TFDS split korsts:train, in full here and \[10%:\]"),
        # a test split that shares rows with the selection split
        ([f"{train_tsv}[30%:]"], [f"korsts:train[:10%]={train_tsv}"], [f"korsts:train[5%:30%]={train_tsv}"],
         r"config option 'test_data': .*shares rows with the eval_data split"),
        # a test split that is part of the training data
        ([f"{train_tsv}[10%:]"], [f"korsts:train[:10%]={train_tsv}"], [f"korsts:train[50%:]={train_tsv}"],
         r"config options 'test_data' and 'train_data'"),
    ]
    monkeypatch.chdir(train_tsv.parent)
    for train, dev, test, expected in cases:
        argv = base + [x for t in train for x in ("--train_data", t)] + [x for t in dev for x in ("--eval_data", t)]
        argv += [x for t in test for x in ("--test_data", t)]
        message = _error_line(train_cli.main, argv, capsys)
        assert re.search(expected, message), message

    # Complementary slices pass, and so do [:10%] for selection with [10%:20%] reported at the end.
    config = build_config(overrides=dict(
        model=str(TINY), objective="cosent", output_dir=str(tmp_path / "ok"), train_data=[f"{train_tsv}[20%:]"],
        eval_data=[f"korsts:train[:10%]={train_tsv}"], test_data=[f"korsts:train[10%:20%]={train_tsv}"]))
    assert config.train_data == [f"{train_tsv}[20%:]"]


@pytest.mark.parametrize("bad_slice, expected", [
    ("[10:20]", r"bad carve-out slice '\[10:20\]': expected \[a%:b%\].*percentages with a % sign"),
    ("[30%:20%]", r"bad carve-out slice '\[30%:20%\]': the start 30% is not below the stop 20%"),
    ("[101%:]", r"bad carve-out slice '\[101%:\]': 101% is past 100%"),
])
def test_a_bad_slice_is_one_clear_error(bad_slice, expected, train_tsv, tmp_path, capsys):
    message = _error_line(evaluate_cli.main, ["--model", TINY, "--task", f"korsts:train{bad_slice}={train_tsv}"],
                          capsys)
    assert re.search(r"--task 'korsts:train.*" + expected, message), message
    message = _error_line(train_cli.main, ["--model", TINY, "--objective", "cosent", "--output_dir", tmp_path / "r",
                                           "--train_data", f"{train_tsv}{bad_slice}"], capsys)
    assert re.search(r"data spec '.*sts-train\.tsv.*" + expected, message), message
    message = _error_line(train_cli.main, ["--model", TINY, "--output_dir", tmp_path / "r", "--train_data",
                                           f"{train_tsv}[10%:]", "--eval_data", f"korsts:dev{bad_slice}"], capsys)
    assert re.search(r"config option 'eval_data': 'korsts:dev.*" + expected, message), message


def test_the_help_of_train_and_evaluate_names_the_slice():
    assert "carve-out slice [a%:b%]" in " ".join(train_cli.build_parser().format_help().split())
    assert "korsts:train[:10%]" in evaluate_cli.build_parser().format_help()
