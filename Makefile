# tradingd: two set-up commands, `make run` and `make test`, from nothing.
#
# torch: without a GPU the CPU wheel is pinned (torch==2.13.0+cpu, from the local wheel
# cache or https://download.pytorch.org/whl/cpu); with `nvidia-smi` present the CUDA build
# of the same release comes from PyPI. Override with `make TORCH_SPEC=... TORCH_INDEX=...`.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CONFIG ?= config.toml
PYTEST_ARGS ?=
TEST_WORKERS ?= 2

HAS_GPU := $(shell command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1 && echo 1)
ifeq ($(HAS_GPU),1)
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
else
TORCH_SPEC ?= torch==2.13.0+cpu
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
endif

.PHONY: run test bench venv install install-test install-bench clean lint

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools wheel

# torch first, so that the project's `torch>=...` requirement is already met.
$(VENV)/.torch: | $(BIN)/python
	$(BIN)/pip install --quiet "$(TORCH_SPEC)" || \
	  $(BIN)/pip install --quiet "$(TORCH_SPEC)" --extra-index-url "$(TORCH_INDEX)"
	touch $@

$(VENV)/.installed: pyproject.toml $(VENV)/.torch
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.torch
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

$(VENV)/.installed-bench: pyproject.toml $(VENV)/.torch
	$(BIN)/pip install --quiet -e ".[test,bench]"
	touch $@

venv install: $(VENV)/.installed

run: $(VENV)/.installed
	$(BIN)/tradingd run --config $(CONFIG)

# The suite runs on TEST_WORKERS pytest-xdist workers (one per core on the 2-core CI
# machine), whole files per worker so module fixtures are built once; each worker's torch
# keeps to one OpenMP thread so two workers don't oversubscribe the cores.
# `make test TEST_WORKERS=0` runs it in one process.
test: $(VENV)/.installed-test
	$(BIN)/lint-imports
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

lint: $(VENV)/.installed-test
	$(BIN)/lint-imports

bench: $(VENV)/.installed-bench
	$(BIN)/python bench/w1.py
	$(BIN)/python bench/w2.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build *.egg-info
