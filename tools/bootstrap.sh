#!/usr/bin/env bash
# Sets up a fresh Debian machine (Python 3.11, root or sudo) for autorecon_tf; idempotent and quick when done.
#  - .venv with the pinned requirements and the package (editable)
#  - the Debian package dataset-fashion-mnist (the real data), when missing
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
VENV=.venv
STAMP="$VENV/.installed"
WANT="$(cat requirements.txt pyproject.toml | sha256sum | cut -d' ' -f1)"

if [ ! -x "$VENV/bin/python" ]; then
  echo "bootstrap: creating $VENV with $($PYTHON --version)"
  "$PYTHON" -m venv "$VENV"
fi
# The distributions that install the tensorflow/ package (tensorflow, tensorflow-cpu, ...): exactly one may.
tensorflow_distributions() {
  "$VENV/bin/python" - <<'PY'
from importlib import metadata
names = {d.metadata["Name"] for d in metadata.distributions() if any(str(f) == "tensorflow/__init__.py" for f in d.files or ())}
print(" ".join(sorted(names)))
PY
}

if [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]; then
  if [ "$(tensorflow_distributions | wc -w)" -gt 1 ]; then
    # An older .venv held tensorflow-cpu and tensorflow over one package: pip cannot take one out without
    # breaking the other, so start again.
    echo "bootstrap: the requirements changed; recreating $VENV"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
  fi
  echo "bootstrap: installing the pinned requirements (a few minutes the first time)"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet -r requirements.txt
  "$VENV/bin/python" -m pip install --quiet --no-deps -e .
  found="$(tensorflow_distributions)"
  if [ "$(echo "$found" | wc -w)" != "1" ]; then
    echo "bootstrap: error: $VENV holds the TensorFlow distributions '${found}'; exactly one (requirements.txt's) must be installed: remove $VENV and re-run make bootstrap" >&2
    exit 1
  fi
  echo "bootstrap: one TensorFlow distribution: $found"
  echo "$WANT" > "$STAMP"
fi

DATA_DIR="${AUTORECON_FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}"
if [ ! -f "$DATA_DIR/t10k-labels-idx1-ubyte.gz" ] && [ ! -f "$DATA_DIR/t10k-labels-idx1-ubyte" ]; then
  SUDO=""
  if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
  echo "bootstrap: installing the Debian package dataset-fashion-mnist"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq dataset-fashion-mnist >/dev/null
fi
