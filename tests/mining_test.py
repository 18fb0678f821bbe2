"""Hard-negative mining: a hand-checked case, a brute-force NumPy reference on tiny-model embeddings, the CLI, and
(real MiniLM, real Korean question pairs) sentence-transformers' `mine_hard_negatives` with the matching options."""

import json

import numpy as np
import pytest

from tests.conftest import FIXTURES
from tf_simcse import mine as mine_cli
from tf_simcse.data.examples import load_training_examples
from tf_simcse.encoders.encoder import Encoder
from tf_simcse.mining import mine_hard_negatives

TINY = str(FIXTURES / "tiny_bert")


def _angles(table):
    """An `encode` that maps each text to the unit 2-D vector at its angle (degrees) in `table`."""

    def encode(texts):
        radians = np.deg2rad([table[t] for t in texts])
        return np.stack([np.cos(radians), np.sin(radians)], axis=1).astype(np.float32)

    return encode


def test_hand_checked_margin_window_and_exclusions():
    # cos(0°, x°): p1 at 20° -> 0.940; candidates: n_close 15° (0.966, above the positive), n_within 25°
    # (0.906: 0.906 + 0.1 > 0.940), n_ok 40° (0.766), n_far 60° (0.5). a2 (at 90°) has positive p2 at 80° (0.985).
    table = {"a1": 0, "p1": 20, "n_close": 15, "n_within": 25, "n_ok": 40, "n_far": 60, "a2": 90, "p2": 80}
    encode = _angles(table)
    corpus = ["n_close", "n_within", "n_ok", "n_far", "a1"]
    got = mine_hard_negatives(["a1", "a2"], ["p1", "p2"], encode=encode, corpus=corpus, top_k=4, margin=0.1)
    # a1's window, the 4 + 1 + 1 most similar of corpus + positives: a1 (its own text), n_close (margin), p1 (its
    # positive), n_within (margin), n_ok (kept), n_far. a2's: p2 (its positive), n_far (0.866 + 0.1 <= 0.985: kept),
    # ...
    assert list(zip(got.anchors, got.positives, got.hard_negatives)) == [("a1", "p1", "n_ok"), ("a2", "p2", "n_far")]
    np.testing.assert_allclose(got.negative_similarities, np.cos(np.deg2rad([40, 30])), atol=1e-6)
    np.testing.assert_allclose(got.positive_similarities, np.cos(np.deg2rad([20, 10])), atol=1e-6)
    assert got.report["anchors_kept"] == 2 and got.report["anchors_dropped"] == 0
    # Every window entry is examined (and counted when removed), also past the negatives kept.
    assert got.report["candidates_removed"] == {"anchor_text": 1, "margin": 2, "positive": 2}
    assert got.report["corpus"] == 7 and got.report["candidates"] == 2 * 6

    # A window too small to reach a survivor drops the anchor; two negatives per anchor give two triplets.
    small = mine_hard_negatives(["a1"], ["p1"], encode=encode, corpus=corpus, top_k=2, margin=0.1)
    assert len(small) == 0 and small.report["anchors_dropped"] == 1
    two = mine_hard_negatives(["a1"], ["p1"], encode=encode, corpus=corpus, top_k=6, margin=0.1, num_negatives=2)
    assert two.hard_negatives == ["n_ok", "n_far"]
    # An anchor with two rows: both positives excluded, the margin against the less similar one (p1 vs n_within).
    dup = mine_hard_negatives(["a1", "a1"], ["n_within", "p1"], encode=encode, corpus=corpus, top_k=4, margin=0.0)
    assert dup.anchors == ["a1", "a1"] and dup.positives == ["n_within", "p1"] and dup.hard_negatives == ["n_ok"] * 2
    # Relative margin: keep s <= p - |p| * r; with p = cos 20° and r = 0.02, n_within (0.906 <= 0.921) survives.
    rel = mine_hard_negatives(["a1"], ["p1"], encode=encode, corpus=corpus, top_k=4, margin=None, relative_margin=0.02)
    assert rel.hard_negatives == ["n_within"]


def test_bad_arguments():
    encode = _angles({"a": 0, "b": 1})
    for kwargs, message in [
        (dict(top_k=0), "top_k must be >= 1"),
        (dict(num_negatives=3, top_k=2), "num_negatives must be between 1 and top_k"),
        (dict(margin=-0.1), "margin must be >= 0"),
    ]:
        with pytest.raises(ValueError, match=message):
            mine_hard_negatives(["a"], ["b"], encode=encode, **kwargs)
    with pytest.raises(ValueError, match="1 anchors but 2 positives"):
        mine_hard_negatives(["a"], ["b", "a"], encode=encode)


def brute_force(anchors, positives, corpus, vectors, top_k, margin):
    """The module docstring's rule, one anchor at a time over a full sort of the corpus (float64)."""
    unique = list(dict.fromkeys(anchors))
    texts = list(dict.fromkeys((corpus if corpus is not None else positives) + positives))
    room = max(anchors.count(a) for a in unique) + 1  # the anchor's rows and its own text
    unit = {t: v / np.linalg.norm(v) for t, v in vectors.items()}
    triplets = []
    for a in unique:
        own = list(dict.fromkeys(p for x, p in zip(anchors, positives) if x == a))
        hardest = min(float(unit[a] @ unit[p]) for p in own)
        ranked = sorted(texts, key=lambda t: -float(unit[a] @ unit[t]))[: top_k + room]
        survivors = [t for t in ranked if t not in own and t != a and float(unit[a] @ unit[t]) + margin <= hardest]
        if survivors:
            triplets += [(a, p, survivors[0]) for p in own]
    return triplets


def _tiny_pairs():
    words = ("a", "an", "cat", "is", "man", "on", "playing", "the", "woman")
    rng = np.random.default_rng(0)
    sentences = list(dict.fromkeys(" ".join(rng.choice(words, size=rng.integers(2, 6))) for _ in range(80)))
    assert len(sentences) >= 66
    anchors, extra = sentences[:30], sentences[30:]
    positives = [f"{a} {words[i % len(words)]}" for i, a in enumerate(anchors)]  # the anchor and one more word
    anchors[5] = anchors[4]  # an anchor with two positives
    return anchors, positives, extra


@pytest.fixture(scope="module")
def tiny_encoder():
    return Encoder.from_pretrained(TINY, pooler="avg", max_seq_length=16)


# The tiny model's cosines crowd above 0.9, hence the small margins.
@pytest.mark.parametrize("with_corpus, top_k", [(False, 10), (True, 20)], ids=["positives", "with_corpus"])
def test_matches_brute_force_on_tiny_model_embeddings(tiny_encoder, with_corpus, top_k):
    anchors, positives, extra = _tiny_pairs()
    corpus = extra if with_corpus else None
    got = mine_hard_negatives(anchors, positives, encode=tiny_encoder.encode, corpus=corpus, top_k=top_k, margin=0.005)
    everything = list(dict.fromkeys(anchors + positives + extra))
    vectors = dict(zip(everything, tiny_encoder.encode(everything).astype(np.float64)))
    want = brute_force(anchors, positives, corpus, vectors, top_k=top_k, margin=0.005)
    assert 0 < len(want) < len(anchors)  # some anchors kept, some dropped: the rule is exercised both ways
    assert list(zip(got.anchors, got.positives, got.hard_negatives)) == want
    assert got.report["anchors_kept"] + got.report["anchors_dropped"] == len(set(anchors))


def test_cli_writes_a_supervised_training_file(tmp_path, tiny_encoder, capsys):
    anchors, positives, extra = _tiny_pairs()
    lines = ["question1\tquestion2\tis_duplicate"]
    lines += [f"{a}\t{p}\t0" for a, p in zip(anchors, positives)]
    lines += [f"{a}\t{p}\t1" for a, p in zip(extra[:3], extra[3:6])]  # "different": not mined
    (tmp_path / "pairs.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tmp_path / "corpus.txt").write_text("\n".join(extra) + "\n\n", encoding="utf-8")
    out, report = tmp_path / "triplets.csv", tmp_path / "report.json"
    argv = ["--model", TINY, "--pooler", "avg", "--max_seq_length", "16", "--input", str(tmp_path / "pairs.txt"),
            "--positive_label", "0", "--corpus", str(tmp_path / "corpus.txt"), "--output", str(out),
            "--top_k", "20", "--margin", "0.005", "--report", str(report)]
    assert mine_cli.main(argv) == 0
    want = mine_hard_negatives(anchors, positives, encode=tiny_encoder.encode, corpus=extra, top_k=20, margin=0.005)
    examples = load_training_examples([str(out)], "sup")
    assert (examples.anchors, examples.positives, examples.hard_negatives) == (
        want.anchors, want.positives, want.hard_negatives
    )
    assert json.loads(report.read_text())["anchors_kept"] == want.report["anchors_kept"]
    printed = capsys.readouterr().err
    assert f"kept {want.report['anchors_kept']}, dropped {want.report['anchors_dropped']}" in printed
    assert "30 pairs labelled same of 33" in printed and "1 blank lines skipped" in printed
    # .tsv output: tab-separated, read back the same.
    assert mine_cli.main(argv[:-2] + ["--output", str(tmp_path / "t.tsv")]) == 0
    assert load_training_examples([str(tmp_path / "t.tsv")], "sup").hard_negatives == want.hard_negatives


@pytest.mark.parametrize(
    "extra, content, message",
    [
        ([], None, "error: data file not found"),
        ([], "score\tsentence1\tsentence2\n1\ta\tb\n", "error: .*scored pairs have no positives"),
        (["--top_k", "0"], "sent0,sent1\na,b\n", "error: --top_k must be >= 1"),
        (["--margin", "-1"], "sent0,sent1\na,b\n", "error: --margin must be >= 0"),
        (["--positive_label", "0"], "sent0,sent1\na,b\n", "error: .*apply to labelled-pair files only"),
        (["--margin", "2"], "sent0,sent1\na man,the cat\n", "error: no anchor kept a hard negative"),
    ],
)
def test_cli_errors(tmp_path, extra, content, message):
    path = tmp_path / "in.csv"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    argv = ["--model", TINY, "--input", str(path), "--output", str(tmp_path / "o.csv"), *extra]
    with pytest.raises(SystemExit, match=message):
        mine_cli.main(argv)


@pytest.mark.minilm
@pytest.mark.shared_data
def test_matches_sentence_transformers_mine_hard_negatives(minilm_dir, shared_data, tmp_path):
    st = pytest.importorskip("sentence_transformers")
    datasets = pytest.importorskip("datasets")
    from sentence_transformers.util import mine_hard_negatives as st_mine

    from tf_simcse.data.pairs import load_labelled_pairs
    from tf_simcse.data.readers import read_korsts

    qp = load_labelled_pairs(shared_data / "question_pair" / "train.txt", positive_label="0")
    same = [(a, b) for a, b, y in zip(qp.sentence1, qp.sentence2, qp.labels) if y == 1 and a != b][:60]
    anchors, positives = [a for a, _ in same], [b for _, b in same]
    sts = read_korsts(shared_data / "korsts" / "sts-dev.tsv")
    corpus = list(dict.fromkeys(sts.sentences1[:30]))
    top_k, margin = 10, 0.1

    reference = st.SentenceTransformer(str(minilm_dir), device="cpu")
    reference.max_seq_length = 128
    mined = st_mine(
        datasets.Dataset.from_dict({"anchor": anchors, "positive": positives}),
        reference,
        corpus=corpus,
        range_min=0,
        range_max=top_k,
        absolute_margin=margin,
        num_negatives=1,
        sampling_strategy="top",
        output_format="triplet",
        use_faiss=False,
        verbose=False,
        cache_folder=str(tmp_path),  # keeps the embeddings it mined with
    )
    st_triplets = list(zip(mined["anchor"], mined["positive"], mined["negative"]))
    assert 0 < len(st_triplets) < len(anchors)

    # The rule: fed the very embeddings sentence-transformers mined with (its cache: the distinct anchors, and
    # corpus + positives deduplicated), the same triplets in the same order.
    st_vectors = {}
    for kind, texts in (("query", list(dict.fromkeys(anchors))), ("corpus", list(dict.fromkeys(corpus + positives)))):
        (cached,) = tmp_path.glob(f"{kind}_embeddings_*.npy")
        st_vectors.update(zip(texts, np.load(cached)))
    st_encode = lambda texts: np.stack([st_vectors[t] for t in texts])  # noqa: E731
    same_rule = mine_hard_negatives(anchors, positives, encode=st_encode, corpus=corpus, top_k=top_k, margin=margin)
    assert list(zip(same_rule.anchors, same_rule.positives, same_rule.hard_negatives)) == st_triplets

    # The whole path with tf_simcse's encoder: the embeddings agree to ~1e-6, so the decisions agree except where
    # a similarity sits at a margin threshold or ties another candidate.
    encoder = Encoder.from_pretrained(str(minilm_dir), pooler="avg", max_seq_length=128)
    ours = mine_hard_negatives(anchors, positives, encode=encoder.encode, corpus=corpus, top_k=top_k, margin=margin)
    ours_triplets = list(zip(ours.anchors, ours.positives, ours.hard_negatives))
    differing = set(ours_triplets) ^ set(st_triplets)
    print(f"\nST: {len(st_triplets)} triplets, tf_simcse: {len(ours_triplets)}, differing: {len(differing)}")
    assert len(differing) <= max(2, len(st_triplets) // 50), differing
