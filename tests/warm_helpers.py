"""Helpers for the warm-server tests: free ports, a real server in a thread, raw requests."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from mcp_memory.embed_server.app import EmbedServer
from mcp_memory.embed_server.pidfile import remove_token, write_token
from mcp_memory.embed_server.service import EmbedService
from mcp_memory.embedding.engine import Engine
from mcp_memory.embedding.protocol import CHALLENGE_HEADER, proof, read_token, token_path
from mcp_memory.embedding.warm_client import WarmClient

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A loopback port nothing listens on (bound to 0, read, released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class JsonHandler(BaseHTTPRequestHandler):
    """A stand-in's handler base: :meth:`reply_json` answers 200 with a JSON body, and nothing
    is logged."""

    def reply_json(self, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def serving_handler(handler: type[BaseHTTPRequestHandler]) -> Iterator[int]:
    """Any HTTP handler (a foreign or lying server) on a free loopback port, from a thread;
    yields the port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


# Where servers started by :func:`serving` write their token when a test names no data home;
# :func:`client_for` reads it from there.
TOKENS = Path(tempfile.mkdtemp(prefix="warm-tokens-"))
os.chmod(TOKENS, 0o700)


@contextmanager
def serving(
    engine: Engine, port: int = 0, why: str = "test", run_dir: Path = TOKENS, **service: Any
) -> Iterator[EmbedServer]:
    """A real embedding server over ``engine`` on loopback, served from a thread; its token is
    written to ``run_dir`` (a data home's ``run`` folder, for subprocess clients)."""
    server = EmbedServer("127.0.0.1", port)
    token_file = token_path(run_dir, server.port)
    write_token(token_file, server.token)
    server.activate(EmbedService(engine, why, **service))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        remove_token(token_file, server.token)
        thread.join(5)


def with_proof(body: bytes, headers: Any, port: int, run_dir: Path = TOKENS) -> bytes:
    """``body`` (a JSON health reply) with the answer our server gives to the client's challenge,
    under a token written for ``port`` in ``run_dir``: for test servers that stand in for ours
    (they pass the identity check and then misbehave)."""
    challenge = headers.get(CHALLENGE_HEADER)
    try:
        reply = json.loads(body)
    except ValueError:
        return body
    if challenge is None or not isinstance(reply, dict):
        return body
    path = token_path(run_dir, port)
    if not path.exists():
        write_token(path, os.urandom(32))
    reply["proof"] = proof(read_token(path), port, challenge)
    return json.dumps(reply).encode()


def client_for(port: int, run_dir: Path = TOKENS, **kwargs: Any) -> WarmClient:
    """A WarmClient for the MiniLM server on ``port`` whose token is in ``run_dir``."""
    kwargs.setdefault("model_id", "minilm")
    kwargs.setdefault("dimension", 384)
    return WarmClient("127.0.0.1", port, token_file=token_path(run_dir, port), **kwargs)


def request(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    host: str | None = None,
) -> tuple[int, dict[str, str], Any]:
    """One raw request with exactly the given headers (``host`` forges the Host header).

    Returns (status, headers, parsed JSON body).
    """
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", host if host is not None else f"127.0.0.1:{port}")
        for name, value in (headers or {}).items():
            conn.putheader(name, value)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        response = conn.getresponse()
        data = response.read()
        return response.status, dict(response.getheaders()), json.loads(data) if data else None
    finally:
        conn.close()


def post_json(port: int, payload: Any, **kwargs: Any) -> tuple[int, dict[str, str], Any]:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {"Content-Type": "application/json", **kwargs.pop("headers", {})}
    return request(port, "POST", "/embed", body, headers, **kwargs)


def wait_healthy(port: int, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            status, _, health = request(port, "GET", "/health")
            if status == 200:
                return dict(health)
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"no embedding server answered on port {port}")
        time.sleep(0.05)


def server_environment(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCP_MEMORY_")}
    env["MCP_MEMORY_HOME"] = str(home)
    env["MCP_MEMORY_MODEL"] = "minilm"
    env["MCP_MEMORY_THREADS"] = "1"
    return env


def spawn_server(home: Path, port: int, *extra: str) -> subprocess.Popen[bytes]:
    """``python -m embed_server --port N`` as a real subprocess with its own data home."""
    return subprocess.Popen(
        [sys.executable, "-m", "mcp_memory.embed_server", "--port", str(port), *extra],
        env=server_environment(home),
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
