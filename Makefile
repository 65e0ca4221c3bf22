# nrm-compendium. Two commands do everything on a fresh machine:
#   make paper   set up .venv, run C255-C260 at the chosen SCALE, analyse, render paper/paper.html
#   make test    set up .venv and run the test suite
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
SCALE ?= default

.PHONY: setup test lint bench paper clean-paper allocators help

help:
	@echo "make setup       create .venv and install nrm with its dev extras"
	@echo "make test        run the test suite (sets up first if needed)"
	@echo "make paper       regenerate the paper (SCALE=smoke|default|full)"
	@echo "make bench       speed and probe-overhead benchmarks"
	@echo "make lint        ruff"
	@echo "make allocators  install jemalloc and mimalloc (Debian packages; needs root)"

setup: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python >= 3.11 is required, found " + sys.version.split()[0]'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@$(BIN)/python -c 'import ctypes.util as u; missing=[n for n in ("jemalloc","mimalloc") if not u.find_library(n)]; print("note: optional allocators not found: " + ", ".join(missing) + " -> make allocators (apt-get install libjemalloc2 libmimalloc2.0)") if missing else None'
	touch $(STAMP)

allocators:
	apt-get update -qq && apt-get install -y -qq libjemalloc2 libmimalloc2.0

test: setup
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup

lint: setup
	$(BIN)/ruff check nrm tests scripts

bench: setup
	$(BIN)/python scripts/bench.py
