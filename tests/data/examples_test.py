"""Tests for `tf_simcse.data.examples.load_training_examples` on the real KorNLI / KorSTS files and small
hand-written files (quoted CSV, skipped rows), plus TFDS sources prepared from tiny builders."""

import pytest

from tf_simcse.data.examples import load_training_examples

NLI_HEADER = "sentence1\tsentence2\tgold_label\n"

# The one premise that KorNLI's XNLI dev and test share (two English premises, one Korean translation).
SHARED_PREMISE = (
    "이번 주 엔콰이어는 켄 스타의 이 위대한 연애 사건에 대한 보고서의 미리 보기를 제공하는데, 이 보고서는 "
    "대통령 리무진, 대통령 집무실, 심지어 링컨 베드룸에서도 이야기들을 열거할 것이다!"
)


@pytest.fixture(scope="module")
def xnli(shared_data):
    kornli = shared_data / "kornli"
    return [str(kornli / "xnli.dev.ko.tsv"), str(kornli / "xnli.test.ko.tsv")]


# ------------------------------------------------------------------------------------------- real KorNLI
@pytest.mark.shared_data
def test_kornli_xnli_dev_test_give_2499_triplets(xnli):
    ex = load_training_examples(xnli, "sup")
    assert len(ex) == len(ex.positives) == len(ex.hard_negatives) == 2499
    # Upstream rows 2-4 of xnli.dev.ko.tsv: neutral, contradiction, entailment for the first premise.
    assert (ex.anchors[0], ex.positives[0], ex.hard_negatives[0]) == (
        '그리고 그가 말했다, "엄마, 저 왔어요."',
        "그는 엄마에게 집에 갔다고 말했다.",
        "그는 한마디도 하지 않았다.",
    )
    # The last premise of xnli.test.ko.tsv.
    assert (ex.anchors[-1], ex.positives[-1], ex.hard_negatives[-1]) == (
        "25달러에 20만 단어의 평균 소설은 달러당 8,000단어로 적용된다.",
        "25달러짜리 20만 단어 소설은 달러당 8,000 단어다.",
        "25달러짜리 20만 단어 소설은 달러당 4천 단어다.",
    )
    # The shared premise (dev lines 1979-1981, test lines 4052-4054) is one group: its first entailment and
    # first contradiction in reading order, i.e. the dev ones, at its first position (dev premise 660).
    assert ex.anchors.count(SHARED_PREMISE) == 1
    i = ex.anchors.index(SHARED_PREMISE)
    assert i == 659
    assert (ex.positives[i], ex.hard_negatives[i]) == ("기술은 우리를 가속화 시켰다.", "기술은 우리를 도우려고 아무것도 하지 않았다.")

    report = ex.report
    assert report["rows_read"] == 7500 and report["rows_skipped"] == {}
    assert report["triplets"] == report["examples"] == 2499
    assert [s["rows_read"] for s in report["sources"]] == [2490, 5010]
    assert report["nli"] == {
        "premises": 2499,
        "premises_used": 2499,
        "entailment_rows": 2500,
        "contradiction_rows": 2500,
        "neutral_rows": 2500,
        "premises_without_entailment": 0,
        "premises_without_contradiction": 0,
        "premises_with_several_entailments": 1,
        "premises_with_several_contradictions": 1,
        "unused_entailments": 1,
        "unused_contradictions": 1,
    }


@pytest.mark.shared_data
def test_kornli_grouping_spans_files_and_follows_reading_order(xnli):
    # Per file there are 830 + 1670 = 2500 premises; only pooling the files finds the shared one.
    assert [len(load_training_examples([path], "sup")) for path in xnli] == [830, 1670]
    reverse = load_training_examples(xnli[::-1], "sup")
    assert len(reverse) == 2499
    i = reverse.anchors.index(SHARED_PREMISE)
    assert i == 1350  # test lines 4052-4054 hold the 1351st premise of that file
    # Test file first: the shared premise now takes the test file's hypotheses.
    assert (reverse.positives[i], reverse.hard_negatives[i]) == (
        "인콰이어러는 백악관에 대한 정보를 가지고 있었다.",
        "인콰이어러는 클린턴에 관한 사건에 관해 이야기하지 않았다.",
    )


@pytest.mark.shared_data
def test_kornli_for_pair_and_unsup(xnli):
    pair = load_training_examples(xnli, "pair")
    assert len(pair) == 2499 and pair.hard_negatives is None
    assert (pair.anchors[0], pair.positives[0]) == ('그리고 그가 말했다, "엄마, 저 왔어요."', "그는 엄마에게 집에 갔다고 말했다.")
    assert pair.report["pairs"] == 2499 and pair.report["nli"]["unused_entailments"] == 1
    assert pair.report["nli"]["unused_contradictions"] == 0  # contradictions are not used for pairs

    unsup = load_training_examples(xnli, "unsup")
    assert unsup.positives is None and unsup.hard_negatives is None
    assert len(unsup) == len(set(unsup.anchors)) == 2499  # the distinct premises
    assert unsup.anchors[:2] == [
        '그리고 그가 말했다, "엄마, 저 왔어요."',
        "내가 무엇을 위해 가고 있는지 또는 어떤 것을 위해 있는지 몰랐기 때문에 워싱턴의 지정된 장소에 보고해야 했습니다.",
    ]


def test_nli_rows_skipped_and_grouping_cases_are_counted(tmp_path):
    path = tmp_path / "nli.tsv"
    path.write_text(
        NLI_HEADER
        + "p1\th1e\tentailment\n"
        + "p1\th1c\tcontradiction\n"
        + "p1\th1n\tneutral\n"
        + "p2\th2e\tentailment\n"  # no contradiction: pair only
        + "p2\t \tcontradiction\n"  # blank hypothesis: skipped
        + "p3\th3c\tcontradiction\n"  # no entailment: nothing
        + "p4\th4x\t-\n"  # SNLI's no-majority label: skipped
        + "p4\th4y\tEntailment\n"  # labels are exact
        + "p1\th1e2\tentailment\n"  # a second entailment for p1, later in the file
        + "p5\th5c\tcontradiction\n"
        + "p5\th5e\tentailment\n",  # order of labels within a group does not matter
        encoding="utf-8",
    )
    sup = load_training_examples([str(path)], "sup")
    assert list(zip(sup.anchors, sup.positives, sup.hard_negatives)) == [("p1", "h1e", "h1c"), ("p5", "h5e", "h5c")]
    assert sup.report["rows_read"] == 11
    assert sup.report["rows_skipped"] == {"bad_label": 2, "empty_sentence": 1}
    assert sup.report["sources"][0]["rows_skipped"] == {"bad_label": 2, "empty_sentence": 1}
    nli = sup.report["nli"]
    assert nli["premises"] == 4  # p1, p2, p3, p5 (p4 had no valid row)
    assert nli["premises_used"] == 2
    assert nli["premises_without_entailment"] == 1 and nli["premises_without_contradiction"] == 1
    assert nli["premises_with_several_entailments"] == 1 and nli["unused_entailments"] == 1
    assert nli["neutral_rows"] == 1

    pair = load_training_examples([str(path)], "pair")
    assert list(zip(pair.anchors, pair.positives)) == [("p1", "h1e"), ("p2", "h2e"), ("p5", "h5e")]


# ---------------------------------------------------------------------------------------- sentence files
@pytest.mark.shared_data
def test_korsts_sentences_as_an_unsupervised_text_corpus(shared_data, tmp_path):
    from tf_simcse.data.readers import read_korsts

    sts = read_korsts(shared_data / "korsts" / "sts-train.tsv")
    sentences = sts.sentences1 + sts.sentences2
    assert len(sentences) == 11498
    corpus = tmp_path / "korsts_sentences.txt"
    # Two blank lines (one whitespace-only) in the middle: skipped and counted.
    corpus.write_text("\n".join(sentences[:100] + ["", "   "] + sentences[100:]) + "\n", encoding="utf-8")
    ex = load_training_examples([str(corpus)], "unsup")
    assert ex.anchors == sentences  # every line, duplicates kept, in file order
    assert ex.report["rows_read"] == 11500
    assert ex.report["rows_skipped"] == {"empty_sentence": 2}
    assert ex.report["sentences"] == 11498
    assert ex.report["sources"][0]["format"] == "text"

    for objective in ("sup", "pair"):
        message = rf"korsts_sentences\.txt: objective '{objective}' needs .*single sentences"
        with pytest.raises(ValueError, match=message):
            load_training_examples([str(corpus)], objective)


def test_quoted_csv_with_commas_quotes_and_newlines(tmp_path):
    path = tmp_path / "nli_for_simcse.csv"
    # Written by hand (not by the csv module) so that the reader is checked against the CSV quoting rules.
    path.write_bytes(
        (
            "sent0,sent1,hard_neg\r\n"
            '"A man, a plan, a canal.","He said ""hi"", then left.","No, ""never""."\r\n'
            'plain anchor,plain positive,plain negative\r\n'
            '"two\nlines",세 번째,"네 번째, 마지막"\r\n'
            'empty positive,"",negative\r\n'
            'no negative,positive,\r\n'
            '"  ",blank anchor,negative\r\n'
        ).encode("utf-8")
    )
    sup = load_training_examples([str(path)], "sup")
    assert list(zip(sup.anchors, sup.positives, sup.hard_negatives)) == [
        ("A man, a plan, a canal.", 'He said "hi", then left.', 'No, "never".'),
        ("plain anchor", "plain positive", "plain negative"),
        ("two\nlines", "세 번째", "네 번째, 마지막"),
    ]
    assert sup.report["rows_read"] == 6 and sup.report["rows_skipped"] == {"empty_sentence": 3}
    assert sup.report["sources"][0]["format"] == "pairs_csv"

    pair = load_training_examples([str(path)], "pair")  # the hard negative is not needed: 'no negative' stays
    assert pair.anchors == ["A man, a plan, a canal.", "plain anchor", "two\nlines", "no negative"]
    assert pair.positives[-1] == "positive" and pair.report["rows_skipped"] == {"empty_sentence": 2}

    unsup = load_training_examples([str(path)], "unsup")
    assert unsup.anchors == ["A man, a plan, a canal.", "plain anchor", "two\nlines", "empty positive", "no negative"]


def test_tsv_pairs_without_hard_negatives(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text('sent1\tsent0\nb, "quoted"\ta\nd\tc\n', encoding="utf-8")
    pair = load_training_examples([str(path)], "pair")
    assert list(zip(pair.anchors, pair.positives)) == [("a", 'b, "quoted"'), ("c", "d")]
    with pytest.raises(ValueError, match=r"pairs\.tsv: objective 'sup' needs a hard_neg column"):
        load_training_examples([str(path)], "sup")


def test_malformed_csv_rows_are_errors_with_line_numbers(tmp_path):
    short = tmp_path / "short.csv"
    short.write_text("sent0,sent1,hard_neg\na,b,c\n\"x\ny\",b\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"short\.csv: line 4: expected 3 fields \(sent0, sent1, hard_neg\), found 2"):
        load_training_examples([str(short)], "sup")
    quoting = tmp_path / "quoting.csv"
    quoting.write_text('sent0,sent1\na,b\nc,"d"e\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"quoting\.csv: line 3: malformed CSV"):
        load_training_examples([str(quoting)], "pair")


@pytest.mark.shared_data
def test_several_sources_keep_their_order(tmp_path, xnli):
    csv_path = tmp_path / "first.csv"
    csv_path.write_text("sent0,sent1,hard_neg\na,b,c\n", encoding="utf-8")
    ex = load_training_examples([str(csv_path), xnli[0]], "sup")
    assert len(ex) == 831 and (ex.anchors[0], ex.anchors[1]) == ("a", '그리고 그가 말했다, "엄마, 저 왔어요."')
    assert [s["format"] for s in ex.report["sources"]] == ["pairs_csv", "nli_tsv"]


def test_bad_arguments_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="objective must be one of"):
        load_training_examples(["x.txt"], "supervised")
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        load_training_examples([str(tmp_path / "missing.txt")], "unsup")
    with pytest.raises(ValueError, match="no training data"):
        load_training_examples([], "unsup")
    only_neutral = tmp_path / "neutral.tsv"
    only_neutral.write_text(NLI_HEADER + "p\th\tneutral\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no triplets could be built for objective 'sup' from .*neutral.tsv"):
        load_training_examples([str(only_neutral)], "sup")


# ------------------------------------------------------------------------------------------------- TFDS
@pytest.fixture(scope="module")
def tfds_dir(tmp_path_factory):
    """A data_dir with three tiny datasets prepared by real TFDS builders (one per feature family)."""
    tfds = pytest.importorskip("tensorflow_datasets")

    def builder_class(class_name, features, rows):
        def _info(self):
            return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict(features))

        def _split_generators(self, dl_manager):
            return {"train": self._generate_examples()}

        def _generate_examples(self):
            for i, row in enumerate(rows):
                yield i, row

        namespace = {
            "VERSION": tfds.core.Version("1.0.0"),
            "_info": _info,
            "_split_generators": _split_generators,
            "_generate_examples": _generate_examples,
        }
        return type(class_name, (tfds.core.GeneratorBasedBuilder,), namespace)

    text = tfds.features.Text()
    builders = [
        builder_class("SimcseTestSentences", {"text": text}, [{"text": "첫 문장"}, {"text": "둘째, \"문장\""}]),
        builder_class(
            "SimcseTestNli",
            {
                "premise": text,
                "hypothesis": text,
                "label": tfds.features.ClassLabel(names=["entailment", "neutral", "contradiction"]),
            },
            [
                {"premise": "p", "hypothesis": "c", "label": 2},
                {"premise": "p", "hypothesis": "n", "label": 1},
                {"premise": "p", "hypothesis": "e", "label": 0},
                {"premise": "q", "hypothesis": "x", "label": -1},  # TFDS's "no label"
            ],
        ),
        builder_class(
            "SimcseTestTriplets",
            {"sent0": text, "sent1": text, "hard_neg": text},
            [{"sent0": "a", "sent1": "b", "hard_neg": "c"}, {"sent0": "d", "sent1": "e", "hard_neg": ""}],
        ),
    ]
    data_dir = tmp_path_factory.mktemp("tfds")
    for cls in builders:
        cls(data_dir=str(data_dir)).download_and_prepare()
    # Registered but never prepared: the "not prepared" error.
    builder_class("SimcseTestUnprepared", {"text": text}, [{"text": "x"}])
    return str(data_dir)


def test_tfds_sources(tfds_dir):
    sentences = load_training_examples(["tfds:simcse_test_sentences:train"], "unsup", tfds_data_dir=tfds_dir)
    assert sorted(sentences.anchors) == sorted(["첫 문장", '둘째, "문장"'])
    assert sentences.report["sources"][0]["format"] == "tfds/text"

    nli = load_training_examples(["tfds:simcse_test_nli:train"], "sup", tfds_data_dir=tfds_dir)
    assert (nli.anchors, nli.positives, nli.hard_negatives) == (["p"], ["e"], ["c"])
    assert nli.report["rows_read"] == 4 and nli.report["rows_skipped"] == {"bad_label": 1}

    triplets = load_training_examples(["tfds:simcse_test_triplets:train"], "sup", tfds_data_dir=tfds_dir)
    assert (triplets.anchors, triplets.positives, triplets.hard_negatives) == (["a"], ["b"], ["c"])
    assert triplets.report["rows_skipped"] == {"empty_sentence": 1}
    pairs = load_training_examples(["tfds:simcse_test_triplets:train[:2]"], "pair", tfds_data_dir=tfds_dir)
    assert sorted(zip(pairs.anchors, pairs.positives)) == [("a", "b"), ("d", "e")]


def test_tfds_errors_are_clear(tfds_dir):
    message = r"tfds:simcse_test_unprepared:train: TFDS dataset 'simcse_test_unprepared' is not prepared"
    with pytest.raises(ValueError, match=message):
        load_training_examples(["tfds:simcse_test_unprepared:train"], "unsup", tfds_data_dir=tfds_dir)
    with pytest.raises(ValueError, match=r"TFDS knows no dataset 'no_such_corpus_xyz'") as e:
        load_training_examples(["tfds:no_such_corpus_xyz:train"], "unsup", tfds_data_dir=tfds_dir)
    assert len(str(e.value)) < 400  # not TFDS's list of every dataset
    with pytest.raises(ValueError, match=r"cannot read split 'dev'"):
        load_training_examples(["tfds:simcse_test_sentences:dev"], "unsup", tfds_data_dir=tfds_dir)
    with pytest.raises(ValueError, match="single sentences"):
        load_training_examples(["tfds:simcse_test_sentences:train"], "sup", tfds_data_dir=tfds_dir)
