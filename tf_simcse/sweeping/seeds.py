"""`sweep seeds`: one config trained once per seed into OUTPUT_DIR/seed-<s>/, then every figure over the seeds.

summary.json / summary.md hold, for every figure, mean, sd (sample standard deviation, ddof=1; null for a single
seed), min, max, n and the value of each seed. Figures: the first eval task's at the selected step (`best_step`)
and at the last evaluated step, and every test task's (of best/). Counts (`num_pairs`, ...) are left out.
"""

import numpy as np

from tf_simcse import fileio
from tf_simcse.errors import UserInputError
from tf_simcse.sweeping import runs

SUMMARY_JSON = "summary.json"
SUMMARY_MD = "summary.md"
SD_NOTE = "sample standard deviation (ddof=1); null when n = 1"
GROUPS = {
    "selected": "dev figures at the selected step (best_step, the checkpoint in best/)",
    "last": "dev figures at the last evaluated step",
    "test": "test figures of best/ (reported once per run, never used for selection)",
}


def parse_seeds(text):
    """`0,1,2` -> [0, 1, 2]."""
    try:
        seeds = [int(part) for part in text.split(",")]
    except ValueError:
        raise UserInputError(f"--seeds {text!r}: expected integers separated by commas, e.g. 0,1,2") from None
    if len(set(seeds)) != len(seeds):
        raise UserInputError(f"--seeds {text!r}: a seed is repeated")
    return seeds


def run(file_values, overrides, seeds, output_dir, log, parallel=1):
    """Trains every seed not finished yet, then writes and returns the summary.

    parallel 1: one seed after the other, in this process. parallel N > 1: up to N seeds at once, each a
    `python -m tf_simcse.train` process of its own (`runs.run_in_processes`).
    """
    output_dir = fileio.absolute(output_dir)
    configs = {s: runs.make_config(file_values, {**overrides, "seed": s,
                                                 "output_dir": fileio.join(output_dir, f"seed-{s}")})
               for s in seeds}
    todo = {}
    for seed, config in configs.items():
        if runs.is_finished(config):
            log(f"seed {seed}: finished run in {config.output_dir}, not retrained")
        else:
            todo[seed] = config
    if parallel > 1 and len(todo) > 1:
        failed = runs.run_in_processes({f"seed {s}": c for s, c in todo.items()}, parallel, log)
        if failed:
            details = "; ".join(f"{key} (exit {status}: {runs.last_error_line(path)}; log {path})"
                                for key, (status, path) in failed.items())
            raise UserInputError(f"{len(failed)} of {len(todo)} seed run(s) failed: {details}. The others are "
                                 "kept: rerun the command to resume")
    else:
        for seed, config in todo.items():
            log(f"seed {seed}: training into {config.output_dir}")
            runs.trainer(config).run()
    reports = {s: fileio.read_json(fileio.join(c.output_dir, runs.METRICS_FILE)) for s, c in configs.items()}
    summary = summarize(reports, runs.dev_label(configs[seeds[0]]))
    summary["output_dir"] = output_dir
    fileio.write_json(fileio.join(output_dir, SUMMARY_JSON), summary, atomic=True)
    fileio.write_text(fileio.join(output_dir, SUMMARY_MD), markdown(summary))
    log(f"wrote {fileio.join(output_dir, SUMMARY_JSON)} and {SUMMARY_MD}")
    return summary


def _is_figure(key, value):
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and not key.rsplit("/", 1)[-1].startswith("num_"))


def figures_of(report, label):
    """{group: {figure: value}} of one run's metrics.json (`label`: the first eval task's, or None)."""
    groups = {group: {} for group in GROUPS}
    evaluations = report.get("evaluations") or []
    if label and evaluations:
        def dev(entry):
            return {k: v for k, v in entry.items() if k.startswith(label + "/") and _is_figure(k, v)}

        groups["selected"] = dev(next(e for e in evaluations if e["step"] == report["best_step"]))
        groups["last"] = dev(max(evaluations, key=lambda e: e["step"]))
    for task, figures in (report.get("test") or {}).items():
        groups["test"].update({f"{task}/{k}": v for k, v in figures.items() if _is_figure(k, v)})
    return groups


def statistics(values):
    """{seed: value} -> mean, sd (ddof=1; None for one value), min, max, n and the values."""
    x = np.asarray(list(values.values()), dtype=np.float64)
    return {
        "mean": float(np.mean(x)),
        "sd": float(np.std(x, ddof=1)) if len(x) > 1 else None,
        "min": float(np.min(x)),
        "max": float(np.max(x)),
        "n": len(x),
        "values": {str(seed): value for seed, value in values.items()},
    }


def summarize(reports, label):
    """{seed: metrics.json} -> the summary dict (see the module docstring)."""
    per_seed = {seed: figures_of(report, label) for seed, report in reports.items()}
    summary = {
        "seeds": list(reports),
        "selection_metric": next(iter(reports.values())).get("selection_metric"),
        "sd": SD_NOTE,
        "runs": {str(seed): {"best_step": r.get("best_step"), "best_value": r.get("best_value"),
                             "last_evaluated_step": max((e["step"] for e in r.get("evaluations") or []), default=None),
                             "steps": r.get("steps")}
                 for seed, r in reports.items()},
    }
    for group in GROUPS:
        names = list(dict.fromkeys(k for figures in per_seed.values() for k in figures[group]))
        summary[group] = {
            name: statistics({s: f[group][name] for s, f in per_seed.items() if name in f[group]}) for name in names
        }
    return summary


def _number(value):
    return "–" if value is None else f"{value:.2f}"


def markdown(summary):
    seeds = summary["seeds"]
    lines = [
        f"# {len(seeds)} seeds of one config",
        "",
        (f"Runs: `{summary.get('output_dir', '.')}/seed-<s>/`. Selection: the step with the best "
         f"`{summary['selection_metric']}` of each run. sd: sample standard deviation (ddof=1), – for one seed."),
        "",
        "| seed | selected step | last evaluated step | steps |",
        "|---:|---:|---:|---:|",
    ]
    for seed in seeds:
        r = summary["runs"][str(seed)]
        lines.append(f"| {seed} | {r['best_step']} | {r['last_evaluated_step']} | {r['steps']} |")
    for group, title in GROUPS.items():
        if not summary[group]:
            continue
        lines += ["", f"## {title[0].upper()}{title[1:]}", "",
                  "| figure | mean | sd | min | max | n | " + " | ".join(f"seed {s}" for s in seeds) + " |",
                  "|---|---:|---:|---:|---:|---:|" + "---:|" * len(seeds)]
        for name, st in summary[group].items():
            cells = [_number(st["mean"]), _number(st["sd"]), _number(st["min"]), _number(st["max"]), str(st["n"])]
            cells += [_number(st["values"].get(str(s))) for s in seeds]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
