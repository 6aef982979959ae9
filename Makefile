# The study's two commands: `make study` and `make test`. Both create the environment on
# first use (Python 3.11 + pip is all a fresh machine needs) and reuse it afterwards.
SHELL := bash
.SHELLFLAGS := -eo pipefail -c
PYTHON ?= python3.11
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed
# DVC stages call `python -m rdmldg.nbrun`: make that the environment's python.
export PATH := $(BIN):$(PATH)
export PYTHONHASHSEED := 0
# Nothing in the study may reach a model hub.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export DVC_NO_ANALYTICS := 1
# The machine's pip config lists index folders that may not exist; its warnings are noise.
PIP_QUIET := grep -v "is ignored: it is neither a file nor a directory" || true

.PHONY: help env study test lab profile check clean-env
help:
	@echo "make study          create .venv if missing, then run the whole study (dvc repro)"
	@echo "make test           create .venv if missing, then run the test suite"
	@echo "make lab            JupyterLab with the .py notebooks opening as notebooks"
	@echo "make profile P=X    write params/*.yaml from params/profiles/X.yaml"
	@echo "make check          validate params/*.yaml"

env: $(STAMP)
$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	@echo "installing the environment into $(VENV) (first time: about 2-3 minutes)"
	$(BIN)/python -m pip install -q --upgrade pip 2>&1 | $(PIP_QUIET)
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev,lab]' 2>&1 | $(PIP_QUIET)
	$(BIN)/python -m ipykernel install --sys-prefix --name rdmldg --display-name "RD-MLDG (.venv)" >/dev/null
	$(BIN)/python -c "import torch, transformers, peft, dvc, papermill; print('environment ready: torch', torch.__version__, '| transformers', transformers.__version__)"
	@touch $(STAMP)

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

clean-env:
	rm -rf $(VENV)
