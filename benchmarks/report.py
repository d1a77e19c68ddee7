"""Recording benchmark numbers: results/<name>.json plus a rendered block in BENCHMARKS.md.

Every benchmark calls :func:`record` with its numbers. The JSON keeps the exact
command, the date and the machine; BENCHMARKS.md gets (or updates) the block
between ``<!-- BEGIN <name> -->`` and ``<!-- END <name> -->``, so prose around
the blocks is kept. Benchmarks never assert a time: they measure and record.
"""

import datetime
import json
import os
import platform
import shlex
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
RESULTS = os.path.join(HERE, "results")
BENCHMARKS_MD = os.path.join(REPO, "BENCHMARKS.md")

sys.path.insert(0, REPO)
from autorecon_tf.utils import atomic  # noqa: E402


def onednn_enabled():
    """Whether TensorFlow runs its oneDNN kernels (``autorecon_tf.compat``, imported above, turns them on)."""
    from tensorflow.python.util import _pywrap_util_port

    return bool(_pywrap_util_port.IsMklEnabled())


def machine():
    """CPU model, core count, memory, Python and oneDNN: what a reader needs to compare numbers."""
    from autorecon_tf.utils.machine import cpu_model  # the one /proc/cpuinfo reader (records use it too)

    cpu = cpu_model()
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(memory_gib, 1),
        "python": platform.python_version(),
        "onednn": onednn_enabled(),
    }


def command():
    """The command line that reproduces this run, relative to the repository root."""
    script = os.path.relpath(os.path.abspath(sys.argv[0]), REPO)
    return " ".join(shlex.quote(part) for part in [".venv/bin/python", script, *sys.argv[1:]])


def record(name, rows, columns, notes="", markdown=BENCHMARKS_MD, results=RESULTS, keep_stamp=False):
    """Writes results/<name>.json and the table block ``name`` in BENCHMARKS.md; returns the payload.

    ``markdown`` and ``results`` point elsewhere (a test's or a smoke run's own files). ``keep_stamp``
    (a re-render of archived records): when the stored record has the same columns, rows and notes, its
    date, command and machine are kept, so the block says when and where the numbers were measured.
    """
    payload = {
        "name": name,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command(),
        "machine": machine(),
        "columns": list(columns),
        "rows": rows,
        "notes": notes,
    }
    path = os.path.join(results, f"{name}.json")
    if keep_stamp and os.path.exists(path):
        with open(path, encoding="utf-8") as handle:
            stored = json.load(handle)
        if all(stored.get(key) == json.loads(json.dumps(payload[key])) for key in ("columns", "rows", "notes")):
            payload.update({key: stored[key] for key in ("date", "command", "machine")})
    atomic.write_json(path, payload)
    update_markdown(payload, markdown)
    return payload


def render(payload):
    columns = payload["columns"]
    lines = [
        f"Measured {payload['date']} on {payload['machine']['cpu']}, {payload['machine']['cores']} cores, "
        f"{payload['machine']['memory_gib']} GiB, Python {payload['machine']['python']}"
        + _onednn_words(payload["machine"])
        + ".",
        "",
        f"Command: `{payload['command']}`",
        "",
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
    ]
    for row in payload["rows"]:
        lines.append("| " + " | ".join(_cell(row.get(column)) for column in columns) + " |")
    if payload.get("notes"):
        lines += ["", payload["notes"]]
    return "\n".join(lines)


def _cell(value):
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def _onednn_words(facts):
    if "onednn" not in facts:  # recorded before the field existed
        return ""
    return ", TensorFlow oneDNN " + ("on" if facts["onednn"] else "off")


def update_markdown(payload, path=BENCHMARKS_MD):
    begin, end = f"<!-- BEGIN {payload['name']} -->", f"<!-- END {payload['name']} -->"
    text = open(path, encoding="utf-8").read() if os.path.exists(path) else "# Benchmarks\n"
    block = f"{begin}\n{render(payload)}\n{end}"
    if begin in text and end in text:
        text = text[: text.index(begin)] + block + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip("\n") + f"\n\n## {payload['name']}\n\n{block}\n"
    with atomic.atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
