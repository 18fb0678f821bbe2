"""Evaluate a model: `python -m tf_simcse.evaluate --model M --task NAME[:SPLIT][=PATH] ...`.

Tasks (repeat --task for several):
  korsts     KorSTS (kakaobrain/KorNLUDatasets TSV): the 8-column STS table — Pearson and Spearman (x100) of
             cosine, euclidean (negated distance), manhattan (negated) and dot-product scores — and their mean.
  klue_sts   KLUE-STS v1.1 JSON: the STS table plus KLUE's official figures (Pearson on real-label, F1 on
             binary-label with cosine mapped to 0-5 and thresholded at 3.0).
  kornli     KorNLI TSV: entailment vs contradiction pair classification from cosine similarity (accuracy,
             F1, precision, recall, average precision, best thresholds).
  question_pair
             Korean question pairs (songys/Question_pair TSV: question1, question2, is_duplicate, where 0 means
             the same question; default split validation; needs =PATH): the same classification figures.
  stsb       STS benchmark sts-{train,dev,test}.csv (default split test): the STS table.
  sick_r     SICK relatedness, SICK_{train,trial,test_annotated}.txt or the full SICK.txt (default split test;
             dev = SICK's trial set): the STS table.
  sts12 ... sts16
             a SemEval STS year folder (STS.input/STS.gs files, or brmson/dataset-sts <subset>.test.tsv):
             the STS table over all scored pairs of the year (SentEval's "all", the SimCSE paper's figure),
             plus cosine Pearson/Spearman per subset; unscored pairs are skipped and counted.
SPLIT names the split (default dev; test for the English tasks); =PATH reads that split from a local copy of
the upstream file (a folder for sts12 ... sts16). The English tasks normalize whitespace as SentEval does.

A carve-out slice after the split, NAME:SPLIT[a%:b%][=PATH] (whole percentages, either bound optional:
korsts:train[:10%], korsts:train[10%:], korsts:train[20%:30%]), evaluates only the rows whose bucket, the first
8 bytes of sha256(sentence1 + TAB + sentence2) as a big-endian integer mod 100, is in [a, b): deterministic,
whatever the row order, the same from =PATH or TFDS, and disjoint from training data given the complementary
slice (tf_simcse.train --train_data sts-train.tsv[10%:]). Figures are labelled with the slice
(korsts:train[:10%]/cosine_spearman); the rows kept are logged and in the JSON report's "data".

Several models (repeat --model): each is evaluated on the same data and the figures are written as one
table, the same columns for every model (the STS table per STS task, KLUE's Pearson/F1, the average precision of
kornli / question_pair; --compact: cosine Spearman per STS task and their average). --output board.md writes that Markdown
table, --output board.json every figure of every model. With one model, --output metrics.json is the
model's report.

Examples:
  python -m tf_simcse.evaluate --model path/to/all-MiniLM-L6-v2 --pooler avg --max_seq_length 64 \\
      --task korsts:dev=../shared/data/korsts/sts-dev.tsv --output metrics.json
  python -m tf_simcse.evaluate --model runs/a --model runs/b --task stsb=sts-test.csv \\
      --task sts12=semeval-sts/2012 --compact --output board.md
"""

import argparse
import json
import sys
import time

from tf_simcse import _cli
from tf_simcse import fileio


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m tf_simcse.evaluate", description=__doc__, formatter_class=_cli.HelpFormatter
    )
    _cli.add_model_arguments(parser, several=True)
    parser.add_argument(
        "--task", action="append", required=True, metavar="NAME[:SPLIT][[a%:b%]][=PATH]",
        help="a task to run (repeatable); [a%%:b%%] after the split: a carve-out slice of its rows (see above)"
    )
    parser.add_argument(
        "--output",
        default=None,
        help="write the figures here: a .json file gets every figure (one model: its report, e.g. metrics.json), "
        "any other name the Markdown leaderboard table (e.g. board.md)",
    )
    parser.add_argument(
        "--compact", action="store_true", help="leaderboard: cosine Spearman only per STS task, and their average"
    )
    return parser


def _write(path, text):
    fileio.write_text(path, text)
    _cli.info(f"wrote {path}")


def _model_report(model, encoder, results, data):
    report = {"model": str(model), "pooler": encoder.pooler, "max_seq_length": encoder.max_seq_length, "tasks": results}
    notes = {label: d.report for label, d in data.items() if getattr(d, "report", None) is not None}
    if notes:
        report["data"] = notes  # e.g. the subsets found and the unscored rows skipped of a SemEval STS year
    return report


def _print_tables(results):
    """The single-model table; per-subset figures (keys `subset/metric`) go to a second table."""
    from tf_simcse.evaluation import format_metric_table

    per_subset = {}
    for label, figures in results.items():
        for key, value in figures.items():
            if "/" in key:
                subset, metric = key.split("/", 1)
                per_subset.setdefault(f"{label} {subset}", {})[metric] = value
    if not per_subset:
        print(format_metric_table(results))
        return
    columns = list(dict.fromkeys(k for figures in results.values() for k in figures if "/" not in k))
    print(format_metric_table(results, columns=columns))
    print()
    print(format_metric_table(per_subset, row_header="task subset"))


@_cli.reports_user_errors
def main(argv=None):
    args = build_parser().parse_args(argv)
    from tf_simcse.evaluation.leaderboard import (
        format_markdown,
        leaderboard_columns,
        leaderboard_rows,
    )
    from tf_simcse.evaluation.tasks import SEMEVAL_YEARS, carve_note, load_task_data, parse_task, run_task

    if args.output:
        _cli.check_output_file(args.output)
    from tf_simcse.encoders.encoder import resolve_model_dir

    try:
        for model in args.model:  # every model is there before any is evaluated
            resolve_model_dir(model)
        tasks = [parse_task(t) for t in args.task]
        data = {task: load_task_data(task) for task in tasks}
    except (ValueError, FileNotFoundError) as e:
        raise SystemExit(f"error: {e}")
    for task, task_data in data.items():
        if task.carve is not None:
            _cli.info(carve_note(task, task_data))
        if task.name == "question_pair":  # labelled pairs: say what was read and how it was labelled
            report = task_data.report
            _cli.info(
                f"{task.label}: {report['pairs']} pairs ({report['positives']} same, {report['negatives']} "
                f"different; is_duplicate {report['positive_label']!r} = same); rows skipped: "
                f"{report['rows_skipped'] or 'none'}"
            )
        elif task.name in SEMEVAL_YEARS:  # a SemEval STS year: say what was found
            report = task_data.report
            missing = ", ".join(report["subsets_missing"]) or "none"
            _cli.info(
                f"{task.label}: {len(task_data)} scored pairs in {', '.join(report['subsets'])}; "
                f"{sum(report['unscored_skipped'].values())} unscored rows skipped; SentEval subsets not found: "
                f"{missing}"
            )
    _cli.quiet_tensorflow()
    reports = []
    for model in args.model:
        encoder = _cli.load_encoder(argparse.Namespace(**{**vars(args), "model": model}))
        results = {}
        for task in tasks:
            start = time.time()
            results[task.label] = run_task(encoder, task, batch_size=args.batch_size, data=data[task])
            who = f"{model} " if len(args.model) > 1 else ""
            _cli.info(f"{who}{task.label}: {results[task.label]['num_pairs']} pairs in {time.time() - start:.1f}s")
        reports.append(_model_report(model, encoder, results, {t.label: d for t, d in data.items()}))
        del encoder

    json_output = args.output is not None and args.output.lower().endswith(".json")
    if len(reports) == 1 and (args.output is None or json_output):
        _print_tables(reports[0]["tasks"])
        if args.output:
            _write(args.output, json.dumps(reports[0], indent=2, ensure_ascii=False) + "\n")
        return 0
    headers, rows = leaderboard_rows(tasks, [(r["model"], r["tasks"]) for r in reports], compact=args.compact)
    table = format_markdown(headers, rows)
    print(table)
    if json_output:
        columns = [
            {"task": label, "metric": key, "header": header}
            for label, key, header in leaderboard_columns(tasks, compact=args.compact)
        ]
        if len(headers) > len(columns) + 1:  # --compact's average of the STS tasks' cosine Spearman
            columns.append({"task": None, "metric": "cosine_spearman", "header": headers[-1]})
        board = {"format": "tf_simcse.leaderboard", "columns": columns, "models": reports}
        _write(args.output, json.dumps(board, indent=2, ensure_ascii=False) + "\n")
    elif args.output:
        _write(args.output, table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
