"""The daemon process: one App (store, RAM index, embedder, service) for every session.

:func:`run` holds the daemon lock (``__main__`` took it before importing this module; a second
daemon for the same data home exits with 3), opens the App, binds ``daemon.sock`` with a 0177
umask (the socket is 0600 from its first moment, in the 0700 run directory; or a loopback port
with a token where a Unix socket cannot be used: :func:`listen`), writes ``daemon.pid`` and
serves connections until SIGTERM/SIGINT, or until it has had no session for
``daemon_idle_exit`` seconds, or until a relay of a newer version comes (the package was
upgraded; the open sessions' relays go on elsewhere). Committed writes are in SQLite's WAL
before a tool answers, so killing the daemon (even with SIGKILL) loses no acknowledged write.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import time
from typing import IO

import anyio
import anyio.abc
import anyio.to_thread

from mcp_memory import __version__
from mcp_memory.app import open_app
from mcp_memory.config import Settings
from mcp_memory.daemon_link import PID, PORT, settings_key, short_name, socket_path
from mcp_memory.files import atomic_write
from mcp_memory.server.daemon.sessions import Guard, Sessions
from mcp_memory.server.tools import build_server

log = logging.getLogger("mcp_memory.server.daemon")


def bind(path: os.PathLike[str] | str) -> socket.socket:
    """A listening Unix socket at ``path``, 0600 from the start; a stale socket file (the
    daemon lock is held, so no daemon owns it) is replaced."""
    from pathlib import Path

    target = Path(path)
    with contextlib.suppress(FileNotFoundError):
        target.unlink()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        with short_name(target) as name:
            sock.bind(name)
            os.chmod(name, 0o600)
    except BaseException:
        sock.close()
        raise
    finally:
        os.umask(old)
    sock.listen(128)
    return sock


def run(settings: Settings, lock: IO[bytes]) -> int:
    """Serve until stopped, holding ``lock`` (the daemon lock, which ``__main__`` takes before
    importing this module); 0."""
    try:
        with open_app(settings, settings.home) as app:
            sessions = Sessions(app, build_server(settings), settings_key(os.environ))
            anyio.run(_serve, settings, sessions)
    finally:
        with contextlib.suppress(OSError):
            info = json.loads((settings.run_dir / PID).read_text())
            if info.get("pid") == os.getpid():
                (settings.run_dir / PID).unlink()
                socket_path(settings.run_dir).unlink(missing_ok=True)
                (settings.run_dir / PORT).unlink(missing_ok=True)
        lock.close()
    return 0


def listen(settings: Settings) -> tuple[socket.socket, Guard | None]:
    """The daemon's listening socket: its Unix socket, or (``daemon_transport = "tcp"``, no
    ``AF_UNIX``, or the socket cannot be bound) a random loopback port published with a fresh
    token in ``daemon.port`` (0600), whose guard the sessions check. The other's file, left by
    an earlier daemon (this one holds the lock), is removed, so clients find the one in use."""
    run_dir = settings.run_dir
    if settings.daemon_transport != "tcp" and hasattr(socket, "AF_UNIX"):
        try:
            sock = bind(socket_path(run_dir))
        except OSError as exc:
            log.warning("cannot bind %s (%s); listening on loopback TCP", socket_path(run_dir), exc)
        else:
            (run_dir / PORT).unlink(missing_ok=True)
            return sock, None
    socket_path(run_dir).unlink(missing_ok=True)
    sock = socket.create_server(("127.0.0.1", 0))
    guard = Guard(os.urandom(32).hex(), sock.getsockname()[1])
    atomic_write(run_dir / PORT, json.dumps({"port": guard.port, "token": guard.token}))
    return sock, guard


async def _serve(settings: Settings, sessions: Sessions) -> None:
    anyio.to_thread.current_default_thread_limiter().total_tokens = settings.daemon_jobs
    sock, sessions.guard = listen(settings)
    listener = await anyio.abc.SocketListener.from_socket(sock)
    atomic_write(
        settings.run_dir / PID,
        json.dumps({"pid": os.getpid(), "version": __version__, "started": time.time()}),
    )
    where = f"127.0.0.1:{sessions.guard.port}" if sessions.guard else socket_path(settings.run_dir)
    log.info("daemon %s listening on %s", os.getpid(), where)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, sessions.handle, tg)
        tg.start_soon(_idle_exit, settings.daemon_idle_exit, sessions, tg.cancel_scope)
        tg.start_soon(_outdated_exit, sessions, tg.cancel_scope)
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for signum in signals:
                log.info("stopping on %s", signal.Signals(signum).name)
                tg.cancel_scope.cancel()
                break


async def _outdated_exit(sessions: Sessions, scope: anyio.CancelScope) -> None:
    await sessions.outdated.wait()
    log.info("a relay of a newer version came; exiting so that it starts its own daemon")
    scope.cancel()


async def _idle_exit(limit: float, sessions: Sessions, scope: anyio.CancelScope) -> None:
    if limit <= 0:
        return
    while True:
        await anyio.sleep(min(limit, 5.0))
        if sessions.active == 0 and time.monotonic() - sessions.idle_since >= limit:
            log.info("no session for %.0fs; exiting", limit)
            scope.cancel()
            return
