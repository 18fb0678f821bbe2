"""`sweep search`: an Optuna study over TrainConfig options; each trial a training run in OUTPUT_DIR/trial-<n>/.

The objective is the run's best dev figure (`metric_for_best_model` of the first eval task), maximized. Every
evaluation is reported to the pruner (MedianPruner) through the Trainer's `on_evaluation` hook; a pruned run
stops there and its trial is recorded as PRUNED. Trials whose training fails (a non-finite loss) are recorded as
FAIL and the search goes on. The study lives in the RDB storage: a killed search resumes, and several processes
or machines share one study. With heartbeats on, a trial whose process was killed is marked FAIL after two
heartbeat intervals and retried with the same parameters, resuming from the checkpoints of its directory when
that directory is on this machine.
"""

import json
import os
import random
import time
import typing
import warnings

import yaml

from tf_simcse import _cli, fileio
from tf_simcse.errors import UserInputError
from tf_simcse.sweeping import runs

BEST_CONFIG = "best_config.yaml"
SEARCH_MD = "search.md"
DISTRIBUTION_KEYS = {"float": ("low", "high", "step", "log"), "int": ("low", "high", "step", "log"),
                     "categorical": ("choices",)}
SPACE_EXAMPLE = "learning_rate: {type: float, low: 1.0e-5, high: 1.0e-4, log: true}"


def import_optuna():
    try:
        import optuna
    except ImportError:
        raise UserInputError('`sweep search` needs Optuna: pip install "tf_simcse[sweep]"') from None
    return optuna


# ------------------------------------------------------------------------------------------- the space
def load_space(path, file_values, overrides):
    """Reads and checks a space file (YAML/JSON: option -> distribution); returns {option: distribution dict}.

    Every problem is a `UserInputError` naming the file and the key. Bounds and choices are tried as values of
    the config, so a value the config refuses (`temperature: {low: 0, ...}`) fails here, before any training.
    """
    optuna = import_optuna()
    text = fileio.read_text(path)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise UserInputError(f"--space {path}: cannot parse: {' '.join(str(e).split())}") from None
    if not isinstance(data, dict) or not data:
        raise UserInputError(f"--space {path}: expected a mapping of option: distribution, e.g. {SPACE_EXAMPLE}")
    space = {}
    for name, spec in data.items():
        def bad(message, name=name):
            raise UserInputError(f"--space {path}: {name}: {message}")

        space[name] = _distribution(optuna, name, spec, bad)
        if overrides.get(name) is not None:
            bad(f"also given as --{name}; search it or fix it, not both")
        probes = space[name].get("choices") or [space[name]["low"], space[name]["high"]]
        for value in probes:
            try:
                runs.make_config(file_values, {**overrides, name: value})
            except UserInputError as e:
                bad(f"{value!r} is refused: {e}")
    return space


def _distribution(optuna, name, spec, bad):
    from tf_simcse.config import FIELD_TYPES

    field = FIELD_TYPES.get(name)
    if field is None:
        bad(f"not a training option (known: {', '.join(sorted(set(FIELD_TYPES) - {'output_dir'}))})")
    if name == "output_dir":
        bad("cannot be searched: every trial writes to OUTPUT_DIR/trial-<number>")
    kinds = set(typing.get_args(field.type) or (field.type,)) - {type(None)}
    if list in kinds:
        bad("a list option cannot be searched")
    if not isinstance(spec, dict) or spec.get("type") not in DISTRIBUTION_KEYS:
        bad(f"expected {{type: float | int | categorical, ...}}, got {spec!r} (e.g. {SPACE_EXAMPLE})")
    kind = spec["type"]
    unknown = sorted(set(spec) - {"type", *DISTRIBUTION_KEYS[kind]})
    if unknown:
        bad(f"unknown key(s) {unknown} for type {kind} (it takes {', '.join(DISTRIBUTION_KEYS[kind])})")
    if kind == "categorical":
        choices = spec.get("choices")
        if not isinstance(choices, list) or not choices:
            bad("type categorical needs a non-empty list of choices, e.g. {type: categorical, choices: [cls, avg]}")
        for choice in choices:
            if choice is not None and not isinstance(choice, (bool, int, float, str)):
                bad(f"choice {choice!r}: choices are numbers, strings, true/false or null")
        return {"type": kind, "choices": choices}
    if not kinds & {int, float} or bool in kinds:
        bad(f"not a numeric option: use {{type: categorical, choices: [...]}}, not type {kind}")
    if kind == "float" and float not in kinds:
        bad("an integer option: use type int (or categorical)")
    if "low" not in spec or "high" not in spec:
        bad(f"type {kind} needs low and high")
    dist = {"type": kind}
    for key in ("low", "high", "step"):
        if spec.get(key) is not None:
            dist[key] = _number(spec[key], kind, key, bad)
    dist["log"] = spec.get("log", False)
    if not isinstance(dist["log"], bool):
        bad(f"log: expected true or false, got {dist['log']!r}")
    make = optuna.distributions.FloatDistribution if kind == "float" else optuna.distributions.IntDistribution
    try:
        make(**{k: v for k, v in dist.items() if k != "type"})
    except (ValueError, TypeError) as e:
        bad(" ".join(str(e).split()))
    return dist


def _number(value, kind, key, bad):
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            bad(f"{key}: expected an integer, got {value!r}")
        return value
    if isinstance(value, str):  # YAML 1.1 reads 1e-5 (no dot) as text
        try:
            return float(value)
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        bad(f"{key}: expected a number, got {value!r}")
    return float(value)


def suggest(trial, name, dist):
    if dist["type"] == "categorical":
        return trial.suggest_categorical(name, dist["choices"])
    if dist["type"] == "float":
        return trial.suggest_float(name, dist["low"], dist["high"], step=dist.get("step"), log=dist["log"])
    return trial.suggest_int(name, dist["low"], dist["high"], step=dist.get("step", 1), log=dist["log"])


# ------------------------------------------------------------------------------------------- the study
def storage_label(url):
    """The storage URL with its password hidden (for logs and search.md)."""
    try:
        import sqlalchemy

        return sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 -- only for display; an unparsable URL fails in open_study with its reason
        return url


def open_study(optuna, url, study_name, pruner, sampler, heartbeat):
    """Creates or loads (`load_if_exists`) the study; retried while concurrent workers create the tables."""
    import sqlalchemy.exc

    engine_kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    kwargs = {}
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)  # heartbeats and retries
    if heartbeat:
        kwargs.update(heartbeat_interval=heartbeat, grace_period=2 * heartbeat)
        if hasattr(optuna.storages, "RetryHeartbeatStaleTrialCallback"):  # Optuna >= 5
            kwargs["heartbeat_stale_trial_callback"] = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=3)
        else:
            kwargs["failed_trial_callback"] = optuna.storages.RetryFailedTrialCallback(max_retry=3)
    attempts = 6
    for attempt in range(attempts):
        try:
            storage = optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs, **kwargs)
            study = optuna.create_study(storage=storage, study_name=study_name, direction="maximize",
                                        load_if_exists=True, pruner=pruner, sampler=sampler)
            break
        except ImportError as e:
            raise UserInputError(f"--storage {storage_label(url)}: its database driver is missing ({e}); e.g. "
                                 "pip install psycopg2-binary (PostgreSQL) or PyMySQL (MySQL)") from None
        except sqlalchemy.exc.ArgumentError as e:
            raise UserInputError(f"--storage {url!r}: not a database URL ({e})") from None
        except (sqlalchemy.exc.OperationalError, sqlalchemy.exc.IntegrityError) as e:
            # Two workers creating the tables of a new database at once: one of them loses; it loads them next.
            if attempt == attempts - 1:
                reason = " ".join(str(e.orig if e.orig is not None else e).split())
                raise UserInputError(f"--storage {storage_label(url)}: {reason}") from None
            time.sleep(0.5 + random.random() * (attempt + 1))
    if study.direction != optuna.study.StudyDirection.MAXIMIZE:
        raise UserInputError(f"study {study_name!r} in {storage_label(url)} minimizes; the search maximizes the dev "
                             "figure: use another --study_name")
    return study


def check_study(study, space, metric_key):
    """A study is searched with one space and one objective: a worker started with others is refused."""
    for key, value in (("space", json.loads(json.dumps(space))), ("objective", metric_key)):
        stored = study.user_attrs.get(key)
        if stored is None:
            study.set_user_attr(key, value)
        elif stored != value:
            raise UserInputError(f"study {study.study_name!r} searches {key} {json.dumps(stored)}, not "
                                 f"{json.dumps(value)}; use the same --space and --eval_data, or another --study_name")


# ------------------------------------------------------------------------------------------- the trials
def run(file_values, overrides, args, log):
    """Runs `args.trials` trials of the study (creating it if new), then writes best_config.yaml and search.md."""
    optuna = import_optuna()
    output_dir = fileio.absolute(args.output_dir)
    base = runs.make_config(file_values, {**overrides, "output_dir": fileio.join(output_dir, "trial-0")})
    if not base.eval_data:
        raise UserInputError("search needs --eval_data (or eval_data in --config): its first task's "
                             f"{base.metric_for_best_model} is the objective")
    space = load_space(args.space, file_values, {**overrides, "output_dir": base.output_dir})
    metric_key = f"{runs.dev_label(base)}/{base.metric_for_best_model}"
    url = args.storage
    if url is None:
        if fileio.is_remote(output_dir):
            raise UserInputError(f"--output_dir {output_dir}: give --storage (the default SQLite file must be local)")
        fileio.makedirs(output_dir)
        url = f"sqlite:///{fileio.join(output_dir, 'study.db')}"
    pruner = (optuna.pruners.MedianPruner(n_startup_trials=args.prune_startup_trials,
                                          n_warmup_steps=args.prune_warmup_steps)
              if args.pruner == "median" else optuna.pruners.NopPruner())
    sampler = optuna.samplers.TPESampler(seed=args.sampler_seed)
    study = open_study(optuna, url, args.study_name, pruner, sampler, args.heartbeat)
    check_study(study, space, metric_key)
    log(f"study {args.study_name!r} in {storage_label(url)}: {len(study.trials)} trial(s) so far; "
        f"running {args.trials} more")

    from tf_simcse.trainer import TrainingError

    stop_errors = []

    def objective(trial):
        params = {name: suggest(trial, name, dist) for name, dist in space.items()}
        out = trial.user_attrs.get("output_dir")  # set when this trial retries one that was killed
        if not (out and fileio.isdir(out)):
            out = fileio.join(output_dir, f"trial-{trial.number}")
        config = runs.make_config(file_values, {**overrides, **params, "output_dir": out})
        trial.set_user_attr("output_dir", out)
        trial.set_user_attr("config", runs.recipe_of(config))

        def on_evaluation(step, value):
            trial.report(value, step)
            # Never at the last step: the run is done, and its figures are worth recording.
            if step < trainer.total_steps and trial.should_prune():
                raise optuna.TrialPruned(f"{metric_key} = {value:.2f} at step {step}, below the median of the "
                                         "earlier trials at that step")

        trainer = runs.trainer(config, on_evaluation)
        try:
            report = trainer.run()
        except TrainingError as e:
            log(f"trial {trial.number} failed: {e}")
            trial.set_user_attr("error", str(e))
            return float("nan")  # FAIL, and the search goes on
        except Exception as e:
            if not _cli.is_user_error(e):  # TrialPruned, and bugs
                raise
            stop_errors.append(e)  # the user's to fix (a missing data file...): stop the search, report it
            trial.study.stop()
            return float("nan")
        if report.get("test"):
            trial.set_user_attr("test", report["test"])
        return report["best_value"]

    study.optimize(objective, n_trials=args.trials)
    if stop_errors:
        raise stop_errors[0]
    write_reports(study, output_dir, url, metric_key, log)
    return study


# ------------------------------------------------------------------------------------------- reports
def _write_text(path, text):
    """Several workers may write the reports at once: a temporary sibling renamed over `path` (locally)."""
    if fileio.is_remote(path):
        return fileio.write_text(path, text)  # an object-store upload is all-or-nothing
    tmp = fileio.temp_sibling(path, "tmp")
    fileio.write_text(tmp, text)
    os.replace(tmp, path)


def _cell(value):
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def write_reports(study, output_dir, url, metric_key, log):
    import optuna

    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE and t.value is not None]
    best = max(complete, key=lambda t: t.value, default=None)
    fileio.makedirs(output_dir)
    if best is not None:
        header = (f"# The best trial of Optuna study {study.study_name!r} ({storage_label(url)}): trial "
                  f"{best.number}, {metric_key} = {best.value:.4f}\n# params: {json.dumps(best.params)}\n"
                  f"# Train it: python -m tf_simcse.train --config {BEST_CONFIG} --output_dir DIR\n")
        body = yaml.safe_dump(best.user_attrs["config"], sort_keys=False, allow_unicode=True)
        _write_text(fileio.join(output_dir, BEST_CONFIG), header + body)
    names = list(dict.fromkeys(name for t in trials for name in t.params))
    tests = list(dict.fromkeys(f"{task}/{metric_key.rsplit('/', 1)[1]}"
                               for t in trials for task in (t.user_attrs.get("test") or {})))
    lines = [
        f"# Optuna study `{study.study_name}`",
        "",
        (f"Storage: `{storage_label(url)}`. Objective: the best `{metric_key}` of each run (maximized); the test "
         "columns are reported once per run with its best/ checkpoint, never used for selection. Value of a "
         "pruned trial: its last reported dev figure."),
        "",
        f"Best: trial {best.number}, {best.value:.2f} ({BEST_CONFIG})." if best else "Best: no finished trial yet.",
        "",
        "| trial | state | value | " + " | ".join(names + [f"test {t}" for t in tests])
        + " | last step | directory | note |",
        "|---:|---|---:|" + "---|" * len(names) + "---:|" * len(tests) + "---:|---|---|",
    ]
    for t in trials:
        value = t.value
        if value is None and t.intermediate_values and t.state.name in ("PRUNED", "RUNNING"):
            value = t.intermediate_values[max(t.intermediate_values)]
        note = t.user_attrs.get("error", "")
        if "failed_trial" in t.system_attrs:
            note = f"retry of trial {t.system_attrs['failed_trial']} (its process stopped); {note}".rstrip("; ")
        test = t.user_attrs.get("test") or {}
        cells = [str(t.number), t.state.name, "" if value is None else f"{value:.2f}"]
        cells += [_cell(t.params.get(n)) for n in names]
        for column in tests:
            task, metric = column.rsplit("/", 1)
            figure = (test.get(task) or {}).get(metric)
            cells.append("" if figure is None else f"{figure:.2f}")
        cells += [_cell(max(t.intermediate_values) if t.intermediate_values else None),
                  f"`{t.user_attrs.get('output_dir', '')}`", note.replace("|", "/")]
        lines.append("| " + " | ".join(cells) + " |")
    _write_text(fileio.join(output_dir, SEARCH_MD), "\n".join(lines) + "\n")
    log(f"wrote {fileio.join(output_dir, SEARCH_MD)}" + (f" and {BEST_CONFIG} (trial {best.number})" if best else ""))
