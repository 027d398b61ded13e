# Two commands (see README): `make run` and `make test`. Everything installs from PyPI/npm.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOME_DIR ?= $(CURDIR)/.data
CODE := $(wildcard mcp_memory embed_server hooks)

.PHONY: setup run test lint bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

setup: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'

run: setup
	MCP_MEMORY_HOME=$(HOME_DIR) $(BIN)/mcp-memory demo

tests/inspector/node_modules/.bin/mcp-inspector: tests/inspector/package-lock.json
	npm ci --prefix tests/inspector --no-audit --no-fund --loglevel=error

test: setup tests/inspector/node_modules/.bin/mcp-inspector
	$(BIN)/ruff check $(CODE) tests bench
	$(BIN)/mypy $(CODE)
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python bench/embeddings.py
	$(BIN)/python bench/hooks.py

clean:
	rm -rf $(VENV) .data
