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

.PHONY: setup lock test lint bench paper figure compare check-html clean-paper allocators lab study dbcurve readme help

help:
	@echo "make help        this list"
	@echo "make setup       create .venv and install exactly requirements.lock (+ nrm itself)"
	@echo "make test        run the test suite (sets up first if needed)"
	@echo "make paper       regenerate the paper (SCALE=smoke|default|full; PLAN=1: list only; WHY=1: what would re-run, and why; STUDY=0: without the causal study)"
	@echo "make study       the causal study: repeated randomized arms with an A/A arm (SCALE=...)"
	@echo "make dbcurve     H3: commit latency against database size to the full run's 3.5 GB, disk and RAM (TO_MB=...)"
	@echo "make figure ID=  re-make one table/figure and check it against its provenance stamp"
	@echo "make compare A= B=  compare the tables of two builds"
	@echo "make check-html  check paper.html in headless Chromium (screenshot beside the paper)"
	@echo "make bench       speed and probe-overhead benchmarks, then a timed build (BUDGET=smoke|default)"
	@echo "make lint        ruff"
	@echo "make lock        re-resolve requirements.lock from pyproject.toml (UPGRADE=1: newest)"
	@echo "make lab         JupyterLab on the notebooks, in the project's kernel"
	@echo "make allocators  install jemalloc and mimalloc (Debian packages; needs root)"
	@echo "make clean-paper remove a scale's paper, figures, analyses (keeps its runs)"
	@echo "make readme      rewrite README.md's findings section from the reference build"

# README.md's findings section is generated from data/reference/build-default, never typed
readme: setup
	$(BIN)/nrm readme --write

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

# the speed and probe benchmarks, then a timed first make paper against its budget
# (BUDGET=smoke by default; BUDGET=default times a whole default build, ~30 min)
BUDGET ?= smoke
bench: setup
	$(BIN)/nrm bench
	$(BIN)/nrm bench --budget $(BUDGET)

# make study [SCALE=smoke|default|full] [OUT=DIR] [SEED=N] [WORKERS=N | SCHEDULER=tcp://host:8786]
# The causal study (nrm/study/sweep.py; plan: nrm study plan --scale SCALE): its runs go to
# OUT/data/study/SCALE/ on Dask (one single-threaded worker unless WORKERS/SCHEDULER say
# otherwise). Restartable: the same command runs only the runs without a complete run.json.
# Then notebooks/study.ipynb writes OUT/data/analysis/SCALE/study/ (tables, figures), which
# the paper's section 10 reads.
STUDY_DIR = $(abspath $(OUT))/data/study/$(SCALE)
study: setup
	$(BIN)/nrm study run --scale $(SCALE) --out $(STUDY_DIR) --retire-stale \
	  $(if $(SCHEDULER),--scheduler $(SCHEDULER),--workers $(or $(WORKERS),1)) \
	  $(if $(SEED),--model-seed=$(SEED))
	$(BIN)/nrm notebook study $(abspath $(OUT))/data/executed/$(SCALE)/study.ipynb \
	  -p scale $(SCALE) -p study_dir $(STUDY_DIR) \
	  -p output_dir $(abspath $(OUT))/data/analysis/$(SCALE)/study

# make dbcurve [TO_MB=3500] [MEDIUM=both|disk|ram] [REPEATS=5] [OUT=DIR]
# H3's commit-latency curve (nrm dbcurve, nrm/study/dbcurve.py): the model's databases grown in
# steps to TO_MB MiB (default: the full C256 run's ~3.5 GB), a batch of the model's per-row
# commits timed at each checkpoint, on the output folder's disk and in /dev/shm, a fresh process
# per repeat. Needs about 1.05 x TO_MB + 64 MiB free on the disk and in RAM (checked first; one
# repeat's databases exist at a time and are removed after it). Timings only:
# OUT/data/dbcurve/TO_MB/dbcurve.csv and dbcurve.json (the H3 piece). Restartable. Not part of
# make paper or make study: run it on a quiet machine (it writes gigabytes; its disk commits and
# the write-back of its growth would disturb a timed run beside it).
TO_MB ?= 3500
MEDIUM ?= both
REPEATS ?= 5
dbcurve: setup
	$(BIN)/nrm dbcurve --to-mb $(TO_MB) --medium $(MEDIUM) --repeats $(REPEATS) \
	  --out $(abspath $(OUT))/data/dbcurve/$(TO_MB)

# ------------------------------------------------------------------------------- the paper
# make paper [SCALE=smoke|default|full] [OUT=DIR] [SEED=N] [WHY=1] [PLAN=1] [STUDY=0]
# (presets: nrm scales show; STUDY=0 skips the causal study: the paper's runs only)
# The steps run on pydoit (dodo.py -> nrm/build/pipeline.py); make stays the command in front of it.
# Everything it writes is under OUT (default: this folder):
#   data/runs/SCALE/<exp>-<variant>/   one run folder per planned run (nrm/run/scales.py)
#   data/executed/SCALE/*.ipynb        executed notebooks (written only when all cells ran)
#   data/analysis/SCALE/phase1a|1b/    the tables the paper reads
#   figures/*.png, paper/paper.md, paper/paper.html, paper/provenance.json, paper/tables/*.csv
#   .make/doit-state.json              doit's record of what each step last read (MD5s, config)
# A step re-runs only when the content of what it reads changes (its notebook, the nrm sources
# it imports, its inputs, its parameters, the package versions): never because of file times.
# WHY=1 lists every step with "up to date" or the exact reason it would re-run, running nothing.
# A re-run run's old folder is moved to data/runs/SCALE/.superseded/ first (runs never
# overwrite runs). Runs execute one at a time: parallel runs would compete for the cores and
# fake a resource-contention effect.
OUT ?= .
SEED ?=
WHY ?=
STUDY ?= 1
DOIT_VARS = scale=$(SCALE) out=$(abspath $(OUT)) seed=$(SEED) study=$(STUDY)

# PLAN=1: list the planned runs with an estimate for this machine (nrm plan), run nothing.
# Otherwise build, then print the time each run took.
paper: setup
	@$(BIN)/nrm scales check $(SCALE) --seed="$(SEED)" --study="$(STUDY)" --out="$(OUT)"
ifneq ($(filter-out 0,$(PLAN)),)
	@$(BIN)/nrm plan --scale $(SCALE) --out $(OUT) $(if $(filter 0,$(STUDY)),--no-study)
else ifneq ($(WHY),)
	@$(BIN)/nrm why --scale $(SCALE) --out $(abspath $(OUT)) --seed "$(SEED)" \
	  --study "$(STUDY)"
else
	$(BIN)/doit -f dodo.py --dir . $(DOIT_VARS)
	@echo "paper ($(SCALE)): $(abspath $(OUT))/paper/paper.html"
	@$(BIN)/nrm plan --scale $(SCALE) --summary $(OUT)/data/runs/$(SCALE)
endif

# make figure ID=table:runs [OUT=DIR]: re-make one table or figure from its recorded inputs and
# say whether it matches its provenance stamp (nrm reproduce)
figure: setup
	@test -n "$(ID)" || { echo "usage: make figure ID=table:runs|figure:runtime_timeline [OUT=DIR]"; exit 2; }
	$(BIN)/nrm reproduce $(ID) --build $(abspath $(OUT))

# make compare A=DIR B=DIR: compare the tables of two builds (nrm compare-builds)
compare: setup
	$(BIN)/nrm compare-builds $(A) $(B)

# make check-html [OUT=DIR]: open paper.html in headless Chromium and check what a reader sees
check-html: setup
	$(BIN)/nrm check-html $(abspath $(OUT))/paper/paper.html

clean-paper:
	rm -rf $(OUT)/paper/paper.md $(OUT)/paper/paper.html $(OUT)/paper/provenance.json \
	  $(OUT)/paper/tables $(OUT)/figures/*.png \
	  $(OUT)/data/analysis/$(SCALE) $(OUT)/data/executed/$(SCALE) $(OUT)/.make
	@echo "kept the run folders in $(OUT)/data/runs/$(SCALE) and the study's in $(OUT)/data/study/$(SCALE) (delete them by hand to re-run)"
