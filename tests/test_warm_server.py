"""The warm embedding server: real model, real sockets, real subprocesses.

Pins: health fields; vectors identical to the in-process engine (base64 and JSON); query vs
document kinds; the status and JSON error of every refusal (Host, Origin, size, shape, path,
method); keep-alive; concurrent clients; loopback-only binding; the pid file and process
control (start/stop/status) without orphans.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from qwen_fixture import build_tiny_qwen, tiny_qwen_spec
from warm_helpers import (
    client_for,
    free_port,
    post_json,
    request,
    serving,
    serving_handler,
    spawn_server,
    wait_healthy,
)

import mcp_memory
from mcp_memory.config import load_settings
from mcp_memory.embed_server import process
from mcp_memory.embed_server.app import EmbedServer, is_loopback_host_header, is_loopback_origin
from mcp_memory.embed_server.pidfile import pid_path
from mcp_memory.embedding.engine import Engine
from mcp_memory.embedding.local import LocalEmbedder
from mcp_memory.embedding.protocol import MAX_BATCH, MAX_TEXT_CHARS, SERVICE
from mcp_memory.errors import ConfigError
from mcp_memory.files import pid_alive

TEXTS = [
    "The deploy script needs the staging key before it runs.",
    "We chose SQLite with sqlite-vec for local vector search.",
    "short",
    "Der Server startet nicht, weil der Port belegt ist.",
]


@pytest.fixture(scope="module")
def engine(minilm: LocalEmbedder) -> Engine:
    """The real bundled model (loaded once per run by conftest's ``minilm``)."""
    return minilm.engine()


@pytest.fixture(scope="module")
def server(engine: Engine) -> Iterator[EmbedServer]:
    with serving(engine, why="chosen for the test") as running:
        yield running


@pytest.fixture
def port(server: EmbedServer) -> int:
    return server.port


def decode(reply: dict[str, Any]) -> np.ndarray:
    raw = base64.b64decode(reply["vectors"])
    return np.frombuffer(raw, dtype="<f4").reshape(reply["count"], reply["dimension"])


# -- health and vectors -------------------------------------------------------------------


def test_health_reports_service_model_dimension_pooling_pid_version_and_why(port: int) -> None:
    status, headers, health = request(port, "GET", "/health")
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    assert health["service"] == SERVICE == "mcp-memory-embed"
    assert health["status"] == "ok"
    assert health["model"] == "minilm"
    assert health["dimension"] == 384
    assert health["pooling"] == "mean"
    assert health["pid"] == os.getpid()
    assert health["version"] == mcp_memory.__version__
    assert health["why"] == "chosen for the test"
    assert health["started_at"].endswith("+00:00")


@pytest.mark.parametrize("kind", ["document", "query"])
def test_base64_vectors_are_bit_identical_to_the_in_process_engine(
    port: int, engine: Engine, kind: str
) -> None:
    status, _, reply = post_json(port, {"texts": TEXTS, "kind": kind})
    assert status == 200
    assert (reply["model"], reply["dimension"], reply["count"]) == ("minilm", 384, len(TEXTS))
    assert reply["encoding"] == "f32-base64"
    assert np.array_equal(decode(reply), engine.embed(TEXTS, kind))


def test_json_encoding_is_exact_too(port: int, engine: Engine) -> None:
    status, _, reply = post_json(port, {"texts": TEXTS, "encoding": "json"})
    assert status == 200
    assert reply["encoding"] == "json"
    vectors = np.asarray(reply["vectors"], dtype=np.float32)
    assert np.array_equal(vectors, engine.embed(TEXTS, "document"))


def test_empty_batch_returns_no_vectors(port: int) -> None:
    status, _, reply = post_json(port, {"texts": []})
    assert status == 200
    assert reply["count"] == 0
    assert reply["vectors"] == ""


def test_query_prefix_applies_only_to_queries(tmp_path: Path) -> None:
    """On a model with a query instruction, the server's query and document vectors differ
    and each equals the engine's for that kind."""
    spec = tiny_qwen_spec(batch_invariant=True)
    tiny = Engine(spec, build_tiny_qwen(tmp_path), threads=1)
    texts = ["find the cat", "the dog and the bird"]
    with serving(tiny) as running:
        _, _, as_query = post_json(running.port, {"texts": texts, "kind": "query"})
        _, _, as_document = post_json(running.port, {"texts": texts, "kind": "document"})
    query, document = decode(as_query), decode(as_document)
    assert np.array_equal(query, tiny.embed(texts, "query"))
    assert np.array_equal(document, tiny.embed(texts, "document"))
    assert float(np.max(np.abs(query - document))) > 1e-3


def test_keep_alive_serves_several_requests_on_one_connection(port: int, engine: Engine) -> None:
    client = client_for(port)
    try:
        first = client.embed(TEXTS[:2])
        conn = client._local.conn
        sock = conn.sock
        second = client.embed(TEXTS[2:], "query")
        assert client._local.conn is conn and conn.sock is sock  # same TCP connection
    finally:
        client.close()
    assert np.array_equal(first, engine.embed(TEXTS[:2]))
    assert np.array_equal(second, engine.embed(TEXTS[2:], "query"))


def test_close_ends_the_connections_of_every_thread(port: int, engine: Engine) -> None:
    client = client_for(port)
    opened: list[Any] = []

    def work() -> None:
        client.embed(["from another thread"])
        opened.append(client._local.conn)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(10)
    (conn,) = opened
    assert conn.sock is not None
    client.close()
    assert conn.sock is None
    # The client still works afterwards, on a new, health-checked connection.
    assert np.array_equal(client.embed(["again"]), engine.embed(["again"]))
    client.close()


def test_a_small_request_is_not_delayed_by_nagle_and_delayed_ack(port: int) -> None:
    """Headers and body go out in two writes; without TCP_NODELAY each reply waits ~40 ms."""
    client = client_for(port)
    try:
        client.embed(["warm up"])
        timings = []
        for _ in range(9):
            began = time.perf_counter()
            client.embed(["a short query"], "query")
            timings.append(time.perf_counter() - began)
    finally:
        client.close()
    # With Nagle every reply waits for a delayed ACK (>= 40 ms on Linux); the fastest of
    # nine tells the two apart even on a loaded machine.
    assert min(timings) < 0.03


def test_concurrent_clients_each_get_their_own_correct_vectors(port: int, engine: Engine) -> None:
    texts_by_thread = [
        [f"thread {n} text {i} about topic {n * i}" for i in range(5)] for n in range(8)
    ]
    expected = [engine.embed(texts) for texts in texts_by_thread]
    results: dict[int, list[np.ndarray]] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(texts_by_thread))

    def work(n: int) -> None:
        client = client_for(port)
        try:
            barrier.wait()
            results[n] = [client.embed(texts_by_thread[n]) for _ in range(3)]
        except BaseException as exc:  # reported below, in the test thread
            errors.append(exc)
        finally:
            client.close()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(len(texts_by_thread))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    for n, rounds in results.items():
        for vectors in rounds:
            assert np.array_equal(vectors, expected[n])
    assert len(results) == len(texts_by_thread)


# -- refusals -----------------------------------------------------------------------------


def assert_error(result: tuple[int, dict[str, str], Any], status: int, *words: str) -> None:
    code, headers, body = result
    assert code == status, body
    assert headers["Content-Type"] == "application/json"
    assert set(body) == {"error"}
    for word in words:
        assert word in body["error"]


@pytest.mark.parametrize(
    "host",
    ["evil.example", "evil.example:52525", "127.0.0.1.evil.example", "localhost:http", "[::1"],
)
def test_a_foreign_host_header_is_forbidden_dns_rebinding_defence(port: int, host: str) -> None:
    assert_error(request(port, "GET", "/health", host=host), 403, "Host")
    assert_error(post_json(port, {"texts": ["x"]}, host=host), 403, "Host")


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "LOCALHOST:1", "[::1]", "[::1]:80"])
def test_loopback_host_headers_are_accepted(port: int, host: str) -> None:
    status, _, health = request(port, "GET", "/health", host=host)
    assert status == 200 and health["service"] == SERVICE


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "https://localhost.evil.io"])
def test_a_web_page_origin_is_forbidden(port: int, origin: str) -> None:
    result = post_json(port, {"texts": ["x"]}, headers={"Origin": origin})
    assert_error(result, 403, "web pages")


def test_a_loopback_origin_is_allowed(port: int) -> None:
    status, _, reply = post_json(
        port, {"texts": ["x"]}, headers={"Origin": "http://localhost:3000"}
    )
    assert status == 200 and reply["count"] == 1


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        (b"{not json", ("not valid JSON",)),
        (b"\xff\xfe", ("not valid JSON",)),
        ([1, 2], ("JSON object",)),
        ({"texts": "one string"}, ("list of strings",)),
        ({"texts": ["ok", 3]}, ("list of strings",)),
        ({}, ("list of strings",)),
        ({"texts": ["x"], "kind": "passage"}, ('"kind"', "query")),
        ({"texts": ["x"], "encoding": "f16"}, ('"encoding"', "f32-base64")),
    ],
)
def test_malformed_requests_get_400_with_what_to_fix(
    port: int, payload: Any, words: tuple[str, ...]
) -> None:
    assert_error(post_json(port, payload), 400, *words)


def test_too_many_texts_is_413(port: int) -> None:
    assert_error(post_json(port, {"texts": ["x"] * (MAX_BATCH + 1)}), 413, f"at most {MAX_BATCH}")


def test_a_too_long_text_is_413(port: int) -> None:
    payload = {"texts": ["ok", "x" * (MAX_TEXT_CHARS + 1)]}
    assert_error(post_json(port, payload), 413, "texts[1]", str(MAX_TEXT_CHARS))


def test_an_oversized_body_is_refused_before_it_is_sent(port: int) -> None:
    """Only headers go out; the 413 arrives without the server waiting for 5 MiB."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(
            b"POST /embed HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 5242880\r\n\r\n"
        )
        reply = sock.makefile("rb").read()  # the server closes after the error
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413")
    assert b"Connection: close" in head
    assert "exceeds" in json.loads(body)["error"]


def test_a_non_json_content_type_is_415(port: int) -> None:
    body = json.dumps({"texts": ["x"]}).encode()
    result = request(port, "POST", "/embed", body, {"Content-Type": "text/plain"})
    assert_error(result, 415, "application/json")


def test_unknown_path_is_404(port: int) -> None:
    assert_error(request(port, "GET", "/v1/embeddings"), 404, "/health", "/embed")


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [("GET", "/embed", "POST"), ("POST", "/health", "GET"), ("DELETE", "/embed", "POST")],
)
def test_wrong_method_is_405_with_allow(port: int, method: str, path: str, allowed: str) -> None:
    body = b"{}" if method == "POST" else None
    headers = {"Content-Type": "application/json"} if body else {}
    result = request(port, method, path, body, headers)
    assert_error(result, 405, allowed)
    assert result[1]["Allow"] == allowed


@pytest.mark.parametrize(
    ("line", "status"),
    [(b"NONSENSE", b"400"), (b"GET /health HTTP/abc", b"400"), (b"GET /health HTTP/2.0", b"505")],
)
def test_a_garbled_request_line_still_gets_an_http_reply_with_json(
    port: int, line: bytes, status: bytes
) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(line + b"\r\n\r\n")
        reply = sock.makefile("rb").read()
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.split()[:2] == [b"HTTP/1.1", status]
    assert "well-formed" in json.loads(body)["error"]


def test_header_helpers_accept_only_loopback() -> None:
    assert is_loopback_host_header("127.0.0.1:52525")
    assert is_loopback_host_header("[::1]:52525")
    assert not is_loopback_host_header("::1")  # unbracketed IPv6 is not a valid Host
    assert not is_loopback_host_header("127.0.0.1:")
    assert is_loopback_origin("https://127.0.0.1:8443")
    assert not is_loopback_origin("file://")
    assert not is_loopback_origin("http://localhost:99999")


# -- binding ------------------------------------------------------------------------------


def test_binding_beyond_loopback_is_refused_unless_allowed() -> None:
    with pytest.raises(ConfigError, match="allow-remote"):
        EmbedServer("0.0.0.0", 0)
    allowed = EmbedServer("0.0.0.0", 0, allow_remote=True)
    allowed.server_close()
    loopback_v6 = None
    try:
        loopback_v6 = EmbedServer("::1", 0)
    except OSError:  # no IPv6 on this machine
        pytest.skip("IPv6 loopback unavailable")
    finally:
        if loopback_v6 is not None:
            loopback_v6.server_close()


def test_the_entry_point_refuses_a_remote_host_and_a_taken_port(tmp_path: Path) -> None:
    refused = spawn_server(tmp_path, free_port(), "--host", "0.0.0.0")
    _, err = refused.communicate(timeout=30)
    assert refused.returncode == 2
    assert b"EMBED_ALLOW_REMOTE" in err
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = spawn_server(tmp_path, port)
        out, err = busy.communicate(timeout=30)
    assert busy.returncode == 1
    assert b"already in use" in err
    assert out == b""  # nothing on stdout, ever
    assert not pid_path(tmp_path / "run", port).exists()


# -- the real process ---------------------------------------------------------------------


def test_subprocess_server_matches_engine_and_cleans_up_on_sigterm(
    tmp_path: Path, engine: Engine
) -> None:
    port = free_port()
    proc = spawn_server(tmp_path, port)
    try:
        health = wait_healthy(port)
        assert health["pid"] == proc.pid
        assert health["why"] == "configured by MCP_MEMORY_MODEL=minilm"
        pid_file = pid_path(tmp_path / "run", port)
        recorded = json.loads(pid_file.read_text())
        assert recorded == {
            "pid": proc.pid,
            "host": "127.0.0.1",
            "port": port,
            "model": "minilm",
            "dimension": 384,
        }
        _, _, reply = post_json(port, {"texts": TEXTS, "kind": "query"})
        # Another process, another ONNX session (1 thread there): allow float noise.
        served = decode(reply)
        local = engine.embed(TEXTS, "query")
        assert np.min(np.sum(served * local, axis=1)) >= 0.99999
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0
    assert out == b""
    assert b"stopping on SIGTERM" in err
    assert not pid_file.exists()


def test_two_servers_started_at_once_for_one_port_leave_exactly_one_running(
    tmp_path: Path,
) -> None:
    port = free_port()
    first, second = spawn_server(tmp_path, port), spawn_server(tmp_path, port)
    try:
        health = wait_healthy(port)
        loser = second if health["pid"] == first.pid else first
        _, err = loser.communicate(timeout=30)
        assert loser.returncode == 3
        assert b"already running or starting" in err
        winner = first if loser is second else second
        assert winner.poll() is None
        assert json.loads(pid_path(tmp_path / "run", port).read_text())["pid"] == winner.pid
    finally:
        for proc in (first, second):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=15)
    assert not pid_path(tmp_path / "run", port).exists()


def test_process_start_is_idempotent_and_stop_leaves_nothing_behind(tmp_path: Path) -> None:
    env = {"MCP_MEMORY_HOME": str(tmp_path), "MCP_MEMORY_MODEL": "minilm"}
    settings = load_settings(env, embed_port=free_port(), threads=1)
    assert process.status(settings)["status"] == "not running"

    began = time.monotonic()
    first = process.start(settings)
    assert time.monotonic() - began < 2.0  # detached: the caller does not wait for the model
    assert first["status"] == "started"
    pid = first["pid"]
    assert process.start(settings)["status"] == "already running"

    ready = process.start(settings, wait=True, timeout=60)
    assert ready["status"] == "already running"
    assert ready["health"]["pid"] == pid
    assert json.loads(process.pid_file(settings).read_text())["pid"] == pid
    running = process.status(settings)
    assert running["status"] == "running"
    assert running["health"]["model"] == "minilm"
    assert str(settings.embed_port) in running["message"]
    assert os.getsid(pid) == pid  # its own session: a hook's exit cannot take it down

    stopped = process.stop(settings)
    assert stopped["status"] == "stopped", stopped
    assert "it exited" in stopped["message"]  # SIGTERM was enough
    assert not pid_alive(pid)
    assert not process.pid_file(settings).exists()
    assert process.status(settings)["status"] == "not running"
    assert process.stop(settings)["status"] == "not running"
    log = process.log_file(settings).read_text()
    assert "serving minilm" in log and "stopping on SIGTERM" in log


def test_start_with_wait_reports_a_ready_server(tmp_path: Path) -> None:
    settings = load_settings(
        {"MCP_MEMORY_HOME": str(tmp_path), "MCP_MEMORY_MODEL": "minilm"},
        embed_port=free_port(),
        threads=1,
    )
    try:
        result = process.start(settings, wait=True, timeout=60)
        assert result["status"] == "started", result
        assert result["health"]["service"] == SERVICE
    finally:
        assert process.stop(settings)["status"] == "stopped"


def test_stop_never_signals_a_process_that_is_not_our_server(tmp_path: Path) -> None:
    settings = load_settings({"MCP_MEMORY_HOME": str(tmp_path)}, embed_port=free_port())
    bystander = subprocess.Popen(["sleep", "30"])
    try:
        settings.run_dir.mkdir(parents=True)
        process.pid_file(settings).write_text(json.dumps({"pid": bystander.pid}))
        result = process.stop(settings)
        assert result["status"] == "error"
        assert "not an mcp-memory embedding server" in result["message"]
        assert bystander.poll() is None  # untouched
        assert not process.pid_file(settings).exists()  # the stale file is gone
    finally:
        bystander.kill()
        bystander.wait()


def test_start_refuses_when_a_foreign_program_holds_the_port(tmp_path: Path) -> None:
    from http.server import BaseHTTPRequestHandler

    class Other(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<html>hello</html>"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    with serving_handler(Other) as port:
        settings = load_settings({"MCP_MEMORY_HOME": str(tmp_path)}, embed_port=port)
        assert process.status(settings)["status"] == "foreign"
        result = process.start(settings)
        assert result["status"] == "error"
        assert "not the mcp-memory embedding server" in result["message"]
        assert not process.pid_file(settings).exists()
