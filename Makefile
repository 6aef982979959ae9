# The study's two commands: `make study` and `make test`. Both create the environment on
# first use (Python 3.11 + pip is all a fresh machine needs) and reuse it afterwards.
SHELL := bash
.SHELLFLAGS := -eo pipefail -c
PYTHON ?= python3.11
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
# A CUDA machine (nvidia-smi on PATH, or GPU=1) gets requirements-gpu.lock: torch's CUDA build
# and torchvision; GPU=0 keeps the CPU lock anywhere.
GPU ?= $(if $(shell command -v nvidia-smi 2>/dev/null),1,0)
LOCK := $(if $(filter 1,$(GPU)),requirements-gpu.lock,requirements.lock)
comma := ,
EXTRAS := dev,lab$(if $(filter 1,$(GPU)),$(comma)gpu)
STAMP := $(VENV)/.installed-$(if $(filter 1,$(GPU)),gpu,cpu)
# DVC stages call `python -m rdmldg.nbrun`: make that the environment's python.
export PATH := $(BIN):$(PATH)
export PYTHONHASHSEED := 0
# Numerics pinned to one code path on every x86-64 CPU (rdmldg/numerics.py); the notebook
# runner applies the same pins itself, so a bare `dvc repro` gets them too. `native` lets
# each library pick its fastest path (results then differ between machines).
export RDMLDG_NUMERICS ?= pinned
# Nothing in the study may reach a model hub.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export DVC_NO_ANALYTICS := 1
# The machine's pip config lists index folders that may not exist; its warnings are noise.
# (grep's own status is dropped; pip's failure still fails the line through pipefail.)
PIP_QUIET := { grep -v "is ignored: it is neither a file nor a directory" || true; }

.PHONY: help env lock study test lint lab profile check clean-env
help:
	@echo "make study          create .venv if missing, then run the whole study (dvc repro)"
	@echo "make test           create .venv if missing, then run the test suite"
	@echo "make lint           ruff over lib/, tests/, notebooks/ and benchmarks/ (rules in pyproject.toml)"
	@echo "make env            create .venv exactly as requirements.lock says (GPU=1: requirements-gpu.lock, CUDA)"
	@echo "make lock           regenerate requirements.lock from pyproject.toml (UPGRADE=1: newest versions)"
	@echo "make lab            JupyterLab with the .py notebooks opening as notebooks"
	@echo "make profile P=X    write params/*.yaml from params/profiles/X.yaml"
	@echo "make check          validate params/*.yaml"

# Every package at the version requirements.lock names: pip and setuptools first, then the
# project (built without isolation, so its build backend is the locked setuptools too).
env: $(STAMP)
$(STAMP): pyproject.toml $(LOCK)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	@echo "installing the environment into $(VENV) from $(LOCK) (first time: about 2 minutes)"
	$(BIN)/python -m pip install -q -c $(LOCK) pip setuptools 2>&1 | $(PIP_QUIET)
	@rm -f $(VENV)/.installed-*
	$(BIN)/python -m pip install -q --no-build-isolation -c $(LOCK) -e '.[$(EXTRAS)]' 2>&1 | $(PIP_QUIET)
	$(BIN)/python -m rdmldg.lockfile verify $(LOCK)
	$(BIN)/python -m ipykernel install --sys-prefix --name rdmldg --display-name "RD-MLDG (.venv)" >/dev/null
	@touch $(STAMP)

# After editing pyproject.toml's dependencies: resolve again, keeping every pin that still
# fits (UPGRADE=1 takes the newest versions instead), then `make env` installs the result.
lock:
	@test -x $(BIN)/pip-compile || { test -x $(BIN)/python || $(PYTHON) -m venv $(VENV); \
		$(BIN)/python -m pip install -q -c $(LOCK) pip-tools 2>&1 | $(PIP_QUIET); }
	$(BIN)/pip-compile --quiet --allow-unsafe --strip-extras --extra dev --extra lab \
		--no-emit-index-url --no-emit-find-links --newline LF $(if $(UPGRADE),--upgrade) \
		--output-file requirements.lock pyproject.toml 2>&1 | $(PIP_QUIET)
	$(BIN)/python -m rdmldg.lockfile gpu
	@echo "wrote requirements.lock and requirements-gpu.lock; install with: make env"

study: $(STAMP)
	$(BIN)/python -m rdmldg.params check
	$(BIN)/dvc repro

test: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

LAB_OVERRIDES := $(VENV)/share/jupyter/lab/settings/overrides.json
lab: $(STAMP)
	@mkdir -p $(dir $(LAB_OVERRIDES))
	@echo '{"@jupyterlab/docmanager-extension:plugin": {"defaultViewers": {"python": "Jupytext Notebook"}}}' > $(LAB_OVERRIDES)
	$(BIN)/jupyter lab --ServerApp.root_dir=$(CURDIR) $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)

profile: $(STAMP)
	@test -n "$(P)" || { echo "usage: make profile P=<name>; profiles: $$(ls params/profiles | sed 's/.yaml//' | tr '\n' ' ')"; exit 2; }
	$(BIN)/python -m rdmldg.params apply $(P)

check: $(STAMP)
	$(BIN)/python -m rdmldg.params check

lint: $(STAMP)
	$(BIN)/ruff check lib tests notebooks benchmarks

clean-env:
	rm -rf $(VENV)
