"""Pieces shared by the `python -m tf_simcse.<command>` entry points."""

import argparse
import logging
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

MODEL_HELP = (
    "the model to use: a local Hugging Face checkpoint directory (config.json + model.safetensors + tokenizer "
    "files), a keras-hub preset directory, a tf_simcse training output directory (its best/ checkpoint), a "
    "tf_simcse export directory, or a directory written by Encoder.save_pretrained. Settings saved with a trained "
    "model (pooler, max_seq_length) "
    "are the defaults; the flags below override them."
)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shows defaults and keeps the description's line breaks."""


def add_model_arguments(parser, several=False):
    """Adds --model (repeatable with `several=True`; then `args.model` is a list) and the encoder flags."""
    from tf_simcse.encoders.poolers import POOLERS

    if several:
        parser.add_argument("--model", action="append", required=True, help=MODEL_HELP + " Repeatable.")
    else:
        parser.add_argument("--model", required=True, help=MODEL_HELP)
    parser.add_argument(
        "--pooler",
        choices=POOLERS,
        default=None,
        help="sentence pooler (default: the model's own; sentence-transformers dirs declare theirs; else cls)",
    )
    parser.add_argument(
        "--max_seq_length",
        type=int,
        default=None,
        help="tokens per sentence incl. [CLS]/[SEP]; longer sentences are truncated (default: the model's own, else 128)",
    )
    parser.add_argument("--batch_size", type=int, default=64, help="sentences per forward pass")


def load_encoder(args):
    from tf_simcse.encoders.encoder import Encoder

    if args.max_seq_length is not None and args.max_seq_length < 2:
        raise SystemExit(f"error: --max_seq_length must be >= 2 (room for [CLS] and [SEP]), got {args.max_seq_length}")
    if args.batch_size < 1:
        raise SystemExit(f"error: --batch_size must be >= 1, got {args.batch_size}")
    try:
        return Encoder.from_pretrained(args.model, pooler=args.pooler, max_seq_length=args.max_seq_length)
    except (FileNotFoundError, ValueError) as e:
        raise SystemExit(f"error: {e}")


def quiet_tensorflow():
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    try:
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.ERROR)
    except ImportError:
        pass


def info(message):
    print(message, file=sys.stderr, flush=True)
