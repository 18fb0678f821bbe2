"""Pieces shared by the `python -m tf_simcse.<command>` entry points: model options, quiet logging, and the
user's mistakes (`tf_simcse.errors`, missing files, a full disk) turned into one `error: ...` line."""

import argparse
import errno
import functools
import logging
import os
import sys

from tf_simcse.errors import DiskFullError, UserInputError, is_disk_full

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

MODEL_FORMS = (
    "a Hugging Face checkpoint directory (config.json + model.safetensors + tokenizer "
    "files), a keras-hub preset directory, a tf_simcse training output directory (its best/ checkpoint), a "
    "tf_simcse export directory, or a directory written by Encoder.save_pretrained; local, or a gs:// (any "
    "tf.io.gfile) URL; or a keras-hub preset handle to download (multilingual_e5_base, bge_m3, "
    "kaggle://OWNER/MODEL/keras/VARIANT, hf://OWNER/NAME)"
)
MODEL_HELP = (
    f"the model to use: {MODEL_FORMS}. Settings saved with a trained model (pooler, max_seq_length) are the "
    "defaults; the flags below override them."
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
    return Encoder.from_pretrained(args.model, pooler=args.pooler, max_seq_length=args.max_seq_length)


def check_output_file(path, option="--output"):
    """Fails early (before any work) when the output file cannot be written: it is a directory, or under a file."""
    from tf_simcse import fileio

    if fileio.isdir(path):
        raise IsADirectoryError(errno.EISDIR, f"{option} is a directory; give a file name", fileio.as_path(path))
    parent = fileio.dirname(path)
    if fileio.exists(parent) and not fileio.isdir(parent):
        raise NotADirectoryError(errno.ENOTDIR, f"{option}'s parent is a file, not a directory", parent)


# Problems with what the user gave (files, directories, options, a full disk): one `error:` line, no traceback.
# Everything else is a bug and keeps its traceback.
USER_ERRORS = (UserInputError, DiskFullError, FileNotFoundError, FileExistsError, IsADirectoryError,
               NotADirectoryError, PermissionError)


def is_user_error(error):
    return isinstance(error, USER_ERRORS) or is_disk_full(error)


def error_message(error):
    """The one-line text of a user error: `PATH: what is wrong` for OS errors, else the message."""
    if isinstance(error, OSError) and error.filename is not None:
        text = f"{error.filename}: {error.strerror or error}"
    else:
        text = str(error) or type(error).__name__
    if is_disk_full(error) and not isinstance(error, DiskFullError):
        text = f"no space left on device ({text})"
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


def reports_user_errors(main):
    """Decorates a CLI `main(argv)`: user errors become `SystemExit("error: ...")` (stderr, exit status 1)."""

    @functools.wraps(main)
    def wrapped(argv=None):
        try:
            return main(argv)
        except Exception as error:  # noqa: BLE001 -- re-raised unless it is the user's to fix
            if not is_user_error(error):
                raise
            raise SystemExit(f"error: {error_message(error)}") from None

    return wrapped


def quiet_tensorflow():
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    try:
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.ERROR)
    except ImportError:
        pass


def info(message):
    print(message, file=sys.stderr, flush=True)
