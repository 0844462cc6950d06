# Two commands on a fresh machine: `make dev` (install and start a local cluster) and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

.PHONY: install dev test lint sim-long
install: $(VENV)/.installed

dev: install
	$(VENV)/bin/raftsql dev

test: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(PY) -m pytest -q -n 2 --dist loadgroup tests

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

# 100,000 simulator seeds: not part of CI (takes hours on 2 cores).
sim-long: install
	$(PY) -m raftsql.testing.vopr --seeds 100000 --workers 2
