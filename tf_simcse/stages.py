"""Multi-stage recipes: a config file with `stages:` runs several trainings in a row, each starting from the model
an earlier one selected (SimCSE -> STS regression -> distillation into a small student -> regression again).

    # shared options first; each stage a training config of its own
    max_seq_length: 64
    stages:
      - name: simcse
        objective: sup
        train_data: [kornli/xnli.dev.ko.tsv]
      - name: sts
        objective: cosent            # model: the previous stage's selected model (its best/)
        train_data: [korsts/sts-train.tsv]
        eval_data: ["korsts:dev=korsts/sts-dev.tsv"]
      - name: student
        objective: distill
        teacher: "@sts"              # "@NAME": the model stage NAME selected
        model: "@simcse"
        student_layers: "0,2,4"

`python -m tf_simcse.train --config RECIPE --model M --output_dir DIR` runs the stages into DIR/01-simcse,
DIR/02-sts, ... The command-line options apply to every stage (e.g. `--max_steps 2` for a smoke run), except
`--model`, which is the first stage's model (and that of any stage that names none: those start from the stage
before them), and `--output_dir`, the pipeline's root. Rerunning the command skips the finished stages (those with
a metrics.json) and resumes the one that was interrupted at its last checkpoint. At the end DIR/stages.json and
DIR/stages.md hold a table: per stage its objective, start model, selected step, the dev figure that selected it,
the test figures, and the wall time. `--stop_after NAME` runs the stages up to NAME only (e.g. up to the teacher,
to look at it before distilling); the table then lists those.
"""

import time

from tf_simcse import fileio
from tf_simcse.config import STAGES_KEY, build_config
from tf_simcse.errors import UserInputError

SUMMARY_FILE = "stages.json"
TABLE_FILE = "stages.md"
_REFERENCE = "@"


def stage_configs(file_values, overrides):
    """`[(name, TrainConfig)]` of a stages recipe, with `@NAME` models and teachers resolved to stage dirs."""
    shared = {k: v for k, v in file_values.items() if k != STAGES_KEY}
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    root = overrides.pop("output_dir", None) or shared.pop("output_dir", None)
    if not root:
        raise UserInputError("config option 'output_dir': required (the root of the stages' output directories)")
    first_model = overrides.pop("model", None)
    stages, dirs = [], {}
    for k, stage in enumerate(file_values[STAGES_KEY], start=1):
        stage = dict(stage)
        name = str(stage.pop("name", f"stage{k}"))
        if name in dirs:
            raise UserInputError(f"stages: the name {name!r} is used twice")
        values = {**shared, **stage, **overrides, "output_dir": fileio.join(root, f"{k:02d}-{name}")}
        if "model" not in stage:
            values["model"] = first_model if k == 1 else stages[-1][1].output_dir
            if values["model"] is None:
                values.pop("model")
        for key in ("model", "teacher"):
            value = values.get(key)
            if isinstance(value, str) and value.startswith(_REFERENCE):
                ref = value[len(_REFERENCE):]
                if ref not in dirs:
                    raise UserInputError(f"stage {name!r}: {key} {value!r} names no earlier stage ({sorted(dirs)})")
                values[key] = dirs[ref]
        try:
            config = build_config(values)
        except (ValueError, TypeError) as e:
            raise UserInputError(f"stage {k} ({name}): {e}") from None
        dirs[name] = config.output_dir
        stages.append((name, config))
    return stages


def _row(name, config, report, seconds):
    return {
        "stage": name,
        "objective": config.objective,
        "model": config.model,
        "output_dir": config.output_dir,
        "steps": report.get("steps"),
        "selection_metric": report.get("selection_metric"),
        "best_step": report.get("best_step"),
        "best_value": report.get("best_value"),
        "test": report.get("test", {}),
        "seconds": seconds,
    }


def _table(rows):
    lines = ["| stage | objective | steps | selected step | dev figure | test | wall time |",
             "|---|---|---:|---:|---|---|---:|"]
    for r in rows:
        dev = "-" if r["best_value"] is None else f"{r['selection_metric']} = {r['best_value']:.2f}"
        test = "; ".join(
            f"{task} cos S {figures['cosine_spearman']:.2f}" if "cosine_spearman" in figures else task
            for task, figures in (r["test"] or {}).items()
        ) or "-"
        seconds = "-" if r["seconds"] is None else f"{r['seconds']:.0f} s"
        lines.append(f"| {r['stage']} | {r['objective']} | {r['steps']} | {r['best_step']} | {dev} | {test} | "
                     f"{seconds} |")
    return "\n".join(lines) + "\n"


def run_stages(file_values, overrides, log=print, stop_after=None):
    """Runs (or resumes) every stage, or those up to the one named `stop_after`; returns the rows of the summary
    table (also written to the root)."""
    from tf_simcse.trainer import METRICS_FILE, Trainer

    stages = stage_configs(file_values, overrides)
    if stop_after is not None:
        names = [name for name, _ in stages]
        if stop_after not in names:
            raise UserInputError(f"--stop_after {stop_after}: no such stage (the stages: {', '.join(names)})")
        stages = stages[:names.index(stop_after) + 1]
    root = fileio.dirname(stages[0][1].output_dir)
    summary_path = fileio.join(root, SUMMARY_FILE)
    previous = {r["stage"]: r for r in (fileio.read_json_if_exists(summary_path, {}) or {}).get("stages", [])}
    rows = []
    for k, (name, config) in enumerate(stages, start=1):
        metrics = fileio.join(config.output_dir, METRICS_FILE)
        if fileio.exists(metrics):
            log(f"stage {k}/{len(stages)} {name}: done before ({metrics})")
            rows.append(_row(name, config, fileio.read_json(metrics), previous.get(name, {}).get("seconds")))
            continue
        log(f"stage {k}/{len(stages)} {name}: {config.objective} from {config.model} into {config.output_dir}")
        start = time.time()
        report = Trainer(config).run()
        rows.append(_row(name, config, report, time.time() - start))
        fileio.write_json(summary_path, {"stages": rows}, atomic=True, indent=2, ensure_ascii=False)
    fileio.write_json(summary_path, {"stages": rows}, atomic=True, indent=2, ensure_ascii=False)
    table = _table(rows)
    fileio.write_text(fileio.join(root, TABLE_FILE), table)
    log("stages:\n" + table)
    return rows
