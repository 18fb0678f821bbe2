"""Embed sentences with a model: `python -m tf_simcse.encode --model M --input FILE --output OUT.npy`.

FILE is UTF-8 text with one sentence per line (every line is a sentence, an empty line too, so that row i of the
output is line i), or a JSON file holding {"sentences": [...]}. OUT.npy receives float32 [n, dim] embeddings in
input order, not normalized (L2-normalize them for cosine similarity). FILE, OUT.npy and the model may be local
paths or URLs of any TensorFlow filesystem (gs://...).
"""

import argparse
import json
import sys

from tf_simcse import _cli
from tf_simcse import fileio
from tf_simcse.errors import UserInputError


def read_sentences(path):
    """The sentences of --input (any TensorFlow filesystem): one per line, or a JSON {"sentences": [...]}."""
    if not fileio.exists(path):
        raise FileNotFoundError(f"--input {path}: no such file")
    raw = fileio.read_bytes(path)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise UserInputError(f"--input {path}: line {line} is not UTF-8 text ({e.reason})") from None
    if str(path).lower().endswith(".json"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise UserInputError(f"--input {path}: invalid JSON at line {e.lineno}: {e.msg}") from None
        sentences = data.get("sentences") if isinstance(data, dict) else None
        if not isinstance(sentences, list):
            raise UserInputError(f'--input {path}: expected a JSON object with a "sentences" list')
        for i, s in enumerate(sentences):
            if not isinstance(s, str):
                raise UserInputError(f'--input {path}: "sentences"[{i}] is {type(s).__name__}, not a string')
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


@_cli.reports_user_errors
def main(argv=None):
    args = build_parser().parse_args(argv)
    sentences = read_sentences(args.input)
    _cli.check_output_file(args.output)
    _cli.quiet_tensorflow()
    import numpy as np

    encoder = _cli.load_encoder(args)
    _cli.info(
        f"encoding {len(sentences)} sentences with pooler={encoder.pooler} max_seq_length={encoder.max_seq_length}"
    )
    embeddings = encoder.encode(sentences, batch_size=args.batch_size, show_progress=True)
    with fileio.open_file(args.output, "wb") as f:  # np.save on a path would append .npy to other suffixes
        np.save(f, embeddings.astype(np.float32))
    _cli.info(f"wrote {args.output} {embeddings.shape} float32")
    return 0


if __name__ == "__main__":
    sys.exit(main())
