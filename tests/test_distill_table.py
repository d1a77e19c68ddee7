"""benchmarks/distill_table.py: the rendered rows from cell records, and every row costs the same student steps."""

import json
import os
import sys

from helpers import REPO

sys.path.insert(0, REPO)
from benchmarks import distill_table  # noqa: E402


def _write_cell(workdir, row, seed, top1, agreement=0.5, seconds=120.0):
    record = {
        "row": row,
        "seed": seed,
        "teacher_top1": 0.9,
        "student_top1": top1,
        "fidelity": {"agreement": agreement},
        "teacher_parameters": 1000,
        "student_parameters": 100,
        "wall_time_seconds": seconds,
    }
    os.makedirs(os.path.join(workdir, "cells"), exist_ok=True)
    with open(os.path.join(workdir, "cells", f"{row}_s{seed}.json"), "w", encoding="utf-8") as handle:
        json.dump(record, handle)


def test_rows_give_mean_and_std_over_seeds_beside_the_paper(tmp_path):
    for seed, top1 in enumerate((0.80, 0.82, 0.84)):
        _write_cell(str(tmp_path), "dfad", seed, top1)
    rows = distill_table.table_rows(str(tmp_path))
    assert [row["method"] for row in rows] == ["teacher", *(row.label for row in distill_table.ROWS)]
    assert rows[0]["top-1 %"] == "90.00" and rows[0]["paper top-1 %"] == 77.50
    dfad = rows[2]
    assert dfad["top-1 %"] == "82.00 ± 2.00" and dfad["seeds"] == 3 and dfad["paper top-1 %"] == 67.70
    assert dfad["minutes / run"] == "2.00 ± 0.00" and dfad["data-free"] == "yes"
    assert rows[-1]["data-free"] == "no" and rows[-1]["top-1 %"] is None


def test_every_row_takes_the_same_student_steps():
    preset = distill_table.PRESETS["standard"]

    def steps(row):
        args = distill_table._distill_args(preset, row, 0, "t.keras", "g.json", "/tmp/run")
        values = dict(arg[len("--config.") :].split("=", 1) for arg in args if arg.startswith("--config."))
        return int(values.get("steps_per_epoch", 50)) * int(values.get("student_steps", 5))

    assert {steps(row) for row in distill_table.ROWS} == {250}
