"""Every file in configs/ declares PRESETS, loads through cli.load_config at each of them, and has the keys its tool
reads; load_config applies overrides and names an unknown key with the closest valid ones."""

import glob
import importlib.util
import os
import re

import ml_collections
import pytest

from autorecon_tf.cli import load_config
from autorecon_tf.errors import UserError

from conftest import REPO
from helpers import assert_user_error, run_tool

CONFIG_FILES = sorted(glob.glob(os.path.join(REPO, "configs", "*.py")))

# A few keys each tool's pipeline reads (pipelines/teacher.py, pipelines/search.py, pipelines/compress.py,
# pipelines/distill.py, export/report.py): a config for that tool must have them.
TOOL_KEYS = {
    "train_teacher": ("architecture", "architecture_options", "batch_size", "epochs", "init_from", "seed"),
    "search": ("teacher", "seed", "supernet.latent_dim", "search.batch_size", "search.epochs", "search.arch_steps"),
    "compress": ("batch_size", "epochs", "warmup_epochs", "steps_per_epoch", "generator.channel_scale", "zeroq.steps"),
    "export_tflite": ("calibration.source", "export.logit_margin", "evaluation.limit", "latency.runs", "seed"),
    "distill": ("batch_size", "epochs", "student_steps", "student.architecture", "student.width", "export.kind"),
}


def _load(path):
    spec = importlib.util.spec_from_file_location(os.path.basename(path)[:-3], path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tool(module):
    """The tool of the launch command in a config file's docstring."""
    match = re.search(r"python tools/(\w+)\.py", module.__doc__ or "")
    assert match, f"{module.__file__}: the docstring should give the launch command"
    return match[1]


@pytest.mark.parametrize("path", CONFIG_FILES, ids=os.path.basename)
def test_every_preset_loads_with_the_keys_its_tool_reads(path):
    module = _load(path)
    assert module.PRESETS, f"{path} declares no PRESETS"
    expected = TOOL_KEYS[_tool(module)]
    for preset in (None, *module.PRESETS):
        config = load_config(path, preset)
        assert isinstance(config, ml_collections.ConfigDict), (path, preset)
        flat = config.to_dict()
        for key in expected:
            node = flat
            for part in key.split("."):
                assert part in node, (path, preset, key)
                node = node[part]


@pytest.mark.parametrize("path", CONFIG_FILES, ids=os.path.basename)
def test_unknown_preset_is_rejected(path):
    with pytest.raises((ValueError, KeyError)):
        _load(path).get_config("no_such_preset")


def test_overrides_replace_values_of_the_preset():
    path = os.path.join(REPO, "configs", "compress_resnet20_fmnist.py")
    config = load_config(path, "smoke", {"batch_size": 8, "generator.channel_scale": 0.125, "zeroq.steps": 2})
    assert (config.batch_size, config.generator.channel_scale, config.zeroq.steps) == (8, 0.125, 2)
    assert config.epochs == load_config(path, "smoke").epochs


def test_unknown_override_key_names_the_closest_keys():
    path = os.path.join(REPO, "configs", "compress_resnet20_fmnist.py")
    with pytest.raises(UserError, match=r"'generatr.latent_dim' is not a key .* generator.latent_dim"):
        load_config(path, "smoke", {"generatr.latent_dim": 8})
    with pytest.raises(UserError, match="does not exist"):
        load_config(os.path.join(REPO, "configs", "absent.py"))


@pytest.mark.parametrize(
    "tool, config, typo, key",
    [
        ("compress", "compress_resnet20_fmnist.py:smoke", "bach_size", "batch_size"),
        ("search", "search_tiny.py", "search.bach_size", "search.batch_size"),
        ("train_teacher", "teacher_tiny_digits.py:smoke", "bach_size", "batch_size"),
    ],
)
def test_tools_name_an_unknown_config_key_and_the_closest_ones(tool, config, typo, key, tmp_path):
    config = os.path.join(REPO, "configs", config)
    result = run_tool(tool, f"--config={config}", f"--config.{typo}=3", f"--workdir={tmp_path}")
    line = assert_user_error(result, f"--config.{typo} is not a key of the config", "the closest keys: ")
    assert key in line.split("the closest keys: ")[1].split(", "), line


def test_precise_bn_stage_rebuilds_the_first_stages_architecture():
    first = load_config(os.path.join(REPO, "configs", "teacher_mobilenetv2_fmnist.py"), "standard")
    second = load_config(os.path.join(REPO, "configs", "teacher_mobilenetv2_fmnist_precise_bn.py"), "standard")
    assert second.architecture == first.architecture == "mobilenet_v2"
    assert second.architecture_options.to_dict() == first.architecture_options.to_dict()
    assert second.epochs == 0 and second.init_from.endswith("teacher_mobilenetv2_fmnist/teacher.keras")
    assert second.bn_recalibration_batches == 100
