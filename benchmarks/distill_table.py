"""The paper's Table 4 on Fashion-MNIST: data-free distillation into a smaller float student (issue 23).

    python benchmarks/distill_table.py --preset smoke --workdir /tmp/distill_smoke        # minutes
    python benchmarks/distill_table.py --preset standard --workdir runs/distill_table \
        [--teacher runs/teacher_resnet18_fmnist/teacher.keras] [--genotype runs/search_resnet18/genotype.json]

Rows (:data:`ROWS`): the teacher; DAFL; DFAD with its own generator; DFAD with GDFQ's generator;
DFAD with the reconstruction loss (CE + lambda BNS) and the searched generator; KD on real images
(the ceiling, not data-free). Each is ``tools/distill.py`` for every seed of ``--seeds``, in
``<workdir>/runs/<row>_s<seed>``; the table gives mean +- std of the student's top-1.

Stages, each skipped once finished, so a killed run resumes (and a killed distillation resumes
from its last epoch): the teacher (``standard``: ``--teacher``, else the zoo's ResNet-18-style
teacher, trained with tools/train_teacher.py if it is missing; ``smoke``: the tiny digits teacher,
trained here), the search (``--genotype``, else tools/search.py on that teacher), then the cells.
``standard`` archives its records in git as the reproduction harness does
(:mod:`benchmarks.reproduce_archive`: ``benchmarks/results/distill_standard/``, the teacher pinned,
the genotype and every cell record): commit that directory when you stop, and a run on another
clone goes on with the missing cells. ``smoke`` writes only inside its workdir.
"""

import dataclasses
import json
import os
import shlex
import statistics
import subprocess
import sys
import time
from typing import Optional

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # noqa: E402

from autorecon_tf import cli  # noqa: E402
from benchmarks import report, reproduce_archive  # noqa: E402

REPO = report.REPO
TEACHER_NAME = "resnet18"
PAPER_SETUP = "CIFAR-100, ResNet-34 teacher -> ResNet-18 student"


@dataclasses.dataclass(frozen=True)
class Row:
    """One row of the table: a tools/distill.py objective and generator, and the paper's number."""

    key: str
    label: str
    objective: str
    generator: Optional[str]
    paper_top1: Optional[float]
    student_steps: Optional[int] = None  # per generator step, if not the config's (DFAD's 5)


ROWS = (
    # DAFL trains generator and student once each per batch; its iterations are scaled so that every
    # row takes the same number of student steps on the same number of images (about twice a DFAD
    # run's time: 5 generator steps where DFAD takes 1; configs/distill_fmnist.py).
    Row("dafl", "DAFL (DFAD's/DAFL's generator)", "dafl", "dfad", 61.40, student_steps=1),
    Row("dfad", "DFAD, its own generator", "adversarial", "dfad", 67.70),
    Row("dfad_gdfq", "DFAD, GDFQ's generator", "adversarial", "gdfq", None),
    Row(
        "reconstruction_searched",
        "DFAD/reconstruction (Eq. 6), searched generator",
        "reconstruction",
        "searched",
        69.98,
    ),
    Row("real_kd", "KD on real images (NOT data-free: the ceiling)", "real", None, None),
)
PAPER_TEACHER_TOP1 = 77.50


@dataclasses.dataclass(frozen=True)
class Preset:
    distill: str  # config file:preset of tools/distill.py
    overrides: dict
    teacher_train: tuple  # (config spec, workdir under the harness workdir or None for runs/...)
    search: str
    archive: Optional[str]
    setup: str  # the teacher and student, for the notes


PRESETS = {
    "smoke": Preset(
        "distill_fmnist.py:smoke",
        {"student.width": 0.25, "generator.latent_dim": 16, "generator.base_channels": 8, "eval_batch_size": 360},
        ("teacher_tiny_digits.py:smoke", "teacher"),
        "search_tiny.py:graph",
        None,
        "scikit-learn's 8x8 digits, the tiny ResNet-8 teacher distilled into ResNet-20 at width 0.25",
    ),
    "standard": Preset(
        "distill_fmnist.py:standard",
        {},
        ("teacher_resnet18_fmnist.py:standard", None),
        "search_resnet20_fmnist.py:standard",
        os.path.join(report.RESULTS, "distill_standard"),
        "Fashion-MNIST, the zoo's ResNet-18-style teacher (width 0.5) distilled into ResNet-20",
    ),
}


def define_flags():
    """The script's flags, defined when it runs (not on import: tests import it beside reproduce.py's flags)."""
    flags.DEFINE_enum("preset", "smoke", list(PRESETS), "smoke: the tiny digits teacher, minutes; standard: issue 23.")
    flags.DEFINE_string("workdir", None, "Default: runs/distill_<preset>.")
    flags.DEFINE_string("teacher", None, "standard: the teacher .keras (default runs/teacher_resnet18_fmnist/).")
    flags.DEFINE_string("genotype", None, "A genotype.json searched on that teacher (default: search here).")
    flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds of every row.")
    flags.DEFINE_bool("no_archive", False, "Ignore the preset's archive in the repository.")
    flags.DEFINE_bool("render_only", False, "Only render the table from the finished records.")


def _config(spec):
    name, preset = spec.split(":")
    return f"--config={os.path.join(REPO, 'configs', name)}:{preset}"


def run_tool(tool, args, workdir, label):
    """Runs tools/<tool>.py with its output in <workdir>/logs/<label>.log; returns (ok, seconds)."""
    command = [sys.executable, os.path.join(REPO, "tools", f"{tool}.py"), *map(str, args)]
    log_path = os.path.join(workdir, "logs", f"{label}.log")
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    print(f"[{label}] running (log {log_path})", flush=True)
    started = time.time()
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="3")
    with open(log_path, "a", encoding="utf-8") as log:
        log.write(f"\n$ {shlex.join(command)}\n")
        log.flush()
        status = subprocess.run(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT).returncode
    if status:
        print(f"[{label}] FAILED with exit status {status}, see {log_path}", flush=True)
    return status == 0, time.time() - started


def teacher_stage(preset, workdir, explicit):
    """The teacher's path, trained once if it is missing; pinned in the archive (standard)."""
    spec, directory = preset.teacher_train
    directory = os.path.join(workdir, directory) if directory else os.path.join(REPO, "runs", "teacher_resnet18_fmnist")
    path = explicit or os.path.join(directory, "teacher.keras")
    pinned = os.path.join(preset.archive, f"teacher_{TEACHER_NAME}.keras") if preset.archive else None
    if not os.path.exists(path) and not explicit and not (pinned and os.path.exists(pinned)):
        ok, _ = run_tool("train_teacher", [_config(spec), f"--workdir={directory}"], workdir, "teacher")
        if not ok:
            return None
    if preset.archive:
        return reproduce_archive.pin_teacher(preset.archive, TEACHER_NAME, path, explicit=bool(explicit))
    return path


def search_stage(preset, workdir, teacher, explicit):
    """The genotype of the searched row: ``--genotype``, else <workdir>/search_<teacher>/genotype.json."""
    if explicit:
        return explicit
    directory = os.path.join(workdir, f"search_{TEACHER_NAME}")
    genotype = os.path.join(directory, "genotype.json")
    if os.path.exists(genotype):
        return genotype
    ok, _ = run_tool(
        "search", [_config(preset.search), f"--teacher={teacher}", f"--workdir={directory}"], workdir, "search"
    )
    return genotype if ok else None


def _distill_args(preset, row, seed, teacher, genotype, run_dir):
    from autorecon_tf.cli import load_config

    name, config_preset = preset.distill.split(":")
    config = load_config(os.path.join(REPO, "configs", name), config_preset, preset.overrides)
    overrides = {**preset.overrides, "deterministic": True}
    if row.student_steps:  # the same student steps as the other rows
        overrides["student_steps"] = row.student_steps
        overrides["steps_per_epoch"] = config.steps_per_epoch * config.student_steps // row.student_steps
    args = [_config(preset.distill), f"--teacher={teacher}", f"--objective={row.objective}", f"--seed={seed}"]
    args += [f"--generator={row.generator}"] if row.generator else []
    args += [f"--genotype={genotype}"] if row.generator == "searched" else []
    return args + [f"--config.{key}={value}" for key, value in overrides.items()] + [f"--workdir={run_dir}"]


def cell_stage(preset, row, seed, teacher, genotype, workdir, teacher_sha256):
    """Runs one (row, seed) once; writes its record <workdir>/cells/<row>_s<seed>.json."""
    cell_id = f"{row.key}_s{seed}"
    record_path = os.path.join(workdir, "cells", f"{cell_id}.json")
    if os.path.exists(record_path):
        print(f"[{cell_id}] skipped (finished: {record_path})", flush=True)
        return
    if row.generator == "searched" and genotype is None:
        print(f"[{cell_id}] not run: no genotype (the search failed)", flush=True)
        return
    run_dir = os.path.join(workdir, "runs", cell_id)
    ok, _ = run_tool("distill", _distill_args(preset, row, seed, teacher, genotype, run_dir), workdir, cell_id)
    if not ok:
        return
    with open(os.path.join(run_dir, "metrics.json"), encoding="utf-8") as handle:
        metrics = json.load(handle)
    record = {key: value for key, value in metrics.items() if key not in ("config", "final_train_metrics")}
    record.update(row=row.key, seed=int(seed), teacher=TEACHER_NAME, teacher_sha256=teacher_sha256)
    from autorecon_tf.utils import atomic

    atomic.write_json(record_path, record)


def _mean_std(values, scale=100.0):
    """``"mean ± std"`` of ``values`` times ``scale`` (just the value for one), or None for none."""
    values = [scale * value for value in values if value is not None]
    if not values:
        return None
    spread = f" ± {statistics.stdev(values):.2f}" if len(values) > 1 else ""
    return f"{statistics.mean(values):.2f}{spread}"


def table_rows(workdir):
    """The rendered rows from <workdir>/cells/*.json: the teacher, then every row of :data:`ROWS`."""
    cells = {}
    directory = os.path.join(workdir, "cells")
    for name in sorted(os.listdir(directory)) if os.path.isdir(directory) else []:
        with open(os.path.join(directory, name), encoding="utf-8") as handle:
            record = json.load(handle)
        cells.setdefault(record["row"], []).append(record)
    everything = [record for records in cells.values() for record in records]
    teacher = {record["teacher_top1"] for record in everything if record.get("teacher_top1") is not None}
    rows = [
        {
            "method": "teacher",
            "top-1 %": _mean_std(sorted(teacher)[:1]),
            "paper top-1 %": PAPER_TEACHER_TOP1,
            "params": everything[0]["teacher_parameters"] if everything else None,
        }
    ]
    for row in ROWS:
        records = cells.get(row.key, [])
        rows.append(
            {
                "method": row.label,
                "generator": row.generator or "",
                "data-free": "no" if row.objective == "real" else "yes",
                "seeds": len(records),
                "top-1 %": _mean_std([record["student_top1"] for record in records]),
                "agreement %": _mean_std([record["fidelity"]["agreement"] for record in records]),
                "paper top-1 %": row.paper_top1,
                "params": records[0]["student_parameters"] if records else None,
                "minutes / run": _mean_std([record["wall_time_seconds"] for record in records], 1 / 60),
            }
        )
    return rows


COLUMNS = [
    "method",
    "generator",
    "data-free",
    "seeds",
    "top-1 %",
    "agreement %",
    "paper top-1 %",
    "params",
    "minutes / run",
]


def notes(preset_name, preset):
    return (
        f"Ours: {preset.setup}, at the tools/distill.py `{preset_name}` budget, mean ± std over seeds; 'agreement' "
        "is teacher/student top-1 agreement on held-out generated images (noise for the real-data row). The "
        f"paper's (Table 4): {PAPER_SETUP}, DFAD's 500 epochs: another dataset, scale and budget, so compare the "
        "order of the rows, not the numbers."
    )


def render(preset_name, preset, workdir):
    rows = table_rows(workdir)
    if preset.archive:
        return report.record(f"distill_{preset_name}", rows, COLUMNS, notes(preset_name, preset))
    return report.record(  # smoke: only inside the workdir
        f"distill_{preset_name}",
        rows,
        COLUMNS,
        notes(preset_name, preset),
        os.path.join(workdir, "BENCHMARKS.md"),
        os.path.join(workdir, "results"),
    )


def main(argv):
    del argv
    args = flags.FLAGS
    preset = PRESETS[args.preset]
    if args.no_archive:
        preset = dataclasses.replace(preset, archive=None)
    workdir = os.path.abspath(args.workdir or os.path.join(REPO, "runs", f"distill_{args.preset}"))
    os.makedirs(workdir, exist_ok=True)
    if preset.archive:
        os.makedirs(preset.archive, exist_ok=True)
        print(f"[archive] restored {reproduce_archive.restore(preset.archive, workdir)} records", flush=True)
    if not args.render_only:
        run_all(preset, workdir, args)
    payload = render(args.preset, preset, workdir)
    for row in payload["rows"]:
        print(f"{row['method']}: top-1 {row.get('top-1 %')} % (paper {row.get('paper top-1 %')})", flush=True)


def run_all(preset, workdir, args):
    teacher = teacher_stage(preset, workdir, args.teacher)
    if teacher is None:
        raise app.UsageError("no teacher: its training failed (see the log above)")
    digest = reproduce_archive.sha256(teacher)
    genotype = search_stage(preset, workdir, teacher, args.genotype)
    if preset.archive and genotype and not args.genotype:
        reproduce_archive.save(preset.archive, workdir)
    for row in ROWS:
        for seed in args.seeds:
            cell_stage(preset, row, seed, teacher, genotype, workdir, digest)
            if preset.archive:
                reproduce_archive.save(preset.archive, workdir, {TEACHER_NAME: digest})


if __name__ == "__main__":
    define_flags()
    cli.run(main)
