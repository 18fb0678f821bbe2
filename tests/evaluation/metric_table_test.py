"""The fixed-width metric table printed by the CLIs."""

import numpy as np

from tf_simcse.evaluation import format_metric_table


def test_table_layout():
    rows = {
        "korsts:dev": {"cosine_spearman": 80.12345, "mean": np.float32(75.5), "num_pairs": 1500},
        "kornli:dev": {"accuracy": 61.0, "cosine_spearman": float("nan"), "note": "tuned"},
    }
    expected = "\n".join(
        [
            "task        cosine_spearman   mean  num_pairs  accuracy   note",
            "----------  ---------------  -----  ---------  --------  -----",
            "korsts:dev            80.12  75.50       1500         -      -",
            "kornli:dev              nan      -          -     61.00  tuned",
        ]
    )
    assert format_metric_table(rows) == expected


def test_columns_digits_and_transpose():
    rows = {"a": {"x": 1.0, "y": 2.25}, "bb": {"x": -3.14159}}
    assert format_metric_table(rows, columns=["y", "x"], digits=3, row_header="split") == "\n".join(
        [
            "split      y       x",
            "-----  -----  ------",
            "a      2.250   1.000",
            "bb         -  -3.142",
        ]
    )
    assert format_metric_table(rows, transpose=True) == "\n".join(
        [
            "task     a     bb",
            "----  ----  -----",
            "x     1.00  -3.14",
            "y     2.25      -",
        ]
    )
