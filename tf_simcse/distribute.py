"""Where and in which precision training runs: strategy, dtype policy, and the optimizer that fits both.

- `resolve_strategy(name)`: `auto | cpu | gpu | mirrored | tpu | multiworker` -> a `tf.distribute.Strategy`.
- `resolve_precision(name, strategy)`: `auto | float32 | mixed_float16 | mixed_bfloat16` -> sets the Keras global
  dtype policy (before the model is built) and returns its name.
- `make_optimizer(...)`: AdamW with decoupled weight decay (not on biases / LayerNorm), a linear warmup + linear
  decay schedule, optional global-norm clipping, and loss scaling under `mixed_float16`.

Two Keras 3.15 behaviours under `MirroredStrategy` are corrected here, both because the TF backend runs parts of
`Optimizer.apply` on each replica's LOCAL gradients, before they are summed across replicas:

1. `LossScaleOptimizer` decides whether the gradients are finite from the first replica's local gradients only
   (in its merge-call path) or from each replica's own (in its no-merge-call path, used with XLA on GPUs). An
   overflow on another replica is then summed into the update and reaches the weights as inf/NaN, or the replicas
   disagree about skipping the step. `SyncedLossScaleOptimizer` all-reduces the flag first, so every replica
   skips the same steps and halves / doubles its loss scale the same way.
2. `global_clipnorm` clips each replica's local gradient by its own norm, which is not the norm of the summed
   gradient a single device would clip. `AdamW` here clips after the cross-replica sum.
"""

import json
import math
import os

import keras
import tensorflow as tf

from tf_simcse.config import PRECISIONS, STRATEGIES

# Variable names (Keras short names) kept out of weight decay: biases and LayerNorm scale/offset, the BERT recipe's
# `no_decay = ["bias", "LayerNorm.weight"]` (HF also leaves LayerNorm.bias out via "bias").
NO_DECAY_NAMES = ("bias", "gamma", "beta")


# ------------------------------------------------------------------------------------------------- strategy
def _tpu_present():
    """Best-effort check for a TPU without initialising one: a configured TPU name, TPU VM chips, or TPU devices."""
    if os.environ.get("TPU_NAME") or os.environ.get("COLAB_TPU_ADDR"):
        return True
    if os.path.exists("/dev/accel0"):  # TPU VM chips (v2-v4)
        return True
    return bool(tf.config.list_physical_devices("TPU"))


def _tpu_strategy(tpu=None):
    """Connects to and initialises a TPU: `tpu=None`/"local" for a TPU VM (Colab), else a TPU name or grpc address."""
    tpu = tpu or os.environ.get("TPU_NAME") or "local"
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
        if tpu != "local":
            # A TPU node is a remote worker; a TPU VM's chips are local devices and need no connection.
            tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, RuntimeError, tf.errors.NotFoundError, tf.errors.UnavailableError) as e:
        raise RuntimeError(
            f"--strategy tpu: no TPU found for tpu={tpu!r} ({type(e).__name__}: {e}). On a TPU VM (Colab TPU "
            "runtime) use the default 'local' and install the TPU build of TensorFlow; for a TPU node pass its "
            "name or grpc://address with --tpu."
        ) from e
    return tf.distribute.TPUStrategy(resolver)


def _mirrored_strategy(devices=None):
    """A new `MirroredStrategy` whose collective-op keys cannot collide with an earlier one's in this process.

    Every MirroredStrategy numbers its collective ops from the class's `_collective_key_base`, while the runtime
    keeps the parameters of collectives already run; a second strategy in one process (a re-run notebook cell, a
    test session) then reuses the first one's keys and its collectives abort ("Collective instance N expected
    type ... but got type ..."). Moving the base on, as TensorFlow's own tests do, avoids that.
    """
    from tensorflow.python.distribute import mirrored_strategy

    cls = mirrored_strategy.MirroredStrategy
    if isinstance(getattr(cls, "_collective_key_base", None), int):
        cls._collective_key_base += 100000
    return tf.distribute.MirroredStrategy(devices)


def resolve_strategy(name="auto", tpu=None):
    """Returns the `tf.distribute.Strategy` named by `name` (one of `STRATEGIES`).

    - `auto`: a TPU if one is present (or `tpu` is given), else `MirroredStrategy` over 2+ GPUs, else one GPU,
      else the default (single-device) strategy.
    - `cpu`: `OneDeviceStrategy("/cpu:0")`, even when accelerators exist.
    - `gpu`: `OneDeviceStrategy("/gpu:0")`; an error without a GPU.
    - `mirrored`: `MirroredStrategy` over all local GPUs (all local CPUs' logical devices if there is no GPU).
    - `tpu`: `TPUStrategy`; `tpu` is `"local"` (TPU VM, Colab today; the default) or a TPU name / grpc address.
    - `multiworker`: `MultiWorkerMirroredStrategy`, configured by the `TF_CONFIG` environment variable. It must be
      created before any other TensorFlow op runs in the process.
    """
    if name not in STRATEGIES:
        raise ValueError(f"Unknown --strategy {name!r}: choose one of {', '.join(STRATEGIES)}.")
    if name == "multiworker":
        # First: its collectives are configured when it is created, before anything initialises the runtime
        # (listing devices, as the other branches do, would).
        return multiworker_strategy()
    gpus = tf.config.list_logical_devices("GPU")
    if name == "auto":
        if tpu is not None or _tpu_present():
            return _tpu_strategy(tpu)
        if len(gpus) > 1:
            return _mirrored_strategy()
        if len(gpus) == 1:
            return tf.distribute.OneDeviceStrategy("/gpu:0")
        return tf.distribute.get_strategy()
    if name == "cpu":
        return tf.distribute.OneDeviceStrategy("/cpu:0")
    if name == "gpu":
        if not gpus:
            raise RuntimeError("--strategy gpu: TensorFlow sees no GPU (tf.config.list_logical_devices('GPU') is [])")
        return tf.distribute.OneDeviceStrategy("/gpu:0")
    if name == "mirrored":
        if gpus:
            return _mirrored_strategy()
        return _mirrored_strategy([d.name for d in tf.config.list_logical_devices("CPU")])
    return _tpu_strategy(tpu)


def tf_config_from_cluster_spec(cluster_spec):
    """Vertex AI's `CLUSTER_SPEC` (custom containers) as a `TF_CONFIG` dict.

    Vertex names its pools `workerpool0` (the primary replica: the chief), `workerpool1` (workers),
    `workerpool2` (parameter servers) and `workerpool3` (evaluators).
    """
    roles = {"workerpool0": "chief", "workerpool1": "worker", "workerpool2": "ps", "workerpool3": "evaluator"}
    spec = json.loads(cluster_spec) if isinstance(cluster_spec, str) else cluster_spec
    cluster = {roles.get(pool, pool): list(hosts) for pool, hosts in spec.get("cluster", {}).items() if hosts}
    task = spec.get("task", {})
    return {"cluster": cluster, "task": {"type": roles.get(task.get("type"), task.get("type")),
                                         "index": int(task.get("index", 0))}}


def multiworker_strategy():
    """`MultiWorkerMirroredStrategy` configured by `TF_CONFIG` (Kubeflow TFJob, Vertex AI prebuilt containers) or,
    without it, by Vertex AI's `CLUSTER_SPEC`; a single worker when neither is set."""
    if "TF_CONFIG" not in os.environ and os.environ.get("CLUSTER_SPEC"):
        os.environ["TF_CONFIG"] = json.dumps(tf_config_from_cluster_spec(os.environ["CLUSTER_SPEC"]))
    if "TF_CONFIG" not in os.environ:
        tf.get_logger().warning("--strategy multiworker without TF_CONFIG or CLUSTER_SPEC: running as a single worker.")
    return tf.distribute.MultiWorkerMirroredStrategy()


def worker_role(strategy):
    """`(is_chief, task_type, task_id)` of this process: the chief writes the run's files, the others do not.

    Single-process strategies are their own chief. Under `MultiWorkerMirroredStrategy` the chief is the `chief`
    task or, in a cluster without one, worker 0 (TensorFlow's rule, which `extended.should_checkpoint` follows).
    """
    resolver = getattr(strategy, "cluster_resolver", None)
    task_type = getattr(resolver, "task_type", None)
    task_id = getattr(resolver, "task_id", None)
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) or task_type is None:
        return True, task_type, task_id
    return bool(strategy.extended.should_checkpoint), task_type, int(task_id or 0)


def is_tpu_strategy(strategy):
    return isinstance(strategy, (tf.distribute.TPUStrategy, tf.distribute.experimental.TPUStrategy))


def _strategy_uses_gpu(strategy):
    try:
        devices = strategy.extended.worker_devices
    except RuntimeError:  # the default strategy: TensorFlow places ops on a GPU when there is one
        return bool(tf.config.list_logical_devices("GPU"))
    return any("GPU" in d.upper() for d in devices)


# ------------------------------------------------------------------------------------------------ precision
def resolve_precision(name="auto", strategy=None):
    """Sets the Keras global dtype policy and returns its name (one of `PRECISIONS` minus `auto`).

    `auto` picks `mixed_bfloat16` on TPU, `mixed_float16` on GPU and `float32` on CPU, looking at `strategy`'s
    devices (the current strategy when None). Call it before building the model: layers read the global policy
    when they are created. Embeddings, similarities and the loss stay float32 under every policy (see
    `tf_simcse.encoders.poolers` and `tf_simcse.losses`).
    """
    if name not in PRECISIONS:
        raise ValueError(f"Unknown --precision {name!r}: choose one of {', '.join(PRECISIONS)}.")
    if name == "auto":
        strategy = strategy or tf.distribute.get_strategy()
        if is_tpu_strategy(strategy):
            name = "mixed_bfloat16"
        elif _strategy_uses_gpu(strategy):
            name = "mixed_float16"
        else:
            name = "float32"
    keras.config.set_dtype_policy(name)
    return name


# ---------------------------------------------------------------------------------------------- schedule
@keras.saving.register_keras_serializable(package="tf_simcse")
class LinearWarmupLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """`lr(step)`: 0 -> `peak` linearly over `warmup_steps`, then linearly down to 0 at `total_steps`.

    The schedule of Hugging Face `get_linear_schedule_with_warmup` (used by the official SimCSE trainer), indexed
    by the optimizer's `iterations` (0 for the first update): `peak * step / warmup` while `step < warmup`, then
    `peak * max(0, (total - step) / (total - warmup))`.
    """

    def __init__(self, peak, total_steps, warmup_steps=0, name="linear_warmup_linear_decay"):
        if total_steps < 1:
            raise ValueError(f"total_steps must be >= 1, got {total_steps}.")
        if not 0 <= warmup_steps <= total_steps:
            raise ValueError(f"warmup_steps must be in [0, total_steps={total_steps}], got {warmup_steps}.")
        self.peak = float(peak)
        self.total_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)
        self.name = name

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        warmup = float(max(self.warmup_steps, 1))
        decay = float(max(self.total_steps - self.warmup_steps, 1))
        warming = self.peak * step / warmup
        decaying = self.peak * tf.maximum(0.0, (self.total_steps - step) / decay)
        return tf.where(step < self.warmup_steps, warming, decaying)

    def get_config(self):
        return {
            "peak": self.peak,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
            "name": self.name,
        }


# --------------------------------------------------------------------------------------------- optimizers
@keras.saving.register_keras_serializable(package="tf_simcse")
class AdamW(keras.optimizers.AdamW):
    """`keras.optimizers.AdamW` with the update of `torch.optim.AdamW` (the official SimCSE trainer's) and a
    `global_clipnorm` that is that of the gradient summed over replicas.

    - Epsilon: Keras folds Adam's bias corrections into the step size, `w -= lr * sqrt(1 - b2^t) / (1 - b1^t)
      * m / (sqrt(v) + eps)`, so its epsilon weighs `1 / sqrt(1 - b2^t)` times more than PyTorch's
      `w -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)` (31.6x at the first step). Here the update is
      PyTorch's: the same run trains to the same weights in both (tests/torch_trajectory_test.py).
    - Clipping: Keras clips before its cross-replica all-reduce (each replica by its own norm); here after it, so
      a multi-replica step clips exactly as one device with the global batch would.

    `no_decay_names` are regular expressions searched in variable names (`exclude_from_weight_decay(var_names=
    ...)`), kept in the config so that a restored optimizer decays the same variables. Decoupled weight decay is
    Keras's, which is PyTorch's (`w -= lr * weight_decay * w`, before the Adam update).
    """

    def __init__(self, *args, no_decay_names=NO_DECAY_NAMES, **kwargs):
        super().__init__(*args, **kwargs)
        self.no_decay_names = tuple(no_decay_names or ())
        if self.no_decay_names:
            self.exclude_from_weight_decay(var_names=list(self.no_decay_names))

    def update_step(self, gradient, variable, learning_rate):
        if self.amsgrad:
            return super().update_step(gradient, variable, learning_rate)
        ops = keras.ops
        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype)
        gradient = ops.cast(gradient, dtype)
        step = ops.cast(self.iterations + 1, dtype)
        bias_1 = 1 - ops.power(ops.cast(self.beta_1, dtype), step)
        bias_2 = 1 - ops.power(ops.cast(self.beta_2, dtype), step)
        index = self._get_variable_index(variable)
        m, v = self._momentums[index], self._velocities[index]
        self.assign_add(m, ops.multiply(ops.subtract(gradient, m), 1 - self.beta_1))
        self.assign_add(v, ops.multiply(ops.subtract(ops.square(gradient), v), 1 - self.beta_2))
        denominator = ops.add(ops.divide(ops.sqrt(v), ops.sqrt(bias_2)), self.epsilon)
        self.assign_sub(variable, ops.divide(ops.multiply(m, lr / bias_1), denominator))

    def _clip_gradients(self, grads):
        if self.global_clipnorm and self.global_clipnorm > 0:
            return grads  # clipped in `_all_reduce_sum_gradients`, after the sum over replicas
        return super()._clip_gradients(grads)

    def _all_reduce_sum_gradients(self, grads_and_vars):
        grads_and_vars = super()._all_reduce_sum_gradients(grads_and_vars)
        # An embedding lookup's gradient is a tf.IndexedSlices with one row per token occurrence. Keras's Adam
        # squares it before its duplicate rows are summed (a token seen k times gets the sum of k squares in its
        # second moment, not the square of the sum), and clip_by_global_norm measures the occurrences apart:
        # make it dense (PyTorch's nn.Embedding gradient). After the all-reduce, which concatenates the replicas'
        # occurrences in replica order, so that N replicas sum them in the order one device does.
        grads_and_vars = [
            (tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g, v) for g, v in grads_and_vars
        ]
        if not (self.global_clipnorm and self.global_clipnorm > 0):
            return grads_and_vars
        grads_and_vars = list(grads_and_vars)
        present = [i for i, (g, _) in enumerate(grads_and_vars) if g is not None]
        clipped, _ = tf.clip_by_global_norm([grads_and_vars[i][0] for i in present], self.global_clipnorm)
        for i, g in zip(present, clipped):
            grads_and_vars[i] = (g, grads_and_vars[i][1])
        return grads_and_vars

    def get_config(self):
        config = super().get_config()
        config["no_decay_names"] = list(self.no_decay_names)
        return config


@keras.saving.register_keras_serializable(package="tf_simcse")
class SyncedLossScaleOptimizer(keras.optimizers.LossScaleOptimizer):
    """A `LossScaleOptimizer` whose "all gradients finite" decision is shared by all replicas.

    The flag is all-reduced across replicas in the replica context, then one decision is taken in the
    cross-replica context: when any replica has a non-finite gradient, the update is skipped on every replica and
    the (mirrored) loss scale halved; otherwise every replica applies the summed gradient and counts towards the
    next doubling. With one replica it is Keras's class unchanged.
    """

    def check_finite(self, grads):
        finite = super().check_finite(grads)
        ctx = tf.distribute.get_replica_context()
        if ctx is None or ctx.num_replicas_in_sync == 1:
            return finite
        non_finite_replicas = ctx.all_reduce(tf.distribute.ReduceOp.SUM, tf.cast(tf.logical_not(finite), tf.float32))
        return tf.equal(non_finite_replicas, 0.0)

    def _tf_apply(self, grads, trainable_variables=None):
        ctx = tf.distribute.get_replica_context()
        if ctx is None:
            raise ValueError("apply() must be called in a replica context.")
        if ctx.num_replicas_in_sync == 1:
            return super()._tf_apply(grads, trainable_variables)
        # Always the merge-call route, even when the strategy could run without merge calls (MirroredStrategy
        # under XLA on GPUs): Keras's no-merge-call route updates the inner optimizer inside a `cond` in the
        # replica context, and its `iterations` (ONLY_FIRST_REPLICA aggregation) needs a merge call there, which
        # a cond branch cannot make.
        finite = self.check_finite(grads)  # identical on every replica

        def handle_cross_replica(distribution, finite, grads, trainable_variables):
            finite = distribution.experimental_local_results(finite)[0]

            def apply_fn():
                distribution.extended.call_for_each_replica(
                    self._stateful_handle_finite_grads, args=(grads, trainable_variables)
                )

            # In the cross-replica context, as in Keras: a cond in replica context cannot contain merge calls.
            keras.ops.cond(finite, apply_fn, self._stateful_handle_non_finite_grads)

        ctx.merge_call(handle_cross_replica, args=(finite, grads, trainable_variables))


def make_optimizer(
    learning_rate=3e-5,
    *,
    total_steps,
    warmup_steps=0,
    weight_decay=0.0,
    beta_1=0.9,
    beta_2=0.999,
    epsilon=1e-8,
    global_clipnorm=None,
    precision=None,
    no_decay_names=NO_DECAY_NAMES,
    initial_scale=2.0**15,
    dynamic_growth_steps=2000,
):
    """The SimCSE optimizer: AdamW + linear warmup/decay (+ loss scaling under `mixed_float16`).

    Defaults follow the official trainer (Hugging Face `Trainer`): betas (0.9, 0.999), epsilon 1e-8, weight
    decay 0 (when > 0, not applied to biases and LayerNorm). The official runs clip the global gradient norm at
    1.0 (`max_grad_norm`); pass `global_clipnorm=1.0` for that. `precision` is the dtype policy name (the current
    global policy when None): `mixed_float16` wraps the optimizer in `SyncedLossScaleOptimizer`; bfloat16 needs no
    loss scaling.

    `warmup_steps` is a step count, or a ratio of `total_steps` when a float in (0, 1).

    The update is PyTorch's AdamW, epsilon included (see `AdamW`). One difference from PyTorch remains: a step
    skipped for overflow does not advance the schedule (PyTorch's AMP steps the scheduler anyway).
    """
    if learning_rate <= 0:
        raise ValueError(f"learning_rate must be > 0, got {learning_rate}.")
    if isinstance(warmup_steps, float) and 0 < warmup_steps < 1:
        warmup_steps = math.ceil(warmup_steps * total_steps)  # a warmup ratio
    schedule = LinearWarmupLinearDecay(learning_rate, total_steps=total_steps, warmup_steps=int(warmup_steps))
    optimizer = AdamW(
        learning_rate=schedule,
        weight_decay=weight_decay,
        beta_1=beta_1,
        beta_2=beta_2,
        epsilon=epsilon,
        global_clipnorm=global_clipnorm,
        no_decay_names=no_decay_names,
    )
    if precision is None:
        precision = keras.config.dtype_policy().name
    if precision == "mixed_float16":
        optimizer = SyncedLossScaleOptimizer(
            optimizer, initial_scale=initial_scale, dynamic_growth_steps=dynamic_growth_steps
        )
    return optimizer


def ensure_synced_loss_scaling(optimizer, precision):
    """Returns `optimizer` ready for `precision`: under `mixed_float16`, wrapped in `SyncedLossScaleOptimizer`.

    A Keras `LossScaleOptimizer` is re-wrapped around its inner optimizer (keeping its scale settings); this is
    what `SimCSE.compile` calls so that Keras's own wrapping (which `compile` does for `mixed_float16`) never
    sees an unwrapped optimizer.
    """
    optimizer = keras.optimizers.get(optimizer)
    if isinstance(optimizer, SyncedLossScaleOptimizer) or precision != "mixed_float16":
        return optimizer
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        if optimizer.built:
            raise ValueError("Pass an unbuilt optimizer: its LossScaleOptimizer wrapper must be replaced before use.")
        return SyncedLossScaleOptimizer(
            optimizer.inner_optimizer,
            initial_scale=optimizer.initial_scale,
            dynamic_growth_steps=optimizer.dynamic_growth_steps,
        )
    return SyncedLossScaleOptimizer(optimizer)
