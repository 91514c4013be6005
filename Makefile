# Two entry points for a fresh machine: `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test bench lint clean install redis

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

## The whole test suite. Tests start what they need themselves (fixture web server, ephemeral Prefect API, a
## redis-server for the scale-out index); Debian's redis-server is installed here if it is missing.
test: $(STAMP) redis
	$(BIN)/python -m pytest

redis:
	@command -v redis-server >/dev/null 2>&1 || { \
	  echo "installing Debian's redis-server (used by the scale-out tests)"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; } || \
	  { echo "could not install redis-server: install it (apt-get install redis-server) and run make test again"; exit 1; }; }

## Benchmarks under bench/ (results in bench/results/).
bench: $(STAMP)
	$(BIN)/python bench/extraction.py
	$(BIN)/python bench/pdf.py
	$(BIN)/python bench/pii.py
	$(BIN)/python bench/domain.py
	$(BIN)/python bench/text_speed.py
	$(BIN)/python bench/pipeline.py
	$(BIN)/python bench/dedup/run.py
	$(BIN)/python bench/dedup/signature_speed.py
	$(BIN)/python bench/dedup/index_scale.py --n 1000000

lint: $(STAMP)
	$(BIN)/ruff check fincorpus tests bench flows.py

clean:
	rm -rf $(VENV) fincorpus-home demo-snapshot .pytest_cache
