# Quickstart:  make repro  (install + run the whole pipeline)   |   make test  (install + tests)
# Tests run on 3 workers file by file, in queue order: one worker builds the sample pipeline
# run the end-to-end tests share while the others run tests that do not need it (tests/scheduling.py).
VENV ?= .venv
PYTHON ?= python3
BIN := $(abspath $(VENV))/bin
export PATH := $(BIN):$(PATH)
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export PE_DATA_MIRROR ?= $(abspath ../shared/data)

.PHONY: install browser params repro test screenshots bench lint format clean backup verify restore review exps serve worker

install: $(VENV)/.installed

# torch first, as the CPU wheel that pip's configuration finds: otherwise sentence-transformers
# pulls a multi-GB CUDA build. uv then installs the pinned rest several times faster than pip,
# compiling bytecode as pip does: where PYTHONDONTWRITEBYTECODE is set (as here), every process
# would compile what it imports. (Compiling lazily instead, with that variable dropped, saved
# 90 s of install and cost as much in the test run.) Ray too, so that `make test` runs the
# pipeline on a local Ray cluster and `executor=ray` works out of the box.
UV := $(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python
$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0 uv==0.13.9
	$(UV) -c constraints.txt -e '.[dev,service,ray]'
	$(UV) --no-deps construct-tracker==1.0.16
	touch $@

params: install
	$(BIN)/python -m pixelated.core.params

# umask 077: DVC re-applies its own umask to the outputs it records, so data/ stays owner-only.
repro: params
	umask 077 && dvc repro
	dvc metrics show

# Browser tests drive Debian's chromium through Playwright: a browser download (`playwright
# install`) is not possible here. As root (CI), install the package when it is missing.
browser:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else echo "chromium is not on PATH: 'sudo apt-get install chromium', or the browser tests are skipped"; fi; }

# The browser package installs beside the Python packages: both mostly wait on downloads.
test:
	@$(MAKE) --no-print-directory -j2 install browser
	$(BIN)/python -m pytest -n 3 --dist loadfile --no-loadscope-reorder -q --durations=15

# Retake the screenshots committed under docs/img/ (the browser tests write them when asked).
screenshots: install browser
	PE_UPDATE_SCREENSHOTS=1 $(BIN)/python -m pytest -q tests/e2e

bench: install
	$(BIN)/python -m pytest -m slow -q

lint: install
	ruff check . && ruff format --check .

format: install
	ruff format . && ruff check --fix .

# Data versions (src/pixelated/versioning/). REMOTE=<name> picks a DVC remote (default: the repo's).
VERSIONING = $(BIN)/python -m pixelated.versioning
REMOTE_ARG = $(if $(REMOTE),--remote $(REMOTE))

backup: install
	$(VERSIONING) backup $(REMOTE_ARG)

verify: install
	$(VERSIONING) verify $(REMOTE_ARG)

restore: install
	@test -n "$(REV)" || { echo "usage: make restore REV=<tag or commit> [REMOTE=name]"; exit 2; }
	$(VERSIONING) restore $(REV) $(REMOTE_ARG)

# Experiments on one screen: the headline metrics (reports/headline.json, the only DVC metric),
# the params an experiment changed, no dependency hashes (plain `dvc exp show` lists every one
# of ~250 params and ~60 dependencies). Detailed reports: `make review`, reports/report.html.
EXP_KEEP = ^(Experiment|Created|kept|kept_by_source|agreement_auc|crisis|pii_recall|leakage|recall_at_1|curation_gain)\b
exps:
	dvc exp show --md --no-pager --only-changed --drop '.*/' --keep '$(EXP_KEEP)'

review: install
	@test -n "$(BASE)" || { echo "usage: make review BASE=<rev> [REV=<rev>]  (writes review/review.md)"; exit 2; }
	$(VERSIONING) review $(BASE) $(REV) --output review

# The service (src/pixelated/service): API on HOST:PORT; `make worker` runs jobs and webhooks.
# No `install` prerequisite: a long-running process must not reinstall the venv it runs from.
HOST ?= 127.0.0.1
PORT ?= 8000
serve:
	$(BIN)/python -m pixelated.service serve --host $(HOST) --port $(PORT)

worker:
	$(BIN)/python -m pixelated.service worker

clean:
	rm -rf $(VENV)
