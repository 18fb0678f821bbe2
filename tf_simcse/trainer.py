"""The training run: config -> data -> SimCSE model -> fit with evaluation, checkpoints and resume.

Output directory (a contract, see DESIGN.md):
    config.json       the resolved TrainConfig (a rerun with a different config into the same dir is refused)
    checkpoints/      tf.train checkpoints: weights, optimizer, step, dropout RNG state — rerunning the same
                      command after a kill resumes from the newest one
    best/             the Encoder (save_pretrained layout) with the best dev figure so far
    logs/             TensorBoard scalars (loss, learning rate, eval figures)
    metrics.json      data report, every evaluation, the best step and figure, final test figures
    trainer_state.json  bookkeeping for resume (best so far, evaluation history)

Resume is exact on CPU: the epoch order is a permutation seeded by (seed, epoch), a resumed run starts at the
batch after the checkpoint, and the dropout RNG (Keras SeedGenerator state, which tf.train.Checkpoint does not
track on its own) is saved with the weights.
"""

import dataclasses
import json
import math
import os
import pathlib
import shutil
import sys
import time

import keras
import numpy as np
import tensorflow as tf

from tf_simcse.config import TrainConfig

CHECKPOINTS_DIR = "checkpoints"
BEST_DIR = "best"
LOGS_DIR = "logs"
STATE_FILE = "trainer_state.json"
METRICS_FILE = "metrics.json"
CONFIG_FILE = "config.json"
# Changing these between a run and its resume does not change what is computed up to the checkpoint.
RESUME_TOLERANT_FIELDS = ("max_steps", "epochs", "eval_steps", "checkpoint_steps", "log_steps", "export", "test_data")


class TrainingError(RuntimeError):
    """A run that cannot go on (non-finite loss, incompatible output directory, ...)."""


def _log(message):
    print(f"[tf_simcse.train] {message}", file=sys.stderr, flush=True)


def _batching_warnings(c, static_shapes):
    """Option combinations that run but defeat their purpose (see docs/benchmarks.md)."""
    out = []
    if c.encode_anchors_apart and c.objective == "unsup":
        out.append("encode_anchors_apart has no effect with objective 'unsup' (one view per example).")
    if c.encode_anchors_apart and static_shapes:
        out.append("encode_anchors_apart with static shapes saves no padding (every view is padded to "
                   "max_seq_length) and splits the step into two smaller passes.")
    if c.jit_compile and not static_shapes and c.pad_to_multiple_of is None:
        out.append("XLA with dynamic shapes compiles the step once per batch length; set pad_to_multiple_of "
                   "(e.g. 16) to keep the number of shapes small, or static_shapes.")
    return out


def _write_json(path, data):
    tmp = pathlib.Path(str(path) + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=_json_default) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _json_default(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def prepare_output_dir(config):
    """Creates the output dir, or checks that an existing run there was made with the same config."""
    out = pathlib.Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    config_file = out / CONFIG_FILE
    if config_file.exists():
        previous = json.loads(config_file.read_text(encoding="utf-8"))
        current = config.to_dict()
        changed = sorted(
            k for k in set(previous) | set(current)
            if k not in RESUME_TOLERANT_FIELDS and previous.get(k) != current.get(k)
        )
        if changed:
            details = "; ".join(f"{k}: {previous.get(k)!r} -> {current.get(k)!r}" for k in changed)
            raise TrainingError(
                f"{out} holds a run with a different config ({details}). Resume it with the same options, "
                f"or choose a new --output_dir."
            )
    _write_json(config_file, config.to_dict())
    return out


def dropout_rng_variables(model):
    """Keras 3 keeps dropout RNG in SeedGenerator state variables, which tf.train.Checkpoint does not track."""
    return sorted((v for v in model.variables if "seed_generator_state" in v.path), key=lambda v: v.path)


class Trainer:
    """Runs one `TrainConfig`. `run()` returns the metrics dict also written to metrics.json."""

    def __init__(self, config: TrainConfig):
        self.config = config.validate()

    # ---------------------------------------------------------------------------------------------- setup
    def _build(self):
        from tf_simcse import distribute
        from tf_simcse.data.examples import load_training_examples
        from tf_simcse.data.pipelines import steps_per_epoch
        from tf_simcse.encoders.encoder import Encoder
        from tf_simcse.evaluation.tasks import load_task_data, parse_task
        from tf_simcse.model import SimCSE

        c = self.config
        self.out = prepare_output_dir(c)
        keras.utils.set_random_seed(c.seed)
        self.strategy = distribute.resolve_strategy(c.strategy, tpu=c.tpu)
        self.precision = distribute.resolve_precision(c.precision, strategy=self.strategy)
        on_tpu = isinstance(self.strategy, tf.distribute.TPUStrategy)
        self.static_shapes = on_tpu if c.static_shapes is None else c.static_shapes
        replicas = self.strategy.num_replicas_in_sync
        if c.batch_size % replicas:
            raise TrainingError(f"batch_size {c.batch_size} is not divisible by the {replicas} replicas.")
        _log(f"strategy {type(self.strategy).__name__} with {replicas} replica(s), precision {self.precision}, "
             f"static shapes {self.static_shapes}, XLA {c.jit_compile}")
        for warning in _batching_warnings(c, self.static_shapes):
            _log(f"warning: {warning}")

        self.examples = load_training_examples(c.train_data, c.objective)
        _log(f"training data: {json.dumps(self.examples.report, ensure_ascii=False)}")
        self.steps_per_epoch = steps_per_epoch(len(self.examples.anchors), c.batch_size, drop_remainder=True)
        if self.steps_per_epoch == 0:
            raise TrainingError(
                f"{len(self.examples.anchors)} training examples make no full batch of {c.batch_size}."
            )
        self.total_steps = self.steps_per_epoch * c.epochs
        if c.max_steps is not None:
            self.total_steps = min(self.total_steps, c.max_steps)

        self.eval_tasks = [parse_task(t) for t in c.eval_data]
        self.test_tasks = [parse_task(t) for t in c.test_data]
        self.task_data = {t: load_task_data(t) for t in self.eval_tasks + self.test_tasks}

        with self.strategy.scope():
            self.encoder = Encoder.from_pretrained(
                c.model,
                pooler=c.pooler,
                max_seq_length=c.max_seq_length,
                dropout=c.dropout,
                mlp_only_train=c.mlp_only_train,
                dynamic_padding=True,
            )
            if c.reset_mlp and self.encoder.mlp is not None and not _is_resumable(self.out):
                # The official code's MLP head is a new layer (normal(0.02) init), not the checkpoint's pooler.
                self.encoder.mlp.dense.kernel.assign(
                    keras.random.normal(self.encoder.mlp.dense.kernel.shape, stddev=0.02, seed=c.seed)
                )
                self.encoder.mlp.dense.bias.assign(tf.zeros_like(self.encoder.mlp.dense.bias))
            special = self.encoder.preprocessor.special_token_ids
            self.model = SimCSE(
                self.encoder,
                objective=c.objective,
                temperature=c.temperature,
                hard_negative_weight=c.hard_negative_weight,
                symmetric=c.symmetric,
                do_mlm=c.do_mlm,
                mlm_weight=c.mlm_weight,
                mask_token_id=special.get("mask_id"),
                special_token_ids=[i for i in special.values() if i is not None],
                seed=c.seed,
                encode_anchors_apart=c.encode_anchors_apart,
            )
            warmup = int(round(c.warmup_ratio * self.total_steps))
            self.optimizer = distribute.make_optimizer(
                learning_rate=c.learning_rate,
                weight_decay=c.weight_decay,
                warmup_steps=warmup,
                total_steps=self.total_steps,
                global_clipnorm=c.max_grad_norm,
                precision=self.precision,
            )
            self.model.compile(optimizer=self.optimizer, jit_compile=c.jit_compile)
            self.optimizer.build(self.model.trainable_variables)

        # The packer of the training pipeline: static (TPU/XLA) or dynamic padding, same tokenizer as encode().
        from tf_simcse.preprocessing import TextPreprocessor

        self.train_preprocessor = TextPreprocessor(
            self.encoder.preprocessor.tokenizer,
            seq_length=c.max_seq_length,
            pair_style=self.encoder.preprocessor.pair_style,
            dynamic=not self.static_shapes,
        )
        rng = tf.train.Checkpoint(**{f"v{i}": v.value for i, v in enumerate(dropout_rng_variables(self.model))})
        self.checkpoint = tf.train.Checkpoint(model=self.model, optimizer=self.optimizer, dropout_rng=rng)
        self.manager = tf.train.CheckpointManager(self.checkpoint, str(self.out / CHECKPOINTS_DIR), max_to_keep=2)
        self.writer = tf.summary.create_file_writer(str(self.out / LOGS_DIR))

    # ------------------------------------------------------------------------------------- bookkeeping
    def _load_state(self, step):
        state_file = self.out / STATE_FILE
        state = {"best_step": None, "best_value": None, "history": [], "losses": []}
        if state_file.exists():
            state.update(json.loads(state_file.read_text(encoding="utf-8")))
        # Anything recorded after the checkpoint we resume from will be recomputed.
        state["history"] = [h for h in state["history"] if h["step"] <= step]
        state["losses"] = [x for x in state["losses"] if x[0] <= step]
        if state["best_step"] is not None and state["best_step"] > step:
            candidates = [h for h in state["history"] if h.get(self._metric_key) is not None]
            best = max(candidates, key=lambda h: h[self._metric_key], default=None)
            state["best_step"] = best["step"] if best else None
            state["best_value"] = best[self._metric_key] if best else None
        return state

    @property
    def _metric_key(self):
        if not self.eval_tasks:
            return None
        return f"{self.eval_tasks[0].label}/{self.config.metric_for_best_model}"

    def evaluate(self, tasks):
        from tf_simcse.evaluation.tasks import run_task

        figures = {}
        for task in tasks:
            metrics = run_task(self.encoder, task, batch_size=max(64, self.config.batch_size),
                               data=self.task_data[task])
            figures.update({f"{task.label}/{k}": v for k, v in metrics.items()})
        return figures

    def _evaluate_and_select(self, step):
        if not self.eval_tasks:
            return
        start = time.time()
        figures = self.evaluate(self.eval_tasks)
        figures["step"] = step
        self.state["history"].append(figures)
        value = figures.get(self._metric_key)
        if value is None:
            raise TrainingError(
                f"metric_for_best_model {self.config.metric_for_best_model!r} is not a figure of "
                f"{self.eval_tasks[0].label}; available: {sorted(k.split('/', 1)[1] for k in figures if '/' in k)}"
            )
        with self.writer.as_default(step=step):
            for k, v in figures.items():
                if k != "step" and isinstance(v, (int, float)):
                    tf.summary.scalar(f"eval/{k}", v)
        improved = self.state["best_value"] is None or value > self.state["best_value"]
        if improved:
            self.state["best_step"], self.state["best_value"] = step, value
            self._save_best()
        _log(f"step {step}: {self._metric_key} = {value:.2f}"
             f"{' (best so far, saved to best/)' if improved else ''} [{time.time() - start:.0f}s]")
        self._save_state()

    def _save_best(self):
        tmp = self.out / (BEST_DIR + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        self.encoder.save_pretrained(tmp)
        final = self.out / BEST_DIR
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)

    def _save_state(self):
        _write_json(self.out / STATE_FILE, self.state)

    def _save_checkpoint(self, step):
        self.manager.save(checkpoint_number=step)
        self._save_state()

    # --------------------------------------------------------------------------------------------- run
    def run(self, callbacks=()):
        """Trains (or resumes) to the end; `callbacks` are extra Keras callbacks for `fit`."""
        from tf_simcse.data.pipelines import make_training_dataset

        extra_callbacks = list(callbacks)
        self._build()
        c = self.config
        restored = self.manager.restore_or_initialize()
        step = int(self.optimizer.iterations.numpy())
        self.state = self._load_state(step)
        if restored:
            _log(f"resuming from {restored} at step {step}")
        if step >= self.total_steps:
            _log(f"nothing to train: the run is already at step {step} of {self.total_steps}")
        elif step == 0:
            self._evaluate_and_select(0)  # the starting point is a candidate too, and the baseline figure

        callback = _StepCallback(self)
        while step < self.total_steps:
            epoch, start_batch = divmod(step, self.steps_per_epoch)
            remaining = min(self.steps_per_epoch - start_batch, self.total_steps - step)
            dataset = make_training_dataset(
                self.examples,
                self.train_preprocessor,
                objective=c.objective,
                batch_size=c.batch_size,
                seed=c.seed,
                epoch=epoch,
                start_batch=start_batch,
                drop_remainder=True,
                dedupe_in_batch=c.dedupe_in_batch,
                length_grouping=c.length_grouping,
                grouping_window=c.grouping_window,
                pad_to_multiple_of=c.pad_to_multiple_of,
                pad_anchors_separately=c.encode_anchors_apart,
            ).take(remaining)
            _log(f"epoch {epoch + 1}/{c.epochs}: steps {step + 1}..{step + remaining} of {self.total_steps}")
            self.model.fit(
                dataset,
                epochs=1,
                shuffle=False,  # the pipeline's seeded order is the order (exact resume)
                verbose=1 if sys.stderr.isatty() else 0,
                callbacks=[callback, *extra_callbacks],
            )
            if callback.failure:
                raise TrainingError(callback.failure)
            step = int(self.optimizer.iterations.numpy())

        last = self.state["history"][-1]["step"] if self.state["history"] else None
        if self.eval_tasks and last != step:
            self._evaluate_and_select(step)
        if self.manager.latest_checkpoint is None or not self.manager.latest_checkpoint.endswith(f"-{step}"):
            self._save_checkpoint(step)
        return self._finish(step)

    def _export(self):
        """Writes export/{preprocessor,encoder,sentence_encoder} + the model card from best/ (atomic)."""
        from tf_simcse.encoders.encoder import Encoder
        from tf_simcse.exporting import export_model, training_model_card

        start = time.time()
        export_dir = export_model(
            Encoder.from_pretrained(self.out / BEST_DIR),
            self.out / "export",
            model_card=training_model_card(self.out),
        )
        _log(f"exported TF Hub SavedModels to {export_dir} [{time.time() - start:.0f}s]")

    def _finish(self, step):
        report = {
            "steps": step,
            "train_examples": len(self.examples.anchors),
            "data_report": self.examples.report,
            "selection_metric": self._metric_key,
            "best_step": self.state["best_step"],
            "best_value": self.state["best_value"],
            "evaluations": self.state["history"],
        }
        if self.test_tasks and (self.out / BEST_DIR).exists():
            from tf_simcse.encoders.encoder import Encoder

            best = Encoder.from_pretrained(self.out / BEST_DIR)
            report["test"] = {}
            from tf_simcse.evaluation.tasks import run_task

            for task in self.test_tasks:
                report["test"][task.label] = run_task(best, task, data=self.task_data[task])
        _write_json(self.out / METRICS_FILE, report)
        if self.config.export and (self.out / BEST_DIR).exists():
            self._export()
        _log(f"done: {step} steps; best {self._metric_key} = {self.state['best_value']} at step "
             f"{self.state['best_step']}; wrote {self.out / METRICS_FILE}")
        return report


def _is_resumable(out):
    return tf.train.latest_checkpoint(str(pathlib.Path(out) / CHECKPOINTS_DIR)) is not None


class _StepCallback(keras.callbacks.Callback):
    """Per optimizer step: loss log, NaN guard, periodic evaluation and checkpoints."""

    def __init__(self, trainer):
        super().__init__()
        self.trainer = trainer
        self.failure = None

    def on_train_batch_end(self, batch, logs=None):
        t = self.trainer
        step = int(t.optimizer.iterations.numpy())
        loss = float((logs or {}).get("batch_loss", (logs or {}).get("loss", float("nan"))))
        if not math.isfinite(loss):
            good = t.manager.latest_checkpoint or "none (no checkpoint was written yet)"
            self.failure = (
                f"the loss became {loss} at step {step}; stopped. The last good checkpoint is {good}. "
                f"Lower --learning_rate, check the data, or use --precision float32."
            )
            self.model.stop_training = True
            return
        t.state["losses"].append([step, loss])
        with t.writer.as_default(step=step):
            tf.summary.scalar("train/loss", loss)
            tf.summary.scalar("train/learning_rate", float(_current_lr(t.optimizer)))
        if not sys.stderr.isatty() and step % t.config.log_steps == 0:
            _log(f"step {step}/{t.total_steps}: loss {loss:.4f}")
        if step % t.config.eval_steps == 0 and step < t.total_steps:
            t._evaluate_and_select(step)
        if step % t.config.checkpoint_steps == 0:
            t._save_checkpoint(step)


def _current_lr(optimizer):
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    lr = inner.learning_rate
    return lr.numpy() if hasattr(lr, "numpy") else lr
