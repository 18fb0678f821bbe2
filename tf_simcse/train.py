"""Train a SimCSE sentence encoder: `python -m tf_simcse.train --config RECIPE_OR_FILE [--option value ...]`.

Objectives (--objective):
  unsup  the same sentence twice, dropout as the only noise (data: a .txt file, one sentence per line)
  sup    NLI triplets: premise, entailment (positive), contradiction (hard negative) — from a KorNLI-style TSV
         (sentence1, sentence2, gold_label) grouped by premise, or a sent0,sent1,hard_neg CSV
  pair   (anchor, positive) pairs without hard negatives
  cosent, cosine_mse
         STS regression on scored pairs (a KorSTS TSV, KLUE-STS JSON, tfds:korsts / tfds:klue_sts, or a CSV/TSV with
         sentence1, sentence2, score): CoSENT (Su, 2022; ranks every pair of the global batch by cosine) or the
         MSE of the cosine against score / --max_score (Sentence-BERT)
  online_contrastive, contrastive
         pair classification on labelled pairs (sentence1/question1, sentence2/question2, label): a margin on
         the cosine distance of the batch's hard pairs / of every pair. Say which column and value mean "same"
         with --label_column / --positive_label (Korean question pairs label a duplicate 0: --positive_label 0)
  distill
         knowledge distillation (Reimers & Gurevych, 2020): the student (--model, optionally only some of its
         layers: --student_layers 0,2,4) regresses the embeddings --teacher gives the training sentences (any
         data spec: sentence files, NLI premises and hypotheses, both sides of pair files; each distinct
         sentence embedded once, cached in --output_dir); a wider teacher gets a trained projection, dropped
         at export

Options come from, last wins: defaults (the paper's unsup setting) < --config (a YAML/JSON file, or a shipped
recipe: paper_unsup, paper_sup, korean_unsup, korean_sup, cpu_minilm_kornli) < the flags below.

Rerunning the same command after an interruption resumes from the newest checkpoint in --output_dir.

A config file with `stages:` (e.g. cpu_minilm_sts_pipeline) runs several trainings in a row, each from the model
an earlier stage selected, into --output_dir/01-NAME, 02-NAME, ...; flags apply to every stage, --model to the
first (see tf_simcse/stages.py). --stop_after NAME ends the run after that stage; the same command without it
goes on from there.

Example (the CPU recipe; runs in minutes on 2 cores):
  python -m tf_simcse.train --config cpu_minilm_kornli --model "$MINILM_DIR" --output_dir runs/cpu
"""

import argparse
import dataclasses
import sys
import typing

from tf_simcse import _cli
from tf_simcse.config import GROUPS, STAGES_KEY, TrainConfig, build_config, load_config_file

def _parse_bool(text):
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {text!r}")


def build_parser():
    """The options of `TrainConfig`, by group, each with the help text and choices declared with its field."""
    parser = argparse.ArgumentParser(
        prog="python -m tf_simcse.train",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", help="a YAML/JSON config file or the name of a shipped recipe")
    parser.add_argument("--stop_after", metavar="STAGE",
                        help="with a `stages:` config: run the stages up to this one (by name), then stop")
    groups = {name: parser.add_argument_group(f"{name} options", summary) for name, summary in GROUPS.items()}
    defaults = TrainConfig()
    for field in dataclasses.fields(TrainConfig):
        default = getattr(defaults, field.name)
        kind = field.type
        kwargs = {"default": None, "dest": field.name, "choices": field.metadata["choices"]}
        if kind is list:
            kwargs.update(action="append", metavar="SPEC")
        elif kind is bool or kind == typing.Optional[bool]:
            kwargs.update(type=_parse_bool, nargs="?", const=True, metavar="BOOL")
        elif kind in (int, typing.Optional[int]):
            kwargs["type"] = int
        elif kind in (float, typing.Optional[float]):
            kwargs["type"] = float
        shown = default if default not in ("", [], None) else "-"
        help_text = f"{field.metadata['help']} (default: {shown})".replace("%", "%%")  # argparse %-formats help
        groups[field.metadata["group"]].add_argument(f"--{field.name}", help=help_text, **kwargs)
    return parser


@_cli.reports_user_errors
def main(argv=None):
    args = vars(build_parser().parse_args(argv))
    config_file = args.pop("config")
    stop_after = args.pop("stop_after")
    try:
        file_values = load_config_file(config_file) if config_file else {}
        config = None if STAGES_KEY in file_values else build_config(file_values, args)
        if stop_after is not None and config is not None:
            raise ValueError(f"--stop_after {stop_after}: only a --config with `{STAGES_KEY}:` has stages")
    except (ValueError, FileNotFoundError, TypeError) as e:  # the config file's and the options' own errors
        raise SystemExit(f"error: {e}")
    _cli.quiet_tensorflow()
    from tf_simcse.trainer import Trainer, TrainingError

    try:
        if config is None:  # a multi-stage recipe
            from tf_simcse.stages import run_stages

            run_stages(file_values, args, log=_cli.info, stop_after=stop_after)
        else:
            Trainer(config).run()
    except TrainingError as e:
        raise SystemExit(f"error: {e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
