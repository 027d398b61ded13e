"""Start the daemon once, detached, and connect to it: what the relay and the CLI call.

Standard library only (the relay imports it at every session start). :func:`connect_or_start`
connects when a daemon listens; otherwise, under ``daemon.start-lock`` (so two sessions starting
together launch one daemon), it launches ``python -m mcp_memory.server.daemon`` in its own session,
re-parented away from the caller (a double fork: the relay never has a child to reap, and the
daemon outlives it), and waits for the socket; a daemon that holds its lock already (launched by
the SessionStart hook, which does not wait) is waited for, not launched again. It gives up early when the daemon exits during
startup; the caller then serves in-process.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

from mcp_memory.daemon_link import (
    LOCK,
    LOG,
    START_LOCK,
    UntrustedSocket,
    connect,
    lock_held,
)
from mcp_memory.files import pid_alive

POLL = 0.02  # seconds between connection attempts while the daemon starts
CONNECT_TIMEOUT = 2.0
LAUNCHES = 3  # attempts when a launched daemon exits at once


class StartFailed(OSError):
    """No daemon could be reached or started; the message says why and where its log is."""


def private_dir(path: Path) -> None:
    """``path`` and missing parents, 0700 (like :func:`mcp_memory.files.private_dir`, without
    importing it: this module stays standard-library only)."""
    missing = []
    current = path
    while not current.exists():
        missing.append(current)
        current = current.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):
            folder.mkdir(mode=0o700)
            os.chmod(folder, 0o700)


@contextlib.contextmanager
def start_lock(run_dir: Path) -> Iterator[None]:
    private_dir(run_dir)
    fd = os.open(run_dir / START_LOCK, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def daemon_starting(run_dir: Path) -> bool:
    """Whether a daemon holds ``daemon.lock``: it takes it first thing, before its imports, so
    this is true from its first ~50 ms until it exits (running, or still starting)."""
    return lock_held(run_dir / LOCK)


def try_connect(run_dir: Path) -> socket.socket | None:
    """A connection to a running daemon, or None when none listens. A socket that is not ours
    and private, or a port whose program cannot prove the daemon's token, raises
    UntrustedSocket (sent no text)."""
    try:
        return connect(run_dir, CONNECT_TIMEOUT)
    except UntrustedSocket:
        raise
    except (FileNotFoundError, ConnectionRefusedError):
        return None
    except OSError:
        return None


def launch(home: Path, state: Path, env: Mapping[str, str]) -> int:
    """Launch the daemon detached (double fork, new session); returns its pid. Its log goes
    to ``state``/logs (the settings' ``logs_dir``)."""
    logs = state / "logs"
    private_dir(logs)
    private_dir(home)  # its working directory: on a first run nothing has made it yet
    log_fd = os.open(logs / LOG, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    read_end, write_end = os.pipe()
    argv = [sys.executable, "-m", "mcp_memory.server.daemon"]
    first = os.fork()
    if first == 0:  # the intermediate child: new session, fork the daemon, tell its pid, leave
        try:
            os.close(read_end)
            os.setsid()
            second = os.fork()
            if second == 0:
                os.close(write_end)
                null = os.open(os.devnull, os.O_RDWR)
                os.dup2(null, 0)
                os.dup2(null, 1)
                os.dup2(log_fd, 2)
                os.closerange(3, 65536)
                os.chdir(home)
                os.execve(argv[0], argv, dict(env))
            os.write(write_end, str(second).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    os.close(log_fd)
    os.waitpid(first, 0)
    with os.fdopen(read_end, "rb") as pipe:
        text = pipe.read().decode() or "0"
    return int(text)


def connect_or_start(
    home: Path, state: Path, env: Mapping[str, str], timeout: float
) -> socket.socket:
    """A connection to the daemon for data home ``home``, whose socket is in ``state``/run (the
    settings' ``run_dir``), starting it if none runs. Raises StartFailed."""
    run_dir = state / "run"
    try:
        sock = try_connect(run_dir)
    except UntrustedSocket as exc:
        raise StartFailed(str(exc)) from exc
    if sock is not None:
        return sock
    with start_lock(run_dir):
        deadline = time.monotonic() + timeout
        pid = 0
        for launches in range(1, LAUNCHES + 1):
            sock = try_connect(run_dir)  # another relay may have started it meanwhile
            if sock is not None:
                return sock
            if daemon_starting(run_dir):  # launched by a hook, or exiting: wait, launch none
                while daemon_starting(run_dir) and time.monotonic() < deadline:
                    sock = try_connect(run_dir)
                    if sock is not None:
                        return sock
                    time.sleep(POLL)
                if time.monotonic() >= deadline:
                    break
                continue
            try:
                pid = launch(home, state, env)
            except OSError as exc:
                raise StartFailed(f"could not launch the daemon: {exc}") from exc
            while time.monotonic() < deadline:
                sock = try_connect(run_dir)
                if sock is not None:
                    return sock
                if not pid_alive(pid):
                    break
                time.sleep(POLL)
            else:
                break
            # It exited: a daemon that was just killed may still hold the daemon lock for a
            # moment (the new one then exits at once), so try again shortly.
            time.sleep(0.1 * launches)
        else:
            raise StartFailed(
                f"the daemon (pid {pid}) exited during startup; see {state / 'logs' / LOG}"
            )
    raise StartFailed(f"the daemon (pid {pid}) did not listen within {timeout:.0f}s")
