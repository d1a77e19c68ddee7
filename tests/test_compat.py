"""Nothing but autorecon_tf/compat.py may import Keras directly (TFMOT needs one Keras 2)."""

import os
import re
import subprocess
import sys

from conftest import REPO

_FORBIDDEN = re.compile(r"^\s*(import\s+(tf_)?keras\b|from\s+(tf_)?keras\b|.*\btf\.keras\b)", re.MULTILINE)
_ALLOWED = {os.path.join("autorecon_tf", "compat.py")}


def direct_keras_imports(text):
    return [match.group(0).strip() for match in _FORBIDDEN.finditer(text)]


def test_the_detector_catches_each_forbidden_form():
    for line in (
        "import keras",
        "from keras import layers",
        "import tf_keras as k",
        "from tf_keras.layers import Dense",
        "x = tf.keras.layers.Dense(3)",
    ):
        assert direct_keras_imports(line), line
    assert not direct_keras_imports("from autorecon_tf.compat import keras, tf\nkeras.layers.Dense(3)")


def test_only_compat_imports_keras():
    offenders = []
    for folder in ("autorecon_tf", "tools", "tests", "benchmarks", "configs"):
        for root, _, files in os.walk(os.path.join(REPO, folder)):
            for name in files:
                if not name.endswith(".py"):
                    continue
                path = os.path.join(root, name)
                relative = os.path.relpath(path, REPO)
                if relative in _ALLOWED or relative == os.path.join("tests", "test_compat.py"):
                    continue
                with open(path, encoding="utf-8") as handle:
                    found = direct_keras_imports(handle.read())
                offenders += [f"{relative}: {line}" for line in found]
    assert not offenders, "import keras only through autorecon_tf.compat:\n" + "\n".join(offenders)


def test_compat_gives_keras_2():
    from autorecon_tf.compat import keras

    assert keras.__version__.startswith("2.")
    assert os.environ["TF_USE_LEGACY_KERAS"] == "1"


def _onednn_in_child(preset):
    """IsMklEnabled() in a fresh Python that first imports a module which imports TFMOT before compat."""
    environment = {key: value for key, value in os.environ.items() if key != "TF_ENABLE_ONEDNN_OPTS"}
    if preset is not None:
        environment["TF_ENABLE_ONEDNN_OPTS"] = preset
    code = (
        "import autorecon_tf.quantization.scheme\n"
        "from tensorflow.python.util import _pywrap_util_port\n"
        "print(_pywrap_util_port.IsMklEnabled())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=environment, capture_output=True, text=True, check=True
    )
    return result.stdout.strip().splitlines()[-1]


def test_onednn_is_on_unless_the_caller_turned_it_off():
    # TensorFlow reads the switch at import, so the package sets it before any submodule imports TF.
    assert _onednn_in_child(None) == "True"
    assert _onednn_in_child("0") == "False"


def test_tensorflow_logs_are_wanted_only_when_asked_for():
    from autorecon_tf.compat import tensorflow_logs_wanted

    assert not tensorflow_logs_wanted([], {})
    assert not tensorflow_logs_wanted(["--config=x.py", "--verbosity=-1"], {"AUTORECON_TF_VERBOSE": "0"})
    assert tensorflow_logs_wanted([], {"AUTORECON_TF_VERBOSE": "1"})
    assert tensorflow_logs_wanted(["--verbosity=0"], {}) and tensorflow_logs_wanted(["-v", "1"], {})
    assert tensorflow_logs_wanted(["--verbosity", "info"], {}) and not tensorflow_logs_wanted(["-v=warning"], {})


def _strided_1x1_net(channels, nested=False):
    from autorecon_tf.compat import keras

    inner = keras.Sequential(
        [keras.Input((8, 8, channels)), keras.layers.Conv2D(8, 1, strides=2, name="shortcut")], name="inner"
    )
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(channels, 3, padding="same", name="stem")(inputs)
    x = inner(x) if nested else keras.layers.Conv2D(8, 1, strides=2, name="shortcut")(x)
    return keras.Model(inputs, x, name="net")


AVX2 = frozenset({"avx", "avx2", "fma"})
ONEDNN_ON = {"TF_ENABLE_ONEDNN_OPTS": "1"}


def test_a_strided_1x1_conv_on_few_channels_caps_onednn_at_avx_on_one_avx2_thread():
    """The oneDNN heap corruption (compat's docstring): the cap is set only where every condition holds."""
    from autorecon_tf.compat import ISA_ENV, sidestep_onednn_strided_1x1_bug, strided_1x1_hazards

    assert strided_1x1_hazards(_strided_1x1_net(4, nested=True)) == ["shortcut"]
    assert strided_1x1_hazards(_strided_1x1_net(8)) == []
    risky = _strided_1x1_net(4)
    environ = dict(ONEDNN_ON)
    assert sidestep_onednn_strided_1x1_bug(risky, environ, AVX2, one_thread=True) == ["shortcut"]
    assert environ[ISA_ENV] == "AVX"
    for environ, flags, one_thread in (
        (dict(ONEDNN_ON), AVX2 | {"avx512f"}, True),  # AVX-512 kernels: not affected
        (dict(ONEDNN_ON), AVX2, False),  # several intra-op threads
        ({"TF_ENABLE_ONEDNN_OPTS": "0"}, AVX2, True),
        ({**ONEDNN_ON, ISA_ENV: "AVX2"}, AVX2, True),  # the user's own cap stands
    ):
        before = dict(environ)
        assert sidestep_onednn_strided_1x1_bug(risky, environ, flags, one_thread) == []
        assert environ == before
    environ = dict(ONEDNN_ON)
    assert sidestep_onednn_strided_1x1_bug(_strided_1x1_net(8), environ, AVX2, one_thread=True) == []
    assert ISA_ENV not in environ
