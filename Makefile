# Two set-up commands on a fresh machine: `make demo` and `make test`. Each creates .venv
# and installs what it needs first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1

.PHONY: install demo test test-fast lint check bench serve clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) manage.py demo

serve: $(STAMP)
	$(PY) manage.py serve_embedded

test: $(STAMP)
	bash .ci/ensure-chromium
	$(PY) -m pytest

test-fast: $(STAMP)
	$(PY) -m pytest -m "not e2e and not realtime"

# Static checks: lint, formatting, types (mypy with the Django and DRF stubs; pyproject.toml).
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# Before every commit, and in CI before the whole suite.
check: lint test-fast

bench: $(STAMP)
	bash .ci/ensure-espeak
	$(PY) bench/frame_pacing.py
	$(PY) bench/hearing.py
	$(PY) bench/timing_bench.py

clean:
	rm -rf $(VENV) var
