"""The training run: config -> data -> SimCSE model -> fit with evaluation, checkpoints and resume.

Output directory (a contract, see DESIGN.md); any path `tf.io.gfile` understands (local, `gs://`, `s3://`,
`hdfs://` where tensorflow-io provides it, `ram://`):
    config.json       the resolved TrainConfig (a rerun with a different config into the same dir is refused
                      once the run has a checkpoint; before that, the rerun replaces it)
    checkpoints/      tf.train checkpoints: weights, optimizer, batches trained, dropout RNG state — rerunning the
                      same command after a kill resumes from the newest one
    best/             the Encoder (save_pretrained layout) with the best dev figure so far (the last step when
                      there is no --eval_data)
    logs/             TensorBoard scalars (loss, learning rate, skipped float16 steps, eval figures)
    metrics.json      data report, every evaluation, the best step and figure, skipped steps, final test figures
    trainer_state.json  bookkeeping for resume (best so far, evaluation history, losses)

Steps. The step counter, the data position, the eval/checkpoint cadence and the resume point all count consumed
batches (`SimCSE.train_batches`), not optimizer updates: a float16 step skipped for overflow is still a step
(logged and counted as `skipped_steps`), so no batch is trained twice and no step is logged twice.

Resume is exact: the epoch order is a permutation seeded by (seed, epoch), a resumed run starts at the batch
after the checkpoint, and the dropout masks are a function of (seed, step, global replica id).

Several workers (`MultiWorkerMirroredStrategy`): every worker builds the same global batches and feeds its
replicas their slices of them, so the global batch holds the examples, in the order, one worker would see. Only
the chief evaluates and writes config.json, metrics.json, trainer_state.json, best/, logs/ and the export; every
worker saves checkpoints (TensorFlow's rule), the others into a temporary directory they delete, and all of them
resume from the chief's checkpoints/ (the output directory must be shared: a bucket or a shared disk).
"""

import errno
import json
import math
import sys
import time

import keras
import numpy as np
import tensorflow as tf

from tf_simcse import fileio
from tf_simcse.config import TrainConfig
from tf_simcse.errors import DiskFullError, is_disk_full

CHECKPOINTS_DIR = "checkpoints"
BEST_DIR = "best"
LOGS_DIR = "logs"
STATE_FILE = "trainer_state.json"
METRICS_FILE = "metrics.json"
CONFIG_FILE = "config.json"
# Changing these between a run and its resume does not change what is computed up to the checkpoint. (A change
# of max_steps / epochs that moves the end of the learning-rate schedule is refused in `Trainer.run`.)
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


# ------------------------------------------------------------------------------------ files (any filesystem)
_join = fileio.join


def _read_json(path):
    return fileio.read_json(path)


def _write_json(path, data):
    """Writes `data` through a temporary sibling and a rename (atomic on local disks; see `tf_simcse.fileio`)."""
    fileio.write_json(path, data, atomic=True, default=_json_default)


def _json_default(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _is_resumable(out):
    return tf.train.latest_checkpoint(_join(str(out), CHECKPOINTS_DIR)) is not None


def prepare_output_dir(config, write=True):
    """Creates the output dir, or checks that the run there was made with the same config; returns its path.

    A directory without a checkpoint holds no training to protect (a run that failed before its first step):
    its config and state are replaced. `write=False` (workers other than the chief) only checks.
    """
    out = str(config.output_dir)
    config_file = _join(out, CONFIG_FILE)
    current = config.to_dict()
    if fileio.exists(config_file) and _is_resumable(out):
        try:
            previous = _read_json(config_file)
        except (ValueError, OSError) as e:
            raise TrainingError(f"{config_file} is unreadable ({e}); choose a new --output_dir.") from None
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
    if write:
        fileio.makedirs(out)
        if not _is_resumable(out):
            fileio.remove(_join(out, STATE_FILE))  # bookkeeping of a run that never checkpointed
        _write_json(config_file, current)
    return out


def dropout_rng_variables(model):
    """Keras 3 keeps RNG state in SeedGenerator state variables, which tf.train.Checkpoint does not track.

    Training dropout no longer depends on them (see `tf_simcse.replicas`), but the MLM masking does, and a
    model used outside the trainer's steps falls back to them.
    """
    return sorted((v for v in model.variables if "seed_generator_state" in v.path), key=lambda v: v.path)


def _default_steps_per_execution(c, on_tpu):
    """1 off TPU; on TPU the largest count that keeps logging, evaluation and checkpoints on their steps."""
    if c.steps_per_execution is not None:
        return c.steps_per_execution
    if not on_tpu:
        return 1
    return math.gcd(math.gcd(c.log_steps, c.eval_steps), c.checkpoint_steps)


def _replica_slices(global_batches, input_context, global_batch_size):
    """This worker's share of every global batch: one element per local replica, replica order.

    Replica g (global id) gets rows [g*b, (g+1)*b) of each global batch, as `MirroredStrategy` splits a batch
    on one worker, so any layout of workers x devices sees the same examples per replica.
    """
    replicas = input_context.num_replicas_in_sync
    workers = input_context.num_input_pipelines
    local = replicas // workers
    per_replica = global_batch_size // replicas
    first = input_context.input_pipeline_id * local

    def split(batch):
        stacked = tf.nest.map_structure(
            lambda x: tf.stack([x[(first + r) * per_replica:(first + r + 1) * per_replica] for r in range(local)]),
            batch,
        )
        return tf.data.Dataset.from_tensor_slices(stacked)

    return global_batches.flat_map(split)


class Trainer:
    """Runs one `TrainConfig`. `run()` returns the metrics dict also written to metrics.json.

    `on_evaluation(step, value)`, if given, is called on the chief after every dev evaluation (step 0 included)
    with the selection figure (`metric_for_best_model` of the first eval task), once best/ and the state are
    saved. An exception it raises (e.g. `optuna.TrialPruned`) ends the run: `fit` stops at that step and the
    exception propagates out of `run()`, without metrics.json; the output directory stays resumable from its last
    checkpoint.
    """

    def __init__(self, config: TrainConfig, on_evaluation=None):
        self.config = config.validate()
        self.on_evaluation = on_evaluation

    # ---------------------------------------------------------------------------------------------- setup
    def _build(self):
        from tf_simcse import distribute
        from tf_simcse.data.pipelines import steps_per_epoch
        from tf_simcse.evaluation.tasks import carve_note, load_task_data, parse_task
        from tf_simcse.task import SimCSETask

        c = self.config
        # The strategy first: MultiWorkerMirroredStrategy must exist before anything initialises the runtime.
        self.strategy = distribute.resolve_strategy(c.strategy, tpu=c.tpu)
        self.is_chief, task_type, task_id = distribute.worker_role(self.strategy)
        self.out = prepare_output_dir(c, write=self.is_chief)
        keras.utils.set_random_seed(c.seed)
        self.precision = distribute.resolve_precision(c.precision, strategy=self.strategy)
        on_tpu = distribute.is_tpu_strategy(self.strategy)
        self.static_shapes = on_tpu if c.static_shapes is None else c.static_shapes
        self.steps_per_execution = _default_steps_per_execution(c, on_tpu)
        replicas = self.strategy.num_replicas_in_sync
        if c.batch_size % replicas:
            raise TrainingError(f"batch_size {c.batch_size} is not divisible by the {replicas} replicas.")
        if c.jit_compile and replicas > 1 and not on_tpu:
            # Keras 3 wraps `strategy.run` over all replicas in ONE jit-compiled function; XLA cannot place one
            # program over several devices ("Trying to access resource ... located in device ...:1 from device
            # ...:0"). Compiling each replica's step apart fails too: it holds merge calls (the cross-replica
            # gather of negatives, the optimizer update), which a nested tf.function cannot. TPUs compile every
            # step anyway.
            raise TrainingError(
                f"--jit_compile with {type(self.strategy).__name__} over {replicas} replicas: Keras 3 compiles "
                "the step of all replicas as one XLA program, which XLA cannot place on several devices. Run "
                "without --jit_compile (on TPUs every step is compiled with XLA anyway)."
            )
        chief = " (chief)" if self.is_chief else ""
        worker = "" if task_type is None else f", this worker {task_type}:{task_id}{chief}"
        _log(f"strategy {type(self.strategy).__name__} with {replicas} replica(s){worker}, precision "
             f"{self.precision}, static shapes {self.static_shapes}, XLA {c.jit_compile}, steps per execution "
             f"{self.steps_per_execution}")
        for warning in _batching_warnings(c, self.static_shapes):
            _log(f"warning: {warning}")

        self.task = SimCSETask(c)
        self.examples = self.task.load_data(self.out, write=self.is_chief, log=_log)
        self.pairs, self.teacher = self.task.pairs, self.task.teacher
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
        for task, data in self.task_data.items():
            if task.carve is not None:
                _log(carve_note(task, data))

        with self.strategy.scope():
            # A resumed run restores its MLP head: no fresh init to overwrite.
            self.encoder = self.task.build_encoder(reset_mlp=c.reset_mlp and not _is_resumable(self.out), log=_log)
            self.model = self.task.build_model(self.encoder)
            self.optimizer = self.task.build_optimizer(self.total_steps, precision=self.precision)
            self.model.compile(
                optimizer=self.optimizer, jit_compile=c.jit_compile, steps_per_execution=self.steps_per_execution
            )
            self.optimizer.build(self.model.trainable_variables)

        self.train_preprocessor = self.task.train_preprocessor(self.encoder, static_shapes=self.static_shapes)
        rng = tf.train.Checkpoint(**{f"v{i}": v.value for i, v in enumerate(dropout_rng_variables(self.model))})
        self.checkpoint = tf.train.Checkpoint(
            model=self.model, optimizer=self.optimizer, dropout_rng=rng, train_batches=self.model.train_batches.value
        )
        self.checkpoint_dir = _join(self.out, CHECKPOINTS_DIR)
        if self.is_chief:
            directory = self.checkpoint_dir
        else:  # TensorFlow's multi-worker rule: every worker saves; the others into a directory they delete
            directory = _join(self.out, f".worker-{task_type}-{task_id}-checkpoints")
        self.manager = tf.train.CheckpointManager(self.checkpoint, directory, max_to_keep=2)
        self.writer = (tf.summary.create_file_writer(_join(self.out, LOGS_DIR)) if self.is_chief
                       else tf.summary.create_noop_writer())

    def _epoch_dataset(self, epoch, start_batch):
        """The batches of `epoch` from batch `start_batch` on (seeded order: exact resume)."""
        return self.task.dataset(self.train_preprocessor, epoch, start_batch)

    # ------------------------------------------------------------------------------------- bookkeeping
    def _load_state(self, step):
        state_file = _join(self.out, STATE_FILE)
        state = {"best_step": None, "best_value": None, "history": [], "losses": [], "skipped": [],
                 "total_steps": self.total_steps}
        if self.is_chief and step > 0 and fileio.exists(state_file):
            state.update(_read_json(state_file))
        # Anything recorded after the checkpoint we resume from will be recomputed.
        state["history"] = [h for h in state["history"] if h["step"] <= step]
        state["losses"] = [x for x in state["losses"] if x[0] <= step]
        state["skipped"] = [x for x in state.get("skipped", []) if x <= step]
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

    @property
    def step(self):
        """Batches trained so far (skipped float16 updates included): the run's step counter."""
        return int(self.model.train_batches.numpy())

    @property
    def skipped_steps(self):
        """Steps whose update the loss-scale optimizer skipped (gradients overflowed in float16)."""
        return self.step - int(self.optimizer.iterations.numpy())

    def evaluate(self, tasks):
        from tf_simcse.evaluation.tasks import run_task

        figures = {}
        for task in tasks:
            metrics = run_task(self.encoder, task, batch_size=max(64, self.config.batch_size),
                               data=self.task_data[task])
            figures.update({f"{task.label}/{k}": v for k, v in metrics.items()})
        return figures

    def _evaluate_and_select(self, step):
        if not self.eval_tasks or not self.is_chief:
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
        if self.on_evaluation is not None:
            self.on_evaluation(step, value)

    def _save_best(self):
        """best/ <- the current encoder, staged in a temporary sibling (the previous best/ stays until it is done)."""
        final = _join(self.out, BEST_DIR)
        staging = fileio.temp_sibling(final, "tmp")
        try:
            self.encoder.save_pretrained(staging)
        except BaseException:
            fileio.remove(staging)
            raise
        fileio.replace_dir(staging, final)

    def _save_state(self):
        if self.is_chief:
            _write_json(_join(self.out, STATE_FILE), self.state)

    def _save_checkpoint(self, step):
        previous = self.manager.latest_checkpoint
        try:
            self.manager.save(checkpoint_number=step)
        except Exception as error:
            if not is_disk_full(error):
                raise
            # The manager names a checkpoint in its `checkpoint` file only after all of it is written, so the
            # previous one is still the latest; what this save wrote is removed.
            self._remove_checkpoint_files(step)
            kept = f"the previous checkpoint {previous} is intact" if previous else "no earlier checkpoint exists"
            raise DiskFullError(
                errno.ENOSPC,
                f"the disk filled up while writing the checkpoint of step {step}; its partial files were removed "
                f"and {kept}. Free some space and rerun the same command to resume",
                self.manager.directory,
            ) from None
        if not self.is_chief:
            fileio.remove(self.manager.directory)
        self._save_state()

    def _remove_checkpoint_files(self, step):
        """Deletes ckpt-STEP.index / .data-* and the writer's ckpt-STEP_temp/ staging directory."""
        directory = self.manager.directory
        prefix = f"ckpt-{step}"
        if not fileio.isdir(directory):
            return
        for name in fileio.listdir(directory):
            if name.startswith((prefix + ".", prefix + "_temp")):
                fileio.remove(_join(directory, name))

    def _restore(self):
        """Restores the newest checkpoint of the chief's checkpoints/ (every worker reads the same one)."""
        latest = tf.train.latest_checkpoint(self.checkpoint_dir)
        if latest is None:
            return None
        self.checkpoint.restore(latest).assert_existing_objects_matched()
        if int(self.model.train_batches.numpy()) == 0 and int(self.optimizer.iterations.numpy()) > 0:
            # A checkpoint written before batches were counted apart from updates (no skips were recorded).
            self.model.train_batches.assign(self.optimizer.iterations.numpy())
        return latest

    def _distribute(self, dataset):
        """Multi-replica: every replica's slice of each global batch (see `_replica_slices`)."""
        if self.strategy.num_replicas_in_sync == 1:
            return dataset
        batch_size = self.config.batch_size
        return self.strategy.distribute_datasets_from_function(
            lambda ctx: _replica_slices(dataset, ctx, batch_size)
        )

    # --------------------------------------------------------------------------------------------- run
    def run(self, callbacks=()):
        """Trains (or resumes) to the end; `callbacks` are extra Keras callbacks for `fit`."""
        extra_callbacks = list(callbacks)
        self._build()
        c = self.config
        restored = self._restore()
        step = self.step
        self.state = self._load_state(step)
        if restored:
            scheduled = self.state.get("total_steps", self.total_steps)
            if scheduled != self.total_steps:
                raise TrainingError(
                    f"{self.out} holds a run scheduled for {scheduled} steps (its learning rate decays to 0 at "
                    f"step {scheduled}); --max_steps/--epochs now give {self.total_steps}. Resume with the options "
                    f"of that run, or start a new --output_dir (with --model {_join(self.out, BEST_DIR)} to train "
                    f"on from its model)."
                )
            _log(f"resuming from {restored} at step {step}")
        self.state["total_steps"] = self.total_steps
        if step >= self.total_steps:
            _log(f"nothing to train: the run is already at step {step} of {self.total_steps}")
        elif step == 0:
            self._evaluate_and_select(0)  # the starting point is a candidate too, and the baseline figure

        callback = _StepCallback(self, step)
        while step < self.total_steps:
            epoch, start_batch = divmod(step, self.steps_per_epoch)
            remaining = min(self.steps_per_epoch - start_batch, self.total_steps - step)
            dataset = self._epoch_dataset(epoch, start_batch).take(remaining)
            _log(f"epoch {epoch + 1}/{c.epochs}: steps {step + 1}..{step + remaining} of {self.total_steps}")
            callback.start_fit(step, remaining)
            self.model.fit(
                self._distribute(dataset),
                epochs=1,
                # Stop on the count, never by running the iterator dry: at end of data a compiled step can still
                # run its data-independent updates (MultiWorkerMirroredStrategy advanced `iterations` there).
                steps_per_epoch=remaining,
                shuffle=False,  # the pipeline's seeded order is the order (exact resume)
                verbose=1 if sys.stderr.isatty() else 0,
                callbacks=[callback, *extra_callbacks],
            )
            if callback.failure:
                raise TrainingError(callback.failure)
            if callback.stopped_by is not None:
                raise callback.stopped_by
            step = self.step

        if not self.eval_tasks and self.is_chief:
            self.state["best_step"], self.state["best_value"] = step, None
            self._save_best()
            _log(f"no --eval_data: best/ holds the model of the last step ({step})")
        last = self.state["history"][-1]["step"] if self.state["history"] else None
        if self.eval_tasks and last != step:
            self._evaluate_and_select(step)
        latest = tf.train.latest_checkpoint(self.checkpoint_dir)
        if latest is None or not latest.endswith(f"-{step}"):
            self._save_checkpoint(step)
        return self._finish(step)

    def _sts_training_data(self):
        """The training specs that are scored STS pairs (KorSTS / KLUE-STS train, ...): a model trained on them
        has STS figures that are not comparable with NLI-only models (said in metrics.json and the model card)."""
        if self.pairs is not None:
            return list(self.config.train_data) if self.pairs.kind == "scored" else []
        sources = self.examples.report.get("sources", []) if self.teacher is not None else []
        return [s["spec"] for s in sources if s.get("format") == "scored"]

    def _export(self):
        """Writes export/{preprocessor,encoder,sentence_encoder} + the model card from best/ (atomic)."""
        from tf_simcse.encoders.encoder import Encoder
        from tf_simcse.exporting import export_model, training_model_card

        start = time.time()
        best = Encoder.from_pretrained(_join(self.out, BEST_DIR))
        export_dir = export_model(best, _join(self.out, "export"), model_card=training_model_card(self.out))
        _log(f"exported TF Hub SavedModels to {export_dir} [{time.time() - start:.0f}s]")
        self._store_decision_threshold(export_dir)

    def _store_decision_threshold(self, export_dir):
        """With a labelled-pair dev task (question_pair): the cosine threshold of best accuracy on it, written
        beside the export (decision_threshold.json), where `tf_simcse.serve` reads it for `/v1/similarity`.
        It is the selected step's evaluation figure (best/ is that step's model): nothing is encoded again."""
        from tf_simcse.exporting import write_decision_threshold

        task = next((t for t in self.eval_tasks if t.name == "question_pair"), None)
        chosen = [h for h in self.state["history"] if h["step"] == self.state["best_step"]]
        if task is None or not chosen:
            return
        threshold, accuracy = (chosen[-1][f"{task.label}/{k}"] for k in ("accuracy_threshold", "accuracy"))
        write_decision_threshold(export_dir, threshold, metric="accuracy", split=task.label, source="tf_simcse.train")
        _log(f"decision threshold: cosine >= {threshold:.4f} (best accuracy {accuracy:.2f} on {task.label}) "
             f"written to {export_dir}")

    def _finish(self, step):
        report = {
            "steps": step,
            "skipped_steps": self.skipped_steps,
            "train_examples": len(self.examples.anchors),
            "data_report": self.examples.report,
            "selection_metric": self._metric_key,
            "best_step": self.state["best_step"],
            "best_value": self.state["best_value"],
            "evaluations": self.state["history"],
            "sts_training_data": self._sts_training_data(),
        }
        carved = {t.label: d.report["carve"] for t, d in self.task_data.items() if t.carve is not None}
        if carved:
            report["carve_outs"] = carved  # the rows each carved eval / test task kept (tf_simcse.data.carve)
        if not self.is_chief:
            _log(f"done: {step} steps (worker; the chief writes the run's files)")
            return report
        best_dir = _join(self.out, BEST_DIR)
        if self.test_tasks and fileio.exists(best_dir):
            from tf_simcse.encoders.encoder import Encoder
            from tf_simcse.evaluation.tasks import run_task

            best = Encoder.from_pretrained(best_dir)
            report["test"] = {task.label: run_task(best, task, data=self.task_data[task]) for task in self.test_tasks}
        metrics_file = _join(self.out, METRICS_FILE)
        _write_json(metrics_file, report)
        if self.config.export and fileio.exists(best_dir):
            self._export()
        _log(f"done: {step} steps ({report['skipped_steps']} skipped); best {self._metric_key} = "
             f"{self.state['best_value']} at step {self.state['best_step']}; wrote {metrics_file}")
        return report


class _StepCallback(keras.callbacks.Callback):
    """After each execution (`steps_per_execution` steps): loss log, NaN guard, skipped steps, periodic evaluation
    and checkpoints. With steps_per_execution > 1 an evaluation or checkpoint falls on the first step that
    reaches or passes each multiple of eval_steps / checkpoint_steps.

    The step is counted on the host (every step consumes one batch of the `fit` call), so a call that logs,
    evaluates or checkpoints nothing reads no variable from the devices. Only loss-scaled (float16) runs read
    the optimizer's update count every call, to name the step whose update was skipped.
    """

    def __init__(self, trainer, step):
        super().__init__()
        self.trainer = trainer
        self.failure = None
        self.stopped_by = None  # an exception of an evaluation (e.g. from on_evaluation), re-raised after fit
        self.previous = step
        self.first, self.last = step, step

    def start_fit(self, step, steps):
        """The `fit` call about to run trains steps `step + 1 .. step + steps`."""
        self.first, self.last, self.previous = step, step + steps, step

    def on_train_batch_end(self, batch, logs=None):
        t = self.trainer
        c = t.config
        # Keras passes the index of the execution's last step, not clipped to the epoch's end.
        step, previous = min(self.first + batch + 1, self.last), self.previous
        self.previous = step

        def reached(every):
            return previous // every < step // every

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
        loss_scaled = hasattr(t.optimizer, "dynamic_scale")
        log_now = reached(c.log_steps)
        skipped = t.skipped_steps if loss_scaled else 0
        if skipped > len(t.state["skipped"]):
            t.state["skipped"].append(step)
            _log(f"step {step}: float16 gradients overflowed on a replica; the update was skipped on all of "
                 f"them (loss scale now {float(t.optimizer.dynamic_scale.numpy()):g}); {skipped} skipped so far")
        with t.writer.as_default(step=step):
            tf.summary.scalar("train/loss", loss)
            if log_now:
                tf.summary.scalar("train/learning_rate", float(_current_lr(t.optimizer)))
            if loss_scaled:
                tf.summary.scalar("train/skipped_steps", skipped)
        if log_now and not sys.stderr.isatty():
            _log(f"step {step}/{t.total_steps}: loss {loss:.4f}")
        if reached(c.eval_steps) and step < t.total_steps:
            self._check_step(step)
            try:
                t._evaluate_and_select(step)
            except Exception as error:  # noqa: BLE001 -- re-raised by run() once fit has stopped
                # Stop fit cleanly (its data iterator closed now, not left to the garbage collector, whose
                # destruction of a half-read tf.data iterator could stall the process for a minute).
                self.stopped_by = error
                self.model.stop_training = True
                return
        if reached(c.checkpoint_steps):
            self._check_step(step)
            t._save_checkpoint(step)

    def _check_step(self, step):
        """Before a step's figures or checkpoint are written: the host count is the devices' batch count."""
        if step != self.trainer.step:
            raise TrainingError(f"the host counted step {step} but the model trained {self.trainer.step} batches")


def _current_lr(optimizer):
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    lr = inner.learning_rate
    return lr.numpy() if hasattr(lr, "numpy") else lr
