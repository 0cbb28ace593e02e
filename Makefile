# wikisearch: `make run` to try it, `make test` to check it.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
WS := $(VENV)/bin/wikisearch
STAMP := $(VENV)/.installed
INDEXES := data/indexes
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run indexes test lint typecheck unit bench clean distclean

install: $(STAMP)

# torch is pinned to the CPU build first, so nothing later pulls a CUDA build.
$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check torch==2.13.0
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

# Sample indexes; rebuilt (incrementally) when their dump changes.
$(INDEXES)/%/manifest.json: data/dumps/%.xml.bz2 | $(STAMP)
	$(WS) build $< --index $(INDEXES)/$*

indexes: $(INDEXES)/mediawiki-docs/manifest.json $(INDEXES)/enwiki-sample/manifest.json

run: install indexes
	@echo "Sample indexes are ready. Try:"
	$(WS) query --index $(INDEXES)/mediawiki-docs "how do I let people upload images"

lint: $(STAMP)
	$(VENV)/bin/ruff check indexer webapp tests
	$(VENV)/bin/ruff format --check indexer webapp tests

typecheck: $(STAMP)
	$(VENV)/bin/mypy

unit: $(STAMP)
	$(PY) -m pytest -m "not model and not browser"

test: $(STAMP) lint typecheck
	$(PY) -m pytest

clean:
	rm -rf $(INDEXES) .pytest_cache .mypy_cache .ruff_cache

distclean: clean
	rm -rf $(VENV) *.egg-info
