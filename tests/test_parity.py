"""Issue 22's parity verdict: Keras/LiteRT agreement against LiteRT's own builtin/XNNPACK spread, accuracy, grids."""

import pytest

from autorecon_tf.export.parity import parity_verdict, verdict_line

_FIELDS = ("keras_vs_builtin", "keras_vs_xnnpack", "builtin_vs_xnnpack", "keras_top1", "builtin_top1", "xnnpack_top1")


def _parity(*values):
    """The parity figures the verdict reads, in the order of ``_FIELDS``."""
    return dict(zip(_FIELDS, values, strict=True))


def test_met_with_the_margins_of_each_criterion():
    verdict = parity_verdict(_parity(0.970, 0.968, 0.966, 0.800, 0.802, 0.799), grid_passed=True)
    assert verdict["met"] and verdict["missed_by"] == {}
    criteria = verdict["criteria"]
    # The worse path (XNNPACK, 96.8%) against the paths' own agreement (96.6%).
    assert criteria["agreement"]["value"] == 0.968 and criteria["agreement"]["margin"] == pytest.approx(0.002)
    # The larger of the two accuracy gaps (0.2 points), 0.1 points inside 0.3.
    assert criteria["accuracy_gap"]["value"] == pytest.approx(0.002)
    assert criteria["accuracy_gap"]["margin"] == pytest.approx(0.001)
    assert verdict_line(verdict) == (
        "met: agreement +0.20 pts vs builtin/XNNPACK; accuracy gap 0.20 pts (<= 0.3); grid check passed"
    )


def test_missed_says_by_how_much_for_each_criterion_missed():
    # Keras/builtin agreement 96.2% is below the builtin/XNNPACK 96.6%; XNNPACK's accuracy 0.5 points off.
    verdict = parity_verdict(_parity(0.962, 0.970, 0.966, 0.800, 0.801, 0.795), grid_passed=False)
    assert not verdict["met"]
    assert verdict["missed_by"] == pytest.approx({"agreement": 0.004, "accuracy_gap": 0.002, "grid_check": 1.0})
    assert verdict_line(verdict).startswith("MISSED: agreement -0.40 pts")


def test_bounds_are_inclusive_for_counted_fractions():
    # 3 images in 1000 is exactly 0.3 points, though 0.803 - 0.8 is not exactly 0.003 in floating point.
    equal = parity_verdict(_parity(9660 / 10000, 0.97, 9660 / 10000, 0.8, 0.803, 0.8), grid_passed=True)
    assert equal["met"], equal
    assert not parity_verdict(_parity(0.97, 0.97, 0.96, 0.8, 0.8031, 0.8), grid_passed=True)["met"]


def test_an_int4_verdict_names_the_int8_files_spread_as_its_bound():
    verdict = parity_verdict(_parity(0.970, 0.968, 0.966, 0.800, 0.802, 0.799), grid_passed=True)
    assert "vs builtin/XNNPACK" in verdict_line(verdict)
    assert "vs the int8 file's builtin/XNNPACK" in verdict_line({**verdict, "yardstick": "the int8 file's"})
