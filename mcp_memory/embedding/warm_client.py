"""The client of the warm embedding server, and the automatic fallback to the in-process model.

``WarmClient`` talks to ``embed_server`` over loopback HTTP and trusts nothing it hears. Before
the first text goes out on a connection, the server must prove it is ours: the client sends a
random challenge with ``GET /health`` and requires ``HMAC(token, port:challenge)``, where the
token is the secret our server wrote at start to a 0600 file in the private run directory
(0700). A program squatting on the port cannot read that file, so it gets a health request and
nothing else: no memory text, no query, and none of its vectors are stored (the call falls back
to the in-process model). An HMAC challenge rather than sending the token itself: a squatter
never learns the secret, and an answer from our server on another port does not verify (the
port is inside the MAC). Then a reply only becomes vectors when the service name, model id,
dimension, count, byte length, finiteness and unit norms all check out, so a server running
another model or a truncated reply can never put wrong vectors into the database either.

``AutoEmbedder`` implements the :class:`~mcp_memory.embedding.protocol.Embedder` protocol: it asks the
warm server first and falls back to :class:`~mcp_memory.embedding.local.LocalEmbedder` (logging one
line), then retries the server after an exponential backoff.

Nothing here reads settings: the address, timeouts and model directory come in as plain values
(:func:`mcp_memory.app.make_embedder` wires them from the configuration).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import http.client
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from mcp_memory.embedding.local import LocalEmbedder
from mcp_memory.embedding.protocol import (
    CHALLENGE_HEADER,
    MAX_BATCH,
    MAX_TEXT_CHARS,
    NORM_TOLERANCE,
    SERVICE,
    Kind,
    proof,
    read_token,
)
from mcp_memory.errors import WarmServerError

log = logging.getLogger("mcp_memory")

Source = Literal["server", "local"]


class RequestRejected(WarmServerError):
    """Our own server refused this request (4xx), e.g. a text over the size limit.

    The server itself is fine, so the fallback serves this call locally without backing off.
    """


class ForeignServer(WarmServerError):
    """Something answers on the port, but it is not the mcp-memory embedding server."""


def _host_literal(host: str) -> str:
    return f"[{host}]" if ":" in host else host


class WarmClient:
    """A validating HTTP client for one warm server and one expected model + dimension.

    Each thread keeps its own keep-alive connection. A new connection is checked with
    ``GET /health`` (service, model, dimension, and the answer to a fresh challenge under the
    token in ``token_file``) before its first ``POST /embed``. A busy server (503) is asked again
    a few times, briefly, before the call fails.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        model_id: str,
        dimension: int,
        token_file: Path,
        connect_timeout: float = 0.25,
        timeout: float = 30.0,
    ) -> None:
        self.host = host
        self.port = port
        self.token_file = token_file
        self.model_id = model_id
        self.dimension = dimension
        self.connect_timeout = connect_timeout
        self.timeout = timeout
        self._local = threading.local()
        self._connections: set[http.client.HTTPConnection] = set()  # all threads', for close
        self._connections_lock = threading.Lock()

    @property
    def address(self) -> str:
        return f"{_host_literal(self.host)}:{self.port}"

    # -- public -------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """The server's health, checked to be our server (it answered a fresh challenge under
        our token) serving the expected model."""
        challenge = secrets.token_hex(16)
        reply = self._request("GET", "/health", None, {CHALLENGE_HEADER: challenge})
        self._check_identity(reply, "health")
        try:
            token = read_token(self.token_file)
        except OSError as exc:
            self._drop()
            raise ForeignServer(
                f"cannot check that the program at {self.address} is our embedding server, so "
                f"nothing was sent to it: {exc}"
            ) from None
        expected = proof(token, self.port, challenge)
        answer = reply.get("proof")
        if not isinstance(answer, str) or not hmac.compare_digest(answer, expected):
            self._drop()
            raise ForeignServer(
                f"the program at {self.address} did not prove it is our embedding server (no "
                f"valid answer to the challenge under the token in {self.token_file}); nothing "
                "was sent to it. If it is an older server of ours, restart it with `memcycle "
                "embed-server stop` and `start`; else stop that program or set "
                "MCP_MEMORY_EMBED_PORT to a free port"
            )
        return reply

    def embed(self, texts: Sequence[str], kind: Kind = "document") -> np.ndarray:
        """Vectors from the server: float32 [len(texts), dimension], unit rows, all checked."""
        texts = list(texts)
        for text in texts:
            if not isinstance(text, str):
                raise RequestRejected(f"texts must be strings, not {type(text).__name__}")
            if len(text) > MAX_TEXT_CHARS:
                raise RequestRejected(
                    f"a text of {len(text)} characters exceeds the server's limit of "
                    f"{MAX_TEXT_CHARS}"
                )
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        parts = [
            self._embed_batch(texts[start : start + MAX_BATCH], kind)
            for start in range(0, len(texts), MAX_BATCH)
        ]
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def close(self) -> None:
        """Close every thread's connection; a later call opens (and checks) a new one."""
        with self._connections_lock:
            connections, self._connections = self._connections, set()
        for conn in connections:
            conn.close()
        self._local.conn = None

    # -- internals ----------------------------------------------------------------------

    def _embed_batch(self, texts: list[str], kind: Kind) -> np.ndarray:
        body = {"texts": texts, "kind": kind, "encoding": "f32-base64"}
        for wait in BUSY_WAITS:
            try:
                reply = self._request("POST", "/embed", body)
                break
            except _Busy:
                time.sleep(wait)
        else:
            reply = self._request("POST", "/embed", body, busy_fails=True)
        self._check_identity(reply, "embed")
        count = reply.get("count")
        if count != len(texts):
            raise WarmServerError(
                f"embedding server at {self.address} returned {count!r} vectors "
                f"for {len(texts)} texts"
            )
        if reply.get("encoding") != "f32-base64" or not isinstance(reply.get("vectors"), str):
            raise WarmServerError(
                f"embedding server at {self.address} did not return f32-base64 vectors"
            )
        try:
            raw = base64.b64decode(reply["vectors"], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise WarmServerError(
                f"embedding server at {self.address} sent invalid base64: {exc}"
            ) from exc
        expected_bytes = len(texts) * self.dimension * 4
        if len(raw) != expected_bytes:
            raise WarmServerError(
                f"embedding server at {self.address} sent {len(raw)} bytes of vectors, "
                f"expected {expected_bytes}"
            )
        vectors = np.frombuffer(raw, dtype="<f4").reshape(len(texts), self.dimension)
        vectors = vectors.astype(np.float32)  # native byte order, writable copy
        if not np.all(np.isfinite(vectors)):
            raise WarmServerError(f"embedding server at {self.address} sent non-finite values")
        norms = np.linalg.norm(vectors.astype(np.float64), axis=1)
        if np.any(np.abs(norms - 1.0) > NORM_TOLERANCE):
            raise WarmServerError(
                f"embedding server at {self.address} sent vectors that are not unit length "
                f"(norms {norms.min():.4f}..{norms.max():.4f})"
            )
        return vectors

    def _check_identity(self, reply: dict[str, Any], what: str) -> None:
        if reply.get("service") != SERVICE:
            raise ForeignServer(
                f"the program at {self.address} is not the mcp-memory embedding server "
                f"({what} reply has service={reply.get('service')!r}); stop it or set "
                "MCP_MEMORY_EMBED_PORT to a free port"
            )
        if reply.get("model") != self.model_id:
            raise WarmServerError(
                f"embedding server at {self.address} serves model {reply.get('model')!r} "
                f"but the database uses {self.model_id!r}; restart it with "
                f"MCP_MEMORY_MODEL={self.model_id}"
            )
        if reply.get("dimension") != self.dimension:
            raise WarmServerError(
                f"embedding server at {self.address} serves {reply.get('dimension')!r}-d "
                f"vectors but the database uses {self.dimension}; restart it with "
                f"MCP_MEMORY_DIMENSION={self.dimension}"
            )

    def _connection(self) -> tuple[http.client.HTTPConnection, bool]:
        """This thread's connection and whether it is new (and so not yet health-checked)."""
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is not None and conn.sock is not None:
            return conn, False
        self._drop()
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.connect_timeout)
        conn.auto_open = 0  # never reconnect silently: a new connection must pass health first
        try:
            conn.connect()
            assert conn.sock is not None
            conn.sock.settimeout(self.timeout)
        except OSError as exc:
            conn.close()
            raise WarmServerError(
                f"embedding server not reachable at {self.address} ({_describe(exc)})"
            ) from exc
        self._local.conn = conn
        with self._connections_lock:
            self._connections.add(conn)
        return conn, True

    def _drop(self) -> None:
        """Close and forget this thread's connection (after an error or a closing reply)."""
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
            with self._connections_lock:
                self._connections.discard(conn)

    def _request(
        self,
        method: str,
        path: str,
        body: Any,
        headers: dict[str, str] | None = None,
        *,
        busy_fails: bool = False,
    ) -> dict[str, Any]:
        conn, fresh = self._connection()
        if fresh and path != "/health":
            self.health()  # a new connection: make sure it is our server with our model
            if getattr(self._local, "conn", None) is not conn or conn.sock is None:
                raise WarmServerError(
                    f"embedding server at {self.address} closed the connection after /health"
                )
        try:
            return self._exchange(conn, method, path, body, headers or {}, busy_fails)
        except _StaleConnection as exc:
            self._drop()
            if fresh:
                raise WarmServerError(
                    f"embedding server at {self.address} closed the connection ({exc})"
                ) from None
        # A reused keep-alive connection the server had closed: retry once on a new one.
        return self._request(method, path, body, headers, busy_fails=busy_fails)

    def _exchange(
        self,
        conn: http.client.HTTPConnection,
        method: str,
        path: str,
        body: Any,
        extra: dict[str, str],
        busy_fails: bool,
    ) -> dict[str, Any]:
        payload = None if body is None else json.dumps(body).encode("utf-8")
        headers = {"Accept": "application/json", **extra}
        if payload is not None:
            headers["Content-Type"] = "application/json"
        # Health is instant on our server: a short wait keeps a silent foreign program cheap.
        wait = min(self.timeout, max(1.0, 4 * self.connect_timeout)) if body is None else None
        try:
            if conn.sock is not None:
                conn.sock.settimeout(wait or self.timeout)
            conn.request(method, path, body=payload, headers=headers)
            response = conn.getresponse()
            data = response.read()
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
            raise _StaleConnection(_describe(exc)) from exc
        except (OSError, http.client.HTTPException) as exc:
            self._drop()
            raise WarmServerError(
                f"embedding server at {self.address} failed during {method} {path} "
                f"({_describe(exc)})"
            ) from exc
        if response.will_close:
            self._drop()
        try:
            reply = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError):
            self._drop()
            raise ForeignServer(
                f"the program at {self.address} answered {method} {path} with HTTP "
                f"{response.status} and a body that is not JSON; it is not the mcp-memory "
                "embedding server"
            ) from None
        if not isinstance(reply, dict):
            raise ForeignServer(
                f"the program at {self.address} answered {method} {path} with JSON that is "
                "not an object; it is not the mcp-memory embedding server"
            )
        if response.status == 503 and path == "/embed" and not busy_fails:
            raise _Busy()
        if response.status != 200:
            message = reply.get("error", f"HTTP {response.status}")
            # Only /embed follows a passed health check, so only there is a 4xx known to be
            # our server refusing this request rather than a foreign program or a broken one.
            refused = 400 <= response.status < 500 and response.status not in (403, 404, 405)
            if refused and path == "/embed":
                raise RequestRejected(f"embedding server at {self.address}: {message}")
            raise WarmServerError(
                f"embedding server at {self.address} answered HTTP {response.status}: {message}"
            )
        return reply


class _StaleConnection(Exception):
    """The peer closed a connection before replying (normal for an idle keep-alive)."""


class _Busy(Exception):
    """Our server answered 503: every job slot and queue place is taken; ask again shortly."""


BUSY_WAITS = (0.05, 0.1, 0.2, 0.4)  # seconds between asks of a busy server, then it fails


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class AutoEmbedder:
    """The warm server when it works, else the in-process engine; same model, same vectors.

    After a failure the server is not asked again until a backoff has elapsed (``initial``
    seconds, doubling up to ``maximum``); one warning is logged per outage.
    ``last_source`` says which path served the last call: ``"server"`` or ``"local"``.
    """

    def __init__(
        self,
        local: LocalEmbedder,
        client: WarmClient,
        *,
        clock: Callable[[], float] = time.monotonic,
        initial_backoff: float = 1.0,
        max_backoff: float = 60.0,
    ) -> None:
        if (client.model_id, client.dimension) != (local.model_id, local.dimension):
            raise ValueError(
                f"client expects {client.model_id}/{client.dimension}, local engine is "
                f"{local.model_id}/{local.dimension}"
            )
        self.local = local
        self.client = client
        self.clock = clock
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.last_source: Source | None = None
        self.last_error: str | None = None
        self._backoff = 0.0  # 0 = the server is healthy (or untried)
        self._retry_at = float("-inf")
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        return self.local.model_id

    @property
    def dimension(self) -> int:
        return self.local.dimension

    @property
    def pooling(self) -> str:
        return self.local.pooling

    def close(self) -> None:
        """Close the connections to the warm server (the local model stays loaded)."""
        self.client.close()

    @property
    def retry_at(self) -> float:
        """Clock time before which the server will not be asked again."""
        return self._retry_at

    def embed(self, texts: Sequence[str], kind: Kind = "document") -> np.ndarray:
        if self.clock() >= self._retry_at:
            try:
                vectors = self.client.embed(texts, kind)
            except RequestRejected as exc:
                log.debug("%s; embedding this request in-process", exc)
            except (WarmServerError, OSError) as exc:
                self._failed(exc)
            else:
                self._succeeded()
                self.last_source = "server"
                return vectors
        vectors = self.local.embed(texts, kind)
        self.last_source = "local"
        return vectors

    def token_states(
        self, texts: Sequence[str], kind: Kind = "document", limit: int | None = None
    ) -> list[tuple[list[str], np.ndarray]] | None:
        """Word pieces and hidden states per text from the in-process engine when it is
        already loaded (the warm server's wire has no such call, and loading a model here only
        for them would cost what the warm server saves); None otherwise."""
        return self.local.token_states(texts, kind, limit) if self.local.loaded else None

    def _failed(self, exc: BaseException) -> None:
        with self._lock:
            first = self._backoff == 0.0
            self._backoff = (
                self.initial_backoff if first else min(self._backoff * 2, self.max_backoff)
            )
            self._retry_at = self.clock() + self._backoff
            self.last_error = str(exc)
        if first:
            log.warning(
                "%s; falling back to in-process model (%s)",
                _fallback_reason(exc, self),
                FALLBACK_HINT,
            )
        else:
            log.debug("embedding server still unusable (%s); next try in %.0fs", exc, self._backoff)

    def _succeeded(self) -> None:
        with self._lock:
            recovered = self._backoff != 0.0
            self._backoff = 0.0
            self._retry_at = float("-inf")
            self.last_error = None
        if recovered:
            log.info("embedding server at %s is back; using it again", self.client.address)


# What a person reading the fallback line can do about it.
FALLBACK_HINT = "slower, same vectors; `memcycle embed-server start` keeps the model warm"


def _fallback_reason(exc: BaseException, auto: AutoEmbedder) -> str:
    text = str(exc)
    if isinstance(exc, WarmServerError):
        return text
    return f"embedding server not reachable at {auto.client.address} ({_describe(exc)})"


def fetch_health(host: str, port: int, token_file: Path, *, timeout: float) -> dict[str, Any]:
    """``GET /health`` from ``host:port``; raises WarmServerError unless it is ours.

    "Ours" is what the text path requires too (:meth:`WarmClient.health`): the reply answers a
    fresh challenge with ``HMAC(token, port:challenge)`` under the token in ``token_file``, so a
    squatter that answers with our service name is reported as not ours (ForeignServer). Checks
    only that, not which model it serves (status and doctor report that). Entry points pass the
    configured address, the token file and the connect timeout from their settings.
    """
    address = f"{_host_literal(host)}:{port}"
    challenge = secrets.token_hex(16)
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(
            "GET", "/health", headers={"Accept": "application/json", CHALLENGE_HEADER: challenge}
        )
        response = conn.getresponse()
        data = response.read()
    except (OSError, http.client.HTTPException) as exc:
        raise WarmServerError(
            f"embedding server not reachable at {address} ({_describe(exc)})"
        ) from exc
    finally:
        conn.close()
    try:
        reply = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        reply = None
    if response.status != 200 or not isinstance(reply, dict) or reply.get("service") != SERVICE:
        raise ForeignServer(
            f"the program at {address} is not the mcp-memory embedding server; stop it or "
            "set MCP_MEMORY_EMBED_PORT to a free port"
        )
    try:
        expected = proof(read_token(token_file), port, challenge)
    except OSError as exc:
        raise ForeignServer(
            f"the program at {address} calls itself our embedding server but is not ours "
            f"(it cannot be checked: {exc})"
        ) from None
    answer = reply.get("proof")
    if not isinstance(answer, str) or not hmac.compare_digest(answer, expected):
        raise ForeignServer(
            f"the program at {address} calls itself our embedding server but is not ours (no "
            f"valid answer to the challenge under the token in {token_file}); stop that "
            "program or set MCP_MEMORY_EMBED_PORT to a free port"
        )
    return reply


def server_available(
    host: str,
    port: int,
    model_id: str,
    dimension: int | None = None,
    *,
    token_file: Path,
    timeout: float,
) -> bool:
    """True when our warm server (it answered the challenge) answers health quickly and
    serves ``model_id`` (and dimension).

    Cheap: one loopback request with the connect timeout, no model loaded. For hooks.
    """
    try:
        health = fetch_health(host, port, token_file, timeout=timeout)
    except WarmServerError:
        return False
    if health.get("model") != model_id or health.get("status") != "ok":
        return False
    return dimension is None or health.get("dimension") == dimension
