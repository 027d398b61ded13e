"""``memcycle serve`` as Claude Code starts it: a thin stdio relay to the daemon.

It imports almost nothing (no MCP SDK, numpy, ONNX Runtime or SQLite driver: tests check
``sys.modules``), connects to the daemon's Unix socket (starting the daemon, detached and once,
when none runs), sends a hello with the session's project root (its working directory) and
settings, then copies newline-delimited JSON-RPC between stdin/stdout and the socket.

When no daemon can be reached or started, it becomes today's in-process server (``exec`` of
``serve --in-process``) before reading a byte, so the session works either way.

When the daemon dies mid-session, the relay reconnects (restarting the daemon) or, failing that,
starts an in-process server as a child, replays the session's ``initialize`` (with an id of its
own, whose answer it drops) and ``notifications/initialized``, and sends again every request the
client is still waiting for. The session goes on. A write is acknowledged only after the daemon
committed it, and ``remember`` and ``forget`` are idempotent, so sending an unanswered one again
neither loses nor duplicates a memory.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mcp_memory import __version__
from mcp_memory.daemon_link import PREFIX, settings_key
from mcp_memory.files import pid_alive
from mcp_memory.server.daemon.launch import StartFailed, connect_or_start

START_TIMEOUT = 30.0  # seconds to wait for a daemon to listen (it imports the MCP SDK)
HELLO_TIMEOUT = 10.0
HELLO_ATTEMPTS = 4
MAX_RECOVERIES = 5  # reconnections in a row that fail at once before going in-process


class Unavailable(Exception):
    """No daemon can serve this session; the message says why."""


class SocketBackend:
    """The daemon, over its socket."""

    def __init__(self, sock: socket.socket, leftover: bytes) -> None:
        self.sock = sock
        self.leftover = leftover

    def fileno(self) -> int:
        return self.sock.fileno()

    def recv(self) -> bytes:
        if self.leftover:
            data, self.leftover = self.leftover, b""
            return data
        return self.sock.recv(65536)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self.sock.close()


class ChildBackend:
    """An in-process server started as this relay's child (the daemon could not come back)."""

    def __init__(self) -> None:
        import subprocess

        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mcp_memory.cli", "serve", "--in-process"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.stdin, self.stdout = self.proc.stdin, self.proc.stdout

    def fileno(self) -> int:
        return self.stdout.fileno()

    def recv(self) -> bytes:
        return os.read(self.fileno(), 65536)

    def send(self, data: bytes) -> None:
        self.stdin.write(data)
        self.stdin.flush()

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            self.stdin.close()

    def close(self) -> None:
        self.finish()
        try:
            self.proc.wait(10)
        except Exception:
            self.proc.kill()


Backend = SocketBackend | ChildBackend


def _key(rid: Any) -> str:
    return json.dumps(rid, sort_keys=True)


def _parse(line: bytes) -> dict[str, Any] | None:
    try:
        message = json.loads(line)
    except ValueError:
        return None
    return message if isinstance(message, dict) else None


_HEAD = b'{"jsonrpc":"2.0","id":'


def _response_key(line: bytes) -> str | None:
    """The id key of a response (None for requests and notifications). The SDK writes
    ``{"jsonrpc":"2.0","id":ID,"result"|"error":...}``, so the id is read from the head of the
    line without parsing a recall's whole reply; anything else is parsed in full."""
    if line.startswith(_HEAD):
        rest = line[len(_HEAD) :]
        end = rest.find(b',"')
        if end > 0 and (rest.startswith(b',"result"', end) or rest.startswith(b',"error"', end)):
            try:
                return _key(json.loads(rest[:end]))
            except ValueError:
                pass
    message = _parse(line)
    if message is None or "id" not in message or "method" in message:
        return None
    return _key(message["id"])


class Relay:
    def __init__(self, place: Place, backend: Backend) -> None:
        self.place = place
        self.backend = backend
        self.init_line: bytes | None = None
        self.initialized_line: bytes | None = None
        self.pending: dict[str, bytes] = {}  # requests sent, not yet answered, in order
        self.swallow: set[str] = set()  # ids of replayed requests whose answers are dropped
        self.replays = 0
        # poll, not epoll: epoll refuses a regular file or /dev/null as stdin
        self.selector = getattr(selectors, "PollSelector", selectors.SelectSelector)()

    # -- the loop -------------------------------------------------------------------------

    def run(self) -> int:
        client = b""
        daemon = b""
        closing = False
        self.selector.register(0, selectors.EVENT_READ, "client")
        self.selector.register(self.backend.fileno(), selectors.EVENT_READ, "backend")
        daemon = self._leftover()
        while True:
            daemon = self._lines(daemon, self.from_backend)
            for key, _ in self.selector.select():
                if key.data == "client":
                    data = os.read(0, 65536)
                    if not data:
                        closing = True
                        self.selector.unregister(0)
                        self.backend.finish()
                        if not self.pending:
                            return 0
                        continue
                    client = self._lines(client + data, self.from_client)
                else:
                    try:
                        data = self.backend.recv()
                    except OSError:
                        data = b""
                    if data:
                        daemon += data
                    elif closing:
                        return 0
                    else:
                        self.recover()
                        daemon = self._leftover()
                        break

    def _leftover(self) -> bytes:
        """Bytes the daemon sent right after its hello (read with it)."""
        if isinstance(self.backend, SocketBackend):
            data, self.backend.leftover = self.backend.leftover, b""
            return data
        return b""

    @staticmethod
    def _lines(buffer: bytes, handle: Any) -> bytes:
        while True:
            end = buffer.find(b"\n")
            if end < 0:
                return buffer
            line, buffer = buffer[: end + 1], buffer[end + 1 :]
            if line.strip():
                handle(line)

    # -- messages -------------------------------------------------------------------------

    def from_client(self, line: bytes) -> None:
        message = _parse(line)
        if message is not None and "method" in message:
            if "id" in message:
                self.pending[_key(message["id"])] = line
                if message["method"] == "initialize":
                    self.init_line = line
            elif message["method"] == "notifications/initialized":
                self.initialized_line = line
        try:
            self.backend.send(line)
        except OSError:
            self.recover()  # a request is sent again from ``pending``; a notification is lost
            if message is None or "id" not in message or "method" not in message:
                self._send_or_recover(line)

    def from_backend(self, line: bytes) -> None:
        key = _response_key(line)
        if key is not None:
            if key in self.swallow:
                self.swallow.discard(key)
                return
            self.pending.pop(key, None)
        _write_all(1, line)

    # -- recovery -------------------------------------------------------------------------

    def recover(self) -> None:
        """A new backend (the daemon again, else an in-process child) with the session replayed."""
        for attempt in range(MAX_RECOVERIES + 1):
            self._replace_backend(in_process=attempt == MAX_RECOVERIES)
            try:
                self._replay()
                return
            except OSError:
                continue

    def _replace_backend(self, *, in_process: bool) -> None:
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.selector.unregister(self.backend.fileno())
        self.backend.close()
        new: Backend
        if in_process:
            new = ChildBackend()
        else:
            try:
                new = open_daemon(self.place)
            except Unavailable as exc:
                _say(f"daemon unavailable ({exc}); serving this session in-process")
                new = ChildBackend()
        self.backend = new
        self.selector.register(new.fileno(), selectors.EVENT_READ, "backend")

    def _replay(self) -> None:
        waiting_init = self.init_line is not None and self.init_line in self.pending.values()
        if self.init_line is not None and not waiting_init:
            message = _parse(self.init_line) or {}
            self.replays += 1
            message["id"] = f"memcycle-relay-replay-{self.replays}"
            self.swallow.add(_key(message["id"]))
            self.backend.send(json.dumps(message).encode() + b"\n")
            if self.initialized_line is not None:
                self.backend.send(self.initialized_line)
        for line in list(self.pending.values()):
            self.backend.send(line)
            if waiting_init and line == self.init_line and self.initialized_line is not None:
                self.backend.send(self.initialized_line)

    def _send_or_recover(self, line: bytes) -> None:
        try:
            self.backend.send(line)
        except OSError:
            self.recover()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _say(text: str) -> None:
    with contextlib.suppress(OSError):
        os.write(2, f"memcycle serve: {text}\n".encode())


def open_daemon(place: Place) -> SocketBackend:
    """A connected, greeted daemon for ``place`` (started if needed); raises Unavailable."""
    hello = {
        "relay": 1,
        "cwd": os.getcwd(),
        "version": __version__,
        "settings": settings_key(os.environ),
    }
    attempts = 0
    while True:
        attempts += 1
        try:
            sock = connect_or_start(place.home, place.state, os.environ, START_TIMEOUT)
        except StartFailed as exc:
            raise Unavailable(str(exc)) from exc
        try:
            sock.settimeout(HELLO_TIMEOUT)
            sock.sendall(json.dumps(hello).encode() + b"\n")
            buffer = b""
            while b"\n" not in buffer:
                data = sock.recv(65536)
                if not data:
                    raise OSError("the daemon closed the connection during the hello")
                buffer += data
            sock.settimeout(None)
        except OSError as exc:
            sock.close()
            if attempts < HELLO_ATTEMPTS:  # a daemon killed a moment ago still accepted it
                time.sleep(0.1 * attempts)
                continue
            raise Unavailable(f"no hello from the daemon: {exc}") from exc
        line, _, leftover = buffer.partition(b"\n")
        answer = _parse(line) or {}
        if answer.get("ok") is True:
            return SocketBackend(sock, leftover)
        sock.close()
        upgrade = answer.get("reason") == "version" and answer.get("exiting") is True
        if not upgrade or attempts >= HELLO_ATTEMPTS:
            raise Unavailable(str(answer.get("error") or "the daemon refused the session"))
        # A daemon of an older version exits when a newer relay comes: then start ours. It
        # finishes the tool calls it is running first (seconds on a loaded machine); until it
        # is gone it may still accept a connection it never answers, so wait for it.
        pid = answer.get("pid")
        deadline = time.monotonic() + START_TIMEOUT
        while isinstance(pid, int) and pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if isinstance(pid, int) and pid_alive(pid):
            raise Unavailable(f"the daemon of version {answer.get('version')} did not exit")


@dataclass(frozen=True)
class Place:
    """Where this session's daemon lives, decided as :func:`~mcp_memory.config.load_settings`
    decides it (the daemon reads its own settings: the two must agree on the socket)."""

    home: Path  # the data home (the daemon's working directory)
    state: Path  # its logs and run folders (the settings' ``state``)
    wanted: bool  # False when MCP_MEMORY_DAEMON (or ``daemon`` in the config file) is off


def locate() -> Place:
    """The environment alone decides it, unless a config file exists: then its settings are
    loaded (a ``home``, ``state`` or ``daemon`` there counts), which costs only tomllib."""
    from mcp_memory import config  # standard library only until a path needs platformdirs

    env = os.environ
    if config.config_file(env).is_file():
        settings = config.load_settings()
        return Place(settings.home, settings.state, settings.daemon)
    home_text = env.get(PREFIX + "HOME")
    home = Path(home_text).expanduser() if home_text else config.default_home(env)
    state_text = env.get(PREFIX + "STATE")
    if state_text:
        state = Path(state_text).expanduser()
    else:
        state = home if home_text else config.default_state(env)
    text = env.get(PREFIX + "DAEMON", "")
    return Place(home, state, text.strip().lower() not in ("0", "false", "no", "off"))


def in_process() -> None:
    """Become today's in-process server (nothing has been read from stdin yet)."""
    argv = [sys.executable, "-m", "mcp_memory.cli", "serve", "--in-process"]
    os.execv(argv[0], argv)


def main() -> int:
    place = locate()
    if not place.wanted:
        in_process()
    try:
        backend = open_daemon(place)
    except Unavailable as exc:
        _say(f"daemon unavailable ({exc}); serving this session in-process")
        in_process()
        raise  # not reached
    return Relay(place, backend).run()  # SIGINT and SIGTERM end it (cli.main.stop_on_signals)
