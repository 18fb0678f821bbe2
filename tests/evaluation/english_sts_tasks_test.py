"""The English STS tasks: spec parsing, SentEval's "all" figure and per-subset figures against scipy on the
encoder's own vectors, SentEval's whitespace normalization, and all-MiniLM-L6-v2 against sentence-transformers'
`EmbeddingSimilarityEvaluator` on the same pairs."""

import importlib.util
import json
import tarfile

import numpy as np
import pytest
from scipy import stats

from tests.conftest import FIXTURES, REPO_ROOT
from tf_simcse.data import english_sts
from tf_simcse.data.readers import SentencePairs
from tf_simcse.encoders.encoder import Encoder
from tf_simcse.evaluation import sts_scores
from tf_simcse.evaluation.tasks import TaskSpec, load_task_data, parse_task, run_task


def test_parse_english_task_forms(tmp_path):
    (tmp_path / "sts-test.csv").write_text("x")
    assert parse_task("stsb") == TaskSpec("stsb", "test", None)
    assert parse_task("sick_r:dev") == TaskSpec("sick_r", "dev", None)
    assert parse_task(f"sts14={tmp_path}") == TaskSpec("sts14", "test", str(tmp_path))
    assert parse_task(f"stsb:dev={tmp_path / 'sts-test.csv'}").label == "stsb:dev"
    with pytest.raises(ValueError, match="sts12 has one split, test"):
        parse_task("sts12:dev")
    with pytest.raises(ValueError, match="takes the folder of the year's files"):
        parse_task(f"sts13={tmp_path / 'sts-test.csv'}")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        parse_task(f"sts15={tmp_path / 'nope'}")


class _Recording:
    """The real encoder, recording the sentences it is asked to embed and the vectors it returned."""

    def __init__(self, encoder):
        self.encoder, self.seen, self.vectors = encoder, [], {}

    def encode(self, sentences, batch_size=64):
        vectors = self.encoder.encode(sentences, batch_size=batch_size)
        self.seen += list(sentences)
        self.vectors.update(zip(sentences, vectors))
        return vectors


@pytest.fixture(scope="module")
def tiny_encoder():
    return Encoder.from_pretrained(FIXTURES / "tiny_bert", pooler="avg", max_seq_length=32)


@pytest.mark.shared_data
def test_year_figures_are_senteval_all_and_per_subset(tiny_encoder, shared_data):
    folder = shared_data / "english_sts" / "semeval-sts" / "2016"
    task = parse_task(f"sts16={folder}")
    data = load_task_data(task)
    recording = _Recording(tiny_encoder)
    figures = run_task(recording, task, data=data)

    pairs = data.pairs()
    first = [" ".join(s.split()) for s in pairs.sentences1]
    second = [" ".join(s.split()) for s in pairs.sentences2]
    assert set(recording.seen) == set(first + second)  # SentEval's whitespace normalization, each sentence once
    assert len(recording.seen) == len(set(recording.seen))
    # The tiny model gives many sentences the same vector (exact cosine ties, broken by the last bit of rounding),
    # so the cosines are recomputed from the very vectors the task got, by the library's tested `sts_scores`.
    vectors = [np.array([recording.vectors[s] for s in side]) for side in (first, second)]
    cosine = sts_scores(*vectors)["cosine"]
    # SentEval "all": one Spearman over the concatenated scored pairs of the year.
    assert figures["cosine_spearman"] == pytest.approx(100 * stats.spearmanr(cosine, pairs.scores)[0], abs=1e-9)
    assert figures["cosine_pearson"] == pytest.approx(100 * stats.pearsonr(cosine, pairs.scores)[0], abs=1e-9)
    assert figures["num_pairs"] == 1186 and figures["num_unscored"] == 7997
    start = 0
    for subset, subset_pairs in data.subsets.items():
        part = slice(start, start + len(subset_pairs))
        start = part.stop
        expected = 100 * stats.spearmanr(cosine[part], subset_pairs.scores)[0]
        assert figures[f"{subset}/cosine_spearman"] == pytest.approx(expected, abs=1e-9), subset
        assert figures[f"{subset}/num_pairs"] == len(subset_pairs)
        assert figures[f"{subset}/num_unscored"] == data.unscored[subset]
    # "all" is not the mean of the subsets' correlations.
    mean = np.mean([figures[f"{s}/cosine_spearman"] for s in data.subsets])
    assert abs(figures["cosine_spearman"] - mean) > 0.1


def test_whitespace_is_normalized_before_encoding(tiny_encoder):
    pairs = SentencePairs(
        ["  A cat  sits. ", "Two\tdogs run.", "A man\u00a0sings."],
        ["A cat is sitting.", " Dogs are running.\n", "A woman dances."],
        np.array([4.0, 3.5, 0.5]),
    )
    recording = _Recording(tiny_encoder)
    run_task(recording, parse_task("stsb"), data=pairs)
    assert recording.seen == ["A cat sits.", "Two dogs run.", "A man sings.", "A cat is sitting.",
                              "Dogs are running.", "A woman dances."]


# ---------------------------------------------------------------- all-MiniLM-L6-v2 vs sentence-transformers

# About this many pairs per task (every k-th pair, the same ones for both): the full sets take ~15 minutes of
# 2-core CPU per library; their figures are in docs/results.md.
MAX_PAIRS = 40


def _reference_module():
    path = REPO_ROOT / "benchmarks" / "english_sts_reference.py"
    spec = importlib.util.spec_from_file_location("english_sts_reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _every_kth(data, step):
    """The library's data with every `step`-th pair kept, counted across the subsets of a year."""
    if isinstance(data, SentencePairs):
        return SentencePairs(data.sentences1[::step], data.sentences2[::step], data.scores[::step])
    subsets, offset = {}, 0
    for subset, pairs in data.subsets.items():
        first = (-offset) % step
        subsets[subset] = SentencePairs(pairs.sentences1[first::step], pairs.sentences2[first::step],
                                        pairs.scores[first::step])
        offset += len(pairs)
    return english_sts.SemEvalSTS(data.year, subsets, data.unscored, data.missing)


@pytest.mark.minilm
@pytest.mark.shared_data
@pytest.mark.slow
def test_minilm_english_sts_equals_sentence_transformers(minilm_dir, shared_data, tmp_path):
    st = pytest.importorskip("sentence_transformers", reason="sentence-transformers is the reference")
    reference = _reference_module()
    root = shared_data / "english_sts"
    with tarfile.open(root / "Stsbenchmark.tar.gz") as archive:
        archive.extractall(tmp_path, filter="data")
    paths = {
        "stsb": tmp_path / "stsbenchmark" / "sts-test.csv",
        "sick_r": root / "sick2014" / "SICK_test_annotated.txt",
        **{f"sts{y % 100}": root / "semeval-sts" / str(y) for y in range(2012, 2017)},
    }
    encoder = Encoder.from_pretrained(minilm_dir)  # sentence_bert_config: mean pooling, 256 tokens
    model = st.SentenceTransformer(str(minilm_dir), device="cpu")
    assert (encoder.pooler, encoder.max_seq_length, model.max_seq_length) == ("avg", 256, 256)
    for name, path in paths.items():
        their_pairs = reference.read_task(name, path)
        step = max(1, -(-len(their_pairs) // MAX_PAIRS))
        their_pairs = reference.every_kth(their_pairs, MAX_PAIRS)
        ours = _every_kth(load_task_data(parse_task(f"{name}={path}")), step)
        our_pairs = ours.pairs() if isinstance(ours, english_sts.SemEvalSTS) else ours
        # The same pairs, read by two parsers.
        assert our_pairs.sentences1 == [p[0] for p in their_pairs]
        assert our_pairs.sentences2 == [p[1] for p in their_pairs]
        np.testing.assert_array_equal(our_pairs.scores, [p[2] for p in their_pairs])
        figures = run_task(encoder, parse_task(f"{name}={path}"), data=ours)
        expected = reference.st_figures(model, their_pairs)
        print(f"{name}: {len(their_pairs)} pairs, ours {figures['cosine_spearman']:.3f}, "
              f"sentence-transformers {expected['cosine_spearman']:.3f}")
        # Both on the x100 scale: within 0.05 points.
        assert figures["cosine_spearman"] == pytest.approx(expected["cosine_spearman"], abs=0.05), name
        assert figures["cosine_pearson"] == pytest.approx(expected["cosine_pearson"], abs=0.05), name


@pytest.mark.shared_data
def test_reference_script_runs(shared_data, tmp_path):
    pytest.importorskip("sentence_transformers", reason="sentence-transformers is the reference")
    reference = _reference_module()
    out = tmp_path / "st.json"
    folder = shared_data / "english_sts" / "semeval-sts" / "2013"
    assert reference.main(["--model", str(FIXTURES / "tiny_bert"), "--task", f"sts13={folder}", "--max_pairs", "30",
                           "--output", str(out)]) == 0
    figures = json.loads(out.read_text())["tasks"]["sts13"]
    assert figures["num_pairs"] == 30 and -100 <= figures["cosine_spearman"] <= 100
