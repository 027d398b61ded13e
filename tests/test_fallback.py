"""AutoEmbedder: the warm server when it is usable, the in-process model otherwise.

Pins: no server -> local vectors and exactly one warning line; a server killed mid-run ->
the next call falls back; a foreign or lying program on the port never yields its vectors;
backoff: no retry before it elapses, then the server is used again; oversized requests are
served locally without marking the server down; the health probe for hooks.
"""

from __future__ import annotations

import base64
import json
import logging
import signal
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from warm_helpers import (
    TOKENS,
    client_for,
    free_port,
    serving,
    serving_handler,
    spawn_server,
    wait_healthy,
    with_proof,
)

from mcp_memory.app import make_embedder
from mcp_memory.config import Settings, load_settings
from mcp_memory.embed_server.app import EmbedServer
from mcp_memory.embedding.local import LocalEmbedder
from mcp_memory.embedding.protocol import MAX_BATCH, MAX_TEXT_CHARS, SERVICE, token_path
from mcp_memory.embedding.specs import MINILM
from mcp_memory.embedding.warm_client import (
    FALLBACK_HINT,
    AutoEmbedder,
    server_available,
)
from mcp_memory.errors import WarmServerError

TEXTS = ["remember the staging key", "sqlite-vec holds the vectors"]
DIM = MINILM.dimension


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def local(minilm: LocalEmbedder) -> LocalEmbedder:
    """The real bundled model (loaded once per run by conftest's ``minilm``)."""
    return minilm


@pytest.fixture(scope="module")
def expected(local: LocalEmbedder) -> np.ndarray:
    return local.embed(TEXTS)


def auto_for(
    local: LocalEmbedder, port: int, clock: Clock | None = None, run_dir: Path = TOKENS
) -> AutoEmbedder:
    return AutoEmbedder(local, client_for(port, run_dir), clock=clock or Clock())


def warnings_from(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "mcp_memory" and r.levelno == logging.WARNING
    ]


# -- no server, a dying server ------------------------------------------------------------


def test_no_server_gives_local_vectors_and_one_warning_line(
    local: LocalEmbedder, expected: np.ndarray, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    auto = auto_for(local, port)
    caplog.set_level(logging.DEBUG, logger="mcp_memory")
    for _ in range(3):
        assert np.array_equal(auto.embed(TEXTS), expected)
        assert auto.last_source == "local"
    (line,) = warnings_from(caplog)
    assert line.startswith(f"embedding server not reachable at 127.0.0.1:{port} (")
    assert line.endswith(f"; falling back to in-process model ({FALLBACK_HINT})")
    assert (auto.model_id, auto.dimension) == ("minilm", DIM)


def test_a_server_killed_mid_run_is_replaced_by_the_local_model(
    tmp_path: Path, local: LocalEmbedder, expected: np.ndarray, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    proc = spawn_server(tmp_path, port)
    auto = auto_for(local, port, run_dir=tmp_path / "run")
    try:
        wait_healthy(port)
        served = auto.embed(TEXTS)
        assert auto.last_source == "server"
        assert np.min(np.sum(served * expected, axis=1)) >= 0.99999
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=10)
        # The client holds a keep-alive connection to the dead server: it must notice.
        assert np.array_equal(auto.embed(TEXTS), expected)
        assert auto.last_source == "local"
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
        auto.client.close()
    (line,) = warnings_from(caplog)
    assert f"127.0.0.1:{port}" in line and "falling back to in-process model" in line


def test_a_restarted_server_is_used_again_without_a_fallback(
    local: LocalEmbedder, expected: np.ndarray, caplog: pytest.LogCaptureFixture
) -> None:
    """The kept-alive connection to the old server is dead; one retry on a new one."""
    port = free_port()
    auto = auto_for(local, port)
    try:
        with serving(local.engine(), port):
            auto.embed(TEXTS)
            assert auto.last_source == "server"
        with serving(local.engine(), port):
            assert np.array_equal(auto.embed(TEXTS), expected)
            assert auto.last_source == "server"
    finally:
        auto.client.close()
    assert warnings_from(caplog) == []


# -- programs that are not our server, or lie --------------------------------------------


def health_reply(**changes: Any) -> dict[str, Any]:
    reply = {"service": SERVICE, "status": "ok", "model": "minilm", "dimension": DIM, "pid": 1}
    reply.update(changes)
    return reply


def embed_reply(texts: list[str], vectors: Any = None, **changes: Any) -> dict[str, Any]:
    """A well-formed reply; ``vectors`` is an array to encode or a raw value to send as is."""
    if vectors is None:
        vectors = np.zeros((len(texts), DIM), dtype=np.float32)
        vectors[:, 0] = 1.0  # unit rows, but not the model's: must never be accepted as such
    if isinstance(vectors, np.ndarray):
        vectors = base64.b64encode(vectors.astype("<f4").tobytes()).decode()
    reply = {
        "service": SERVICE,
        "model": "minilm",
        "dimension": DIM,
        "count": len(texts),
        "encoding": "f32-base64",
        "vectors": vectors,
    }
    reply.update(changes)
    return reply


Reply = tuple[int, str, bytes]


def as_json(payload: Any, status: int = 200) -> Reply:
    return status, "application/json", json.dumps(payload).encode()


def rows(n: int, value: float) -> np.ndarray:
    return np.full((n, DIM), value, dtype=np.float32)


FOREIGN: dict[str, tuple[Callable[[], Reply], Callable[[list[str]], Reply], str]] = {
    "html page": (
        lambda: (200, "text/html", b"<html><body>It works!</body></html>"),
        lambda texts: (200, "text/html", b"<html></html>"),
        "not JSON",
    ),
    "bare vectors": (
        lambda: as_json({"ok": True}),
        lambda texts: as_json({"vectors": [[1.0] + [0.0] * (DIM - 1)] * len(texts)}),
        "not the mcp-memory embedding server",
    ),
    "another model": (
        lambda: as_json(health_reply(model="qwen3-0.6b")),
        lambda texts: as_json(embed_reply(texts, model="qwen3-0.6b")),
        "serves model 'qwen3-0.6b'",
    ),
    "another dimension": (
        lambda: as_json(health_reply(dimension=768)),
        lambda texts: as_json(embed_reply(texts, dimension=768)),
        "768-d",
    ),
    "embed lies about the model": (
        lambda: as_json(health_reply()),
        lambda texts: as_json(embed_reply(texts, model="other")),
        "serves model 'other'",
    ),
    "wrong count": (
        lambda: as_json(health_reply()),
        lambda texts: as_json(embed_reply(texts[:1])),
        "returned 1 vectors for 2 texts",
    ),
    "short bytes": (
        lambda: as_json(health_reply()),
        lambda texts: as_json(embed_reply(texts, vectors=rows(len(texts), 0.05)[:, :-1])),
        "expected",
    ),
    "not unit norm": (
        lambda: as_json(health_reply()),
        lambda texts: as_json(embed_reply(texts, vectors=rows(len(texts), 1.0))),
        "not unit length",
    ),
    "non-finite": (
        lambda: as_json(health_reply()),
        lambda texts: as_json(embed_reply(texts, vectors=rows(len(texts), np.nan))),
        "non-finite",
    ),
    "bad base64": (
        lambda: as_json(health_reply()),
        lambda texts: as_json(embed_reply(texts, vectors="@@not base64@@")),
        "invalid base64",
    ),
    "json encoding instead": (
        lambda: as_json(health_reply()),
        lambda texts: as_json(embed_reply(texts, encoding="json", vectors=[[0.0] * DIM])),
        "did not return f32-base64",
    ),
    "health refused": (
        lambda: as_json({"error": "no"}, status=400),
        lambda texts: as_json(embed_reply(texts)),
        "HTTP 400: no",
    ),
    "server error": (
        lambda: as_json(health_reply()),
        lambda texts: as_json({"error": "boom"}, status=500),
        "HTTP 500: boom",
    ),
}


@contextmanager
def foreign_server(
    health: Callable[[], Reply], embed: Callable[[list[str]], Reply], truncate: bool = False
) -> Iterator[int]:
    """A small stdlib HTTP server answering /health and /embed as told; yields its port."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            status, content_type, body = health()
            self.reply(
                status, content_type, with_proof(body, self.headers, self.server.server_address[1])
            )

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            self.reply(*embed(body.get("texts", [])))

        def reply(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body) + (100 if truncate else 0)))
            if truncate:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    with serving_handler(Handler) as port:
        yield port


@pytest.mark.parametrize("case", list(FOREIGN))
def test_a_foreign_or_lying_server_never_yields_its_vectors(
    case: str, local: LocalEmbedder, expected: np.ndarray, caplog: pytest.LogCaptureFixture
) -> None:
    health, embed, message = FOREIGN[case]
    with foreign_server(health, embed) as port:
        client = client_for(port)
        try:
            with pytest.raises(WarmServerError, match=message.replace("(", r"\(")):
                client.embed(TEXTS)
        finally:
            client.close()
        auto = auto_for(local, port)
        try:
            assert np.array_equal(auto.embed(TEXTS), expected)
            assert auto.last_source == "local"
        finally:
            auto.client.close()
    (line,) = warnings_from(caplog)
    assert line.endswith(f"falling back to in-process model ({FALLBACK_HINT})")


def test_a_truncated_reply_never_yields_vectors(local: LocalEmbedder, expected: np.ndarray) -> None:
    with foreign_server(
        lambda: as_json(health_reply()), lambda texts: as_json(embed_reply(texts)), truncate=True
    ) as port:
        auto = auto_for(local, port)
        try:
            assert np.array_equal(auto.embed(TEXTS), expected)
        finally:
            auto.client.close()
    assert auto.last_source == "local"
    assert auto.last_error is not None and "IncompleteRead" in auto.last_error


def test_a_silent_listener_costs_a_bounded_wait(local: LocalEmbedder, expected: np.ndarray) -> None:
    """Something accepts connections but never answers: the health wait (1 s) bounds it."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        auto = auto_for(local, silent.getsockname()[1])
        try:
            assert np.array_equal(auto.embed(TEXTS), expected)
        finally:
            auto.client.close()
    assert auto.last_source == "local"
    assert "timed out" in (auto.last_error or "")


# -- backoff ------------------------------------------------------------------------------


def test_backoff_skips_the_server_until_it_elapses_then_uses_it_again(
    local: LocalEmbedder, expected: np.ndarray, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mcp_memory")
    clock = Clock()
    port = free_port()
    auto = auto_for(local, port, clock)
    engine = local.engine()
    try:
        auto.embed(TEXTS)  # nothing listens: fail, back off 1 s
        assert auto.last_source == "local"
        assert auto.retry_at == clock.now + 1.0
        with serving(engine, port) as server:
            clock.now += 0.5  # the server is up, but the backoff has not elapsed
            assert np.array_equal(auto.embed(TEXTS), expected)
            assert auto.last_source == "local"
            clock.now += 0.5
            assert np.array_equal(auto.embed(TEXTS), expected)
            assert auto.last_source == "server"
            assert auto.retry_at == float("-inf")
            server_pid = auto.client.health()["pid"]
            assert server_pid == server.service_or_fail().health()["pid"]
        # Down again: the backoff restarts at 1 s and doubles up to the 60 s ceiling.
        waits = []
        for _ in range(9):
            auto.embed(TEXTS)
            assert auto.last_source == "local"
            waits.append(auto.retry_at - clock.now)
            clock.now = auto.retry_at
        assert waits == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0]
        with serving(engine, port):
            assert np.array_equal(auto.embed(TEXTS), expected)
            assert auto.last_source == "server"
    finally:
        auto.client.close()
    warnings = warnings_from(caplog)
    assert len(warnings) == 2  # one per outage, not one per call
    recovered = [r.getMessage() for r in caplog.records if "is back" in r.getMessage()]
    assert len(recovered) == 2


# -- requests the server refuses, batching, composition ----------------------------------


def test_an_oversized_text_is_embedded_locally_without_marking_the_server_down(
    local: LocalEmbedder, caplog: pytest.LogCaptureFixture
) -> None:
    texts = ["ok", "word " * (MAX_TEXT_CHARS // 5 + 1)]
    with serving(local.engine()) as server:
        auto = auto_for(local, server.port)
        try:
            vectors = auto.embed(texts)
            assert auto.last_source == "local"
            assert auto.retry_at == float("-inf")  # no backoff: the server is fine
            assert np.array_equal(vectors, local.embed(texts))
            auto.embed(TEXTS)
            assert auto.last_source == "server"
        finally:
            auto.client.close()
    assert warnings_from(caplog) == []


def test_more_texts_than_one_request_allows_are_split_into_batches(local: LocalEmbedder) -> None:
    texts = [f"note {i}" for i in range(MAX_BATCH + 7)]
    with serving(local.engine()) as server:
        client = client_for(server.port)
        try:
            vectors = client.embed(texts)
        finally:
            client.close()
    assert np.array_equal(vectors, local.embed(texts))


def test_empty_input_needs_no_server(local: LocalEmbedder) -> None:
    auto = auto_for(local, free_port())
    assert auto.embed([]).shape == (0, DIM)


def test_client_and_local_model_must_agree(local: LocalEmbedder) -> None:
    client = client_for(1, dimension=128)
    with pytest.raises(ValueError, match="minilm/128"):
        AutoEmbedder(local, client)


def test_make_embedder_wires_settings_into_client_and_local_model(settings: Settings) -> None:
    auto = make_embedder(settings, MINILM)
    assert (auto.model_id, auto.dimension) == ("minilm", DIM)
    assert auto.client.address == f"127.0.0.1:{settings.embed_port}"
    assert auto.client.connect_timeout == settings.embed_connect_timeout
    assert auto.client.timeout == settings.embed_timeout
    assert not auto.local.loaded  # lazy: no model until the first fallback


def available(settings: Settings, model_id: str, dimension: int | None = None) -> bool:
    """The probe at the configured address, as the hooks' worker asks it."""
    return server_available(
        settings.embed_host,
        settings.embed_port,
        model_id,
        dimension,
        token_file=token_path(settings.run_dir, settings.embed_port),
        timeout=settings.embed_connect_timeout,
    )


def test_server_available_is_a_cheap_honest_probe(settings: Settings, local: LocalEmbedder) -> None:
    assert not available(settings, "minilm")
    server = EmbedServer("127.0.0.1", settings.embed_port)
    server.server_close()  # bound and released: still nothing listening
    assert not available(settings, "minilm")
    with serving(local.engine(), settings.embed_port, run_dir=settings.run_dir):
        assert available(settings, "minilm")
        assert available(settings, "minilm", DIM)
        assert not available(settings, "minilm", 128)
        assert not available(settings, "qwen3-0.6b")
    with foreign_server(lambda: as_json({"service": "other"}), lambda t: as_json({})) as port:
        foreign = load_settings({"MCP_MEMORY_HOME": str(settings.home)}, embed_port=port)
        assert not available(foreign, "minilm")
