"""Export a model as TF Hub-style SavedModels: `python -m tf_simcse.export --model M --output DIR`.

Writes DIR/preprocessor (strings -> token ids), DIR/encoder (token ids -> embeddings; reusable and fine-tunable
with hub.KerasLayer or keras.layers.TFSMLayer), DIR/sentence_encoder (strings -> L2-normalized embeddings, with a
serving_default signature) and DIR/README.md (the model card). The export is written under a temporary name and
renamed into place, so a failed export leaves an earlier one at DIR intact.

Given a training output directory (or its best/), the model card lists the run's base checkpoint, data,
hyperparameters and figures (config.json, metrics.json), and the run's pooler and max_seq_length are the
defaults.

Example:
  python -m tf_simcse.export --model runs/kornli_sup --output runs/kornli_sup/export --seq_length 64
"""

import argparse
import sys

from tf_simcse import _cli
from tf_simcse import fileio


def build_parser():
    from tf_simcse.encoders.poolers import POOLERS

    parser = argparse.ArgumentParser(
        prog="python -m tf_simcse.export", description=__doc__, formatter_class=_cli.HelpFormatter
    )
    parser.add_argument(
        "--model",
        required=True,
        help="a tf_simcse training output directory (its best/ checkpoint), a best/ (save_pretrained) directory, "
        "a local Hugging Face checkpoint directory, a keras-hub preset directory, or an earlier export",
    )
    parser.add_argument(
        "--output", required=True, help="the export directory to write (an earlier export there is replaced)"
    )
    parser.add_argument(
        "--seq_length",
        type=int,
        default=None,
        help="the preprocessor's default packed length incl. special tokens (default: the model's max_seq_length)",
    )
    parser.add_argument(
        "--pooler", choices=POOLERS, default=None, help="sentence pooler to bake in (default: the model's own)"
    )
    parser.add_argument("--name", default=None, help="title of the model card (default: the output directory's name)")
    return parser


@_cli.reports_user_errors
def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.seq_length is not None and args.seq_length < 3:
        raise SystemExit(f"error: --seq_length must be >= 3 ([CLS], [SEP] and one token), got {args.seq_length}")
    _cli.quiet_tensorflow()
    from tf_simcse.encoders.encoder import Encoder
    from tf_simcse.exporting import export_model, is_export_dir, read_export_config, training_model_card

    model = fileio.as_path(args.model)
    if fileio.exists(args.output) and not fileio.isdir(args.output):  # before the model is loaded
        raise SystemExit(f"error: --output {args.output} is a file; give the export directory to write")
    encoder = Encoder.from_pretrained(model, pooler=args.pooler, max_seq_length=args.seq_length)
    card = _model_card(model, training_model_card, is_export_dir, read_export_config)
    if args.name:
        card["name"] = args.name
    _cli.info(
        f"exporting pooler={encoder.pooler} seq_length={args.seq_length or encoder.max_seq_length} to {args.output}"
    )
    output = export_model(encoder, args.output, seq_length=args.seq_length, model_card=card)
    _cli.info(f"wrote {output}/{{preprocessor,encoder,sentence_encoder,README.md}}")
    print(output)
    return 0


def _model_card(model, training_model_card, is_export_dir, read_export_config):
    """What is known about where the model came from: a training run's config/metrics, an export's card."""
    if is_export_dir(model):
        return dict(read_export_config(model).get("model_card") or {})
    for run_dir in (model, fileio.dirname(model)):
        if fileio.exists(fileio.join(run_dir, "config.json")) and fileio.isdir(fileio.join(run_dir, "best")):
            return training_model_card(run_dir)
    return {"base_model": model}


if __name__ == "__main__":
    sys.exit(main())
