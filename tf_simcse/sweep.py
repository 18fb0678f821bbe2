"""Experiments over training runs: one config over several seeds, or a hyperparameter search with Optuna.

  seeds   train the config once per seed into OUTPUT_DIR/seed-<s>/; summary.json / summary.md: mean, sd, min,
          max and n of every dev and test figure over the seeds
  search  Optuna trials into OUTPUT_DIR/trial-<n>/ (objective: the best dev figure), median pruning, the study in
          an RDB storage shared by any number of workers; best_config.yaml and search.md at the end

Every run is a normal training output directory (python -m tf_simcse.train), run in this process, one after the
other (seeds --parallel N: up to N at once, in processes of their own). Every flag of tf_simcse.train (--model, --train_data, --eval_data, --test_data, --max_steps, ...)
overrides --config for all runs. Rerunning a command after an interruption resumes it: finished seeds are not
retrained, a killed run resumes from its checkpoint, and the study keeps its trials.

Examples:
  python -m tf_simcse.sweep seeds --config cpu_minilm_kornli --model "$MINILM" --seeds 42,43,44 \\
      --output_dir runs/seeds
  python -m tf_simcse.sweep search --config cpu_minilm_kornli --model "$MINILM" --space space.yaml --trials 20 \\
      --storage sqlite:///runs/search/study.db --study_name cpu --output_dir runs/search

`python -m tf_simcse.sweep seeds --help` and `... search --help` list each command's options. `search` needs
Optuna: pip install "tf_simcse[sweep]".
"""

import argparse
import sys

from tf_simcse import _cli
from tf_simcse.errors import UserInputError

SEEDS_DESCRIPTION = """Train one config once per seed, then summarise every figure over the seeds.

Each seed is a training run into OUTPUT_DIR/seed-<s>/ (its --seed set to s, every other option the same), one
after the other in this process, or with --parallel N up to N at a time in processes of their own. A seed
whose seed-<s>/metrics.json exists is not retrained (a finished run of another config there is an error); a
killed one resumes from its checkpoint. Then OUTPUT_DIR/summary.json and summary.md give, per figure, mean, sd
(the sample standard deviation, ddof=1; null in JSON and "–" in Markdown for a single seed), min, max, n and each
seed's value, for: the first eval task's figures at the selected step (best_step, the checkpoint in best/) and at
the last evaluated step, and every test task's figures (of best/). Counts such as num_pairs are left out.

Example (the CPU recipe, three seeds, ~8 minutes each on 2 cores):
  python -m tf_simcse.sweep seeds --config cpu_minilm_kornli --model "$MINILM" --seeds 42,43,44 \\
      --output_dir runs/seeds --export false
"""

SEARCH_DESCRIPTION = """Hyperparameter search with Optuna (TPE sampler, median pruning) over training options.

The space file (YAML or JSON) maps training options to distributions:
  learning_rate: {type: float, low: 1.0e-5, high: 1.0e-4, log: true}
  temperature: {type: float, low: 0.02, high: 0.1}
  pooler: {type: categorical, choices: [cls, avg]}
  batch_size: {type: int, low: 8, high: 32, step: 8}
float and int take low, high, and optionally step or log; categorical takes choices (numbers, strings, true/false,
null). An option in the space cannot also be given as a flag.

Each trial is a training run into OUTPUT_DIR/trial-<number>/. Its value is the run's best dev figure
(--metric_for_best_model of the first --eval_data task; maximized). Every evaluation is reported to the pruner: a
trial below the median of earlier trials at the same step stops there and is recorded as PRUNED. A run whose loss
turns non-finite is recorded as FAIL and the search goes on. --test_data is evaluated once per trial at the end,
shown in search.md, never used for selection. At the end: OUTPUT_DIR/best_config.yaml (the best trial's full
config, a recipe for --config of tf_simcse.train or sweep seeds) and OUTPUT_DIR/search.md (every trial of the
study: number, state, params, value).

--trials is the number of trials this process runs. The study lives in --storage: rerun the command to add
trials (a killed search resumes; with heartbeats on, a trial whose process died is marked FAIL after two
heartbeat intervals and retried with its parameters, resuming from its checkpoints if its directory is on this
machine). Several processes or machines share one study when started with the same --storage and --study_name:
  sqlite:///runs/search/study.db                     one machine (the default: OUTPUT_DIR/study.db)
  postgresql+psycopg2://USER:PASSWORD@HOST:5432/DB   several machines (pip install psycopg2-binary)
  mysql+pymysql://USER:PASSWORD@HOST:3306/DB         several machines (pip install PyMySQL)
Give the workers a shared --output_dir (a shared disk or a bucket) to have every trial's directory in one place.

Example (20 trials, two workers on one machine):
  python -m tf_simcse.sweep search --config cpu_minilm_kornli --model "$MINILM" --space space.yaml \\
      --trials 10 --storage sqlite:///runs/search/study.db --study_name cpu --output_dir runs/search &
  python -m tf_simcse.sweep search --config cpu_minilm_kornli --model "$MINILM" --space space.yaml \\
      --trials 10 --storage sqlite:///runs/search/study.db --study_name cpu --output_dir runs/search
"""


def _positive(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _non_negative(text):
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _add_command(subparsers, name, description, summary):
    """A subcommand with every flag of tf_simcse.train (a fresh copy: `resolve` edits the inherited actions)."""
    from tf_simcse import train

    parser = subparsers.add_parser(
        name, parents=[train.build_parser()], add_help=False, conflict_handler="resolve", help=summary,
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter,
        prog=f"python -m tf_simcse.sweep {name}",
    )
    parser.add_argument("--output_dir", required=True, help="the sweep's directory (one run directory per seed / trial)")
    return parser


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m tf_simcse.sweep", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="{seeds,search}")

    seeds = _add_command(commands, "seeds", SEEDS_DESCRIPTION, "train one config once per seed; mean, sd, ...")
    seeds.add_argument("--seeds", required=True, help="the seeds, comma-separated: 0,1,2")
    seeds.add_argument("--seed", help=argparse.SUPPRESS)  # replaced by --seeds
    seeds.add_argument("--parallel", type=_positive, default=1,
                       help="train up to this many seeds at once, each in a process of its own with cores/N "
                            "threads, logging to seed-<s>/train.log (default: %(default)s: one after the other, "
                            "in this process)")

    search = _add_command(commands, "search", SEARCH_DESCRIPTION, "an Optuna search over training options")
    search.add_argument("--space", required=True, help="YAML/JSON file: option -> {type: float|int|categorical, ...}")
    search.add_argument("--trials", type=_positive, required=True, help="trials this process runs")
    search.add_argument("--storage", help="Optuna RDB storage URL (default: sqlite:///OUTPUT_DIR/study.db)")
    search.add_argument("--study_name", default="tf_simcse", help="the study's name in the storage (default: %(default)s)")
    search.add_argument("--pruner", choices=("median", "none"), default="median",
                        help="median: stop a trial below the median of earlier trials at the same step (default)")
    search.add_argument("--prune_startup_trials", type=_non_negative, default=5,
                        help="no pruning until this many trials have finished (default: %(default)s)")
    search.add_argument("--prune_warmup_steps", type=_non_negative, default=1,
                        help="no pruning before this training step; 1 spares the untrained step-0 figure "
                             "(default: %(default)s)")
    search.add_argument("--sampler_seed", type=int, help="seed of the TPE sampler (default: random)")
    search.add_argument("--heartbeat", type=_non_negative, default=60,
                        help="seconds between a running trial's heartbeats; a trial silent for two is retried "
                             "(0: off; default: %(default)s)")
    return parser


@_cli.reports_user_errors
def main(argv=None):
    from tf_simcse.config import FIELD_TYPES, load_config_file

    args = build_parser().parse_args(argv)
    options = vars(args)
    overrides = {name: options[name] for name in FIELD_TYPES if name in options and name != "output_dir"}
    if args.command == "seeds":
        from tf_simcse.sweeping import seeds

        if overrides.pop("seed") is not None:
            raise UserInputError("sweep seeds takes the seeds as --seeds 0,1,2, not --seed")
        seed_list = seeds.parse_seeds(args.seeds)
    try:
        file_values = load_config_file(args.config) if args.config else {}
    except (ValueError, FileNotFoundError, TypeError) as e:  # the config file's own errors
        raise SystemExit(f"error: {e}")
    _cli.quiet_tensorflow()

    def log(message):
        _cli.info(f"[tf_simcse.sweep] {message}")

    from tf_simcse.trainer import TrainingError

    try:
        if args.command == "seeds":
            seeds.run(file_values, overrides, seed_list, args.output_dir, log, parallel=args.parallel)
        else:
            from tf_simcse.sweeping import search

            search.run(file_values, overrides, args, log)
    except TrainingError as e:
        raise SystemExit(f"error: {e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
