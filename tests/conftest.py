"""Shared fixtures: real SQLite files in tmp_path, the real bundled model loaded once, and a
real PostgreSQL server for the cases parametrised over both store backends."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pg_server
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


BACKENDS = ("sqlite", "postgres")


@pytest.fixture(scope="session")
def pg() -> Iterator[pg_server.PgServer]:
    """A private PostgreSQL with pgvector for the whole run (skips without the extra)."""
    try:
        server = pg_server.start()
    except ImportError as exc:
        pytest.skip(
            f"PostgreSQL tests need the pgtest extra ({exc.name} is missing): "
            "pip install -e '.[pgtest]' (make test installs it)"
        )
    yield server
    server.stop()


def open_backend(backend: str, tmp_path: Path, request: pytest.FixtureRequest, user: str) -> Store:
    """A fresh, empty store of ``backend``: a SQLite file in ``tmp_path`` or a new database on
    the session's PostgreSQL server."""
    if backend == "sqlite":
        return Store.open(tmp_path / "memory.db")
    from mcp_memory.store.postgres.database import PgStore

    server: pg_server.PgServer = request.getfixturevalue("pg")
    return PgStore.connect(server.fresh_url(), user=user)


@pytest.fixture(params=BACKENDS)
def backend_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """An empty store on each backend in turn (a module opts in by defining its ``store``
    fixture as this one)."""
    s = open_backend(request.param, tmp_path, request, "alice@test")
    yield s
    s.close()


# -- daemons ---------------------------------------------------------------------------------
# `serve` relays to a daemon it starts per data home (mcp_memory.server.daemon); a daemon outlives its
# sessions. Stop the ones a test's homes started, after each test and at the end of the run.


def stop_daemons(root: Path) -> list[int]:
    """SIGTERM (then SIGKILL) every daemon whose pid file lies under ``root``; their pids."""
    stopped = []
    for pid_file in root.glob("**/run/daemon.pid"):
        try:
            pid = int(json.loads(pid_file.read_text())["pid"])
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if b"mcp_memory.server.daemon" not in command:
            continue
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while _running(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        stopped.append(pid)
    return stopped


def _running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (the daemon's parent is init)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    tmp = getattr(item, "funcargs", {}).get("tmp_path")
    if isinstance(tmp, Path):
        stop_daemons(tmp)


@pytest.fixture(scope="session", autouse=True)
def no_daemon_left(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    yield
    stop_daemons(tmp_path_factory.getbasetemp())
