"""Mine hard negatives for pair data: `python -m tf_simcse.mine --model M --input PAIRS --output triplets.csv`.

For each anchor, the `--top_k` corpus texts most similar to it under the model are candidates; the anchor's own
positive(s) and text are excluded, candidates within `--margin` of the positive's similarity are dropped, and the
most similar survivor becomes the hard negative (sentence-transformers' `mine_hard_negatives` rule with
`absolute_margin`; see tf_simcse.mining). The output is a `sent0,sent1,hard_neg` file (comma-separated, or
tab-separated for a .tsv name) that `--objective sup` trains on. Anchors without any candidate left are dropped
and counted.

PAIRS is any pair data the library reads: a `sent0,sent1` CSV/TSV, a KorNLI TSV (premise -> its entailment), a
`tfds:` spec, or a labelled-pair file (only the pairs labelled "same" are used; see --positive_label).
`--corpus` adds candidate texts (one per line) to the positives.

Example:
  python -m tf_simcse.mine --model runs/kornli_sup --input question_pair/train.txt --positive_label 0 \\
      --output qp_triplets.csv --top_k 10 --margin 0.1
"""

import argparse
import csv
import json
import pathlib
import sys

from tf_simcse import _cli
from tf_simcse.errors import UserInputError


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m tf_simcse.mine", description=__doc__, formatter_class=_cli.HelpFormatter
    )
    _cli.add_model_arguments(parser)
    parser.add_argument("--input", required=True, help="the (anchor, positive) pairs (see above)")
    parser.add_argument("--output", required=True, help="the sent0,sent1,hard_neg file to write (.tsv: tab-separated)")
    parser.add_argument(
        "--corpus", default=None, help="extra candidate texts, one per line (default: the positives only)"
    )
    parser.add_argument("--top_k", type=int, default=10, help="candidates examined per anchor")
    parser.add_argument(
        "--margin", type=float, default=0.1, help="keep a candidate iff sim + margin <= sim(anchor, positive)"
    )
    parser.add_argument(
        "--relative_margin", type=float, default=None, help="also keep only sim <= p - |p| * relative_margin"
    )
    parser.add_argument("--num_negatives", type=int, default=1, help="negatives per anchor (one triplet each)")
    parser.add_argument("--label_column", default=None, help="labelled-pair input: the label column")
    parser.add_argument(
        "--positive_label", default=None, help='labelled-pair input: the value meaning "same" (Question_pair: 0)'
    )
    parser.add_argument("--report", default=None, help="also write the mining report as JSON here")
    return parser


def read_pairs(args):
    """`(anchors, positives, description)` from `--input`."""
    from tf_simcse.data import pairs as pairs_lib
    from tf_simcse.data.examples import load_training_examples

    fmt = pairs_lib.detect_pair_format(args.input, label_column=args.label_column)
    if fmt == pairs_lib.SCORED:
        raise UserInputError(
            f"--input {args.input}: scored pairs have no positives to mine against; give (anchor, positive) pairs"
        )
    if fmt == pairs_lib.LABELLED:
        data = pairs_lib.load_labelled_pairs(
            args.input, label_column=args.label_column, positive_label=args.positive_label
        )
        keep = [i for i, label in enumerate(data.labels) if label == 1]
        anchors = [data.sentence1[i] for i in keep]
        positives = [data.sentence2[i] for i in keep]
        skipped = data.report["rows_skipped"] or "none"
        return anchors, positives, f"{len(keep)} pairs labelled same of {len(data)} ({skipped} skipped)"
    if args.label_column is not None or args.positive_label is not None:
        raise UserInputError(f"--input {args.input}: --label_column / --positive_label apply to labelled-pair files only")
    examples = load_training_examples([args.input], "pair")
    skipped = examples.report["rows_skipped"] or "none"
    return examples.anchors, examples.positives, f"{len(examples)} pairs ({skipped} skipped)"


def write_triplets(path, triplets):
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, delimiter=delimiter, lineterminator="\n")
        writer.writerow(["sent0", "sent1", "hard_neg"])
        writer.writerows(zip(triplets.anchors, triplets.positives, triplets.hard_negatives))


@_cli.reports_user_errors
def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.top_k < 1:
        raise SystemExit(f"error: --top_k must be >= 1, got {args.top_k}")
    if not 1 <= args.num_negatives <= args.top_k:
        raise SystemExit(
            f"error: --num_negatives must be between 1 and --top_k ({args.top_k}), got {args.num_negatives}"
        )
    for name in ("margin", "relative_margin"):
        value = getattr(args, name)
        if value is not None and not value >= 0:
            raise SystemExit(f"error: --{name} must be >= 0, got {value}")
    from tf_simcse.data import readers
    from tf_simcse.mining import mine_hard_negatives

    anchors, positives, described = read_pairs(args)
    corpus = None
    if args.corpus is not None:
        if not pathlib.Path(args.corpus).is_file():
            raise FileNotFoundError(f"--corpus {args.corpus}: no such file")
        corpus = readers.read_lines(args.corpus)
        _cli.info(f"corpus: {len(corpus)} lines from {args.corpus} ({corpus.skipped} blank lines skipped)")
    if not anchors:
        raise SystemExit(f"error: --input {args.input}: no (anchor, positive) pairs")
    _cli.info(f"input: {described}")
    _cli.quiet_tensorflow()
    encoder = _cli.load_encoder(args)
    _cli.info(f"encoding with pooler={encoder.pooler} max_seq_length={encoder.max_seq_length}")
    triplets = mine_hard_negatives(
        anchors,
        positives,
        encode=lambda texts: encoder.encode(texts, batch_size=args.batch_size, show_progress=True),
        corpus=None if corpus is None else list(corpus),
        top_k=args.top_k,
        margin=args.margin,
        relative_margin=args.relative_margin,
        num_negatives=args.num_negatives,
    )
    report = triplets.report
    _cli.info(
        f"anchors: {report['anchors']} distinct of {report['pairs']} pairs; kept {report['anchors_kept']}, "
        f"dropped {report['anchors_dropped']} (no candidate left among the top {args.top_k}); candidates removed: "
        f"{report['candidates_removed'] or 'none'}"
    )
    if not len(triplets):
        raise SystemExit(
            "error: no anchor kept a hard negative; lower --margin, raise --top_k or add a --corpus"
        )
    write_triplets(args.output, triplets)
    _cli.info(
        f"wrote {len(triplets)} triplets to {args.output} (mean cosine: positive "
        f"{triplets.positive_similarities.mean():.4f}, hard negative {triplets.negative_similarities.mean():.4f})"
    )
    if args.report:
        pathlib.Path(args.report).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
