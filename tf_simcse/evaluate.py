"""Evaluate a model: `python -m tf_simcse.evaluate --model M --task NAME[:SPLIT][=PATH] ...`.

Tasks (repeat --task for several):
  korsts     KorSTS (kakaobrain/KorNLUDatasets TSV): the 8-column STS table — Pearson and Spearman (x100) of
             cosine, euclidean (negated distance), manhattan (negated) and dot-product scores — and their mean.
  klue_sts   KLUE-STS v1.1 JSON: the STS table plus KLUE's official figures (Pearson on real-label, F1 on
             binary-label with cosine mapped to 0-5 and thresholded at 3.0).
  kornli     KorNLI TSV: entailment vs contradiction pair classification from cosine similarity (accuracy,
             F1, precision, recall, average precision, best thresholds).
SPLIT names the split (default dev); =PATH reads that split from a local copy of the upstream file.

Example:
  python -m tf_simcse.evaluate --model path/to/all-MiniLM-L6-v2 --pooler avg --max_seq_length 64 \\
      --task korsts:dev=../shared/data/korsts/sts-dev.tsv --output metrics.json
"""

import argparse
import sys
import time

from tf_simcse import _cli
from tf_simcse import fileio


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m tf_simcse.evaluate", description=__doc__, formatter_class=_cli.HelpFormatter
    )
    _cli.add_model_arguments(parser)
    parser.add_argument(
        "--task", action="append", required=True, metavar="NAME[:SPLIT][=PATH]", help="a task to run (repeatable)"
    )
    parser.add_argument("--output", default=None, help="write every figure to this JSON file (e.g. metrics.json)")
    return parser


@_cli.reports_user_errors
def main(argv=None):
    args = build_parser().parse_args(argv)
    from tf_simcse.evaluation import format_metric_table
    from tf_simcse.evaluation.tasks import load_task_data, parse_task, run_task

    if args.output:
        _cli.check_output_file(args.output)
    tasks = [parse_task(t) for t in args.task]
    data = {task: load_task_data(task) for task in tasks}
    _cli.quiet_tensorflow()
    encoder = _cli.load_encoder(args)
    results = {}
    for task in tasks:
        start = time.time()
        results[task.label] = run_task(encoder, task, batch_size=args.batch_size, data=data[task])
        _cli.info(f"{task.label}: {results[task.label]['num_pairs']} pairs in {time.time() - start:.1f}s")
    print(format_metric_table(results))
    if args.output:
        report = {
            "model": str(args.model),
            "pooler": encoder.pooler,
            "max_seq_length": encoder.max_seq_length,
            "tasks": results,
        }
        fileio.write_json(args.output, report)
        _cli.info(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
