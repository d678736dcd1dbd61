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

# Two pytest-xdist workers: the end-to-end tests on one (one after another), everything else
# spread over both. Real-time calls mostly wait, so two at once fit 2 cores.
test: $(STAMP)
	bash .ci/ensure-chromium
	$(PY) -m pytest -n 2 --dist loadgroup

# Everything but the end-to-end, real-time and slow tests (those three run in make test).
test-fast: $(STAMP)
	$(PY) -m pytest -n 2 -m "not e2e and not realtime and not slow"

# Static checks: lint, formatting, types (mypy with the Django and DRF stubs), the architecture's
# import contracts (pyproject.toml).
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache

# Before every commit, and in CI before the whole suite.
check: lint test-fast

bench: $(STAMP)
	bash .ci/ensure-espeak
	$(PY) bench/frame_pacing.py
	$(PY) bench/hearing.py
	$(PY) bench/timing_bench.py

clean:
	rm -rf $(VENV) var
