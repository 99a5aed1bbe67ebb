# Quickstart:  make repro  (install + run the whole pipeline)   |   make test  (install + tests)
VENV ?= .venv
PYTHON ?= python3
BIN := $(abspath $(VENV))/bin
export PATH := $(BIN):$(PATH)
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export PE_DATA_MIRROR ?= $(abspath ../shared/data)

.PHONY: install params repro test bench lint format clean

install: $(VENV)/.installed

# torch first, as the CPU wheel: otherwise sentence-transformers pulls a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	$(BIN)/python -m pip install --quiet --no-deps construct-tracker==1.0.16
	touch $@

params: install
	$(BIN)/python -m pixelated.params

repro: params
	dvc repro
	dvc metrics show

test: install
	$(BIN)/python -m pytest -n 2 -q

bench: install
	$(BIN)/python -m pytest -m slow -q

lint: install
	ruff check . && ruff format --check .

format: install
	ruff format . && ruff check --fix .

clean:
	rm -rf $(VENV)
