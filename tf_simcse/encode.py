"""Embed sentences with a model: `python -m tf_simcse.encode --model M --input FILE --output OUT.npy`.

FILE is UTF-8 text with one sentence per line (every line is a sentence, an empty line too, so that row i of the
output is line i), or a JSON file holding {"sentences": [...]}. OUT.npy receives float32 [n, dim] embeddings in
input order, not normalized (L2-normalize them for cosine similarity).
"""

import argparse
import json
import pathlib
import sys

from tf_simcse import _cli


def read_sentences(path):
    path = pathlib.Path(path)
    if not path.exists():
        raise SystemExit(f"error: --input {path}: no such file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise SystemExit(f"error: --input {path}: not UTF-8 text ({e})")
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise SystemExit(f"error: --input {path}: invalid JSON at line {e.lineno}: {e.msg}")
        sentences = data.get("sentences") if isinstance(data, dict) else None
        if not isinstance(sentences, list):
            raise SystemExit(f'error: --input {path}: expected a JSON object with a "sentences" list')
        for i, s in enumerate(sentences):
            if not isinstance(s, str):
                raise SystemExit(f'error: --input {path}: "sentences"[{i}] is {type(s).__name__}, not a string')
        return sentences
    return text.splitlines()


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m tf_simcse.encode", description=__doc__, formatter_class=_cli.HelpFormatter
    )
    _cli.add_model_arguments(parser)
    parser.add_argument("--input", required=True, help="UTF-8 text file (one sentence per line) or JSON {\"sentences\": [...]}")
    parser.add_argument("--output", required=True, help="where to write the float32 [n, dim] .npy array")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    sentences = read_sentences(args.input)
    _cli.quiet_tensorflow()
    import numpy as np

    encoder = _cli.load_encoder(args)
    _cli.info(
        f"encoding {len(sentences)} sentences with pooler={encoder.pooler} max_seq_length={encoder.max_seq_length}"
    )
    embeddings = encoder.encode(sentences, batch_size=args.batch_size, show_progress=True)
    output = pathlib.Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with open(output, "wb") as f:  # np.save on a path would append .npy to other suffixes
        np.save(f, embeddings.astype(np.float32))
    _cli.info(f"wrote {output} {embeddings.shape} float32")
    return 0


if __name__ == "__main__":
    sys.exit(main())
