# Two commands do everything on a fresh machine (see README.md):
#   make tables   set up .venv, then run the smoke replication: tables, figures and report
#   make test     set up .venv, then lint and run the whole test suite (what CI runs)
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEFAULT_CONFIG ?= config/kinetics/slowfast_8x8_r50_multigrid.yaml
PYTEST_ARGS ?=

.PHONY: tables test lint format docs lock clean venv wheelhouse gpu-check

venv: $(STAMP)

# The venv is rebuilt when the declared or pinned dependencies change.  torch/torchvision are the
# CUDA builds pinned in requirements.lock (about 5.7 GB; they run on the CPU too).
$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "need Python >= 3.11 (set PYTHON=...)")'
	@echo "== setting up $(VENV) (first time: about 3 min, 5.7 GB) =="
	$(PYTHON) -m venv $(VENV)
	set -o pipefail; $(PY) -m pip install --quiet --disable-pip-version-check \
		-c requirements.lock -e '.[dev]' 2>&1 | { grep -v 'is ignored: it is neither' || true; }
	@touch $@

# The smoke replication (config/config.yaml): generate data, train every run one at a time,
# collect, then tables/, figures/ and results/smoke/report.html. About 30 min on 2 CPU cores;
# an interrupted call resumes (finished runs are kept, unfinished ones continue from checkpoints).
tables: $(STAMP)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/snakemake tables figures report --cores 2

test: $(STAMP) lint
	$(PY) -m pytest $(PYTEST_ARGS)

# snakemake --lint checks the Snakefile (ruff leaves it out); about 3 s.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/snakemake --lint --nolock

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# The wheels a GPU node without an index lacks (Python 3.12, manylinux x86_64; docs/gpu.md), and
# the GPU check itself, run on that node: make gpu-check OUT=results/gpu-check.
wheelhouse:
	$(PYTHON) -m replication.gpu wheelhouse --python-version 3.12 --platform manylinux2014_x86_64 --out wheelhouse

gpu-check:
	PYTHONUNBUFFERED=1 $(PYTHON) -m replication.gpu check --wheelhouse wheelhouse --out $(or $(OUT),results/gpu-check)

# Regenerate the committed key reference and JSON schemas (tests fail when they drift).
docs: $(STAMP)
	$(PY) -m replication config-docs > config/README.md.tmp && mv config/README.md.tmp config/README.md
	$(PY) -m replication config-schema > config/schema.tmp && mv config/schema.tmp config/experiment.schema.json
	$(PY) -m replication.workflow schema > config/workflow.schema.tmp && mv config/workflow.schema.tmp config/workflow.schema.json

# Re-pin the exact set after changing pyproject.toml (run on the build machine).
lock:
	rm -rf /tmp/replication-lock && $(PYTHON) -m venv /tmp/replication-lock
	/tmp/replication-lock/bin/pip install --quiet -e '.[dev]' 'torch==2.14.1' 'torchvision==0.29.1'
	{ echo "# Exact versions that 'make' and CI install (pip constraints file; see Makefile)."; \
	  echo "# Regenerate with 'make lock' after changing pyproject.toml."; \
	  /tmp/replication-lock/bin/pip freeze --exclude-editable; } > requirements.lock.tmp
	mv requirements.lock.tmp requirements.lock

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
