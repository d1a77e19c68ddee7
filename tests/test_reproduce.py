"""benchmarks/reproduce.py (issue 7): the grid shapes, its CLI errors, and the smoke preset end to end."""

import json
import os
import re
import subprocess
import sys

import pytest

from autorecon_tf.errors import UserError

from helpers import PYTHON, REPO, assert_user_error, tool_env

sys.path.insert(0, os.path.join(REPO, "benchmarks"))

import reproduce_grid as grid  # noqa: E402

SCRIPT = os.path.join(REPO, "benchmarks", "reproduce.py")


def run_reproduce(*args, timeout=600):
    return subprocess.run(
        [PYTHON, SCRIPT, *map(str, args)], cwd=REPO, env=tool_env(), capture_output=True, text=True, timeout=timeout
    )


def test_core_has_12_generator_cells_and_3_baselines():
    cells = grid.get_preset("core").cells
    generated = [cell for cell in cells if cell.generator in grid.GENERATORS]
    assert len(generated) == 12 and len(cells) == 15
    assert {(c.weight_bits, c.activation_bits) for c in generated} == {(4, 4), (3, 3)}
    assert {c.seed for c in generated} == {0, 1, 2}
    baselines = [cell for cell in cells if cell.generator in grid.BASELINES]
    assert sorted(c.generator for c in baselines) == ["noise", "real", "zeroq"]
    assert {(c.weight_bits, c.seed) for c in baselines} == {(4, 0)}
    assert len({cell.cell_id for cell in cells}) == len(cells)


def test_bits_is_core_plus_w6a6_and_w5a5_at_the_same_budget():
    core, bits = grid.get_preset("core"), grid.get_preset("bits")
    assert set(core.cells) < set(bits.cells) and len(bits.cells) == 27
    assert {c.bits for c in bits.cells if c.generator in grid.GENERATORS} == {"W6A6", "W5A5", "W4A4", "W3A3"}
    assert (bits.compress, bits.search, bits.teachers) == (core.compress, core.search, core.teachers)


def test_standard_is_issue_5s_grid_with_3_seeds_everywhere_targets_first():
    preset = grid.get_preset("standard")
    cells = preset.cells
    assert len(cells) == 4 * 5 * 3 and len({cell.cell_id for cell in cells}) == len(cells)
    assert {c.teacher for c in cells} == {"resnet20"} and {c.scale for c in cells} == {1.0}
    expected = {(b, b, m, s) for b in (6, 5, 4, 3) for m in grid.GENERATORS + grid.BASELINES for s in (0, 1, 2)}
    assert {(c.weight_bits, c.activation_bits, c.generator, c.seed) for c in cells} == expected
    assert [c.bits for c in cells[:15]] == ["W4A4"] * 15 and cells[15].bits == "W6A6"
    assert cells[0].generator == "gdfq" and cells[1].generator == "searched"
    assert preset.compress == ("compress_resnet20_fmnist.py", "standard", {}) and preset.publish


def test_full_has_both_teachers_four_bit_widths_and_five_scales():
    preset = grid.get_preset("full")
    cells = preset.cells
    assert {teacher.name for teacher in preset.teachers} == {c.teacher for c in cells} == {"resnet20", "mobilenetv2"}
    assert {c.weight_bits for c in cells} == {6, 5, 4, 3}
    assert {c.generator for c in cells} == set(grid.GENERATORS + grid.BASELINES)
    table3 = [c for c in cells if c.teacher == "mobilenetv2" and c.bits == "W5A5" and c.generator in grid.GENERATORS]
    for generator in grid.GENERATORS:
        assert {c.scale for c in table3 if c.generator == generator and c.seed == 0} == {0.5, 1.0, 2.0, 3.0, 4.0}
    assert len({cell.cell_id for cell in cells}) == len(cells)


def test_smoke_grid_and_bad_arguments():
    smoke = grid.get_preset("smoke")
    assert sorted(c.generator for c in smoke.cells) == ["gdfq", "noise", "searched"]
    assert not smoke.publish and all(c.bits == "W4A4" for c in smoke.cells)
    assert_user_error(run_reproduce("--preset", "huge"), "--preset", "huge")
    assert_user_error(
        run_reproduce("--preset", "core", "--teacher", "/no/such/teacher.keras"), "/no/such/teacher.keras"
    )


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_smoke_preset_writes_cells_table_and_plots_then_resumes(tmp_path):
    workdir = tmp_path / "reproduce"
    first = run_reproduce("--preset", "smoke", "--workdir", workdir, timeout=1100)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]

    cells = [workdir / "cells" / f"{cell.cell_id}.json" for cell in grid.get_preset("smoke").cells]
    for path in cells:
        assert path.stat().st_size > 0, path
    markdown = (workdir / "REPRODUCE.md").read_text()
    assert "<!-- BEGIN reproduce_smoke -->" in markdown and "<!-- BEGIN reproduce_smoke_cost -->" in markdown
    assert "±" in markdown and "| W4A4 | searched |" in markdown
    linked = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", markdown)
    names = {os.path.basename(path) for path in linked}
    assert {"accuracy_vs_bits.png", "alpha_entropy.png", "samples_tiny_digits.png"} <= names
    for path in linked:
        assert (workdir / path).stat().st_size > 0, path
    for path in (workdir / "plots").iterdir():
        assert path.stat().st_size > 0, path

    stamps = [path.stat().st_mtime_ns for path in cells]
    again = run_reproduce("--preset", "smoke", "--workdir", workdir, timeout=600)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert again.stdout.count("skipped") == len(cells) + 2  # the cells, the teacher and the search
    assert "running" not in again.stdout and "training in" not in again.stdout
    assert [path.stat().st_mtime_ns for path in cells] == stamps


def _fake_search(directory, teacher):
    directory.mkdir()
    genotype = {"metadata": {"teacher": str(teacher), "search_steps": 600, "batch_size": 64}}
    (directory / "genotype.json").write_text(json.dumps(genotype))
    (directory / "alpha_history.json").write_text(json.dumps({"history": []}))
    return directory


def test_search_reuse_checks_its_directory_and_teacher(tmp_path):
    import reproduce

    preset = grid.get_preset("core")
    teacher, other = tmp_path / "teacher.keras", tmp_path / "other.keras"
    search = _fake_search(tmp_path / "search", teacher)
    with pytest.raises(UserError, match="lacks genotype.json, alpha_history.json"):
        reproduce.search_overrides(preset, [f"resnet20={tmp_path}"], {"resnet20": str(teacher)})
    with pytest.raises(UserError, match="was searched on teacher .*other.keras"):
        reproduce.search_overrides(preset, [f"resnet20={search}"], {"resnet20": str(other)})
    with pytest.raises(UserError, match="no teacher 'vgg'"):
        reproduce.search_overrides(preset, [f"vgg={search}"], {"resnet20": str(teacher)})
    assert reproduce.search_overrides(preset, [str(search)], {"resnet20": str(teacher)}) == {"resnet20": str(search)}


def test_the_cost_table_does_not_pool_cells_of_different_cpus():
    import reproduce_render

    def cell(seconds, cpu):
        facts = {"determinism": {"cpu": cpu}} if cpu else {}
        return {
            "teacher": "resnet20",
            "generator": "gdfq",
            "wall_time_seconds": seconds,
            "generated_images": 10,
            "images_per_second": 1.0,
            "peak_rss_mib": 100.0,
            **facts,
        }

    cells = [cell(60, "Zen 4"), cell(180, "Zen 4"), cell(600, "Zen 3"), cell(6, None)]
    rows = {row["cpu"]: row for row in reproduce_render.cost_rows(cells, [])}
    assert {cpu: (row["runs"], row["wall time (min)"]) for cpu, row in rows.items()} == {
        "Zen 4": (2, "2.0"),
        "Zen 3": (1, "10.0"),
        "not recorded": (1, "0.1"),
    }


def test_reused_search_is_copied_recorded_and_rendered_as_untimed(tmp_path):
    import reproduce
    import reproduce_render

    preset = grid.get_preset("core")
    search = _fake_search(tmp_path / "search", tmp_path / "teacher.keras")
    workdir = tmp_path / "work"
    genotype = reproduce.search_stage(preset, "resnet20", "unused", str(workdir), reuse=str(search))
    assert genotype == str(workdir / "search_resnet20" / "genotype.json")
    assert (workdir / "search_resnet20" / "alpha_history.json").exists()
    stages = reproduce_render.load_stages(str(workdir))
    assert [stage["reused_from"] for stage in stages] == [str(search)]
    (row,) = reproduce_render.cost_rows([], stages)
    assert row["stage"] == "search (reused: 600 steps, not timed here)" and row["wall time (min)"] == ""
    # A second call finds the stage record and does not copy again.
    assert reproduce.search_stage(preset, "resnet20", "unused", str(workdir), reuse=str(search)) == genotype


def _cell(bits, generator, seed, top1, data_free=True):
    return {
        "teacher": "resnet20",
        "bits": f"W{bits}A{bits}",
        "weight_bits": bits,
        "activation_bits": bits,
        "generator": generator,
        "seed": seed,
        "scale": 1.0,
        "data_free": data_free,
        "teacher_top1": 0.9336,
        "student_top1": top1,
    }


def test_tables_mark_issue_5s_drop_targets_and_compare_the_generators_by_seed():
    import reproduce_render

    cells = [
        _cell(4, "gdfq", 0, 0.9150),  # drops 2.05 and 1.85: mean 1.95 <= 2.0
        _cell(4, "gdfq", 1, 0.9170),
        _cell(4, "searched", 0, 0.9050),  # mean 91.15: drop 2.21
        _cell(4, "searched", 1, 0.9180),
        _cell(4, "real", 0, 0.9000, data_free=False),
        _cell(6, "gdfq", 0, 0.9280),  # drop 0.56 > 0.5
        _cell(6, "searched", 0, 0.9300),
        _cell(5, "gdfq", 0, 0.9000),  # no target at W5A5
        _cell(5, "searched", 1, 0.9000),
    ]
    preset = grid.get_preset("standard")
    rows = {(row["bits"], row["method"]): row for row in reproduce_render.accuracy_rows(preset, cells)}
    assert rows[("W4A4", "gdfq")]["target"] == "drop <= 2.0: met"
    assert rows[("W4A4", "searched")]["target"] == "drop <= 2.0: missed"
    assert rows[("W4A4", "real (NOT data-free)")]["target"] == ""
    assert rows[("W6A6", "gdfq")]["target"] == "drop <= 0.5: missed"
    assert rows[("W6A6", "searched")]["target"] == "drop <= 0.5: met"
    assert rows[("W5A5", "gdfq")]["target"] == ""

    comparison = reproduce_render.generator_rows(preset, cells)
    assert [row["bits"] for row in comparison] == ["W6A6", "W5A5", "W4A4"]
    w6, w5, w4 = comparison
    assert w4["teacher"] == "ResNet-20 (Fashion-MNIST)"
    assert w4["searched - gdfq (pp)"] == "-0.45 ± 0.66" and w4["searched better"] == "1 of 2 seeds"
    assert w6["searched - gdfq (pp)"] == "+0.20" and w6["searched better"] == "1 of 1 seeds"
    assert w5["searched better"] == "0 of 0 seeds"  # different seeds are not paired


def test_generators_preset_shares_the_deterministic_cells_and_gives_each_new_generator_its_search():
    preset = grid.get_preset("generators")
    ids = [cell.cell_id for cell in preset.cells]
    assert len(ids) == len(set(ids)) == 2 * 3 * 7
    shared = {cell.cell_id for cell in grid.get_preset("deterministic").cells if "repeat" not in cell.cell_id}
    assert shared <= set(ids)  # GDFQ's and the standard search's 12 cells are not run again
    assert [cell.bits for cell in preset.cells[:14]] == ["W3A3"] * 7 + ["W4A4"] * 7  # seed 0 first, W3A3 first
    assert {cell.seed for cell in preset.cells[:14]} == {0}
    methods = {label: preset.search_for(label).method for label in preset.generators if label != "gdfq"}
    assert methods == {
        "searched": "gumbel",
        "gumbel": "gumbel",
        "random": "random",
        "random_best3": "random",
        "bayesian": "bayesian",
        "gumbel_log": "gumbel",
    }
    assert preset.search_for("gdfq") is None and preset.search_for("noise") is None
    assert preset.search_for("random_best3").spec[2] == {"tuner.max_trials": 3}


def test_deploy_presets_override_the_student_and_sit_beside_the_det2_cells(tmp_path, monkeypatch):
    import reproduce
    import reproduce_render

    int4, int8b = grid.get_preset("deploy_int4"), grid.get_preset("deploy_int8b")
    assert [c.cell_id for c in int4.cells] == [f"resnet20_w4a4_gdfq_seed{s}_s1_det2_int4" for s in (0, 1, 2)]
    assert {c.bits for c in int8b.cells} == {"W4A4", "W3A3"} and len(int8b.cells) == 6
    assert int4.archive == int8b.archive == grid.get_preset("generators").archive
    high, exact = grid.get_preset("deploy_int8b_high"), grid.get_preset("deploy_int4_grid")
    assert [c.cell_id for c in high.cells] == [f"resnet20_w{b}a{b}_gdfq_seed0_s1_det2_int8b" for b in (8, 6)]
    grid_high = grid.get_preset("deploy_grid_high")
    assert [c.cell_id for c in grid_high.cells] == [f"resnet20_w{b}a{b}_gdfq_seed0_s1_det2_int8bgrid" for b in (8, 6)]
    assert dict(exact.cells[0].overrides) == {
        "student.scheme": "gdfq_int4",
        "student.int8_boundaries": True,
        "student.bias_grid": True,
    }
    with pytest.raises(ValueError, match="needs a series"):
        grid.Cell("resnet20", 4, 4, "gdfq", overrides=(("student.scheme", "gdfq_int4"),))

    calls = []
    monkeypatch.setattr(reproduce, "run_tool", lambda name, args, log: calls.append(args) or (1, 0.0, 0.0))
    monkeypatch.setattr(reproduce, "_failed", lambda *args: None)
    assert not reproduce.cell_stage(int4, int4.cells[0], "t.keras", None, str(tmp_path), "sha")
    assert "--config.student.scheme=gdfq_int4" in calls[0] and "--config.deterministic=True" in calls[0]

    os.makedirs(tmp_path / "cells")
    for series, top1 in (("", 0.90), ("det2", 0.92), ("det2_int4", 0.93)):
        cell = dict(_cell(4, "gdfq", 0, top1), series=series)
        cell["cell_id"] = "resnet20_w4a4_gdfq_seed0_s1" + (f"_{series}" if series else "")
        with open(tmp_path / "cells" / f"{cell['cell_id']}.json", "w", encoding="utf-8") as handle:
            json.dump(cell, handle)
    cells = reproduce_render.load_cells(int4, str(tmp_path))
    (row,) = reproduce_render.series_rows(int4, cells, str(tmp_path))
    assert (row["series"], row["earlier, by seed"], row["re-run, by seed"]) == ("det2_int4", "92.00", "93.00")


def test_versus_rows_pair_each_generator_with_gdfq_and_gumbel_with_random():
    import reproduce_render

    cells = [
        _cell(3, "gdfq", 0, 0.80),
        _cell(3, "gdfq", 1, 0.82),
        _cell(3, "gumbel", 0, 0.83),  # +3 and +1: mean +2.00
        _cell(3, "gumbel", 1, 0.83),
        _cell(3, "random", 0, 0.84),
        _cell(3, "random", 1, 0.80),
    ]
    rows = reproduce_render.versus_rows(grid.get_preset("generators"), cells)
    pairs = {(row["generator"], row["against"]): row for row in rows}
    assert set(pairs) == {("gumbel", "gdfq"), ("random", "gdfq"), ("gumbel", "random")}
    assert pairs[("gumbel", "gdfq")]["difference (pp)"] == "+2.00 ± 1.00"
    assert pairs[("gumbel", "gdfq")]["better"] == "2 of 2 seeds"
    assert pairs[("random", "gdfq")]["better"] == "1 of 2 seeds"
    assert pairs[("gumbel", "random")]["difference (pp)"].startswith("+1.00")
    assert pairs[("gumbel", "random")]["better"] == "1 of 2 seeds"  # 83 < 84 at seed 0, 83 > 80 at seed 1


def test_a_search_that_another_shard_is_running_is_waited_for_not_run_twice(tmp_path, monkeypatch):
    import threading

    import reproduce

    preset = grid.get_preset("generators")
    cells = [cell for cell in preset.cells if cell.generator in ("gdfq", "gumbel", "random")][:3]
    ran = []

    def fake_stage(preset, teacher, path, workdir, reuse, search):
        ran.append(search.label)
        return f"{search.label}/genotype.json"

    monkeypatch.setattr(reproduce, "search_stage", fake_stage)
    order = []
    with reproduce._stage_lock(str(tmp_path), "search_resnet20_gumbel", blocking=True):
        timer = threading.Timer(1.0, lambda: order.append("released"))
        timer.start()

        def run():
            order.append(reproduce.search_stages(preset, cells, {"resnet20": "t.keras"}, str(tmp_path)))

        worker = threading.Thread(target=run)
        worker.start()
        timer.join()
        assert ran == ["random"]  # the free one at once; gumbel waits for the lock's holder
    worker.join(timeout=30)
    genotypes, failures = order[-1]
    assert ran == ["random", "gumbel"] and failures == 0
    assert genotypes == {("resnet20", "gumbel"): "gumbel/genotype.json", ("resnet20", "random"): "random/genotype.json"}


def test_archive_pins_one_teacher_and_carries_finished_records_to_a_fresh_workdir(tmp_path):
    import dataclasses

    import reproduce
    import reproduce_archive as archiving

    archive = tmp_path / "archive"
    source = tmp_path / "trained" / "teacher.keras"
    source.parent.mkdir()
    source.write_bytes(b"teacher A")
    (source.parent / "teacher.json").write_text('{"test_top1": 0.9}')
    other = tmp_path / "other.keras"
    other.write_bytes(b"teacher B")
    missing_default = dataclasses.replace(grid.RESNET20, path="no/such/teacher.keras")
    preset = dataclasses.replace(grid.get_preset("standard"), teachers=(missing_default,), archive=str(archive))
    assert grid.get_preset("standard").archive == "benchmarks/results/reproduce_standard"

    with pytest.raises(UserError, match="no teacher 'resnet20' is pinned"):
        reproduce.teacher_overrides(preset, [], str(tmp_path / "empty"))
    pinned = reproduce.teacher_overrides(preset, [str(source)], str(archive))["resnet20"]
    assert pinned == str(archive / "teacher_resnet20.keras") and (archive / "teacher_resnet20.keras").read_bytes() == (
        b"teacher A"
    )
    assert json.loads((archive / "teacher_resnet20.json").read_text()) == {"test_top1": 0.9}
    # Later runs use the pinned file: the default path may be missing or different, an explicit other one is refused.
    assert reproduce.teacher_overrides(preset, [], str(archive)) == {"resnet20": pinned}
    assert reproduce.teacher_overrides(preset, [str(source)], str(archive)) == {"resnet20": pinned}
    with pytest.raises(UserError, match="other.keras.* is not the teacher pinned in .*--no_archive"):
        reproduce.teacher_overrides(preset, [str(other)], str(archive))

    workdir = tmp_path / "machine1"
    records = {
        "cells/resnet20_w4a4_gdfq_seed0_s1.json": '{"student_top1": 0.92}',
        "stages/search_resnet20.json": '{"stage": "search"}',
        "search_resnet20/genotype.json": '{"normal": []}',
        "search_resnet20/alpha_history.json": "[]",
    }
    for relative, text in records.items():
        (workdir / relative).parent.mkdir(parents=True, exist_ok=True)
        (workdir / relative).write_text(text)
    (workdir / "runs" / "cell").mkdir(parents=True)
    (workdir / "runs" / "cell" / "ckpt.index").write_text("checkpoint")
    (workdir / "logs").mkdir()
    (workdir / "logs" / "cell.log").write_text("log")
    assert archiving.save(str(archive), str(workdir)) == 4
    assert archiving.save(str(archive), str(workdir)) == 0  # nothing new
    assert not (archive / "runs").exists() and not (archive / "logs").exists()
    (workdir / "cells" / "resnet20_w4a4_searched_seed0_s1.json").write_text('{"student_top1": 0.91}')
    assert archiving.save(str(archive), str(workdir)) == 1

    fresh = tmp_path / "machine2"
    (fresh / "cells").mkdir(parents=True)
    (fresh / "cells" / "resnet20_w4a4_gdfq_seed0_s1.json").write_text('{"kept": true}')
    assert archiving.restore(str(archive), str(fresh)) == 4
    assert json.loads((fresh / "cells" / "resnet20_w4a4_gdfq_seed0_s1.json").read_text()) == {"kept": True}
    for relative, text in records.items():
        if relative.startswith("cells/"):
            continue
        assert (fresh / relative).read_text() == text
    assert (fresh / "cells" / "resnet20_w4a4_searched_seed0_s1.json").exists()


def test_a_cell_record_of_another_teacher_is_rerun_from_scratch_and_never_archived(tmp_path, monkeypatch):
    import dataclasses

    import reproduce
    import reproduce_archive as archiving

    from autorecon_tf.utils import atomic

    teacher = tmp_path / "teacher.keras"
    teacher.write_bytes(b"teacher A")
    digest = archiving.sha256(str(teacher))
    stale, old = grid.Cell("resnet20", 4, 4, "noise", 0, 1.0), grid.Cell("resnet20", 4, 4, "real", 0, 1.0)
    preset = dataclasses.replace(grid.get_preset("standard"), teachers=(grid.RESNET20,), cells=(stale, old))
    workdir, archive = tmp_path / "workdir", tmp_path / "archive"
    (workdir / "cells").mkdir(parents=True)
    (workdir / "runs" / stale.cell_id).mkdir(parents=True)
    (workdir / "runs" / stale.cell_id / "checkpoint").write_text("teacher B's student")
    record_b = {"cell_id": stale.cell_id, "teacher": "resnet20", "teacher_sha256": "b" * 64, "student_top1": 0.5}
    (workdir / "cells" / f"{stale.cell_id}.json").write_text(json.dumps(record_b))
    (workdir / "cells" / f"{old.cell_id}.json").write_text(json.dumps({"teacher": "resnet20", "student_top1": 0.9}))

    assert archiving.save(str(archive), str(workdir), {"resnet20": digest}) == 1  # the record without a digest
    assert not (archive / "cells" / f"{stale.cell_id}.json").exists()

    ran = []

    def fake_cell_stage(preset, cell, teacher_path, genotype, workdir, teacher_sha256):
        ran.append(cell.cell_id)
        assert not os.path.exists(os.path.join(workdir, "runs", cell.cell_id))  # no resume from teacher B's run
        record = {"cell_id": cell.cell_id, "teacher": cell.teacher, "teacher_sha256": teacher_sha256}
        atomic.write_json(os.path.join(workdir, "cells", f"{cell.cell_id}.json"), record)
        return True

    monkeypatch.setattr(reproduce, "cell_stage", fake_cell_stage)
    assert reproduce.run_grid(preset, {"resnet20": str(teacher)}, str(workdir), archive=str(archive)) == 0
    assert ran == [stale.cell_id]
    assert json.loads((archive / "cells" / f"{stale.cell_id}.json").read_text())["teacher_sha256"] == digest
    assert reproduce.run_grid(preset, {"resnet20": str(teacher)}, str(workdir), archive=str(archive)) == 0
    assert ran == [stale.cell_id]  # finished on this teacher: skipped


def test_the_alpha_plot_draws_each_gumbel_search_skips_a_tuner_search_and_leaves_the_histories(tmp_path):
    import reproduce_render

    history = {"history": [{"epoch": 1, "entropy": 1.41}, {"epoch": 2, "entropy": 1.0}]}
    for name in ("search_resnet20", "search_resnet20_gumbel"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "alpha_history.json").write_text(json.dumps(history))
    stages = [
        {"stage": "search", "teacher": "resnet20", "warmup_epochs": 1},
        {"stage": "search", "teacher": "resnet20", "label": "gumbel", "warmup_epochs": 1},
        {"stage": "search", "teacher": "resnet20", "label": "random", "warmup_epochs": 1},  # no alpha_history
    ]
    png = tmp_path / "plots" / "alpha_entropy.png"
    assert reproduce_render.plot_alpha_entropy(str(tmp_path), stages, str(png)) == str(png)
    assert png.read_bytes()[:4] == b"\x89PNG"
    for name in ("search_resnet20", "search_resnet20_gumbel"):
        assert json.loads((tmp_path / name / "alpha_history.json").read_text()) == history
