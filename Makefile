# nrm-compendium. Two commands do everything on a fresh machine:
#   make paper   set up .venv, run C255-C260 at the chosen SCALE, analyse, render paper/paper.html
#   make test    set up .venv and run the test suite
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
LOCK := requirements.lock
SCALE ?= default

.PHONY: setup lock test lint bench paper paper-build clean-paper allocators lab study help

help:
	@echo "make help        this list"
	@echo "make setup       create .venv and install exactly requirements.lock (+ nrm itself)"
	@echo "make test        run the test suite (sets up first if needed)"
	@echo "make paper       regenerate the paper (SCALE=smoke|default|full; PLAN=1: list only)"
	@echo "make study       the causal study: repeated randomized arms with an A/A arm (SCALE=...)"
	@echo "make bench       speed and probe-overhead benchmarks"
	@echo "make lint        ruff"
	@echo "make lock        re-resolve requirements.lock from pyproject.toml (UPGRADE=1: newest)"
	@echo "make lab         JupyterLab on the notebooks, in the project's kernel"
	@echo "make allocators  install jemalloc and mimalloc (Debian packages; needs root)"
	@echo "make clean-paper remove a scale's paper, figures, analyses (keeps its runs)"

setup: $(STAMP)

# Installs exactly the lock (pip refuses any file whose sha256 is not in it), then nrm itself
# without dependencies, then checks that the lock still covers pyproject.toml.
$(STAMP): pyproject.toml $(LOCK)
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python >= 3.11 is required, found " + sys.version.split()[0]'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/nrm check-lock --installed
	@$(BIN)/python -c 'import ctypes.util as u; missing=[n for n in ("jemalloc","mimalloc") if not u.find_library(n)]; print("note: optional allocators not found: " + ", ".join(missing) + " -> make allocators (apt-get install libjemalloc2 libmimalloc2.0)") if missing else None'
	touch $(STAMP)

# Re-resolve the lock with uv after a change to pyproject.toml's dependencies: keeps every pin
# that still fits (UPGRADE=1 takes the newest versions instead), Python 3.11, all platforms.
UV_COMPILE := pyproject.toml --extra dev --universal --fork-strategy fewest --python-version 3.11 \
  --generate-hashes --quiet -o $(LOCK)
lock:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m uv --version >/dev/null 2>&1 || $(BIN)/python -m pip install --quiet 'uv>=0.5'
	$(BIN)/python -m uv pip compile $(UV_COMPILE) $(if $(UPGRADE),--upgrade)
	$(BIN)/python -c 'from nrm.lockfile import stamp; stamp()'
	@echo "requirements.lock updated; now: make setup"

# JupyterLab on the notebooks in the .venv kernel; root needs --allow-root, nobody else does.
lab: setup
	JUPYTER_PREFER_ENV_PATH=1 $(BIN)/jupyter lab notebooks/ $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)

allocators:
	apt-get update -qq && apt-get install -y -qq libjemalloc2 libmimalloc2.0

test: setup
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup

lint: setup
	$(BIN)/ruff check nrm tests scripts

bench: setup
	$(BIN)/nrm bench

# make study [SCALE=smoke|default|full] [OUT=DIR] [WORKERS=N | SCHEDULER=tcp://host:8786]
# The causal study (nrm/study.py; plan: nrm study plan --scale SCALE): its runs go to
# OUT/data/study/SCALE/ on Dask (one single-threaded worker unless WORKERS/SCHEDULER say
# otherwise). Restartable: the same command runs only the runs without a complete run.json.
# Then notebooks/study.ipynb writes OUT/data/analysis/SCALE/study/ (tables, figures), which
# the paper's section 10 reads.
STUDY_DIR = $(abspath $(OUT))/data/study/$(SCALE)
study: setup
	$(BIN)/nrm study run --scale $(SCALE) --out $(STUDY_DIR) \
	  $(if $(SCHEDULER),--scheduler $(SCHEDULER),--workers $(or $(WORKERS),1))
	$(BIN)/python -m nrm.notebooks study $(abspath $(OUT))/data/executed/$(SCALE)/study.ipynb \
	  -p scale $(SCALE) -p study_dir $(STUDY_DIR) \
	  -p output_dir $(abspath $(OUT))/data/analysis/$(SCALE)/study

# ------------------------------------------------------------------------------- the paper
# make paper [SCALE=smoke|default|full] [OUT=DIR]   (presets: nrm scales show)
# Everything it writes is under OUT (default: this folder):
#   data/runs/SCALE/<exp>-<variant>/   one run folder per planned run (nrm/scales.py)
#   data/executed/SCALE/*.ipynb        executed notebooks; make's targets: a notebook appears
#                                      only when all its cells ran (nrm/notebooks.py)
#   data/analysis/SCALE/phase1a|1b/    the tables the paper reads
#   figures/*.png, paper/paper.md, paper/paper.html   (the last SCALE built)
# A run is redone when the run notebook or the simulator's sources change; its old folder is
# moved to data/runs/SCALE/.superseded/ first (runs never overwrite runs; delete that folder
# when you no longer need it). Runs execute one at a time (.NOTPARALLEL below): parallel
# runs would compete for the cores and fake a resource-contention effect.
OUT ?= .

# PLAN=1: list the planned runs with an estimate for this machine (nrm plan), run nothing.
# Otherwise build, then print the time each run took.
paper: setup
ifneq ($(filter-out 0,$(PLAN)),)
	@$(BIN)/nrm plan --scale $(SCALE) --out $(OUT)
else
	@$(MAKE) --no-print-directory paper-build SCALE=$(SCALE) OUT=$(OUT)
	@$(BIN)/nrm plan --scale $(SCALE) --summary $(OUT)/data/runs/$(SCALE)
endif

clean-paper:
	rm -rf $(OUT)/paper/paper.md $(OUT)/paper/paper.html $(OUT)/figures/*.png \
	  $(OUT)/data/analysis/$(SCALE) $(OUT)/data/executed/$(SCALE) $(OUT)/.make
	@echo "kept the run folders in $(OUT)/data/runs/$(SCALE) (delete them by hand to re-run)"

ifneq ($(filter paper-build,$(MAKECMDGOALS)),)
.NOTPARALLEL:
.DELETE_ON_ERROR:
OUT_ABS := $(abspath $(OUT))
RUN_NAMES := $(shell $(BIN)/nrm scales names $(SCALE))
ifeq ($(RUN_NAMES),)
$(error SCALE=$(SCALE) has no planned runs; valid: smoke, default, full)
endif
RUNS_DIR := $(OUT_ABS)/data/runs/$(SCALE)
EXEC_DIR := $(OUT_ABS)/data/executed/$(SCALE)
ANALYSIS_DIR := $(OUT_ABS)/data/analysis/$(SCALE)
FIG_DIR := $(OUT_ABS)/figures
PAPER_DIR := $(OUT_ABS)/paper
MARK := $(OUT_ABS)/.make/scale
NB := $(BIN)/nrm notebook
# what each step reads (a change re-runs that step and everything after it); the run step's
# sources are derived from the imports of what it executes (nrm/deps.py)
SIM_SRC := $(shell $(BIN)/nrm deps nrm.notebooks nrm.runner nrm.commands.run)
STATS_SRC := $(wildcard nrm/reader.py nrm/stats/*.py nrm/render/results.py)
RENDER_SRC := $(wildcard nrm/render/*.py nrm/claims/*.py data/reference/*)
RUN_NBS := $(foreach r,$(RUN_NAMES),$(EXEC_DIR)/run-$(r).ipynb)
# the paper and figures are shared by all scales: rebuild them when SCALE changes
$(shell mkdir -p $(dir $(MARK)); test "`cat $(MARK) 2>/dev/null`" = "$(SCALE)" || echo "$(SCALE)" > $(MARK))

paper-build: $(PAPER_DIR)/paper.html
	@echo "paper ($(SCALE)): $(PAPER_DIR)/paper.html"

$(EXEC_DIR)/run-%.ipynb: notebooks/run_experiment.ipynb $(SIM_SRC)
	$(BIN)/nrm scales retire $(RUNS_DIR)/$*
	$(NB) run_experiment $@ -p experiment $(firstword $(subst -, ,$*)) \
	  -p variant $(lastword $(subst -, ,$*)) -p scale $(SCALE) -p output $(RUNS_DIR)/$*

$(EXEC_DIR)/variance_hypotheses.ipynb $(EXEC_DIR)/optimization.ipynb: \
  $(EXEC_DIR)/%.ipynb: notebooks/%.ipynb $(RUN_NBS) $(STATS_SRC)
	$(NB) $* $@ -p scale $(SCALE) -p runs_dir $(RUNS_DIR) -p output_dir $(ANALYSIS_DIR)

$(PAPER_DIR)/paper.html: notebooks/render_paper.ipynb $(EXEC_DIR)/variance_hypotheses.ipynb \
  $(EXEC_DIR)/optimization.ipynb $(RUN_NBS) $(RENDER_SRC) $(MARK)
	$(NB) render_paper $(EXEC_DIR)/render_paper.ipynb -p scale $(SCALE) -p runs_dir $(RUNS_DIR) \
	  -p analysis_dir $(ANALYSIS_DIR) -p figures_dir $(FIG_DIR) -p paper_dir $(PAPER_DIR) \
	  -p executed_dir $(EXEC_DIR)
endif
