"""Reproduction harness (issue 7): a grid of teacher x bits x generator x seed x s, run through the tools.

    python benchmarks/reproduce.py --preset smoke --workdir /tmp/reproduce_smoke      # minutes
    python benchmarks/reproduce.py --preset core                                     # ~1.5 h on 2 cores
    python benchmarks/reproduce.py --preset bits --workdir runs/reproduce_core       # + W6A6, W5A5
    python benchmarks/reproduce.py --preset standard                                 # issue 5's grid, ~7-8 h
    python benchmarks/reproduce.py --preset full --teacher mobilenetv2=path/teacher.keras
    python benchmarks/reproduce.py --preset deterministic --shard 0/2 &  # issue 24's re-run: one process
    python benchmarks/reproduce.py --preset deterministic --shard 1/2    # per core (each runs on one thread)
    python benchmarks/reproduce.py --preset core --search resnet20=runs/search_dir   # reuse a finished search
    python benchmarks/reproduce.py --preset core --render_only                       # tables + plots only

The grids are in benchmarks/reproduce_grid.py. Every stage runs a tool of tools/
in a subprocess (log in <workdir>/logs/): train_teacher.py (smoke only), search.py
once per teacher, then compress.py once per cell in <workdir>/runs/<cell_id>/. A
finished cell writes <workdir>/cells/<cell_id>.json (atomically, with its teacher's
sha256) and is skipped on the next run unless it names another teacher; a killed one
is re-run in the same directory, where the tool resumes from its checkpoint. A failed cell is reported and the others go on (exit status 1).
Every stage runs deterministically (``--config.deterministic=True``: one thread, the same
numbers for the same cell on the same CPU kind); ``--shard i/n`` runs every n-th cell from i,
so n harness processes on n cores share one grid. Then benchmarks/reproduce_render.py writes the tables and the plots: into
BENCHMARKS.md and benchmarks/results/ for core and full, into <workdir>/REPRODUCE.md
for smoke. ``--teacher PATH`` replaces the preset's first teacher, ``--teacher
NAME=PATH`` the one named (repeatable). ``--search NAME=DIR`` reuses a finished
tools/search.py workdir (genotype.json + alpha_history.json, searched on that same
teacher) instead of searching again; the cost table then says the search was reused.
A preset with an archive (standard) pins its teacher and keeps its finished records in the
repository (benchmarks/reproduce_archive.py): a run restores them first and saves each new
one, so the grid goes on across machines; ``--no_archive`` runs it in the workdir alone.
"""

import contextlib
import datetime
import fcntl
import json
import os
import shlex
import shutil
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # the plots load generators in this process
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)
sys.path.insert(0, HERE)

import reproduce_archive as archiving  # noqa: E402
import reproduce_grid as grid  # noqa: E402
from absl import flags  # noqa: E402

from autorecon_tf import cli  # noqa: E402
from autorecon_tf.errors import UserError  # noqa: E402
from autorecon_tf.utils import atomic  # noqa: E402
from autorecon_tf.utils.machine import cpu_model  # noqa: E402

TOOLS = os.path.join(REPO, "tools")
CONFIGS = os.path.join(REPO, "configs")


flags.DEFINE_enum("preset", "smoke", list(grid.PRESETS), "The grid of benchmarks/reproduce_grid.py.")
flags.DEFINE_string("workdir", None, "Default: runs/reproduce_<preset>.")
flags.DEFINE_multi_string("teacher", [], "PATH or NAME=PATH (repeatable).")
flags.DEFINE_multi_string("search", [], "NAME=DIR of a finished search (repeatable).")
flags.DEFINE_bool("render_only", False, "Only render the tables and plots.")
flags.DEFINE_bool("no_archive", False, "Ignore the preset's archive in the repository.")
flags.DEFINE_string("shard", "0/1", "i/n: run only cells i, i+n, ... so that n processes share a grid (one per core).")


def _named(preset, flag, value):
    """``(teacher name, path)`` of a ``--flag NAME=PATH`` or ``--flag PATH`` (the preset's first teacher)."""
    names = [teacher.name for teacher in preset.teachers]
    name, path = value.split("=", 1) if "=" in value else (names[0], value)
    if name not in names:
        raise UserError(f"{flag} {value!r}: preset {preset.name} has no teacher {name!r} ({', '.join(names)})")
    return name, path


def teacher_overrides(preset, values, archive=None):
    """{teacher name: absolute path} from the ``--teacher`` values, or the pinned teachers of ``archive``."""
    overrides = {}
    for value in values:
        name, path = _named(preset, "--teacher", value)
        if not os.path.isfile(path):
            raise UserError(f"--teacher {path!r} does not exist: give a teacher.keras of tools/train_teacher.py")
        overrides[name] = os.path.abspath(path)
    for teacher in preset.teachers:
        if archive and not teacher.train:
            explicit = teacher.name in overrides
            source = overrides[teacher.name] if explicit else os.path.join(REPO, teacher.path)
            try:
                overrides[teacher.name] = archiving.pin_teacher(archive, teacher.name, source, explicit)
            except archiving.ArchiveError as error:
                raise UserError(str(error)) from None
        elif teacher.name not in overrides and not teacher.train:
            path = os.path.join(REPO, teacher.path)
            if not os.path.isfile(path):
                raise UserError(
                    f"teacher {teacher.name} file {teacher.path!r} does not exist: train it with "
                    f"tools/train_teacher.py or pass --teacher {teacher.name}=PATH"
                )
            overrides[teacher.name] = path
    return overrides


SEARCH_FILES = ("genotype.json", "alpha_history.json")


def search_overrides(preset, values, teachers):
    """{teacher name: search workdir} from the ``--search NAME=DIR`` values, checked against the teachers."""
    searches = {}
    for value in values:
        name, directory = _named(preset, "--search", value)
        missing = [f for f in SEARCH_FILES if not os.path.isfile(os.path.join(directory, f))]
        if missing:
            raise UserError(
                f"--search {directory!r} lacks {', '.join(missing)}: give the --workdir of a finished tools/search.py run"
            )
        searched_on = _read(os.path.join(directory, "genotype.json")).get("metadata", {}).get("teacher", "")
        if name in teachers and os.path.realpath(searched_on) != os.path.realpath(teachers[name]):
            raise UserError(
                f"--search {directory!r} was searched on teacher {searched_on!r}, not {teachers[name]!r}:"
                f" pass the same --teacher {name}=PATH or drop --search"
            )
        searches[name] = os.path.abspath(directory)
    return searches


def _env():
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="3")
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    return env


def run_tool(tool, args, log_path):
    """Runs tools/<tool>.py, output appended to ``log_path``; returns (exit status, seconds, peak RSS in MiB)."""
    command = [sys.executable, os.path.join(TOOLS, f"{tool}.py"), *map(str, args)]
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    started = time.time()
    with open(log_path, "a", encoding="utf-8") as log:
        log.write(f"\n$ {shlex.join(command)}\n")
        log.flush()
        process = subprocess.Popen(command, cwd=REPO, env=_env(), stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)  # wait4: this child's own peak memory
        process.returncode = os.waitstatus_to_exitcode(status)
    return process.returncode, time.time() - started, usage.ru_maxrss / 1024


def _config_args(spec, extra=()):
    """The tool's config flags; every stage runs deterministically (autorecon_tf/determinism.py)."""
    name, preset, overrides = spec
    args = [f"--config={os.path.join(CONFIGS, name)}:{preset}"]
    settings = [*overrides.items(), *extra, ("deterministic", True)]
    return args + [f"--config.{key}={value}" for key, value in settings]


def _load_config(spec):
    name, preset, overrides = spec
    return cli.load_config(os.path.join(CONFIGS, name), preset, overrides)


def _now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _read(path):
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def _failed(what, status, log_path):
    print(f"{what}: FAILED with exit status {status}, see {log_path}", flush=True)
    with open(log_path, encoding="utf-8", errors="replace") as handle:
        print("".join(handle.readlines()[-15:]), flush=True)


_FINISHED = object()


def _stage_run(label, doing, record_path, tool, args, directory, workdir):
    """Runs ``tool args --workdir=directory`` once for a stage whose record is ``record_path``.

    Returns ``_FINISHED`` if the record exists (skipped), None if the tool failed,
    else ``(seconds, peak_rss_mib, log_path)``.
    """
    if os.path.exists(record_path):
        print(f"[{label}] skipped (finished: {record_path})", flush=True)
        return _FINISHED
    print(f"[{label}] {doing} in {directory}", flush=True)
    log_path = os.path.join(workdir, "logs", f"{label.replace(' ', '_')}.log")
    status, seconds, peak = run_tool(tool, [*args, f"--workdir={directory}"], log_path)
    if status:
        _failed(f"[{label}]", status, log_path)
        return None
    return seconds, peak, log_path


def teacher_stage(teacher, workdir):
    """Trains a `train` teacher into <workdir>/teacher_<name> once; returns its path (None on failure)."""
    directory = os.path.join(workdir, f"teacher_{teacher.name}")
    path = os.path.join(directory, "teacher.keras")
    record_path = os.path.join(workdir, "stages", f"teacher_{teacher.name}.json")
    spec = (*teacher.train, {})
    ran = _stage_run(
        f"teacher {teacher.name}", "training", record_path, "train_teacher", [*_config_args(spec)], directory, workdir
    )
    if ran is None:
        return None
    if ran is _FINISHED:
        return path
    seconds, peak, log_path = ran
    record = _read(os.path.join(directory, "teacher.json"))
    atomic.write_json(
        record_path,
        {
            "stage": "teacher",
            "teacher": teacher.name,
            "test_top1": record["test_top1"],
            "process_seconds": seconds,
            "peak_rss_mib": peak,
            "cpu": cpu_model(),
            "images_seen": None,
            "log": log_path,
            "finished": _now(),
        },
    )
    return path


def reuse_search(preset, teacher, source, workdir):
    """Copies a finished search's genotype and alpha history into <workdir>/search_<teacher>; returns the genotype."""
    directory = os.path.join(workdir, f"search_{teacher}")
    record_path = os.path.join(workdir, "stages", f"search_{teacher}.json")
    os.makedirs(directory, exist_ok=True)
    for name in SEARCH_FILES:
        shutil.copyfile(os.path.join(source, name), os.path.join(directory, name))
    metadata = _read(os.path.join(directory, "genotype.json"))["metadata"]
    print(f"[search {teacher}] reused from {source}", flush=True)
    atomic.write_json(
        record_path,
        {
            "stage": "search",
            "teacher": teacher,
            "reused_from": source,
            "search_steps": metadata.get("search_steps"),
            "batch_size": metadata.get("batch_size"),
            "warmup_epochs": _load_config(preset.search).search.warmup_epochs,
            "generated_images": None,
            "process_seconds": None,  # not timed by this harness
            "images_per_second": None,
            "peak_rss_mib": None,
            "genotype": os.path.join(directory, "genotype.json"),
            "finished": _now(),
        },
    )
    return os.path.join(directory, "genotype.json")


def _search_images(search, directory):
    """Generated images of a finished search: the Gumbel search's steps, or the tuner's completed trials."""
    if search.method != "gumbel":
        return _read(os.path.join(directory, "tuner.json"))["images_used"]
    from autorecon_tf.pipelines.tuner_search import gumbel_search_images  # TensorFlow: only once a search ends

    return gumbel_search_images(_load_config(search.spec))


def search_stage(preset, teacher, teacher_path, workdir, reuse=None, search=None):
    """Runs tools/search.py for ``teacher`` once (``search``: a :class:`grid.Search`, default the preset's own);
    returns genotype.json's path (None on failure)."""
    search = search or preset.search_for("searched")
    name = grid.search_stage_name(teacher, search.label)
    directory = os.path.join(workdir, name)
    genotype = os.path.join(directory, "genotype.json")
    record_path = os.path.join(workdir, "stages", f"{name}.json")
    if reuse and not os.path.exists(record_path):
        return reuse_search(preset, teacher, reuse, workdir)
    args = [*_config_args(search.spec), f"--teacher={teacher_path}"]
    if search.method != "gumbel":
        args.append(f"--method={search.method}")
    label = name.replace("_", " ", 1)  # "search resnet20", "search resnet20_gumbel"
    ran = _stage_run(label, "searching", record_path, "search", args, directory, workdir)
    if ran is None:
        return None
    if ran is _FINISHED:
        return genotype
    seconds, peak, log_path = ran
    config = _load_config(search.spec).search
    images = _search_images(search, directory)
    atomic.write_json(
        record_path,
        {
            "stage": "search",
            "teacher": teacher,
            "label": search.label,
            "method": search.method,
            "search_steps": config.epochs * config.steps_per_epoch if search.method == "gumbel" else None,
            "warmup_epochs": config.warmup_epochs,
            "generated_images": images,
            "process_seconds": seconds,  # the last invocation, start-up and graph tracing included
            "images_per_second": images / seconds,
            "peak_rss_mib": peak,
            "cpu": cpu_model(),
            "genotype": genotype,
            "log": log_path,
            "finished": _now(),
        },
    )
    return genotype


@contextlib.contextmanager
def _stage_lock(workdir, name, blocking):
    """An exclusive lock on stage ``name`` among harness processes (``--shard``); yields False if not ``blocking``
    and another process holds it. The kernel drops the lock of a process that dies."""
    os.makedirs(os.path.join(workdir, "stages"), exist_ok=True)
    with open(os.path.join(workdir, "stages", f".{name}.lock"), "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def search_stages(preset, cells, paths, workdir, searches=None, save=lambda: None):
    """Runs the searches that ``cells`` need, each once among the harness processes sharing ``workdir``.

    Returns ({(teacher, generator): genotype path or None}, failures). A search another process is
    running is left for a second pass, which waits for it (and runs it if that process died).
    """
    needed = {(c.teacher, c.generator): search for c in cells if (search := preset.search_for(c.generator))}
    genotypes, failures, waiting = {}, 0, []
    for blocking in (False, True):
        for key in waiting if blocking else needed:
            (teacher, _), search = key, needed[key]
            if not paths[teacher]:
                genotypes[key] = None
                continue
            with _stage_lock(workdir, grid.search_stage_name(teacher, search.label), blocking) as locked:
                if not locked:
                    waiting.append(key)
                    continue
                reuse = (searches or {}).get(teacher) if search.label == "searched" else None
                genotypes[key] = search_stage(preset, teacher, paths[teacher], workdir, reuse, search)
            failures += genotypes[key] is None
            save()
    return genotypes, failures


def cell_stage(preset, cell, teacher_path, genotype, workdir, teacher_sha256):
    """Runs tools/compress.py for one cell and writes cells/<cell_id>.json; returns True on success."""
    directory = os.path.join(workdir, "runs", cell.cell_id)
    log_path = os.path.join(workdir, "logs", f"{cell.cell_id}.log")
    extra = [("generator.channel_scale", float(cell.scale)), *cell.overrides]
    args = [
        *_config_args(preset.compress, extra),
        f"--teacher={teacher_path}",
        f"--generator={'searched' if genotype else cell.generator}",
        f"--weight_bits={cell.weight_bits}",
        f"--activation_bits={cell.activation_bits}",
        f"--seed={cell.seed}",
        f"--workdir={directory}",
    ]
    if genotype:
        args.append(f"--genotype={genotype}")
    status, seconds, peak = run_tool("compress", args, log_path)
    if status:
        _failed(f"[cell {cell.cell_id}]", status, log_path)
        return False
    metrics = _read(os.path.join(directory, "metrics.json"))
    training_seconds = metrics["training_seconds"] or float("nan")
    result = {
        "cell_id": cell.cell_id,
        "teacher": cell.teacher,
        "teacher_path": teacher_path,
        "teacher_sha256": teacher_sha256,
        "weight_bits": cell.weight_bits,
        "activation_bits": cell.activation_bits,
        "bits": cell.bits,
        "generator": cell.generator,
        "seed": cell.seed,
        "scale": cell.scale,
        "series": cell.series,
        "overrides": dict(cell.overrides),
        "teacher_top1": metrics["teacher_top1"],
        "student_top1": metrics["student_top1"],
        "student_top5": metrics["student_top5"],
        "student_weights_sha256": metrics.get("student_weights_sha256"),
        "determinism": metrics.get("determinism"),
        "top1_drop": metrics["top1_drop"],
        "data_free": metrics["data_free"],
        "wall_time_seconds": metrics["wall_time_seconds"],  # all invocations of the tool, resumes included
        "training_seconds": metrics["training_seconds"],
        "process_seconds": seconds,  # the last invocation, start-up and evaluation included
        "images_seen": metrics["images_seen"],
        "generated_images": metrics["generated_images_seen"],
        "images_per_second": metrics["images_seen"] / training_seconds,
        "peak_rss_mib": peak,
        "budget": metrics["budget"],
        "workdir": directory,
        "log": log_path,
        "finished": _now(),
    }
    atomic.write_json(os.path.join(workdir, "cells", f"{cell.cell_id}.json"), result)
    return True


def parse_shard(value):
    """``"i/n"`` -> (i, n), or a UserError naming the flag."""
    try:
        index, count = (int(part) for part in value.split("/"))
    except ValueError:
        index, count = -1, 0
    if not 0 <= index < count:
        raise UserError(f"--shard {value!r} must be i/n with 0 <= i < n, e.g. 0/2 and 1/2 for two processes")
    return index, count


def run_grid(preset, teachers, workdir, searches=None, archive=None, shard=(0, 1)):
    """Runs every unfinished stage and cell (of ``shard``: (i, n) = every n-th cell from i); returns the failures.

    With ``archive``, every finished stage and cell is also saved there at once.
    """

    def save():
        if archive:
            archiving.save(archive, workdir, digests)

    failures = 0
    paths = dict(teachers)
    for teacher in preset.teachers:
        if teacher.name not in paths:
            paths[teacher.name] = teacher_stage(teacher, workdir)
            failures += paths[teacher.name] is None
    digests = {name: archiving.sha256(path) for name, path in paths.items() if path}
    mine = [(index, cell) for index, cell in enumerate(preset.cells, 1) if (index - 1) % shard[1] == shard[0]]
    genotypes, failed = search_stages(preset, [cell for _, cell in mine], paths, workdir, searches, save)
    failures += failed
    for index, cell in mine:
        label = f"[cell {index}/{len(preset.cells)}] {cell.cell_id}"
        record_path = os.path.join(workdir, "cells", f"{cell.cell_id}.json")
        if os.path.exists(record_path):
            other = archiving.other_teacher(record_path, digests)
            if not other:
                print(f"{label}: skipped (finished)", flush=True)
                continue
            print(
                f"{label}: re-running from scratch, its record is from another teacher (sha256 {other[:12]})",
                flush=True,
            )
            shutil.rmtree(os.path.join(workdir, "runs", cell.cell_id), ignore_errors=True)
        key = (cell.teacher, cell.generator)
        if paths[cell.teacher] is None or (key in genotypes and genotypes[key] is None):
            print(f"{label}: not run (its teacher or search failed)", flush=True)
            failures += 1
            continue
        print(f"{label}: running", flush=True)
        started = time.time()
        ok = cell_stage(preset, cell, paths[cell.teacher], genotypes.get(key), workdir, digests[cell.teacher])
        failures += not ok
        if ok:
            save()
            print(f"{label}: done in {time.time() - started:.0f} s", flush=True)
    return failures


def main(argv):
    del argv
    args = flags.FLAGS  # the flags above, read as args.<name>
    workdir = os.path.abspath(args.workdir or os.path.join(REPO, "runs", f"reproduce_{args.preset}"))
    preset = grid.get_preset(args.preset)  # a UserError is one line and exit status 2 (cli.run)
    archive = os.path.join(REPO, preset.archive) if preset.archive and not args.no_archive else None
    teachers = {} if args.render_only else teacher_overrides(preset, args.teacher, archive)
    searches = search_overrides(preset, args.search, teachers)
    shard = parse_shard(args.shard)
    os.makedirs(workdir, exist_ok=True)
    if archive:
        print(f"[archive] {archiving.restore(archive, workdir)} record(s) restored from {archive}", flush=True)
    started = time.time()
    failures = 0 if args.render_only else run_grid(preset, teachers, workdir, searches, archive, shard)
    import reproduce_render

    markdown = reproduce_render.render(preset, workdir, keep_stamp=args.render_only)
    print(f"Wrote {markdown} and {os.path.join(workdir, 'plots')} ({time.time() - started:.0f} s)", flush=True)
    if failures:
        print(f"{failures} stage(s) or cell(s) failed: re-run the same command to retry them", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    cli.run(main)
