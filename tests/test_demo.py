"""The README's demo command, end to end at the smoke budget (tiny digits teacher)."""

import json

import pytest

from helpers import run_tool


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_demo_runs_every_stage_and_prints_the_table(tmp_path):
    workdir = tmp_path / "demo"
    result = run_tool("demo", "--budget", "smoke", "--workdir", workdir, timeout=1500)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for stage in ("[1/4 teacher]", "[2/4 search]", "[3/4 compress]", "[4/4 export]"):
        assert stage in result.stdout
    assert "student W4A4, searched generator (TFLite int8)" in result.stdout
    assert "student W4A4, searched generator (TFLite int4 weights)" in result.stdout
    compress_dir = workdir / "compress_w4a4_searched"
    genotype = json.loads((workdir / "search" / "genotype.json").read_text())
    assert genotype["input_shape"] == [8, 8, 1]
    metrics = json.loads((compress_dir / "metrics.json").read_text())
    assert metrics["generator"] == "searched" and metrics["data_free"]
    report = json.loads((compress_dir / "export_report.json").read_text())
    assert report["grid_check"]["passed"] and (compress_dir / "student.tflite").stat().st_size > 0
    # The demo's W4 student is of the gdfq_int4 scheme: its packed int4 file holds the student's levels.
    assert report["weights"] == "int4" and report["int4"]["exact"] and report["int4"]["clipped_weights"] == 0
    assert report["size_bytes"]["student_int4"] < report["size_bytes"]["student_int8"]
    assert 0 <= report["int4"]["int8_top1"] <= 1 and 0 <= report["int4"]["top1_agreement_with_int8_builtin"] <= 1
    # The int4 file's verdict is judged on the int8 file's builtin/XNNPACK spread (XNNPACK takes no int4 conv).
    verdict = report["parity"]["verdict"]
    assert "int8 file" in verdict["yardstick"]
    assert verdict["criteria"]["agreement"]["bound"] == report["int4"]["int8_builtin_vs_xnnpack"]

    again = run_tool("demo", "--budget", "smoke", "--workdir", workdir, timeout=600)
    assert again.returncode == 0 and "training the demo teacher" not in again.stdout
