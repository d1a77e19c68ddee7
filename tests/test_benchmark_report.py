"""benchmarks/report.py: a re-render of unchanged archived numbers keeps when and where they were measured."""

import os
import sys

from helpers import REPO

sys.path.insert(0, REPO)

from benchmarks import report  # noqa: E402

ROWS = [{"bits": "W4A4", "top-1 %": 92.5}]


def _on_cpu(monkeypatch, cpu):
    monkeypatch.setattr(report, "machine", lambda: {"cpu": cpu, "cores": 2, "memory_gib": 1, "python": "3"})


def _record(tmp_path, rows, keep_stamp):
    """Records the table ``grid`` into tmp_path; returns (BENCHMARKS.md bytes, grid.json bytes)."""
    markdown = tmp_path / "BENCHMARKS.md"
    if not markdown.exists():
        markdown.write_text("# Benchmarks\n", encoding="utf-8")
    columns = ["bits", "top-1 %"]
    report.record("grid", rows, columns, "notes", markdown=str(markdown), results=str(tmp_path), keep_stamp=keep_stamp)
    return markdown.read_bytes(), (tmp_path / "grid.json").read_bytes()


def test_keep_stamp_re_renders_unchanged_rows_byte_identical(tmp_path, monkeypatch):
    _on_cpu(monkeypatch, "first-cpu")
    first = _record(tmp_path, ROWS, keep_stamp=True)
    _on_cpu(monkeypatch, "second-cpu")
    assert _record(tmp_path, ROWS, keep_stamp=True) == first
    assert b"first-cpu" in first[0] and b"second-cpu" not in first[0]


def test_changed_rows_a_missing_record_or_no_keep_stamp_take_this_run_s_stamp(tmp_path, monkeypatch):
    _on_cpu(monkeypatch, "first-cpu")
    _record(tmp_path, ROWS, keep_stamp=True)
    _on_cpu(monkeypatch, "second-cpu")
    assert b"second-cpu" in _record(tmp_path, [{"bits": "W4A4", "top-1 %": 92.6}], keep_stamp=True)[0]
    os.remove(tmp_path / "grid.json")
    _on_cpu(monkeypatch, "third-cpu")
    assert b"third-cpu" in _record(tmp_path, ROWS, keep_stamp=True)[0]
    _on_cpu(monkeypatch, "fourth-cpu")
    assert b"fourth-cpu" in _record(tmp_path, ROWS, keep_stamp=False)[0]
