"""How any process finds the daemon and trusts it: its files in the private run directory, and
the checks that make its socket trusted before a byte is sent.

A leaf of the package, standard library only (``socket`` is imported on first use, so the
SessionStart hook pays for the file names alone): the stdio relay imports this on every Claude
Code session start, and the hooks import it to send their requests to the daemon
(:func:`request`); the daemon itself (:mod:`mcp_memory.server.daemon`) binds what it names.

- ``daemon.sock``: the Unix domain socket (0600, in the 0700 run directory). File permissions
  are the authentication: only this user can connect, and before connecting a client checks
  that the folder and the socket are its own and private (:func:`check_private`), so a socket
  planted by someone else is never sent a byte. On Linux the connected peer's uid is checked
  too (``SO_PEERCRED``).
- ``daemon.port``: ``{"port", "token"}`` (0600) instead of the socket where Unix sockets cannot
  be used (no ``AF_UNIX``, the socket cannot be bound, or ``MCP_MEMORY_DAEMON_TRANSPORT=tcp``):
  the daemon listens on 127.0.0.1 on a random port, and before any text is sent it answers a
  fresh challenge with HMAC(token) and the client proves the token in turn (:func:`connect_tcp`).
- ``daemon.pid``: ``{"pid", "version"}``, written once the socket listens.
- ``daemon.superseded``: the version of the newer relay that made a daemon exit (an upgrade);
  for an hour a daemon of an older version (started by a session from before the upgrade, or
  by another install) exits at once instead of starting: its relays serve in-process, and the
  two versions do not take turns replacing each other (:func:`superseded_by`).
- ``daemon.lock``: held (flock) by the running daemon, so a second one exits at once.
- ``daemon.start-lock``: held for a moment by whoever launches a daemon, so two relays
  starting at the same time launch one.
- ``logs/daemon.log``: the daemon's log.

A socket path may be longer than ``sun_path`` allows (108 bytes on Linux, 104 on macOS; deep
temporary folders reach that): :func:`connect` and the daemon then use the name relative to the
run directory, after changing into it for the call.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import socket

SOCKET = "daemon.sock"
PORT = "daemon.port"
SUPERSEDED = "daemon.superseded"
SUPERSEDED_FOR = 3600.0  # seconds a newer version's mark keeps older daemons from starting
PID = "daemon.pid"
LOCK = "daemon.lock"
START_LOCK = "daemon.start-lock"
LOG = "daemon.log"
MAX_SUN_PATH = 100  # below every platform's sun_path limit
PREFIX = "MCP_MEMORY_"  # = config.PREFIX
# Settings of the daemon process alone: a relay or hook need not share them (the service unit
# sets DAEMON_IDLE_EXIT=0, which no session's environment has).
DAEMON_ONLY = frozenset({"MCP_MEMORY_DAEMON_IDLE_EXIT", "MCP_MEMORY_DAEMON_JOBS"})


def settings_key(environ: Mapping[str, str]) -> dict[str, str]:
    """What a relay or hook must share with the daemon to be served by it: the ``MCP_MEMORY_*``
    variables but the daemon's own (a session configured differently is served in-process)."""
    return {
        k: v for k, v in sorted(environ.items()) if k.startswith(PREFIX) and k not in DAEMON_ONLY
    }


def release(version: object) -> tuple[int, ...]:
    """A version's numbers, for ordering (``"0.10.1"`` after ``"0.9.3"``); two versions with the
    same numbers are neither newer than the other."""
    import re

    return tuple(int(n) for n in re.findall(r"\d+", version)) if isinstance(version, str) else ()


def superseded_by(run_dir: Path, version: str) -> str | None:
    """The newer version recorded in ``daemon.superseded`` within the last hour, if newer than
    ``version``; None otherwise."""
    import time

    path = run_dir / SUPERSEDED
    try:
        if time.time() - os.stat(path).st_mtime > SUPERSEDED_FOR:
            return None
        newer = path.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return newer if release(newer) > release(version) else None


class UntrustedSocket(OSError):
    """The socket or its folder is not this user's and private: nothing is sent to it."""


def socket_path(run_dir: Path) -> Path:
    return run_dir / SOCKET


def check_private(path: Path, kind: str = "socket") -> None:
    """Raise UntrustedSocket unless ``path`` is a socket (or, with ``kind="file"``, a regular
    file) owned by this user, mode 0600 (no group or other bits), in a folder owned by this user
    with no group or other access."""
    uid = os.getuid()
    folder = os.lstat(path.parent)
    if folder.st_uid != uid or folder.st_mode & 0o077 or not stat.S_ISDIR(folder.st_mode):
        raise UntrustedSocket(
            f"{path.parent} is owned by uid {folder.st_uid} with mode "
            f"{folder.st_mode & 0o777:04o}; the daemon's folder must be yours and 0700"
        )
    info = os.lstat(path)
    if not (stat.S_ISREG if kind == "file" else stat.S_ISSOCK)(info.st_mode):
        raise UntrustedSocket(f"{path} is not a {kind}")
    if info.st_uid != uid or info.st_mode & 0o077:
        raise UntrustedSocket(
            f"{path} is owned by uid {info.st_uid} with mode {info.st_mode & 0o777:04o}; "
            f"the daemon's {kind} must be yours and 0600"
        )


def peer_uid(sock: socket.socket) -> int | None:
    """The uid of the process at the other end of a Unix socket (Linux), else None."""
    import socket
    import struct

    option = getattr(socket, "SO_PEERCRED", None)
    if option is None or sys.platform != "linux":
        return None
    creds = sock.getsockopt(socket.SOL_SOCKET, option, struct.calcsize("3i"))
    return int(struct.unpack("3i", creds)[1])


@contextlib.contextmanager
def short_name(path: Path) -> Iterator[str]:
    """A name for ``path`` that fits ``sun_path``: the path itself, or (when it is too long)
    its file name while this process's working directory is its folder."""
    if len(os.fsencode(path)) <= MAX_SUN_PATH:
        yield str(path)
        return
    here = os.open(".", os.O_RDONLY)
    try:
        os.chdir(path.parent)
        yield path.name
    finally:
        os.fchdir(here)
        os.close(here)


def connect(run_dir: Path, timeout: float) -> socket.socket:
    """A connected socket to the daemon of ``run_dir``, proven ours before it is returned: its
    Unix socket when it has one (:func:`connect_unix`), else its loopback port
    (:func:`connect_tcp`). FileNotFoundError when neither is published."""
    import socket  # here: the SessionStart hook imports this module only for the file names

    path = socket_path(run_dir)
    if hasattr(socket, "AF_UNIX") and os.path.lexists(path):  # a planted link counts too
        return connect_unix(path, timeout)
    return connect_tcp(run_dir, timeout)


def connect_unix(path: Path, timeout: float) -> socket.socket:
    """A connected socket to the daemon at ``path``, after checking it is ours and private."""
    import socket

    check_private(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        with short_name(path) as name:
            sock.connect(name)
        uid = peer_uid(sock)
        if uid is not None and uid != os.getuid():
            raise UntrustedSocket(f"the process behind {path} runs as uid {uid}, not as you")
        sock.settimeout(None)
    except BaseException:
        sock.close()
        raise
    return sock


# -- loopback TCP, where a Unix socket cannot be used ------------------------------------------


def proof(token: str, port: int, challenge: str, side: str) -> str:
    """HMAC-SHA256 of ``side:port:challenge`` under the daemon's token: the daemon proves itself
    with side ``daemon``, the client with ``client`` (so one side's answers never serve as the
    other's)."""
    import hashlib
    import hmac

    message = f"{side}:{port}:{challenge}".encode()
    return hmac.new(token.encode(), message, hashlib.sha256).hexdigest()


def published_port(run_dir: Path) -> tuple[int, str]:
    """The port and token in ``daemon.port``, once the file is this user's and private."""
    import json

    path = run_dir / PORT
    check_private(path, kind="file")
    info = json.loads(path.read_text(encoding="utf-8"))
    port, token = info.get("port"), info.get("token")
    if not isinstance(port, int) or not 0 < port < 65536 or not isinstance(token, str) or not token:
        raise UntrustedSocket(f"{path} holds no port and token")
    return port, token


def connect_tcp(run_dir: Path, timeout: float) -> socket.socket:
    """A connection to the daemon's loopback port, after the daemon answered a fresh challenge
    with the token in ``daemon.port`` and this client proved the token in turn; only the
    challenge is sent before that. A port file no live daemon holds the lock for is stale (a
    killed daemon's: another program may own the port now) and never connected to."""
    import hmac
    import json
    import socket
    import time

    port, token = published_port(run_dir)
    if not lock_held(run_dir / LOCK):
        raise FileNotFoundError(f"{run_dir / PORT} was left by a daemon that is gone")
    deadline = time.monotonic() + timeout
    sock = socket.create_connection(("127.0.0.1", port), timeout)
    try:
        challenge = os.urandom(16).hex()
        sock.sendall(json.dumps({"challenge": challenge}).encode() + b"\n")
        line, rest = read_line(sock, deadline, 4096)
        answer = json.loads(line) if line.strip() else None
        sent = answer.get("proof") if isinstance(answer, dict) else None
        theirs = answer.get("challenge") if isinstance(answer, dict) else None
        expected = proof(token, port, challenge, "daemon")
        if rest or not isinstance(sent, str) or not hmac.compare_digest(sent, expected):
            raise UntrustedSocket(f"the program on port {port} did not prove it is the daemon")
        if not isinstance(theirs, str) or not 0 < len(theirs) <= 128:
            raise UntrustedSocket(f"the program on port {port} sent no challenge")
        mine = proof(token, port, theirs, "client")
        sock.sendall(json.dumps({"proof": mine}).encode() + b"\n")
        sock.settimeout(None)
    except BaseException:
        sock.close()
        raise
    return sock


def lock_held(lock: Path) -> bool:
    """Whether a process holds an flock on ``lock`` (probed with a shared lock, released at
    once): the daemon takes ``daemon.lock`` first thing, so this is true while one runs or
    starts."""
    import fcntl

    try:
        fd = os.open(lock, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False


# -- one request, one answer -------------------------------------------------------------------

MAX_ANSWER = 1024 * 1024  # bytes of one answer line (a 1024-d vector in base64 is ~5.5 kB)


def read_line(sock: socket.socket, deadline: float, limit: int) -> tuple[bytes, bytes]:
    """One line from ``sock`` by ``deadline`` (monotonic), and the bytes that came after it."""
    import time

    data = b""
    while b"\n" not in data:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the daemon did not answer in time")
        sock.settimeout(left)
        chunk = sock.recv(65536)
        if not chunk:
            raise OSError("the daemon closed the connection without an answer")
        data += chunk
        if len(data) > limit:
            raise OSError("the daemon's answer is too long")
    line, _, rest = data.partition(b"\n")
    return line, rest


def request(run_dir: Path, hello: dict[str, object], timeout: float) -> dict[str, object]:
    """One hello line to the daemon of ``run_dir`` and its one answer line, all within
    ``timeout`` seconds (the hooks' requests: :mod:`mcp_memory.server.daemon.hook_requests`).
    Raises OSError (UntrustedSocket for a daemon that is not ours: no text was sent) or
    ValueError (an answer that is not a JSON object)."""
    import json
    import time

    deadline = time.monotonic() + timeout
    with connect(run_dir, timeout) as sock:
        sock.sendall(json.dumps(hello).encode("utf-8") + b"\n")
        line, _ = read_line(sock, deadline, MAX_ANSWER)
    answer = json.loads(line)
    if not isinstance(answer, dict):
        raise ValueError("the daemon's answer is not a JSON object")
    return answer
