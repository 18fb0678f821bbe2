"""One table for several models evaluated on the same tasks (`python -m tf_simcse.evaluate --model A --model B`).

Every model gets the same columns, chosen by task:

- STS tasks (korsts, stsb, sick_r, sts12 ... sts16): the 8-column STS table (Pearson and Spearman x 100 of
  cosine, euclidean, manhattan and dot similarity) and its mean, or with `compact=True` cosine Spearman only;
- klue_sts: the same, then KLUE's official Pearson and F1;
- kornli, question_pair: the average precision of same (entailment) vs different from cosine similarity.

With `compact=True` a last column averages the cosine Spearman of the STS tasks (the layout of the SimCSE
paper's STS table). A figure a model lacks prints as `-`.
"""

import math

from tf_simcse.evaluation.tasks import CLASSIFICATION_TASKS

_STS_COLUMNS = (
    ("cosine_pearson", "cos P"),
    ("cosine_spearman", "cos S"),
    ("euclidean_pearson", "euc P"),
    ("euclidean_spearman", "euc S"),
    ("manhattan_pearson", "man P"),
    ("manhattan_spearman", "man S"),
    ("dot_pearson", "dot P"),
    ("dot_spearman", "dot S"),
    ("mean", "mean"),
)
_KLUE_COLUMNS = (("pearson", "KLUE P"), ("f1", "KLUE F1"))
_CLASSIFICATION_COLUMNS = (("average_precision", "AP"),)
AVERAGE_HEADER = "avg cos S"


def leaderboard_columns(tasks, compact=False):
    """`[(task label, metric key, header)]` for `TaskSpec`s, in task order (see the module notes)."""
    columns = []
    for task in tasks:
        if task.name in CLASSIFICATION_TASKS:
            metrics = _CLASSIFICATION_COLUMNS
        else:
            metrics = (("cosine_spearman", "cos S"),) if compact else _STS_COLUMNS
            if task.name == "klue_sts":
                metrics = metrics + _KLUE_COLUMNS
        columns.extend((task.label, key, f"{task.label} {header}") for key, header in metrics)
    return columns


def _average_spearman(tasks, figures):
    values = [figures.get(t.label, {}).get("cosine_spearman") for t in tasks if t.name not in CLASSIFICATION_TASKS]
    if not values or any(v is None for v in values):
        return None
    return sum(values) / len(values)


def leaderboard_rows(tasks, results, compact=False):
    """`(headers, rows)`: `results` is `[(model name, {task label: figures})]`; rows are lists of values."""
    columns = leaderboard_columns(tasks, compact)
    headers = ["model"] + [header for _, _, header in columns]
    with_average = compact and any(t.name not in CLASSIFICATION_TASKS for t in tasks)
    if with_average:
        headers.append(AVERAGE_HEADER)
    rows = []
    for name, figures in results:
        row = [name] + [figures.get(label, {}).get(key) for label, key, _ in columns]
        if with_average:
            row.append(_average_spearman(tasks, figures))
        rows.append(row)
    return headers, rows


def _cell(value, digits):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-" if value is None else "nan"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value).replace("|", "\\|")


def format_markdown(headers, rows, digits=2):
    """A GitHub Markdown table; numbers right-aligned with `digits` decimals."""
    lines = [
        "| " + " | ".join(_cell(h, digits) for h in headers) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(headers) - 1)) + "|",
    ]
    lines += ["| " + " | ".join(_cell(v, digits) for v in row) + " |" for row in rows]
    return "\n".join(lines)
