# The two commands: `make demo` and `make test`. Both install what is missing first: the system
# packages (ngspice, libngspice0; as root) and a local .venv with the pinned Python packages.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
RUNS := runs

.PHONY: demo demo-full test test-heavy setup system-deps lint clean

# The main job end to end in minutes on 2 cores: the default tile and the model's co-simulation
# on the batched engine (each run re-simulates a sample of its columns in ngspice and fails
# loudly on a disagreement), the evaluation, and the mitigation ladder on a small frame. The
# ladder's design point (128x128 tiles: 6,016 column transients of 128 rows, about 0.7x the
# model's co-simulation) is co-simulated on its own tiles too; the mitigation design point
# (64x64 x 2 slices x 4 copies: 77,312 column transients) is demo-full's.
demo: setup
	$(BIN)/spicecim generate --rows 256 --cols 256 --out netlists/xbar256 --overwrite
	$(BIN)/spicecim simulate --rows 256 --cols 256 --engine batched --out $(RUNS)/xbar256.h5
	$(BIN)/spicecim simulate --model nerf-4x256 --scene --inputs 1 --engine batched --out $(RUNS)/nerf-4x256-cosim.h5
	$(BIN)/spicecim evaluate $(RUNS)/nerf-4x256-cosim.h5 --model nerf-4x256 --scene
	$(BIN)/spicecim nerf $(RUNS)/nerf-4x256-cosim.h5 --resolution 32x32 --samples-per-ray 16 --ladder --tile 128x128 --finetune-steps 100 --out renders --overwrite

# The long versions (about an hour on 2 cores the first time): both engines' tiles, the generic
# tile's evaluation beside the co-simulation's, and the ladder on a 64x64 frame with the full
# 800-step fine-tuning.
demo-full: setup
	$(BIN)/spicecim generate --rows 256 --cols 256 --out netlists/xbar256 --overwrite
	$(BIN)/spicecim simulate --rows 256 --cols 256 --out $(RUNS)/xbar256-ngspice.h5
	$(BIN)/spicecim simulate --rows 256 --cols 256 --engine batched --out $(RUNS)/xbar256.h5
	$(BIN)/spicecim simulate --model nerf-4x256 --scene --inputs 1 --engine batched --out $(RUNS)/nerf-4x256-cosim.h5
	$(BIN)/spicecim evaluate $(RUNS)/xbar256.h5 --model nerf-4x256 --scene
	$(BIN)/spicecim evaluate $(RUNS)/nerf-4x256-cosim.h5 --model nerf-4x256 --scene
	$(BIN)/spicecim nerf $(RUNS)/nerf-4x256-cosim.h5 --resolution 64x64 --samples-per-ray 32 --ladder --out renders-full --overwrite

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
	rm -rf $(VENV) $(RUNS) renders renders-full netlists/xbar256 .pytest_cache .hypothesis
