"""Several training steps per compiled call on several GPU / CPU replicas (`steps_per_execution` > 1).

Keras 3 (3.15, TF 2.21) runs `steps_per_execution` steps in a `tf.while_loop` whose body holds the optimizer
update; under `MirroredStrategy` / `MultiWorkerMirroredStrategy` that update is a merge call in a replica
thread, and the loop fails ("You must feed a value for placeholder tensor 'while/cond/Placeholder'"), even for
a Dense model with `keras.optimizers.AdamW`. Here the steps of one call are unrolled in Python instead: one
`tf.function` runs `count` consecutive `strategy.run(train_step)`, with no loop or `cond` around the merge call.

The number of steps of a call is known on the host: `steps_per_execution`, or fewer for the last call of an
epoch (Keras's `steps_per_epoch`, which `fit` must be given). So there are at most two traced programs, and no
step runs on a batch that is not there. TPUs keep Keras's loop (one replica program; no merge call in a thread).
"""

import tensorflow as tf
from keras.src.backend.tensorflow.trainer import reduce_per_replica

from tf_simcse import distribute


def needs_own_loop(model):
    """True where Keras's multi-step loop fails: steps_per_execution > 1 over several non-TPU replicas."""
    strategy = model.distribute_strategy
    return (
        model.steps_per_execution > 1
        and strategy.num_replicas_in_sync > 1
        and not distribute.is_tpu_strategy(strategy)
        and not model.run_eagerly
    )


class UnrolledTrainFunction:
    """`model.train_function`: runs min(steps_per_execution, steps left in the epoch) steps per call.

    `start_epoch(steps_per_epoch)` must be called before each epoch (`SimCSE.fit` does).
    """

    def __init__(self, model):
        self.model = model
        self.steps_per_epoch = None
        self.position = 0  # steps run in the current epoch
        self._compiled = {}

    def start_epoch(self, steps_per_epoch):
        if steps_per_epoch is None:
            raise ValueError(
                f"steps_per_execution {self.model.steps_per_execution} over several replicas needs fit(..., "
                "steps_per_epoch=N): the host decides how many steps each call runs."
            )
        self.steps_per_epoch, self.position = int(steps_per_epoch), 0

    def _steps(self, count):
        if count not in self._compiled:
            model, strategy = self.model, self.model.distribute_strategy

            def run(iterator):
                for _ in range(count):
                    outputs = strategy.run(model.train_step, args=(next(iterator),))
                return reduce_per_replica(outputs, strategy, reduction="auto")

            self._compiled[count] = tf.function(run, reduce_retracing=True)
        return self._compiled[count]

    def __call__(self, iterator):
        if self.steps_per_epoch is None:
            self.start_epoch(None)
        if self.position >= self.steps_per_epoch:  # Keras went on to a next epoch of the same fit call
            self.position = 0
        count = min(self.model.steps_per_execution, self.steps_per_epoch - self.position)
        outputs = self._steps(count)(iterator)
        self.position += count
        return outputs
