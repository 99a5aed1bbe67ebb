# Quickstart:  make repro  (install + run the whole pipeline)   |   make test  (install + tests)
# Tests run file by file on 2 workers (--dist loadfile), in collection order: one worker builds the
# sample pipeline run the end-to-end tests share (tests/e2e/conftest.py) while the other runs unit tests.
VENV ?= .venv
PYTHON ?= python3
BIN := $(abspath $(VENV))/bin
export PATH := $(BIN):$(PATH)
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export PE_DATA_MIRROR ?= $(abspath ../shared/data)

.PHONY: install params repro test bench lint format clean backup verify restore review

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
	$(BIN)/python -m pixelated.core.params

repro: params
	dvc repro
	dvc metrics show

test: install
	$(BIN)/python -m pytest -n 2 --dist loadfile --no-loadscope-reorder -q --durations=15

bench: install
	$(BIN)/python -m pytest -m slow -q

lint: install
	ruff check . && ruff format --check .

format: install
	ruff format . && ruff check --fix .

# Data versions (src/pixelated/versioning/). REMOTE=<name> picks a DVC remote (default: the repo's).
VERSIONING = $(BIN)/python -m pixelated.versioning.cli
REMOTE_ARG = $(if $(REMOTE),--remote $(REMOTE))

backup: install
	$(VERSIONING) backup $(REMOTE_ARG)

verify: install
	$(VERSIONING) verify $(REMOTE_ARG)

restore: install
	@test -n "$(REV)" || { echo "usage: make restore REV=<tag or commit> [REMOTE=name]"; exit 2; }
	$(VERSIONING) restore $(REV) $(REMOTE_ARG)

review: install
	@test -n "$(BASE)" || { echo "usage: make review BASE=<rev> [REV=<rev>]  (writes review/review.md)"; exit 2; }
	$(VERSIONING) review $(BASE) $(REV) --output review

clean:
	rm -rf $(VENV)
