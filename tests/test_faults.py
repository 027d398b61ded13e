"""Faults (issue #8, part 3) not already pinned elsewhere.

Already covered (see docs/reliability.md): a server killed between requests, foreign or lying
programs on the port, truncated replies, silent listeners, backoff (test_fallback.py); Host and
Origin checks, malformed requests (test_warm_server.py); LLM 429/500/timeouts/garbage
(test_llm.py, test_consolidate.py); hooks with a locked or corrupted database (test_hooks.py).

Pinned here: a warm server that hangs on /embed costs at most the configured timeout; one killed
(SIGKILL) in the middle of a request, one that drops the connection mid-request, and one that
sends vectors of another dimension under the right header all end in the in-process model's
exact vectors, never theirs, even through the MCP ``remember`` tool; no server process is left
behind. A database locked for longer than the busy timeout gives a StoreError naming what to do
(CLI, MCP tool), writes nothing, and writing works once the lock is gone. A full disk (a 4 MB
tmpfs, or RLIMIT_FSIZE when mounting is impossible) gives a clear error, never a partial write
or a corrupted file, and writing resumes once space is freed.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import numpy as np
import pytest
from mcp import Client
from test_fallback import DIM, embed_reply, health_reply
from warm_helpers import (
    TOKENS,
    JsonHandler,
    client_for,
    free_port,
    serving_handler,
    spawn_server,
    wait_healthy,
    with_proof,
)

import mcp_memory.store.database as store_module
from mcp_memory.config import Settings, load_settings
from mcp_memory.embedding.local import LocalEmbedder
from mcp_memory.embedding.warm_client import AutoEmbedder
from mcp_memory.errors import StoreError, WarmServerError
from mcp_memory.server.tools import build_server
from mcp_memory.service.memories import MemoryService
from mcp_memory.store.database import Store
from mcp_memory.store.integrity import audit

TEXTS = ["the deploy key rotates monthly", "sqlite-vec holds the vectors"]


@contextmanager
def scripted(behaviour: str, run_dir: Path = TOKENS) -> Iterator[tuple[int, threading.Event]]:
    """A server that answers /health as ours and misbehaves on /embed:
    ``hang`` (never answers until released), ``drop`` (closes the connection), ``wide``
    (vectors of twice the dimension, header claiming the right one)."""
    release = threading.Event()

    class Handler(JsonHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            body = json.dumps(health_reply()).encode()
            port = self.server.server_address[1]
            self.reply_json(json.loads(with_proof(body, self.headers, port, run_dir)))

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            texts = body["texts"]
            if behaviour == "hang":
                release.wait(30)
                self.close_connection = True
                return
            if behaviour == "drop":
                self.close_connection = True
                self.connection.shutdown(2)
                return
            wide = np.zeros((len(texts), 2 * DIM), dtype=np.float32)
            wide[:, 0] = 1.0
            self.reply_json(embed_reply(texts, vectors=wide))

    with serving_handler(Handler) as port:
        try:
            yield port, release
        finally:
            release.set()  # a hung handler returns before the server shuts down


@pytest.mark.parametrize(
    ("behaviour", "message"),
    [("hang", "timed out"), ("drop", "closed the connection"), ("wide", "expected 3072")],
)
def test_a_misbehaving_server_mid_request_yields_local_vectors_only(
    behaviour: str, message: str, minilm: LocalEmbedder
) -> None:
    expected = minilm.embed(TEXTS)
    with scripted(behaviour) as (port, _):
        client = client_for(port, timeout=0.5)
        auto = AutoEmbedder(minilm, client)
        started = time.perf_counter()
        try:
            vectors = auto.embed(TEXTS)
        finally:
            client.close()
        took = time.perf_counter() - started
    assert np.array_equal(vectors, expected) and auto.last_source == "local"
    assert message in (auto.last_error or ""), auto.last_error
    assert took < 5.0  # the hang costs the 0.5 s timeout, not the server's 30 s


def test_remember_over_mcp_with_a_lying_server_stores_the_true_vector(
    tmp_path: Path, minilm: LocalEmbedder
) -> None:
    with scripted("wide", tmp_path / "home" / "run") as (port, _):
        settings = load_settings(
            {
                "MCP_MEMORY_HOME": str(tmp_path / "home"),
                "MCP_MEMORY_MODEL": "minilm",
                "MCP_MEMORY_EMBED_PORT": str(port),
            }
        )

        async def main() -> Any:
            async with Client(build_server(settings, cwd=tmp_path)) as client:
                return await client.call_tool("remember", {"content": TEXTS[0]})

        result = anyio.run(main)
    assert not result.is_error, result.content
    mid = result.structured_content["id"]
    store = Store.open(settings.db)
    try:
        assert np.array_equal(store.vectors([mid])[mid], minilm.embed([TEXTS[0]])[0])
    finally:
        store.close()


def test_warm_server_killed_mid_request_falls_back_and_leaves_no_process(
    tmp_path: Path, minilm: LocalEmbedder
) -> None:
    port = free_port()
    proc = spawn_server(tmp_path / "home", port)
    try:
        wait_healthy(port)
        client = client_for(port, tmp_path / "home" / "run")
        auto = AutoEmbedder(minilm, client)
        texts = [f"a long text number {n} " * 20 for n in range(48)]  # ~1 s of work
        result: dict[str, Any] = {}
        worker = threading.Thread(target=lambda: result.update(v=auto.embed(texts)))
        worker.start()
        time.sleep(0.3)  # the request is being computed
        os.kill(proc.pid, signal.SIGKILL)
        worker.join(60)
        client.close()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)
    assert auto.last_source == "local"
    assert np.array_equal(result["v"], minilm.embed(texts))
    probe = client_for(port, tmp_path / "home" / "run")
    with pytest.raises(WarmServerError):
        probe.health()
    probe.close()
    assert proc.returncode == -signal.SIGKILL


# -- the database -------------------------------------------------------------------------------

HOLDER = """
import sys, time, apsw
db = apsw.Connection(sys.argv[1])
db.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.readline()
db.execute("ROLLBACK")
"""


@contextmanager
def locked(db: Path) -> Iterator[None]:
    """Another process holding the write lock until the block ends."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(db)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdin is not None
    assert holder.stdout.readline().strip() == "locked"
    try:
        yield
    finally:
        holder.stdin.write("\n")
        holder.stdin.close()
        holder.wait(10)
        holder.stdout.close()


def test_a_lock_held_past_the_busy_timeout_is_a_clear_error_and_writes_nothing(
    settings: Settings, minilm: LocalEmbedder, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(store_module, "BUSY_TIMEOUT_MS", 400)
    store = Store.open(settings.db)
    service = MemoryService(store, minilm)
    service.remember("stored before the lock", project="p")
    before = store.table_counts()
    with locked(settings.db):
        started = time.perf_counter()
        with pytest.raises(
            StoreError, match=r"locked by another process for more than 0.4 s.*fuser"
        ):
            service.remember("blocked by the lock", project="p")
        assert time.perf_counter() - started < 3
        assert store.table_counts() == before

        async def main() -> Any:
            async with Client(build_server(settings, cwd=tmp_path)) as client:
                return await client.call_tool("remember", {"content": "over MCP", "project": "p"})

        result = anyio.run(main)
        assert result.is_error and "busy timeout" in result.content[0].text
    assert service.remember("after the lock", project="p").status == "created"
    assert audit(store).ok
    store.close()


# -- a full disk -------------------------------------------------------------------------------


@contextmanager
def small_filesystem(path: Path, size: str = "4m") -> Iterator[bool]:
    """A tmpfs of ``size`` at ``path`` (True), or just the directory when mounting is not
    allowed (False: the caller limits file size with RLIMIT_FSIZE instead)."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = (
        shutil.which("mount") is not None
        and subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
            capture_output=True,
            check=False,
        ).returncode
        == 0
    )
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(path)], check=False)


FILLER = """
import resource, signal, sys
from pathlib import Path
from mcp_memory.embedding.local import LocalEmbedder
from mcp_memory.errors import StoreError
from mcp_memory.embedding.specs import MINILM
from mcp_memory.service.memories import MemoryService
from mcp_memory.store.database import Store
if sys.argv[2] != "mounted":  # no tmpfs: cap file size instead (writes past it fail EFBIG)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    size = Path(sys.argv[1]).stat().st_size
    resource.setrlimit(resource.RLIMIT_FSIZE, (size + 600_000, size + 600_000))
svc = MemoryService(Store.open(sys.argv[1]), LocalEmbedder(MINILM, Path("."), threads=1))
n = 0
try:
    while n < 2000:
        r = svc.remember(f"note {n}: " + f"filler text number {n} " * 120, project="p")
        print(r.id, flush=True)
        n += 1
except StoreError as exc:
    print("ERROR", exc, flush=True)
"""


@pytest.mark.slow
def test_a_full_disk_is_a_clear_error_and_never_a_partial_write(
    tmp_path: Path, minilm: LocalEmbedder
) -> None:
    root = tmp_path / "small"
    with small_filesystem(root) as mounted:
        db = root / "memory.db"
        Store.open(db).close()
        if mounted:  # leave ~1.2 MB free
            free = shutil.disk_usage(root).free
            (root / "ballast").write_bytes(b"\0" * max(0, free - 1_200_000))
        done = subprocess.run(
            [sys.executable, "-c", FILLER, str(db), "mounted" if mounted else "rlimit"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        lines = done.stdout.splitlines()
        assert done.returncode == 0, done.stderr[-2000:]
        assert lines and lines[-1].startswith("ERROR"), (lines[-3:], done.stderr[-1000:])
        assert "the disk is full" in lines[-1] and "Free some disk space" in lines[-1]
        acknowledged = [int(x) for x in lines[:-1]]
        assert len(acknowledged) >= 3
        if mounted:
            (root / "ballast").unlink()
        store = Store.open(db)
        try:
            result = audit(store, acknowledged)
            assert result.ok, result.problems()
            assert store.counts()["total"] == len(acknowledged)  # no partial memory
            after = MemoryService(store, minilm).remember("space again", project="p")
            assert audit(store, [after.id]).ok
        finally:
            store.close()
