# Two entry points for a fresh machine: `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test bench lint clean install

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "fincorpus needs Python 3.11; run: make PYTHON=python3.11 ...")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $(STAMP)

install: $(STAMP)

## Crawl the mirror sites of ../shared/data through the local fixture server, publish tag `demo`, pull it.
demo: $(STAMP)
	$(BIN)/fincorpus demo

## The whole test suite (starts the fixture server and an ephemeral Prefect API itself).
test: $(STAMP)
	$(BIN)/python -m pytest

## Benchmarks under bench/ (results in bench/results/).
bench: $(STAMP)
	$(BIN)/python bench/pipeline.py
	$(BIN)/python bench/dedup/run.py

lint: $(STAMP)
	$(BIN)/ruff check fincorpus tests bench flows.py

clean:
	rm -rf $(VENV) fincorpus-home demo-snapshot .pytest_cache
