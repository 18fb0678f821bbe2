"""A fixed-width text table of evaluation figures, for the CLIs to print."""

import math
import numbers


def _format_value(value, digits):
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, numbers.Integral):  # Counts (num_pairs) print as integers.
        return str(int(value))
    if isinstance(value, numbers.Real):  # Includes NumPy scalars.
        value = float(value)
        return "nan" if math.isnan(value) else f"{value:.{digits}f}"
    return str(value)


def format_metric_table(rows, columns=None, digits=2, row_header="task", transpose=False):
    """Formats `{row name: {metric: value}}` as a table: one line per row, one column per metric.

    Args:
        rows: an ordered mapping of row names (e.g. `korsts:dev`) to metric dicts.
        columns: the metric columns in order; by default every metric key in first-seen order.
        digits: decimals for numbers.
        row_header: the title of the first column.
        transpose: print metrics as lines and rows as columns instead (for many metrics and few rows, e.g. the
            28 figures of `pair_classification_metrics`).

    Missing metrics print as `-`; numbers are right-aligned, the row names left-aligned.
    """
    if columns is None:
        columns = []
        for metrics in rows.values():
            columns.extend(key for key in metrics if key not in columns)
    table = [[str(row_header)] + [str(c) for c in columns]]
    for name, metrics in rows.items():
        table.append([str(name)] + [_format_value(metrics.get(c), digits) for c in columns])
    if transpose:
        table = [list(line) for line in zip(*table)]
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]

    def render(cells):
        first = cells[0].ljust(widths[0])
        rest = [cell.rjust(width) for cell, width in zip(cells[1:], widths[1:])]
        return "  ".join([first] + rest).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([render(table[0]), rule] + [render(line) for line in table[1:]])
