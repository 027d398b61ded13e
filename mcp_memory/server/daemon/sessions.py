"""The daemon's MCP sessions: one per Unix-socket connection, all over one App.

A connection opens with one hello line from the relay, ``{"relay": 1, "cwd": ..., "version":
..., "settings": {...}}``, answered with ``{"ok": true, "pid": ..., "version": ...}`` or
``{"ok": false, "error": ..., "reason": "version" | "settings" | "busy" | "hello"}`` (a
``"version"`` refusal says whether the daemon is ``"exiting"``: it does for a newer relay).
A hello of ``{"relay": 1, "status": true}`` gets the daemon's session counts, and one with a
``"hook"`` request instead of a ``cwd`` gets that request's answer
(:mod:`~mcp_memory.server.daemon.hook_requests`); both connections close then. Then the
connection carries newline-delimited JSON-RPC, exactly what Claude Code and the relay exchange
over stdio; each line is checked the way the stdio server checks it
(:func:`mcp_memory.server.stdio.check`), so a malformed line is answered, not dropped.

Every session sees the daemon's one store, RAM index, embedder and service through
:func:`mcp_memory.app.session_view` (its own project root and session name). Work is bounded:
tools run in worker threads through anyio's default limiter, which the daemon sets to ``jobs``
threads, so at most that many database or inference jobs run at once; at most ``max_sessions``
connections are served, a further one is told ``busy`` (and its relay serves in-process).
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
from anyio.streams.buffered import BufferedByteReceiveStream
from mcp.server.mcpserver import MCPServer
from mcp.server.runner import serve_dual_era_loop
from mcp.server.stdio import stdio_server

from mcp_memory import __version__
from mcp_memory.app import App, session_view
from mcp_memory.daemon_link import SUPERSEDED, proof, release
from mcp_memory.files import atomic_write
from mcp_memory.server.daemon import hook_requests
from mcp_memory.server.stdio import check
from mcp_memory.server.tools import SESSION_APP

log = logging.getLogger("mcp_memory.server.daemon")

MAX_LINE = 16 * 1024 * 1024  # bytes in one JSON-RPC line (a batch remember is well below)
HELLO_TIMEOUT = 10.0  # seconds a new connection may take to say hello


class _Lines:
    """The connection's lines as the SDK's stdio transport reads them (text, one per message);
    malformed lines are answered on the wire instead of being passed on."""

    def __init__(self, reader: BufferedByteReceiveStream, wire: _Wire) -> None:
        self.reader = reader
        self.wire = wire

    def __aiter__(self) -> _Lines:
        return self

    async def __anext__(self) -> str:
        while True:
            try:
                line = await self.reader.receive_until(b"\n", MAX_LINE)
            except (anyio.EndOfStream, anyio.IncompleteRead, anyio.BrokenResourceError):
                raise StopAsyncIteration from None
            except anyio.DelimiterNotFound:
                await self.wire.write(json.dumps(_too_long()) + "\n")
                raise StopAsyncIteration from None
            if not line.strip():
                continue
            error = check(line)
            if error is None:
                return line.decode("utf-8")
            await self.wire.write(json.dumps(error) + "\n")


class _Wire:
    """The connection's sending side, one whole line at a time."""

    def __init__(self, stream: anyio.abc.ByteStream) -> None:
        self.stream = stream
        self.lock = anyio.Lock()

    async def write(self, text: str) -> int:
        async with self.lock:
            # The relay may have gone away; its session ends when the reader sees EOF.
            with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
                await self.stream.send(text.encode("utf-8"))
        return len(text)

    async def flush(self) -> None:
        """Each write is sent whole already."""


def _too_long() -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": None,
        "error": {"code": -32600, "message": f"line longer than {MAX_LINE} bytes"},
    }


@dataclass(frozen=True)
class Guard:
    """The loopback port's token (see :func:`mcp_memory.daemon_link.connect_tcp`): any local
    user can connect to a port, so a connection is served only once its client proved it."""

    token: str
    port: int

    async def admits(self, reader: BufferedByteReceiveStream, wire: _Wire) -> bool:
        """Answer the client's challenge, then check its proof of our challenge."""
        try:
            asked = json.loads(await reader.receive_until(b"\n", 4096))
            challenge = asked.get("challenge") if isinstance(asked, dict) else None
            if not isinstance(challenge, str) or not 0 < len(challenge) <= 128:
                return False
            ours = os.urandom(16).hex()
            mine = proof(self.token, self.port, challenge, "daemon")
            await wire.write(json.dumps({"proof": mine, "challenge": ours}) + "\n")
            answer = json.loads(await reader.receive_until(b"\n", 4096))
        except (anyio.EndOfStream, anyio.IncompleteRead, anyio.DelimiterNotFound, ValueError):
            return False
        theirs = answer.get("proof") if isinstance(answer, dict) else None
        expected = proof(self.token, self.port, ours, "client")
        return isinstance(theirs, str) and hmac.compare_digest(theirs, expected)


class Sessions:
    """Serves each accepted connection as one MCP session over the shared ``app``."""

    def __init__(
        self,
        app: App,
        server: MCPServer[App],
        settings_key: dict[str, str],
        *,
        max_sessions: int = 64,
    ) -> None:
        self.app = app
        self.server = server
        self.settings_key = settings_key
        self.max_sessions = max_sessions
        self.active = 0
        self.served = 0
        self.idle_since = time.monotonic()
        # Set when a relay of a newer version comes (the package was upgraded): the daemon
        # exits, and that relay starts one of its own version.
        self.outdated = anyio.Event()
        self.superseded = False  # a newer relay came: set ``outdated`` once it has its answer
        self.guard: Guard | None = None  # set when the daemon listens on loopback TCP

    async def handle(self, stream: anyio.abc.SocketStream) -> None:
        async with stream:
            reader = BufferedByteReceiveStream(stream)
            wire = _Wire(stream)
            hello: Any = None  # also when the hello does not come in time
            proven = self.guard is None
            with anyio.move_on_after(HELLO_TIMEOUT):
                if self.guard is not None and not await self.guard.admits(reader, wire):
                    return  # not proven: nothing is read or served
                proven = True
                try:
                    hello = json.loads(await reader.receive_until(b"\n", 1024 * 1024))
                except (anyio.EndOfStream, anyio.IncompleteRead, anyio.DelimiterNotFound):
                    return
                except ValueError:
                    hello = None
            if not proven:
                return
            hello = hello if isinstance(hello, dict) else None
            if hello is not None and isinstance(hello.get("hook"), dict):
                await wire.write(json.dumps(await self._hook(hello)) + "\n")
                self._leave_if_superseded()
                return
            answer, cwd = self._greet(hello)
            await wire.write(json.dumps(answer) + "\n")
            self._leave_if_superseded()
            if cwd is None:
                return
            self.active += 1
            self.served += 1
            name = f"daemon:{os.getpid()}:{self.served}:{int(time.time())}"
            view = session_view(self.app, cwd, name)
            log.info("session %s opened for %s", name, cwd)
            try:
                await self._serve(view, _Lines(reader, wire), wire)
            finally:
                self.active -= 1
                if self.active == 0:
                    self.idle_since = time.monotonic()
                log.info("session %s closed", name)

    def _greet(self, hello: dict[str, Any] | None) -> tuple[dict[str, Any], Path | None]:
        base = {"pid": os.getpid(), "version": __version__}
        if (
            hello and hello.get("relay") == 1 and hello.get("status") is True
        ):  # memcycle daemon status
            return {**base, "ok": True, "active": self.active, "served": self.served}, None
        cwd = hello.get("cwd") if hello else None
        if not hello or hello.get("relay") != 1 or not isinstance(cwd, str) or not cwd:
            return {**base, "ok": False, "reason": "hello", "error": "send a hello first"}, None
        refusal = self._refusal(hello)
        if refusal is not None:
            return {**base, **refusal}, None
        if self.active >= self.max_sessions:
            return {
                **base,
                "ok": False,
                "reason": "busy",
                "error": f"the daemon serves {self.active} sessions already",
            }, None
        return {**base, "ok": True}, Path(cwd)

    async def _hook(self, hello: dict[str, Any]) -> dict[str, Any]:
        """A hook's one request (:mod:`~mcp_memory.server.daemon.hook_requests`), under the
        same version and settings checks as a relay's session."""
        base = {"pid": os.getpid(), "version": __version__}
        refusal = (
            self._refusal(hello)
            if hello.get("relay") == 1
            else {"ok": False, "reason": "hello", "error": "send a hello first"}
        )
        if refusal is not None:
            return {**base, **refusal}
        return {**base, **await hook_requests.answer(self.app, hello["hook"])}

    def _leave_if_superseded(self) -> None:
        """After the answer that says so is sent (exiting first would cut it off)."""
        if self.superseded:
            self.outdated.set()

    def _refusal(self, hello: dict[str, Any]) -> dict[str, Any] | None:
        """Why this daemon will not serve a relay or hook with this hello, or None."""
        if hello.get("version") != __version__:
            # A newer relay: the package was upgraded. This daemon exits now; its sessions'
            # relays replay what is unanswered elsewhere (as after a crash), and the newer
            # relay starts a daemon of its own version. An older relay is served in-process.
            newer = release(hello.get("version")) > release(__version__)
            if newer:
                self.superseded = True
                # Older daemons (this one's relays would start another) stand aside for a while.
                with contextlib.suppress(OSError):
                    atomic_write(self.app.settings.run_dir / SUPERSEDED, str(hello["version"]))
            return {
                "ok": False,
                "reason": "version",
                "exiting": newer,
                "error": f"daemon runs version {__version__}, the relay {hello.get('version')}",
            }
        if hello.get("settings") != self.settings_key:
            return {
                "ok": False,
                "reason": "settings",
                "error": "the relay's MCP_MEMORY_* settings differ from the daemon's",
            }
        return None

    async def _serve(self, view: App, lines: _Lines, wire: _Wire) -> None:
        lowlevel = self.server._lowlevel_server
        token = SESSION_APP.set(view)
        try:
            async with stdio_server(stdin=lines, stdout=wire) as (read, write):  # type: ignore[arg-type]
                await serve_dual_era_loop(
                    lowlevel,
                    read,
                    write,
                    lifespan_state=view,
                    init_options=lowlevel.create_initialization_options(),
                )
        finally:
            SESSION_APP.reset(token)
