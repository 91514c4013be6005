# Two entry points for a fresh machine: `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test bench lint clean install services

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "fincorpus needs Python 3.11; run: make PYTHON=python3.11 ...")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,bench,scale]'
	touch $(STAMP)

install: $(STAMP)

## Crawl the mirror sites of ../shared/data through the local fixture server, publish tag `demo`, pull it.
demo: $(STAMP)
	$(BIN)/fincorpus demo

## The whole test suite. Tests start what they need themselves (fixture web server, a Prefect API, redis-server, a
## throwaway PostgreSQL cluster, moto's S3 server, a Dask LocalCluster, headless Chromium for the report) and stop
## them afterwards; the Debian packages they use are installed here when missing.

test: $(STAMP) services
	$(BIN)/python -m pytest

services:
	@missing=""; \
	command -v redis-server >/dev/null 2>&1 || missing="$$missing redis-server"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	dpkg -s fonts-noto-cjk >/dev/null 2>&1 || missing="$$missing fonts-noto-cjk"; \
	command -v openssl >/dev/null 2>&1 || missing="$$missing openssl"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages the tests use:$$missing"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; } || \
	  { echo "could not install$$missing: install them (apt-get install$$missing) and run make test again"; exit 1; }; \
	fi

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
	$(BIN)/python bench/connectors.py
	$(BIN)/python bench/pdf_sandbox.py
	$(BIN)/python bench/hostile/run.py
	$(BIN)/python bench/fuzz/run.py --n 1000000 --max-minutes 180
	$(BIN)/python bench/licence_agreement.py
	$(BIN)/python bench/tc260_screen.py
	$(BIN)/python bench/manifest_hash.py
	$(BIN)/python bench/audit.py
	$(BIN)/python bench/store.py --n 100000 1000000
	$(BIN)/python bench/takedown.py --n 20000

lint: $(STAMP)
	$(BIN)/ruff check fincorpus tests bench flows.py

clean:
	rm -rf $(VENV) fincorpus-home demo-snapshot .pytest_cache
