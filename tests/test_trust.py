"""A program squatting on the warm server's port gets no memory text and stores no vector.

Issue #16 found that anything answering ``/health`` with our service name was trusted: a
squatter received memory text and got a wrong vector stored. Pins: the client sends a random
challenge and only talks to a server that answers it with the HMAC of the token our server
wrote to a 0600 file in the private run directory; a squatter (no token, or a stale token file
left by a crashed server) receives 0 bytes of memory text, and the memory is stored with the
in-process model's vector. Our own server still serves, and a token file another user could
read is refused.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from warm_helpers import JsonHandler, client_for, post_json, serving, serving_handler

import mcp_memory.embed_server.process as process
from mcp_memory.config import load_settings
from mcp_memory.embed_server.pidfile import write_token
from mcp_memory.embedding.local import LocalEmbedder
from mcp_memory.embedding.protocol import SERVICE, token_path
from mcp_memory.embedding.specs import MINILM
from mcp_memory.embedding.warm_client import (
    AutoEmbedder,
    ForeignServer,
    WarmClient,
    server_available,
)
from mcp_memory.errors import WarmServerError
from mcp_memory.service.memories import MemoryService
from mcp_memory.service.types import Options
from mcp_memory.store.database import Store

DIM = MINILM.dimension
SECRET = "the staging deploy key lives in vault path ops/staging/deploy"


class Squatter:
    """What a squatter heard: every request line and body, as bytes."""

    def __init__(self) -> None:
        self.received: list[bytes] = []
        self.lock = threading.Lock()

    def heard(self, data: bytes) -> None:
        with self.lock:
            self.received.append(data)

    @property
    def everything(self) -> bytes:
        with self.lock:
            return b"\n".join(self.received)


@contextmanager
def squatter() -> Iterator[tuple[int, Squatter]]:
    """A real HTTP server on a loopback port that imitates the embed API: its health reply
    says it is our service with our model, and /embed answers wrong (unit, but not the
    model's) vectors. It records everything it is sent."""
    log = Squatter()

    class Handler(JsonHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            log.heard(f"{self.command} {self.path} {dict(self.headers)}".encode())
            self.reply_json(
                {"service": SERVICE, "status": "ok", "model": "minilm", "dimension": DIM}
            )

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            log.heard(f"{self.command} {self.path}".encode() + b" " + body)
            texts = json.loads(body).get("texts", [])
            wrong = np.zeros((len(texts), DIM), dtype="<f4")
            wrong[:, 1] = 1.0
            self.reply_json(
                {
                    "service": SERVICE,
                    "model": "minilm",
                    "dimension": DIM,
                    "count": len(texts),
                    "encoding": "f32-base64",
                    "vectors": base64.b64encode(wrong.tobytes()).decode(),
                }
            )

    with serving_handler(Handler) as port:
        yield port, log


def remember_through(port: int, run_dir: Path, db: Path, minilm: LocalEmbedder) -> np.ndarray:
    """Store SECRET through an AutoEmbedder pointed at ``port``; the stored vector."""
    client = WarmClient(
        "127.0.0.1", port, model_id="minilm", dimension=DIM, token_file=token_path(run_dir, port)
    )
    auto = AutoEmbedder(minilm, client)
    store = Store.open(db)
    try:
        service = MemoryService(
            store, auto, Options(duplicate_threshold=MINILM.duplicate_threshold)
        )
        (result,) = service.remember_many([SECRET], project="proj")
        assert auto.last_source == "local"
        (vector,) = store.vectors([result.id]).values()
        return np.asarray(vector, dtype=np.float32)
    finally:
        auto.close()
        store.close()


@pytest.mark.parametrize("token_file", ["none", "stale"])
def test_a_squatter_on_the_port_gets_no_text_and_stores_no_vector(
    tmp_path: Path, minilm: LocalEmbedder, token_file: str
) -> None:
    run_dir = tmp_path / "run"
    with squatter() as (port, log):
        if token_file == "stale":  # a crashed server of ours left its token behind
            write_token(token_path(run_dir, port), os.urandom(32))
        stored = remember_through(port, run_dir, tmp_path / "memory.db", minilm)
    heard = log.everything
    assert b"/embed" not in heard and SECRET.encode() not in heard
    assert b"staging" not in heard and b"vault" not in heard
    (true,) = minilm.embed([SECRET])
    assert float(stored @ true) > 0.9999  # the in-process model's vector, not the squatter's


def test_our_server_answers_the_challenge_and_serves(tmp_path: Path, minilm: LocalEmbedder) -> None:
    run_dir = tmp_path / "run"
    with serving(minilm.engine(), run_dir=run_dir) as server:
        path = token_path(run_dir, server.port)
        assert path.stat().st_mode & 0o777 == 0o600
        client = WarmClient(
            "127.0.0.1", server.port, model_id="minilm", dimension=DIM, token_file=path
        )
        try:
            (vector,) = client.embed([SECRET])
        finally:
            client.close()
    assert float(vector @ minilm.embed([SECRET])[0]) > 0.9999


def test_the_wrong_token_is_refused_before_any_text_is_sent(
    tmp_path: Path, minilm: LocalEmbedder
) -> None:
    run_dir = tmp_path / "run"
    with serving(minilm.engine(), run_dir=run_dir) as server:
        path = token_path(run_dir, server.port)
        write_token(path, os.urandom(32))  # the client now expects another server's answer
        client = WarmClient(
            "127.0.0.1", server.port, model_id="minilm", dimension=DIM, token_file=path
        )
        try:
            with pytest.raises(ForeignServer, match="did not prove"):
                client.embed([SECRET])
        finally:
            client.close()


def test_a_token_file_others_can_read_is_not_trusted(tmp_path: Path, minilm: LocalEmbedder) -> None:
    run_dir = tmp_path / "run"
    with serving(minilm.engine(), run_dir=run_dir) as server:
        path = token_path(run_dir, server.port)
        path.chmod(0o644)
        client = WarmClient(
            "127.0.0.1", server.port, model_id="minilm", dimension=DIM, token_file=path
        )
        try:
            with pytest.raises(WarmServerError, match="0644"):
                client.embed([SECRET])
        finally:
            client.close()


def test_a_full_server_answers_503_and_the_client_gets_local_vectors(
    tmp_path: Path, minilm: LocalEmbedder
) -> None:
    """One job slot, no queue: while a long request runs, another is refused with 503 and
    Retry-After (not queued without bound); the client asks again briefly, then falls back."""
    run_dir = tmp_path / "run"
    long_texts = [f"a long text about subject {n} " * 30 for n in range(48)]
    with serving(minilm.engine(), run_dir=run_dir, jobs=1, queue=0) as server:
        service = server.service_or_fail()
        busy = threading.Thread(target=lambda: service.embed(long_texts, "document", "json"))
        busy.start()
        try:
            while service._pending == 0:  # the long request holds the one slot
                pass
            status, headers, reply = post_json(server.port, {"texts": ["x"]})
            assert status == 503 and headers["Retry-After"] == "1"
            assert "busy" in reply["error"]
            auto = AutoEmbedder(minilm, client_for(server.port, run_dir))
            try:
                (vector,) = auto.embed([SECRET])
            finally:
                auto.close()
            busy_now = service._pending > 0
        finally:
            busy.join(60)
    if busy_now:  # the long request outlasted the client's retries
        assert auto.last_source == "local" and "busy" in (auto.last_error or "")
    assert float(vector @ minilm.embed([SECRET])[0]) > 0.9999


@pytest.mark.parametrize("token_file", ["none", "stale"])
def test_status_doctor_and_the_hooks_probe_report_a_squatter_as_not_ours(
    tmp_path: Path, token_file: str
) -> None:
    """`embed-server status`, `doctor` and the hooks' `server_available` ask the same challenge
    as the text path: a squatter answering with our service name and model is "not ours"
    (before, status said "running" and the hooks' worker embedded its briefing query there)."""
    home = tmp_path / "home"
    with squatter() as (port, log):
        settings = load_settings(
            {"MCP_MEMORY_HOME": str(home), "MCP_MEMORY_MODEL": "minilm"}, embed_port=port
        )
        if token_file == "stale":
            write_token(token_path(settings.run_dir, port), os.urandom(32))
        found = process.status(settings)
        assert found["status"] == "foreign"
        assert "not ours" in found["message"]
        assert not server_available(
            "127.0.0.1",
            port,
            "minilm",
            DIM,
            token_file=token_path(settings.run_dir, port),
            timeout=1.0,
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("MCP_MEMORY_")}
        env.update(
            MCP_MEMORY_HOME=str(home), MCP_MEMORY_MODEL="minilm", MCP_MEMORY_EMBED_PORT=str(port)
        )
        cli = [sys.executable, "-m", "mcp_memory.cli"]
        status = subprocess.run(
            [*cli, "embed-server", "status"], env=env, capture_output=True, text=True, timeout=60
        )
        assert "not ours" in status.stdout + status.stderr
        assert "running at" not in status.stdout
        doctor = subprocess.run(
            [*cli, "doctor"], env=env, capture_output=True, text=True, timeout=120
        )
        assert "not ours" in doctor.stdout + doctor.stderr
    assert b"/embed" not in log.everything  # only challenges were sent
