# Two commands (see README): `make run` and `make test`. Everything installs from PyPI/npm.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOME_DIR ?= $(CURDIR)/.data
CODE := mcp_memory

.PHONY: setup run test lint bench bench-claude clean chromium

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall only when pyproject.toml changed (the stamp), so `make run` does not print
# setuptools' editable-install banner every time.
setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev,pgtest]'
	touch $@

run: setup
	MCP_MEMORY_HOME=$(HOME_DIR) $(BIN)/memcycle demo

tests/inspector/node_modules/.bin/mcp-inspector: tests/inspector/package-lock.json
	npm ci --prefix tests/inspector --no-audit --no-fund --loglevel=error

# The real Claude Code CLI for tests/test_e2e_claude.py (touch: npm leaves it older than the lock).
tests/claude/node_modules/.bin/claude: tests/claude/package-lock.json
	npm ci --prefix tests/claude --no-audit --no-fund --loglevel=error
	touch $@

# Browser tests (tests/test_graph.py) need Debian's chromium: installed here when missing and
# run as root, else skipped with a message (CI=true makes them fail instead).
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium for the browser tests (apt-get)"; \
	    apt-get update -qq >/dev/null && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "note: browser tests need Chromium: sudo apt-get install chromium (skipped without it)"; \
	  fi; \
	fi

test: setup tests/inspector/node_modules/.bin/mcp-inspector tests/claude/node_modules/.bin/claude chromium
	$(BIN)/ruff check $(CODE) tests bench hooks embed_server
	$(BIN)/ruff format --check $(CODE) tests bench hooks embed_server
	$(BIN)/mypy $(CODE)
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python bench/embeddings.py
	$(BIN)/python bench/recall.py
	$(BIN)/python bench/links.py
	$(BIN)/python bench/route.py
	$(BIN)/python bench/capture.py
	$(BIN)/python bench/hooks.py
	$(BIN)/python bench/graph.py
	$(BIN)/python bench/reliability.py
	$(BIN)/python bench/daemon.py

# Claude Code's session start with and without mcp-memory (needs the CLI from npm).
bench-claude: setup tests/claude/node_modules/.bin/claude
	$(BIN)/python bench/claude_start.py
	$(BIN)/python bench/locomo.py

clean:
	rm -rf $(VENV) .data
