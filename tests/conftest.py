"""Shared fixtures: real SQLite files in tmp_path, the real bundled model loaded once."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import free_port

from mcp_memory.config import Settings, load_settings
from mcp_memory.embedding.local import LocalEmbedder
from mcp_memory.embedding.specs import MINILM
from mcp_memory.service.memories import MemoryService
from mcp_memory.service.types import Options
from mcp_memory.store.database import Store


def pytest_configure(config: pytest.Config) -> None:
    """The per-user XDG folders point into a temporary directory for the whole run (and every
    subprocess it starts): a test that leaves MCP_MEMORY_HOME unset never reads the developer's
    config file nor moves their data directory's old logs/ and run/ into ~/.local/state."""
    base = Path(tempfile.mkdtemp(prefix="memcycle-xdg-"))
    for kind in ("CONFIG", "DATA", "STATE"):
        os.environ[f"XDG_{kind}_HOME"] = str(base / kind.lower())


@pytest.fixture(scope="session")
def minilm(tmp_path_factory: pytest.TempPathFactory) -> LocalEmbedder:
    """The real bundled model, loaded once for the whole run."""
    embedder = LocalEmbedder(MINILM, tmp_path_factory.mktemp("models"), threads=2)
    embedder.engine()
    return embedder


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings for a private data directory; the warm-server port is a dead one."""
    env = {
        "MCP_MEMORY_HOME": str(tmp_path / "home"),
        "MCP_MEMORY_MODEL": "minilm",
        "MCP_MEMORY_EMBED_PORT": str(free_port()),
    }
    return load_settings(env)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(tmp_path / "memory.db")
    yield s
    s.close()


@pytest.fixture
def service(store: Store, minilm: LocalEmbedder) -> MemoryService:
    return MemoryService(store, minilm, Options(duplicate_threshold=MINILM.duplicate_threshold))
