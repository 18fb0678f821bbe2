"""One training run of a sweep: build its config, run the Trainer in-process or in a process of its own, tell a
finished run."""

import os
import subprocess
import sys
import tempfile
import time

from tf_simcse import fileio
from tf_simcse.errors import UserInputError

METRICS_FILE = "metrics.json"  # tf_simcse.trainer's names, without importing TensorFlow here
CONFIG_FILE = "config.json"
# Options that change nothing a finished run computed: a rerun may change them and still reuse the run.
BOOKKEEPING_FIELDS = ("log_steps", "checkpoint_steps", "export")


def make_config(file_values, overrides):
    """`build_config` with its errors as `UserInputError` (one `error:` line at the command line)."""
    from tf_simcse.config import build_config

    try:
        return build_config(file_values, overrides)
    except (TypeError, ValueError) as e:
        raise UserInputError(str(e)) from None


def recipe_of(config):
    """The config as a recipe: every option but output_dir (given at train time)."""
    return {k: v for k, v in config.to_dict().items() if k != "output_dir"}


def dev_label(config):
    """The label of the first eval task (`korsts:dev`), whose figures select the best step; None without one."""
    from tf_simcse.evaluation.tasks import parse_task

    return parse_task(config.eval_data[0]).label if config.eval_data else None


def is_finished(config):
    """True if `config.output_dir` holds a finished run (metrics.json) of `config`.

    A finished run of another config there is an error: its figures would be summarised as this config's.
    """
    out = config.output_dir
    if not fileio.exists(fileio.join(out, METRICS_FILE)):
        return False
    previous = fileio.read_json_if_exists(fileio.join(out, CONFIG_FILE), {})
    current = config.to_dict()
    changed = sorted(k for k in set(previous) | set(current)
                     if k not in BOOKKEEPING_FIELDS and previous.get(k) != current.get(k))
    if changed:
        details = "; ".join(f"{k}: {previous.get(k)!r} -> {current.get(k)!r}" for k in changed)
        raise UserInputError(f"{out} holds a finished run of another config ({details}); rerun with the options "
                             f"of that run, or choose a new --output_dir")
    return True


def trainer(config, on_evaluation=None):
    """A `Trainer` for `config` (its `run()` resumes from the output directory's newest checkpoint)."""
    import keras

    from tf_simcse.trainer import Trainer

    # Fresh Keras state (layer names, dtype policy): each run builds as it would in a new process.
    keras.backend.clear_session()
    return Trainer(config, on_evaluation=on_evaluation)


RUN_CONFIG_FILE = "sweep_config.json"  # the recipe a run in a process of its own trains (train --config)
RUN_LOG_FILE = "train.log"  # that process's stdout and stderr


def run_in_processes(configs, parallel, log, poll_seconds=1.0):
    """Trains `{key: config}` as `python -m tf_simcse.train` processes, at most `parallel` at a time.

    Each run writes `RUN_CONFIG_FILE` in its output directory, trains from it (resuming from that directory's
    checkpoints, as in-process) and logs to `RUN_LOG_FILE` there (to a local file when the directory is a
    bucket). The runs share the machine's cores: each process gets cores // parallel intra-op threads
    (TF_NUM_INTRAOP_THREADS) unless the environment sets that already. Returns `{key: (exit status, log path)}`
    of the runs that failed; Ctrl-C stops every process it started.
    """
    env = dict(os.environ)
    threads = max(1, (os.cpu_count() or 1) // parallel)
    env.setdefault("TF_NUM_INTRAOP_THREADS", str(threads))
    env.setdefault("TF_NUM_INTEROP_THREADS", str(threads))
    waiting, running, failed = list(configs.items()), {}, {}
    try:
        while waiting or running:
            while waiting and len(running) < parallel:
                key, config = waiting.pop(0)
                fileio.makedirs(config.output_dir)
                recipe = fileio.join(config.output_dir, RUN_CONFIG_FILE)
                fileio.write_json(recipe, recipe_of(config))
                log_path = _local_log_path(config.output_dir, key)
                command = [sys.executable, "-m", "tf_simcse.train", "--config", recipe,
                           "--output_dir", config.output_dir]
                with open(log_path, "ab") as log_file:
                    running[key] = (subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, env=env),
                                    log_path)
                log(f"{key}: training in process {running[key][0].pid} into {config.output_dir} (log: {log_path})")
            time.sleep(poll_seconds)
            for key, (process, log_path) in list(running.items()):
                if process.poll() is None:
                    continue
                del running[key]
                if process.returncode:
                    failed[key] = (process.returncode, log_path)
                    log(f"{key}: failed with exit status {process.returncode}; see {log_path}")
                else:
                    log(f"{key}: finished")
    finally:
        for process, _ in running.values():
            process.terminate()
        for process, _ in running.values():
            process.wait()
    return failed


def _local_log_path(output_dir, key):
    """`RUN_LOG_FILE` in the run's directory; for a bucket (gs://...) a local file instead, as processes write
    their output to local files only."""
    if not fileio.is_remote(output_dir):
        return os.path.join(output_dir, RUN_LOG_FILE)
    folder = os.path.join(tempfile.gettempdir(), "tf_simcse_sweep_logs")
    os.makedirs(folder, exist_ok=True)
    return os.path.join(folder, f"{key.replace(' ', '-')}-{os.getpid()}.log")


def last_error_line(log_path):
    """The last `error:` line of a run's log (what the CLI printed), or its last line."""
    try:
        with open(log_path, encoding="utf-8", errors="replace") as f:
            lines = [line.strip() for line in f if line.strip()]
    except OSError:
        return "(no log)"
    errors = [line for line in lines if line.startswith("error:")]
    return (errors or lines or ["(empty log)"])[-1]
