#!/usr/bin/env bash
# Creates .venv-torch with CPU torch (from the local wheel in /opt/wheels) and numpy, for
# benchmarks/torch_gdfq_step.py only: torch is NOT a project dependency. Idempotent: quick when done.
#   bash tools/bootstrap_torch.sh && .venv-torch/bin/python benchmarks/torch_gdfq_step.py
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3.11}"
VENV=.venv-torch
WHEELS="${TORCH_WHEEL_DIR:-/opt/wheels}"
TORCH_VERSION="${TORCH_VERSION:-2.13.0+cpu}"

if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import torch, numpy" >/dev/null 2>&1; then
  echo "bootstrap_torch: $VENV already has torch $("$VENV/bin/python" -c 'import torch; print(torch.__version__)')" >&2
  exit 0
fi
if [ ! -x "$VENV/bin/python" ]; then
  echo "bootstrap_torch: creating $VENV with $($PYTHON --version)" >&2
  "$PYTHON" -m venv "$VENV"
fi
echo "bootstrap_torch: installing torch==$TORCH_VERSION from $WHEELS and numpy" >&2
"$VENV/bin/python" -m pip install --quiet --upgrade pip
if ! "$VENV/bin/python" -m pip install --quiet --find-links "$WHEELS" "torch==$TORCH_VERSION" numpy; then
  # Fall back to the wheel's path when pip refuses the local version specifier.
  WHEEL="$(ls "$WHEELS"/torch-"$TORCH_VERSION"-*.whl | head -n 1)"
  "$VENV/bin/python" -m pip install --quiet "$WHEEL" numpy
fi
"$VENV/bin/python" -c "import torch, numpy; print('bootstrap_torch: torch', torch.__version__, 'numpy', numpy.__version__)" >&2
