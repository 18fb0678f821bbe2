"""sentence-transformers' figures on the English STS tasks, to set beside `python -m tf_simcse.evaluate`'s.

The upstream files are parsed here with plain Python (not with tf_simcse's readers), each sentence is
whitespace-normalized as SentEval does (`" ".join(s.split())`), and every task is scored by
sentence-transformers' `EmbeddingSimilarityEvaluator` (cosine): STS-B and SICK-R on the given file, a SemEval
year on the scored pairs of SentEval's subsets concatenated (SentEval's "all"). Figures are x 100.

    python benchmarks/english_sts_reference.py --model "$MINILM" \\
        --task stsb=$STS/stsbenchmark/sts-test.csv --task sick_r=$STS/sick2014/SICK_test_annotated.txt \\
        --task sts12=$STS/semeval-sts/2012 ... --output st_english_sts.json

Task forms: `stsb=sts-{train,dev,test}.csv` (the STS benchmark CSV), `sick_r=SICK_*.txt` (a SemEval-2014 SICK
file), `sts12=DIR` ... `sts16=DIR` (a brmson/dataset-sts year folder of `<subset>.test.tsv`). `--max_pairs K`
keeps every `ceil(n / K)`-th pair of a task (in file order, across the subsets of a year), for quick checks.
"""

import argparse
import json
import math
import os
import pathlib
import sys

# SentEval's subsets per year (written out here independently of tf_simcse).
YEAR_SUBSETS = {
    "sts12": ("MSRpar", "MSRvid", "SMTeuroparl", "OnWN", "SMTnews"),
    "sts13": ("FNWN", "headlines", "OnWN"),
    "sts14": ("deft-forum", "deft-news", "headlines", "images", "OnWN", "tweet-news"),
    "sts15": ("answers-forums", "answers-students", "belief", "headlines", "images"),
    "sts16": ("answer-answer", "headlines", "plagiarism", "postediting", "question-question"),
}


def _lines(path):
    text = pathlib.Path(path).read_bytes().decode("utf-8")
    lines = text.split("\n")
    while lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def read_task(name, path):
    """`[(sentence1, sentence2, score)]` of a task, scored pairs only, in file order."""
    if name == "stsb":
        return [(f[5], f[6], float(f[4])) for f in (line.split("\t") for line in _lines(path))]
    if name == "sick_r":
        lines = _lines(path)
        header = lines[0].split("\t")
        a, b, s = header.index("sentence_A"), header.index("sentence_B"), header.index("relatedness_score")
        return [(f[a], f[b], float(f[s])) for f in (line.split("\t") for line in lines[1:])]
    pairs = []
    for subset in YEAR_SUBSETS[name]:
        file = pathlib.Path(path) / f"{subset}.test.tsv"
        if file.exists():
            pairs += [(f[1], f[2], float(f[0])) for f in (line.split("\t") for line in _lines(file)) if f[0].strip()]
    return pairs


def every_kth(pairs, max_pairs):
    """Every `ceil(n / max_pairs)`-th pair (all of them without `max_pairs`)."""
    step = max(1, math.ceil(len(pairs) / max_pairs)) if max_pairs else 1
    return pairs[::step]


def st_figures(model, pairs, batch_size=64):
    """sentence-transformers' cosine Pearson / Spearman x 100 on whitespace-normalized pairs."""
    from sentence_transformers.evaluation import EmbeddingSimilarityEvaluator

    evaluator = EmbeddingSimilarityEvaluator(
        [" ".join(p[0].split()) for p in pairs],
        [" ".join(p[1].split()) for p in pairs],
        [p[2] for p in pairs],
        batch_size=batch_size,
        similarity_fn_names=["cosine"],
        name="sts",
        write_csv=False,
    )
    result = evaluator(model)
    return {
        "cosine_pearson": 100.0 * float(result["sts_pearson_cosine"]),
        "cosine_spearman": 100.0 * float(result["sts_spearman_cosine"]),
        "num_pairs": len(pairs),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a sentence-transformers / Hugging Face model directory")
    parser.add_argument("--task", action="append", required=True, metavar="NAME=PATH")
    parser.add_argument("--max_seq_length", type=int, default=None, help="default: the model's own")
    parser.add_argument("--max_pairs", type=int, default=None, help="keep about this many pairs per task")
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--output", default=None, help="JSON file for the figures")
    args = parser.parse_args(argv)
    tasks = []
    for spec in args.task:
        name, _, path = spec.partition("=")
        if name not in ("stsb", "sick_r", *YEAR_SUBSETS) or not path or not os.path.exists(path):
            raise SystemExit(f"error: --task {spec!r}: expected stsb=FILE, sick_r=FILE or sts12..sts16=DIR")
        tasks.append((name, path))

    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(args.model, device="cpu")
    if args.max_seq_length:
        model.max_seq_length = args.max_seq_length
    figures = {}
    for name, path in tasks:
        figures[name] = st_figures(model, every_kth(read_task(name, path), args.max_pairs), args.batch_size)
        print(f"{name}: {figures[name]['num_pairs']} pairs, cosine Spearman {figures[name]['cosine_spearman']:.2f}",
              file=sys.stderr, flush=True)
    spearman = [f["cosine_spearman"] for f in figures.values()]
    print("| " + " | ".join(figures) + " | avg |")
    print("| " + " | ".join(f"{v:.2f}" for v in spearman) + f" | {sum(spearman) / len(spearman):.2f} |")
    report = {"model": args.model, "max_seq_length": model.max_seq_length, "tasks": figures}
    if args.output:
        pathlib.Path(args.output).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
