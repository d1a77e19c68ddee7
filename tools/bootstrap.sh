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
if [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]; then
  echo "bootstrap: installing the pinned requirements (a few minutes the first time)"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet -r requirements.txt
  "$VENV/bin/python" -m pip install --quiet --no-deps -e .
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
