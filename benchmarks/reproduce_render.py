"""Tables and plots of benchmarks/reproduce.py, from the cell and stage JSONs of its workdir.

    python benchmarks/reproduce.py --preset core --render_only     (how it is launched)

Blocks (benchmarks/report.py): ``reproduce_<preset>`` (top-1 mean ± std over seeds per
teacher, bits and generator, the baselines and the FP teachers, with the plots, and
whether issue 5's drop targets are met), ``reproduce_<preset>_generators`` (searched
minus GDFQ, with its standard error and the seeds each generator wins), for a preset with
searches (``generators``) ``reproduce_<preset>_versus`` (every generator against GDFQ's, and the
Gumbel search against keras-tuner random),
``reproduce_<preset>_cost`` (wall time, generated images, images/s, peak memory of
the search and the compression) and, when the grid varies the generator channel
scale s, ``reproduce_<preset>_scale``. PNGs go to <workdir>/plots/ and, for the
published presets, to benchmarks/results/plots/reproduce_<preset>_*.png.
"""

import glob
import json
import os
import shutil

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import report  # noqa: E402
import reproduce_grid as grid  # noqa: E402

from autorecon_tf.utils.atomic import atomic_path  # noqa: E402

SAMPLES_PER_CLASS = 2


def _read(path):
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


REPEAT = "repeat"  # a series ending so re-runs an earlier cell's exact command: kept out of the means


def load_cells(preset, workdir):
    paths = [os.path.join(workdir, "cells", f"{cell.cell_id}.json") for cell in preset.cells]
    return [_read(path) for path in paths if os.path.exists(path)]


def _cell_record(workdir, cell_id):
    path = os.path.join(workdir, "cells", f"{cell_id}.json")
    return _read(path) if os.path.exists(path) else None


def _earlier(workdir, cell):
    """The record of ``cell``'s command before its series (None if absent).

    A series ``a_b`` (e.g. det2_int4: det2 with other student settings) is set beside series ``a``'s record
    of the cell when there is one, else beside the cell without a series.
    """
    base = cell["cell_id"].removesuffix("_" + cell["series"])
    parent = cell["series"].rpartition("_")[0]
    return (_cell_record(workdir, f"{base}_{parent}") if parent else None) or _cell_record(workdir, base)


def _by_seed(cells):
    return " / ".join(f"{100 * cell['student_top1']:.2f}" for cell in sorted(cells, key=lambda cell: cell["seed"]))


def series_rows(preset, cells, workdir):
    """Each re-run series beside the earlier records of the same cells: per-seed values, mean ± std."""
    rows = []
    rerun = [cell for cell in cells if cell.get("series") and not cell["series"].endswith(REPEAT)]
    order = {name: index for index, name in enumerate(preset.generators + grid.BASELINES)}
    keyed = _groups(rerun, lambda cell: (cell["series"], cell["bits"], cell["generator"]))
    ordered = sorted(keyed.items(), key=lambda item: (item[0][0], -item[1][0]["weight_bits"], order[item[0][2]]))
    for (series, bits, method), members in ordered:
        earlier = [record for record in (_earlier(workdir, cell) for cell in members) if record]
        rows.append(
            {
                "series": series,
                "bits": bits,
                "method": method,
                "seeds": len(members),
                "earlier, by seed": _by_seed(earlier),
                "earlier mean ± std": _accuracy([cell["student_top1"] for cell in earlier]) if earlier else "",
                "re-run, by seed": _by_seed(members),
                "re-run mean ± std": _accuracy([cell["student_top1"] for cell in members]),
            }
        )
    return rows


def repeat_rows(cells, workdir):
    """Each repeated command beside its first run: top-1 and whether the student weights are identical."""
    rows = []
    for cell in (cell for cell in cells if cell.get("series", "").endswith(REPEAT)):
        first = _cell_record(workdir, cell["cell_id"].removesuffix("_" + REPEAT))
        if first is None:
            continue
        same = cell.get("student_weights_sha256") and cell["student_weights_sha256"] == first.get(
            "student_weights_sha256"
        )
        rows.append(
            {
                "cell": first["cell_id"],
                "first run top-1 %": f"{100 * first['student_top1']:.2f}",
                "same command again %": f"{100 * cell['student_top1']:.2f}",
                "student weights": "identical (sha256)" if same else "differ",
                "CPU": (cell.get("determinism") or {}).get("cpu", ""),
            }
        )
    return rows


def load_stages(workdir):
    """Teacher trainings first, then the searches."""
    stages = [_read(path) for path in glob.glob(os.path.join(workdir, "stages", "*.json"))]
    return sorted(stages, key=lambda stage: (stage["stage"] != "teacher", stage["teacher"]))


def _groups(cells, key):
    groups = {}
    for cell in cells:
        groups.setdefault(key(cell), []).append(cell)
    return groups


def _stats(values):
    values = 100 * np.asarray(values, dtype=float)
    return values.mean(), (values.std(ddof=1) if len(values) > 1 else 0.0), len(values)


def _accuracy(values):
    mean, std, count = _stats(values)
    return f"{mean:.2f} ± {std:.2f}" if count > 1 else f"{mean:.2f}"


def _row_order(item, order):
    """Widest bits first, then the generators, then the baselines."""
    (_, method), members = item
    return (-members[0]["weight_bits"], -members[0]["activation_bits"], order[method])


def accuracy_rows(preset, cells):
    """FP teacher, then per bit width the generators and the baselines (s = 1 only)."""
    labels = {teacher.name: teacher.label for teacher in preset.teachers}
    rows = []
    for teacher, group in _groups(cells, lambda cell: cell["teacher"]).items():
        fp = np.mean([cell["teacher_top1"] for cell in group]) * 100
        rows.append(
            {"teacher": labels.get(teacher, teacher), "bits": "FP32", "method": "teacher", "top-1 %": f"{fp:.2f}"}
        )
        order = {name: index for index, name in enumerate(preset.generators + grid.BASELINES)}
        at_unit_scale = [cell for cell in group if cell["scale"] == 1.0]
        keyed = _groups(at_unit_scale, lambda cell: (cell["bits"], cell["generator"]))
        for (bits, method), members in sorted(keyed.items(), key=lambda item: _row_order(item, order)):
            mean, _, count = _stats([cell["student_top1"] for cell in members])
            rows.append(
                {
                    "teacher": labels.get(teacher, teacher),
                    "bits": bits,
                    "method": method + ("" if members[0]["data_free"] else " (NOT data-free)"),
                    "top-1 %": _accuracy([cell["student_top1"] for cell in members]),
                    "seeds": count,
                    "drop (pp)": f"{fp - mean:.2f}",
                    "target": _target(bits, fp - mean) if members[0]["data_free"] else "",
                }
            )
    return rows


def _target(bits, drop):
    """``drop <= 2.0: met`` (or missed) at the bit widths of ``grid.DROP_TARGETS``, else ``""``."""
    if bits not in grid.DROP_TARGETS:
        return ""
    limit = grid.DROP_TARGETS[bits]
    return f"drop <= {limit:.1f}: {'met' if round(drop, 2) <= limit else 'missed'}"


def _difference(baseline, other):
    """``(other - baseline, "k of n seeds")`` for two lists of cells: the mean difference in points ± its
    standard error sqrt(s_b^2 / n_b + s_o^2 / n_o) (none with one seed on either side), and the seeds
    (paired by seed: the same latent and label stream) where ``other``'s student beat ``baseline``'s."""
    (b_mean, b_std, b_n), (o_mean, o_std, o_n) = (
        _stats([c["student_top1"] for c in side]) for side in (baseline, other)
    )
    by_seed = {cell["seed"]: cell["student_top1"] for cell in baseline}
    paired = [(by_seed[c["seed"]], c["student_top1"]) for c in other if c["seed"] in by_seed]
    error = np.sqrt(b_std**2 / b_n + o_std**2 / o_n) if min(b_n, o_n) > 1 else None
    difference = f"{o_mean - b_mean:+.2f}" + (f" ± {error:.2f}" if error is not None else "")
    return difference, f"{sum(o > b for b, o in paired)} of {len(paired)} seeds"


def _generated_pairs(preset, cells):
    """{(teacher, bits): {generator: [cells]}} of the generator cells at s = 1, widest bits first."""
    generated = [cell for cell in cells if cell["scale"] == 1.0 and cell["generator"] in preset.generators]
    pairs = _groups(generated, lambda cell: (cell["teacher"], cell["bits"]))
    ordered = sorted(pairs.items(), key=lambda item: (item[0][0], -item[1][0]["weight_bits"]))
    return [(key, _groups(members, lambda cell: cell["generator"])) for key, members in ordered]


def generator_rows(preset, cells):
    """Searched minus GDFQ per teacher and bit width (s = 1): means, the difference and its standard error
    (:func:`_difference`); ``searched better`` counts the seeds where the searched generator's student won."""
    labels = {teacher.name: teacher.label for teacher in preset.teachers}
    rows = []
    for (teacher, bits), by_generator in _generated_pairs(preset, cells):
        if not {"gdfq", "searched"} <= set(by_generator):
            continue
        difference, better = _difference(by_generator["gdfq"], by_generator["searched"])
        rows.append(
            {
                "teacher": labels.get(teacher, teacher),
                "bits": bits,
                "gdfq top-1 %": _accuracy([cell["student_top1"] for cell in by_generator["gdfq"]]),
                "searched top-1 %": _accuracy([cell["student_top1"] for cell in by_generator["searched"]]),
                "searched - gdfq (pp)": difference,
                "searched better": better,
            }
        )
    return rows


# Issue 21's questions of a preset with searches: every generator against GDFQ's (the paper's claim), and the
# Gumbel search against keras-tuner's random search at the same image budget (the NAS baseline).
VERSUS = (("gdfq", None), ("random", "gumbel"))


def versus_rows(preset, cells):
    """Per teacher and bit width, each generator against the baselines of :data:`VERSUS`, paired by seed."""
    rows = []
    for (teacher, bits), by_generator in _generated_pairs(preset, cells):
        for baseline, only in VERSUS:
            if baseline not in by_generator:
                continue
            for generator in preset.generators:
                if generator == baseline or generator not in by_generator or only not in (None, generator):
                    continue
                difference, better = _difference(by_generator[baseline], by_generator[generator])
                rows.append(
                    {
                        "teacher": teacher,
                        "bits": bits,
                        "generator": generator,
                        "top-1 %": _accuracy([cell["student_top1"] for cell in by_generator[generator]]),
                        "against": baseline,
                        "its top-1 %": _accuracy([cell["student_top1"] for cell in by_generator[baseline]]),
                        "difference (pp)": difference,
                        "better": better,
                    }
                )
    return rows


def scale_rows(cells):
    """Seed-0 cells of the (teacher, bits) pairs that vary s."""
    varied = _groups(cells, lambda cell: (cell["teacher"], cell["bits"]))
    varied = {key for key, members in varied.items() if len({cell["scale"] for cell in members}) > 1}
    seed0 = [cell for cell in cells if cell["seed"] == 0 and (cell["teacher"], cell["bits"]) in varied]
    rows = []
    keyed = _groups(seed0, lambda cell: (cell["teacher"], cell["bits"], cell["scale"]))
    for (teacher, bits, scale), members in sorted(keyed.items()):
        row = {"teacher": teacher, "bits": bits, "s": f"{scale:g}"}
        for cell in members:
            if cell["generator"] in grid.GENERATORS:  # the Table-3 grid's two generators
                row[f"{cell['generator']} top-1 %"] = f"{100 * cell['student_top1']:.2f}"
        rows.append(row)
    return rows


def _cell_cpu(cell):
    return (cell.get("determinism") or {}).get("cpu") or "not recorded"


def cost_rows(cells, stages):
    """A row per search stage, and per (teacher, generator, CPU) of the compress cells: the cells of a grid that
    moved between machines are not pooled across CPUs."""
    rows = []
    for stage in stages:
        seconds = stage["process_seconds"]
        images = stage.get("generated_images")
        reused = stage.get("reused_from")
        label = stage.get("label", "searched")
        rows.append(
            {
                "stage": stage["stage"]
                + (f" {label} ({stage['method']})" if label != "searched" else "")
                + (f" (reused: {stage['search_steps']} steps, not timed here)" if reused else ""),
                "teacher": stage["teacher"],
                "cpu": stage.get("cpu") or "not recorded",
                "runs": 1,
                "wall time (min)": f"{seconds / 60:.1f}" if seconds is not None else "",
                "generated images": f"{images:,}" if images else "",
                "images/s": f"{stage['images_per_second']:.1f}" if images else "",
                "peak RSS (MiB)": f"{stage['peak_rss_mib']:.0f}" if stage["peak_rss_mib"] is not None else "",
            }
        )
    groups = _groups(cells, lambda cell: (cell["teacher"], cell["generator"], _cell_cpu(cell)))
    for (teacher, method, cpu), members in groups.items():
        rows.append(
            {
                "stage": f"compress {method}",
                "teacher": teacher,
                "cpu": cpu,
                "runs": len(members),
                "wall time (min)": f"{np.median([cell['wall_time_seconds'] for cell in members]) / 60:.1f}",
                "generated images": f"{int(np.median([cell['generated_images'] for cell in members])):,}",
                "images/s": f"{np.median([cell['images_per_second'] for cell in members]):.1f}",
                "peak RSS (MiB)": f"{max(cell['peak_rss_mib'] for cell in members):.0f}",
            }
        )
    return rows


def _save(figure, path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=100, bbox_inches="tight", format="png")
    plt.close(figure)
    return path


def plot_accuracy_vs_bits(cells, path):
    teachers = list(dict.fromkeys(cell["teacher"] for cell in cells))
    figure, axes = plt.subplots(1, len(teachers), figsize=(5.5 * len(teachers), 4), squeeze=False)
    for axis, teacher in zip(axes[0], teachers):
        mine = [cell for cell in cells if cell["teacher"] == teacher and cell["scale"] == 1.0]
        axis.axhline(100 * np.mean([c["teacher_top1"] for c in mine]), color="gray", ls="--", label="FP teacher")
        for method, members in _groups(mine, lambda cell: cell["generator"]).items():
            by_bits = _groups(members, lambda cell: cell["weight_bits"])
            bits = sorted(by_bits)
            stats = [_stats([cell["student_top1"] for cell in by_bits[b]]) for b in bits]
            line = "s" if method in grid.BASELINES else "-o"  # a generator's students: a line over the bits
            axis.errorbar(bits, [s[0] for s in stats], yerr=[s[1] for s in stats], fmt=line, capsize=4, label=method)
        axis.set(title=teacher, xlabel="bit width (W = A)", ylabel="test top-1 %")
        axis.set_xticks(sorted({cell["weight_bits"] for cell in mine}))
        axis.legend(fontsize=8)
    return _save(figure, path)


def plot_accuracy_vs_scale(cells, path):
    """Seed 0 only, like the scale table (the other seeds exist only at s = 1)."""
    seed0 = [cell for cell in cells if cell["seed"] == 0 and cell["generator"] in grid.GENERATORS]
    figure, axis = plt.subplots(figsize=(5.5, 4))
    for (teacher, bits, method), members in sorted(
        _groups(seed0, lambda c: (c["teacher"], c["bits"], c["generator"])).items()
    ):
        if len(members) < 2:
            continue
        members = sorted(members, key=lambda cell: cell["scale"])
        top1 = [100 * cell["student_top1"] for cell in members]
        axis.plot([cell["scale"] for cell in members], top1, "-o", label=f"{teacher} {bits} {method}")
    axis.set(xlabel="generator channel scale s", ylabel="test top-1 %", title="accuracy vs generator width (seed 0)")
    axis.legend(fontsize=8)
    return _save(figure, path)


def plot_alpha_entropy(workdir, stages, path):
    figure, axis = plt.subplots(figsize=(5.5, 4))
    for stage in stages:
        if stage["stage"] != "search":
            continue
        label = stage.get("label", "searched")
        history_path = os.path.join(workdir, grid.search_stage_name(stage["teacher"], label), "alpha_history.json")
        if not os.path.exists(history_path):  # a keras-tuner search has no alpha
            continue
        history = _read(history_path)["history"]
        name = stage["teacher"] + (f" {label}" if label != "searched" else "")
        axis.plot([e["epoch"] for e in history], [e["entropy"] for e in history], marker="o", label=name)
        axis.axvline(stage["warmup_epochs"], color="gray", ls=":", lw=1)
    axis.set(xlabel="search epoch (dotted: end of the weights-only warm-up)", ylabel="mean entropy of softmax(alpha)")
    axis.set_title("alpha entropy during the search")
    axis.legend(fontsize=8)
    return _save(figure, path)


def _sample_cells(cells, teacher, generators=grid.GENERATORS):
    """One finished cell per generator of ``generators`` for ``teacher``: seed 0, s = 1, preferably W4A4."""
    chosen = {}
    for cell in sorted(cells, key=lambda cell: (cell["bits"] != "W4A4", cell["seed"], cell["scale"] != 1.0)):
        has_generator = os.path.exists(os.path.join(cell["workdir"], "generator.keras"))
        if cell["teacher"] == teacher and cell["generator"] in generators and has_generator:
            chosen.setdefault(cell["generator"], cell)
    return [chosen[name] for name in generators if name in chosen]


def plot_samples(cells, teacher, path, names=grid.GENERATORS):
    """Rows: SAMPLES_PER_CLASS images per generator; columns: the classes (each image min-max scaled)."""
    from autorecon_tf.teachers.loader import load_keras_model, load_teacher

    chosen = _sample_cells(cells, teacher, names)
    generators = [load_keras_model(os.path.join(c["workdir"], "generator.keras"), "generator") for c in chosen]
    classes = load_teacher(chosen[0]["teacher_path"]).num_classes
    figure, axes = plt.subplots(
        len(chosen) * SAMPLES_PER_CLASS, classes, figsize=(classes, 1.1 * len(chosen) * SAMPLES_PER_CLASS)
    )
    axes = np.asarray(axes).reshape(len(chosen) * SAMPLES_PER_CLASS, classes)
    rng = np.random.default_rng(0)
    for index, (cell, generator) in enumerate(zip(chosen, generators)):
        labels = np.tile(np.arange(classes, dtype="int32"), SAMPLES_PER_CLASS)
        z = rng.standard_normal((len(labels), int(generator.inputs[0].shape[-1]))).astype("float32")
        images = np.asarray(generator([z, labels], training=False), dtype=np.float32)
        for sample, (image, label) in enumerate(zip(images, labels)):
            axis = axes[index * SAMPLES_PER_CLASS + sample // classes, label]
            image = (image - image.min()) / max(float(image.max() - image.min()), 1e-8)
            axis.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray")
            axis.set_xticks([])
            axis.set_yticks([])
            if sample < classes and index == 0:
                axis.set_title(str(label), fontsize=8)
            if label == 0:
                axis.set_ylabel(cell["generator"], fontsize=8)
    figure.suptitle(f"generated samples per class, {teacher} ({chosen[0]['bits']}, seed 0)", fontsize=9)
    return _save(figure, path)


def make_plots(preset, workdir, cells, stages):
    """Writes the PNGs under <workdir>/plots/; returns [(title, path)].

    The samples plot needs the cells' generators, which are not archived: on a checkout without them
    the published PNG of a finished grid stays linked (its path is the published copy's).
    """
    directory = os.path.join(workdir, "plots")
    plots = []
    if cells:
        plots.append(
            ("accuracy vs bit width", plot_accuracy_vs_bits(cells, os.path.join(directory, "accuracy_vs_bits.png")))
        )
    if len({cell["scale"] for cell in cells}) > 1:
        plots.append(("accuracy vs s", plot_accuracy_vs_scale(cells, os.path.join(directory, "accuracy_vs_scale.png"))))
    if any(stage["stage"] == "search" for stage in stages):
        plots.append(
            ("alpha entropy", plot_alpha_entropy(workdir, stages, os.path.join(directory, "alpha_entropy.png")))
        )
    for teacher in dict.fromkeys(cell["teacher"] for cell in cells):
        title, path = f"generated samples, {teacher}", os.path.join(directory, f"samples_{teacher}.png")
        if _sample_cells(cells, teacher, preset.generators):
            plots.append((title, plot_samples(cells, teacher, path, preset.generators)))
        elif preset.publish and os.path.exists(_published(preset, path)):
            plots.append((title, _published(preset, path)))
    return plots


def _published(preset, path):
    """Where a published preset's plot is copied in the repository."""
    return os.path.join(report.RESULTS, "plots", f"reproduce_{preset.name}_{os.path.basename(path)}")


def render(preset, workdir, keep_stamp=False):
    """Writes the plots and the markdown blocks; returns the markdown file's path.

    ``keep_stamp``: a re-render (``--render_only``) keeps each unchanged table's date, command and machine.
    """
    everything, stages = load_cells(preset, workdir), load_stages(workdir)
    cells = [cell for cell in everything if not cell.get("series", "").endswith(REPEAT)]
    plots = make_plots(preset, workdir, cells, stages)
    name = f"reproduce_{preset.name}"
    if preset.publish:
        markdown, results = report.BENCHMARKS_MD, report.RESULTS
        published = []
        for title, path in plots:
            copy = _published(preset, path) if os.path.dirname(path) != os.path.join(results, "plots") else path
            if copy != path:  # else kept from the archive
                os.makedirs(os.path.dirname(copy), exist_ok=True)
                shutil.copyfile(path, copy)
            published.append((title, copy))
        plots = published
    else:
        markdown, results = os.path.join(workdir, "REPRODUCE.md"), os.path.join(workdir, "results")
    base = os.path.dirname(markdown)
    links = "\n".join(f"![{title}]({os.path.relpath(path, base)})" for title, path in plots)
    missing = len(preset.cells) - len(cells)
    spec = preset.compress
    notes = (
        f"Preset `{preset.name}`: {len(cells)} of {len(preset.cells)} cells finished"
        + (f" ({missing} missing)" if missing else "")
        + f"; compress config `{spec[0]}:{spec[1]}` with {spec[2] or 'no overrides'}; search config"
        f" `{preset.search[0]}:{preset.search[1]}`. Top-1 % on the real test set, mean ± sample std over seeds"
        " (one value when one seed); generators and baselines at s = 1.\n\n" + links
    )
    columns = ["teacher", "bits", "method", "top-1 % (mean ± std)", "seeds", "drop (pp)", "target"]
    rows = [dict(row, **{columns[3]: row.pop("top-1 %")}) for row in accuracy_rows(preset, cells)]
    report.record(name, rows, columns, notes, markdown=markdown, results=results, keep_stamp=keep_stamp)
    comparison = generator_rows(preset, cells)
    if comparison:
        report.record(
            f"{name}_generators",
            comparison,
            list(comparison[0]),
            "Searched minus GDFQ generator, same compression and budget: mean over seeds ± the standard error"
            " of the difference; `searched better` pairs the runs by seed.",
            markdown=markdown,
            results=results,
            keep_stamp=keep_stamp,
        )
    versus = versus_rows(preset, cells) if preset.searches else []
    if versus:
        report.record(
            f"{name}_versus",
            versus,
            list(versus[0]),
            "Each generator's students against GDFQ's (the paper's claim), and the Gumbel search's against keras-tuner"
            " random search's at the same generated-image budget (the NAS baseline): the difference of the means ±"
            " its standard error; `better` pairs the runs by seed (same latent and label stream).",
            markdown=markdown,
            results=results,
            keep_stamp=keep_stamp,
        )
    for suffix, rows, text in (
        (
            "series",
            series_rows(preset, cells, workdir),
            "Re-runs beside the earlier records of the same cells (top-1 %); a series `a_b` (other student"
            " settings, e.g. det2_int4) beside series `a`'s records of the same cells.",
        ),
        ("repeat", repeat_rows(everything, workdir), "The same command run twice (issue 24)."),
    ):
        if rows:
            report.record(
                f"{name}_{suffix}", rows, list(rows[0]), text, markdown=markdown, results=results, keep_stamp=keep_stamp
            )
    cost_columns = [
        "stage",
        "teacher",
        "cpu",
        "runs",
        "wall time (min)",
        "generated images",
        "images/s",
        "peak RSS (MiB)",
    ]
    cost_notes = (
        "Compression rows: median over the runs (robust to a run that was paused or shared the CPU) of the"
        " tool's wall time (resumes included) and images/s of its training loop (images through the student);"
        " search rows: the whole process, start-up and tracing"
        " included; a Gumbel search's images are batch x (T1 per warm-up step + (T1 + V1) per later step)"
        " (records before 2026-12-05 counted T1 + V1 in the warm-up too), a keras-tuner search's those of its"
        " completed trials. Peak RSS of the tool's process. cpu: a cell's from its record (the tool's run facts),"
        " a stage's as the harness read it (stage records before 2026-12-07 have none); cells on different CPUs"
        " get separate rows."
    )
    report.record(
        f"{name}_cost",
        cost_rows(cells, stages),
        cost_columns,
        cost_notes,
        markdown=markdown,
        results=results,
        keep_stamp=keep_stamp,
    )
    if len({cell["scale"] for cell in cells}) > 1:
        scale_columns = ["teacher", "bits", "s", "gdfq top-1 %", "searched top-1 %"]
        report.record(
            f"{name}_scale",
            scale_rows(cells),
            scale_columns,
            "Seed 0 (Table 3 analogue).",
            markdown=markdown,
            results=results,
            keep_stamp=keep_stamp,
        )
    return markdown
