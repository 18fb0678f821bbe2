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
         data spec: sentence files, NLI premises, both sides of pair files; each distinct sentence embedded
         once, cached in --output_dir); a wider teacher gets a trained projection, dropped at export

Options come from, last wins: defaults (the paper's unsup setting) < --config (a YAML/JSON file, or a shipped
recipe: paper_unsup, paper_sup, korean_unsup, korean_sup, cpu_minilm_kornli) < the flags below.

Rerunning the same command after an interruption resumes from the newest checkpoint in --output_dir.

A config file with `stages:` (e.g. cpu_minilm_sts_pipeline) runs several trainings in a row, each from the model
an earlier stage selected, into --output_dir/01-NAME, 02-NAME, ...; flags apply to every stage, --model to the
first (see tf_simcse/stages.py).

Example (the CPU recipe; runs in minutes on 2 cores):
  python -m tf_simcse.train --config cpu_minilm_kornli --model "$MINILM_DIR" --output_dir runs/cpu
"""

import argparse
import dataclasses
import sys
import typing

from tf_simcse import _cli
from tf_simcse.config import (
    OBJECTIVES,
    PRECISIONS,
    STAGES_KEY,
    STRATEGIES,
    TrainConfig,
    build_config,
    load_config_file,
)
from tf_simcse.encoders.poolers import POOLERS

HELP = {
    "model": _cli.MODEL_HELP,
    "objective": f"training objective: {' | '.join(OBJECTIVES)}",
    "pooler": "sentence pooler; cls = [CLS] + MLP head (the paper's default)",
    "mlp_only_train": "with pooler cls: use the MLP head in training only (the paper's unsup setting)",
    "reset_mlp": "start the MLP head from a fresh normal(0.02) init as the official code does (else the checkpoint's pooler)",
    "dropout": "dropout rate of the encoder (default: the checkpoint's hidden_dropout_prob)",
    "train_data": "training data spec, repeatable: tfds:NAME[/CONFIG]:SPLIT, a .txt file, a KorNLI-style TSV or a sent0,sent1[,hard_neg] CSV; pair objectives: scored or labelled pairs. "
                  "A trailing carve-out slice [a%:b%] keeps only the rows whose bucket, sha256(sentence1 TAB sentence2)[:8] "
                  "big-endian mod 100, is in [a, b): sts-train.tsv[10%:], tfds:korsts:train[10%:]",
    "eval_data": "dev task for evaluation and checkpoint selection, repeatable: NAME[:SPLIT][[a%:b%]][=PATH] as in tf_simcse.evaluate; "
                 "select on a carve-out of the training file with the complementary slices: --train_data sts-train.tsv[10%:] "
                 "--eval_data korsts:train[:10%]=sts-train.tsv (a task that shares rows with train_data is refused)",
    "test_data": "task reported once at the end with the best checkpoint, repeatable; must not share rows with an eval_data split or train_data",
    "max_seq_length": "tokens per sentence incl. special tokens",
    "dedupe_in_batch": "keep repeated texts out of one batch (in-batch false negatives; supervised data)",
    "length_grouping": "batch texts of similar token length together (less padding, faster with dynamic shapes)",
    "grouping_window": "with length_grouping: batches per window sorted by length (bigger: less padding, less random)",
    "pad_to_multiple_of": "with dynamic shapes: round each batch's length up to a multiple of this (few XLA compiles)",
    "encode_anchors_apart": "sup/pair with dynamic shapes: pad and encode the anchors apart from the positives and hard negatives (premises are longer than hypotheses: less padding)",
    "static_shapes": "pad every batch to max_seq_length (TPU/XLA); default: on for TPU only",
    "temperature": "softmax temperature tau of the contrastive loss",
    "hard_negative_weight": "log-weight added to each anchor's own hard-negative logit (sup)",
    "symmetric": "also add the positive->anchor direction of the loss",
    "do_mlm": "add the masked-language-model auxiliary loss",
    "mlm_weight": "weight of the MLM auxiliary loss",
    "cosent_scale": "cosent: scale of the cosine differences (20 in the paper and sentence-transformers)",
    "margin": "online_contrastive / contrastive: margin on the cosine distance 1 - cos",
    "max_score": "cosine_mse: the top of the score scale (the cosine regresses score / max_score)",
    "label_column": "labelled pairs: the label column (default: label, or is_duplicate)",
    "positive_label": "labelled pairs: the label value that means 'same' (default 1)",
    "teacher": "distill: the teacher model (any --model form; its own pooler, this run's max_seq_length)",
    "student_layers": "distill: keep only these layers of --model for the student, e.g. 0,2,4 (DistilKoBERT-style)",
    "gradcache_chunk_size": "GradCache: encode at most this many sequences at a time per replica, with the same "
                            "gradients (batches of negatives larger than memory, for one more forward pass)",
    "batch_size": "global batch size (split over replicas)",
    "learning_rate": "peak learning rate (AdamW, linear decay)",
    "weight_decay": "decoupled weight decay (bias and LayerNorm excluded)",
    "warmup_ratio": "fraction of the steps with linear warmup",
    "max_grad_norm": "clip the global gradient norm to this (the official runs use 1.0)",
    "epochs": "passes over the training data",
    "max_steps": "stop after this many steps (batches; overrides epochs when smaller)",
    "seed": "seed of data order, dropout and initialisation",
    "strategy": f"distribution: {' | '.join(STRATEGIES)} (multiworker: MultiWorkerMirroredStrategy from TF_CONFIG, or Vertex AI's CLUSTER_SPEC)",
    "tpu": "TPU name or address for --strategy tpu (default: the local TPU VM, as on Colab)",
    "precision": f"numeric policy: {' | '.join(PRECISIONS)} (auto: bf16 on TPU, fp16 on GPU, fp32 on CPU)",
    "jit_compile": "compile the train step with XLA",
    "steps_per_execution": "train steps per compiled call: fewer host round trips (TPU); 1 by default, on TPU the "
                           "gcd of log_steps, eval_steps and checkpoint_steps",
    "output_dir": "where checkpoints/, best/, logs/, config.json and metrics.json go",
    "eval_steps": "evaluate on eval_data every this many steps",
    "metric_for_best_model": "figure of the first eval task that selects best/ (higher is better)",
    "checkpoint_steps": "save a resumable checkpoint every this many steps",
    "log_steps": "print the loss every this many steps (when no progress bar is shown)",
    "export": "export TF Hub SavedModels of best/ at the end",
}


def _parse_bool(text):
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {text!r}")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m tf_simcse.train",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", help="a YAML/JSON config file or the name of a shipped recipe")
    defaults = TrainConfig()
    for field in dataclasses.fields(TrainConfig):
        default = getattr(defaults, field.name)
        kind = field.type
        kwargs = {"default": None, "dest": field.name}
        help_text = HELP.get(field.name, "")
        if field.name in ("train_data", "eval_data", "test_data"):
            kwargs.update(action="append", metavar="SPEC")
        elif kind is bool or kind == typing.Optional[bool]:
            kwargs.update(type=_parse_bool, nargs="?", const=True, metavar="BOOL")
        elif kind in (int, typing.Optional[int]):
            kwargs["type"] = int
        elif kind in (float, typing.Optional[float]):
            kwargs["type"] = float
        if field.name == "objective":
            kwargs["choices"] = OBJECTIVES
        elif field.name == "pooler":
            kwargs["choices"] = POOLERS
        elif field.name == "strategy":
            kwargs["choices"] = STRATEGIES
        elif field.name == "precision":
            kwargs["choices"] = PRECISIONS
        shown = default if default not in ("", [], None) else "-"
        help_text = f"{help_text} (default: {shown})".replace("%", "%%")  # argparse %-formats help
        parser.add_argument(f"--{field.name}", help=help_text, **kwargs)
    return parser


@_cli.reports_user_errors
def main(argv=None):
    args = vars(build_parser().parse_args(argv))
    config_file = args.pop("config")
    try:
        file_values = load_config_file(config_file) if config_file else {}
        config = None if STAGES_KEY in file_values else build_config(file_values, args)
    except (ValueError, FileNotFoundError, TypeError) as e:  # the config file's and the options' own errors
        raise SystemExit(f"error: {e}")
    _cli.quiet_tensorflow()
    from tf_simcse.trainer import Trainer, TrainingError

    try:
        if config is None:  # a multi-stage recipe
            from tf_simcse.stages import run_stages

            run_stages(file_values, args, log=_cli.info)
        else:
            Trainer(config).run()
    except TrainingError as e:
        raise SystemExit(f"error: {e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
