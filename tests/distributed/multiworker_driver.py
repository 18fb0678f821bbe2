"""One training process of tests/distributed/multiworker_test.py (not a test module).

Usage: python multiworker_driver.py MODE OUTPUT_DIR WEIGHTS_NPZ TRAIN_FILE MODEL_DIR
  MODE "mirrored": one process, MirroredStrategy over 2 logical CPUs (the reference);
  MODE "multiworker": one worker of a MultiWorkerMirroredStrategy cluster given by TF_CONFIG (1 CPU device).
Writes the final encoder weights to WEIGHTS_NPZ. Environment: STEPS (6), CHECKPOINT_STEPS (1),
STEPS_PER_EXECUTION (1).
"""

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

if os.environ.get("UNFILTERED"):
    import keras

    keras.config.disable_traceback_filtering()


def main(mode, output_dir, weights_file, train_file, model_dir):
    if mode == "mirrored":
        import tensorflow as tf

        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from tf_simcse.config import build_config
    from tf_simcse.trainer import Trainer

    config = build_config(dict(
        model=model_dir,
        objective="sup",
        train_data=[train_file],
        output_dir=output_dir,
        strategy=mode,
        batch_size=16,
        max_seq_length=24,
        learning_rate=1e-3,
        weight_decay=0.01,
        max_grad_norm=1.0,
        max_steps=int(os.environ.get("STEPS", "6")),
        eval_steps=100,
        checkpoint_steps=int(os.environ.get("CHECKPOINT_STEPS", "1")),
        steps_per_execution=int(os.environ.get("STEPS_PER_EXECUTION", "1")),
        dropout=0.1,
        seed=11,
        export=False,
    ))
    trainer = Trainer(config)
    trainer.run()
    np.savez(weights_file, *[v.numpy() for v in trainer.encoder.weights])


if __name__ == "__main__":
    main(*sys.argv[1:])
