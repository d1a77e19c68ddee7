# make demo: the whole pipeline on the default teacher.  make test: the test suite.
# Both bootstrap the machine first (tools/bootstrap.sh: .venv, pinned pip install, Fashion-MNIST).
PY := .venv/bin/python

.PHONY: bootstrap demo test test-fast lint format bench

bootstrap:
	@bash tools/bootstrap.sh

demo: bootstrap
	$(PY) tools/demo.py --workdir runs/demo

test: bootstrap
	bash tools/run_tests.sh

test-fast: bootstrap
	bash tools/run_tests.sh -m "not slow"

lint: bootstrap
	.venv/bin/ruff check autorecon_tf tools tests benchmarks configs
	.venv/bin/ruff format --check autorecon_tf tools tests benchmarks configs

format: bootstrap
	.venv/bin/ruff check --fix autorecon_tf tools tests benchmarks configs
	.venv/bin/ruff format autorecon_tf tools tests benchmarks configs
