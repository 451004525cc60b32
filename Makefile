# The README's commands. Each target creates .venv when missing and installs what it needs;
# a stamp file keeps re-runs fast until pyproject.toml or constraints.txt change.
VENV      ?= .venv
PY        := $(VENV)/bin/python
# constraints.lock pins every transitive version (make lock); constraints.txt the torch build.
PIP       := $(PY) -m pip install --disable-pip-version-check -q -c constraints.txt -c constraints.lock
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: demo test lint typecheck bench clean install dev lock

$(PY):
	python3 -m venv $(VENV)
	$(VENV)/bin/python -m pip install --disable-pip-version-check -q --upgrade pip

$(VENV)/.installed: $(PY) pyproject.toml constraints.txt constraints.lock
	$(PIP) -e .
	@touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PIP) -e '.[dev]'
	@touch $@

install: $(VENV)/.installed

dev: $(VENV)/.installed-dev

demo: $(VENV)/.installed
	$(VENV)/bin/bizmodel demo --output demo-output

# Re-resolve every dependency with pip (newest versions pyproject.toml and constraints.txt
# allow) into constraints.lock; commit it once `make test` passes with it.
lock: $(PY)
	$(PY) scripts/lock.py

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check src tests benchmarks scripts
	$(VENV)/bin/ruff format --check src tests benchmarks scripts

typecheck: $(VENV)/.installed-dev
	$(VENV)/bin/mypy

test: lint typecheck
	$(VENV)/bin/python -m pytest src tests $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) demo-output .pytest_cache .mypy_cache .ruff_cache
