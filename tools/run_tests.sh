#!/usr/bin/env bash
# The test command (make test, .ci/run): the whole suite, slow tests included.
# pytest exits 5 when it collected no test; that is a failure here, with a clear message.
set -uo pipefail
cd "$(dirname "$0")/.."
export TF_USE_LEGACY_KERAS=1 TF_CPP_MIN_LOG_LEVEL=2 PYTHONHASHSEED=0
.venv/bin/python -m pytest -p no:cacheprovider --durations=15 --numprocesses="${TEST_WORKERS:-auto}" --dist=loadfile "$@"
status=$?
if [ "$status" -eq 5 ]; then
  echo "run_tests: pytest collected no tests; that is an error for this project" >&2
  exit 1
fi
exit "$status"
