"""One training run of a sweep: build its config, run the Trainer in-process, tell a finished run."""

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
