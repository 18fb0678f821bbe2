"""Print the cosine similarity matrix of sentences: `python -m tf_simcse.similarity --model M "문장 1" "문장 2" ...`.

M is an export directory (`python -m tf_simcse.export`), a training output directory, or any checkpoint
`tf_simcse.encode` accepts; the embeddings are `Encoder.encode`'s. Prints the numbered sentences, then the
matrix with `[i]` labels (rows and columns in input order).

Example:
  python -m tf_simcse.similarity --model runs/kornli_sup/export \\
      "한 남자가 음식을 먹는다." "한 남자가 빵 한 조각을 먹고 있다." "원숭이 한 마리가 드럼을 연주한다."
"""

import argparse
import json
import sys

from tf_simcse import _cli


def cosine_similarity_matrix(embeddings):
    """`[n, dim]` -> `[n, n]` float64 cosines; a zero vector has cosine 0 with everything (itself included)."""
    import numpy as np

    x = np.asarray(embeddings, dtype=np.float64)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    x = np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)
    return x @ x.T


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m tf_simcse.similarity", description=__doc__, formatter_class=_cli.HelpFormatter
    )
    _cli.add_model_arguments(parser)
    parser.add_argument("sentences", nargs="+", help="the sentences to compare (at least two)")
    parser.add_argument("--digits", type=int, default=4, help="decimals to print")
    parser.add_argument("--json", action="store_true", help='print {"sentences": [...], "similarity": [[...]]} instead')
    return parser


@_cli.reports_user_errors
def main(argv=None):
    args = build_parser().parse_args(argv)
    if len(args.sentences) < 2:
        raise SystemExit("error: give at least two sentences to compare")
    if not 0 <= args.digits <= 10:
        raise SystemExit(f"error: --digits must be between 0 and 10, got {args.digits}")
    _cli.quiet_tensorflow()
    from tf_simcse.exporting.model_card import format_similarity_matrix

    encoder = _cli.load_encoder(args)
    _cli.info(f"pooler={encoder.pooler} max_seq_length={encoder.max_seq_length}")
    matrix = cosine_similarity_matrix(encoder.encode(args.sentences, batch_size=args.batch_size))
    if args.json:
        print(
            json.dumps(
                {"sentences": args.sentences, "similarity": matrix.round(args.digits).tolist()}, ensure_ascii=False
            )
        )
    else:
        print(format_similarity_matrix(args.sentences, matrix, digits=args.digits))
    return 0


if __name__ == "__main__":
    sys.exit(main())
