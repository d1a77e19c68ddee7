"""Every file in configs/ declares PRESETS and builds a ConfigDict for each of them."""

import glob
import importlib.util
import os

import ml_collections
import pytest

from conftest import REPO

CONFIG_FILES = sorted(glob.glob(os.path.join(REPO, "configs", "*.py")))


def _load(path):
    spec = importlib.util.spec_from_file_location(os.path.basename(path)[:-3], path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_there_are_configs():
    assert len(CONFIG_FILES) >= 3


@pytest.mark.parametrize("path", CONFIG_FILES, ids=os.path.basename)
def test_every_preset_builds(path):
    module = _load(path)
    assert module.PRESETS, f"{path} declares no PRESETS"
    assert "python tools/" in (module.__doc__ or ""), f"{path}: the docstring should give the launch command"
    for preset in module.PRESETS:
        config = module.get_config(preset)
        assert isinstance(config, (ml_collections.ConfigDict, ml_collections.FrozenConfigDict)), (path, preset)


@pytest.mark.parametrize("path", CONFIG_FILES, ids=os.path.basename)
def test_unknown_preset_is_rejected(path):
    with pytest.raises((ValueError, KeyError)):
        _load(path).get_config("no_such_preset")


def test_precise_bn_stage_rebuilds_the_first_stages_architecture():
    first = _load(os.path.join(REPO, "configs", "teacher_mobilenetv2_fmnist.py")).get_config("standard")
    second = _load(os.path.join(REPO, "configs", "teacher_mobilenetv2_fmnist_precise_bn.py")).get_config("standard")
    assert second.architecture == first.architecture == "mobilenet_v2"
    assert second.architecture_options.to_dict() == first.architecture_options.to_dict()
    assert second.epochs == 0 and second.init_from.endswith("teacher_mobilenetv2_fmnist/teacher.keras")
    assert second.bn_recalibration_batches == 100
