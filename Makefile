# The two commands: `make demo` and `make test`. Both install what is missing first: the system
# packages (ngspice, libngspice0; as root) and a local .venv with the pinned Python packages.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
RUNS := runs

.PHONY: demo test test-heavy setup system-deps lint clean

demo: setup
	$(BIN)/spicecim generate --rows 256 --cols 256 --out netlists/xbar256
	$(BIN)/spicecim simulate --rows 256 --cols 256 --out $(RUNS)/xbar256.h5
	$(BIN)/spicecim simulate --model nerf-4x256 --scene --inputs 1 --out $(RUNS)/nerf-4x256-cosim.h5
	$(BIN)/spicecim evaluate $(RUNS)/xbar256.h5 --model nerf-4x256 --scene
	$(BIN)/spicecim evaluate $(RUNS)/nerf-4x256-cosim.h5 --model nerf-4x256 --scene
	$(BIN)/spicecim nerf $(RUNS)/nerf-4x256-cosim.h5 --resolution 64x64 --samples-per-ray 32 --ladder --out renders --overwrite

# Two pytest-xdist workers: one per core of the 2-core machine make test is sized for.
test: setup
	$(BIN)/python -m pytest -n 2 -m "not heavy"

test-heavy: setup
	$(BIN)/python -m pytest -n 2 -m heavy

lint: setup
	$(BIN)/ruff check spicecim tests benchmarks scripts
	$(BIN)/mypy
	$(BIN)/python scripts/layers.py --check

setup: system-deps $(STAMP)

system-deps:
	@PYTHON=$(PYTHON) scripts/ensure-system-deps.sh

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "spicecim needs Python >= 3.11")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) $(RUNS) renders netlists/xbar256 .pytest_cache .hypothesis
