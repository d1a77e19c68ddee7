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
