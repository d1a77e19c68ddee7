"""The package's layout rules (BUILD.md, "Layout"): who may import whom, and how long a module or function may be."""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "autorecon_tf"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
# A longer function says why in its docstring with these words.
LONG_FUNCTION_MARKER = "long because"

# (importing package, imported package): imports that must not exist. The genotype JSON is the only hand-off
# between search and compression, so generators/ and supernet/ meet only in search_space/.
FORBIDDEN = [
    ("autorecon_tf", "tools"),
    ("autorecon_tf", "benchmarks"),
    ("autorecon_tf.generators", "autorecon_tf.supernet"),
    ("autorecon_tf.supernet", "autorecon_tf.generators"),
    ("autorecon_tf.search_space", "autorecon_tf.generators"),
    ("autorecon_tf.search_space", "autorecon_tf.supernet"),
    ("autorecon_tf.losses", "autorecon_tf.trainers"),
    ("autorecon_tf.losses", "autorecon_tf.pipelines"),
    ("autorecon_tf.quantization", "autorecon_tf.trainers"),
    ("autorecon_tf.quantization", "autorecon_tf.pipelines"),
]


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts), path


def imported_names(tree):
    """Every module an ``import`` or ``from ... import`` in ``tree`` names (including names imported from a package)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _within(name, package):
    return name == package or name.startswith(package + ".")


def violations(module, names, rules=FORBIDDEN):
    return sorted(
        f"{module} imports {name}"
        for importer, imported in rules
        if _within(module, importer)
        for name in names
        if _within(name, imported)
    )


def test_the_rule_check_sees_function_level_and_from_imports():
    tree = ast.parse("def f():\n    from autorecon_tf.supernet import gumbel\nimport benchmarks.report\n")
    names = imported_names(tree)
    assert violations("autorecon_tf.generators.x", names) == [
        "autorecon_tf.generators.x imports autorecon_tf.supernet",
        "autorecon_tf.generators.x imports autorecon_tf.supernet.gumbel",
        "autorecon_tf.generators.x imports benchmarks.report",
    ]
    assert violations("autorecon_tf.supernet.x", imported_names(ast.parse("from autorecon_tf import generators"))) == [
        "autorecon_tf.supernet.x imports autorecon_tf.generators"
    ]
    assert violations("autorecon_tf.trainers.x", names) == ["autorecon_tf.trainers.x imports benchmarks.report"]


def test_no_package_imports_what_the_layout_forbids():
    found = []
    for module, path in _modules():
        found += violations(module, imported_names(ast.parse(path.read_text(encoding="utf-8"))))
    assert found == []


@pytest.mark.parametrize("module,path", [pytest.param(module, path, id=module) for module, path in _modules()])
def test_modules_and_functions_stay_short(module, path):
    source = path.read_text(encoding="utf-8")
    assert len(source.splitlines()) <= MAX_MODULE_LINES, f"{module} has {len(source.splitlines())} lines"
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                assert LONG_FUNCTION_MARKER in (ast.get_docstring(node) or ""), (
                    f"{module}.{node.name} has {length} lines: split it, or say in its docstring why it is "
                    f"{LONG_FUNCTION_MARKER!r}"
                )


def files_entered(function, *args, **kwargs):
    """``{file: visits}``: how often a call of ``function`` enters each autorecon_tf file, as a reader follows it.

    The calls our code makes itself from ``function`` down (Keras calling our layers is not followed; a
    ``with`` on our context manager is), each function at its first call only, comprehensions not counted.
    A visit is a run of consecutive first calls in one file: coming back to a file is a second visit.
    """
    import sys

    root = str(PACKAGE)

    def ours(code):
        return code.co_filename.startswith(root)

    def followed(frame):
        back = frame.f_back
        while back is not None and back.f_code is not function.__code__:
            if not (ours(back.f_code) or back.f_code.co_filename.endswith("contextlib.py")):
                return False
            back = back.f_back
        return back is not None or frame.f_code is function.__code__

    seen, visits = set(), []

    def trace(frame, event, _):  # a "call" event per Python frame; returning None traces no lines
        code = frame.f_code
        if event != "call" or not ours(code) or code in seen or code.co_name.startswith("<"):
            return None
        if followed(frame):
            seen.add(code)
            if not visits or visits[-1] != code.co_filename:
                visits.append(code.co_filename)
        return None

    sys.settrace(trace)
    try:
        function(*args, **kwargs)
    finally:
        sys.settrace(None)
    return {pathlib.Path(path).relative_to(PACKAGE).as_posix(): visits.count(path) for path in visits}


def test_the_visit_count_counts_returns_to_a_file():
    from autorecon_tf.quantization import ranges, student

    def back_and_forth():
        ranges.margin_range((-1.0, 1.0), (-5.0, 5.0))  # ranges.py,
        student.quantized_layer("conv/activation")  # student.py,
        ranges.margin_range((-1.0, 1.0), (-5.0, 5.0))  # (a second call: not followed again)
        return ranges.dense_output_bound([[1.0]], 0.0, (0.0, 1.0))  # ranges.py again

    assert files_entered(back_and_forth) == {"quantization/ranges.py": 2, "quantization/student.py": 1}


@pytest.mark.slow
def test_convert_student_enters_each_file_at_most_twice(monkeypatch):
    """GDFQ's placement, the default student: the most ranges to measure."""
    from autorecon_tf.compat import tf
    from autorecon_tf.data.calibration import noise_images
    from autorecon_tf.export.convert import convert_student
    from autorecon_tf.quantization import build_student

    from conftest import calibrate_on_noise, make_tiny_teacher

    student = calibrate_on_noise(build_student(make_tiny_teacher(), 4, 4))
    monkeypatch.setattr(tf.lite.TFLiteConverter, "convert", lambda self: b"")  # TF's converter: not our path
    counts = files_entered(convert_student, student, noise_images((8, 8, 1), 16, seed=2))
    assert {"export/convert.py", "export/graph.py", "quantization/ranges.py"} <= set(counts), counts
    assert max(counts.values()) <= 2, counts
