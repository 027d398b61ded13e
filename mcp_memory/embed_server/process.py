"""Start, stop and query the warm embedding server as a detached background process.

Used by the CLI and by the SessionStart hook. Each function returns a plain dict with a
``status`` and a human ``message``:

- :func:`start`: ``"started"``, ``"already running"`` or ``"error"``
- :func:`stop`: ``"stopped"``, ``"not running"`` or ``"error"``
- :func:`status`: ``"running"``, ``"starting"``, ``"not running"`` or ``"foreign"``

``start`` returns at once unless ``wait=True``: it launches the server through a short-lived
launcher process, so the server is re-parented away from the caller (a hook must not wait,
and must not leave a child behind).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path
from typing import Any

from mcp_memory.config import PREFIX, Settings
from mcp_memory.embed_server.pidfile import lock_path, pid_path, read_pid_file, write_pid_file
from mcp_memory.embedding.protocol import token_path
from mcp_memory.embedding.warm_client import ForeignServer, fetch_health
from mcp_memory.errors import WarmServerError
from mcp_memory.files import open_private, pid_alive, private_dir, touch_private

POLL_INTERVAL = 0.05

# Runs in a throwaway interpreter: starts the server in its own session with stdio detached,
# prints its pid and exits, so the server is never the caller's child.
_LAUNCHER = """\
import json, subprocess, sys
spec = json.loads(sys.argv[1])
with open(spec["log"], "ab") as log:
    child = subprocess.Popen(
        spec["argv"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
        start_new_session=True, close_fds=True, cwd=spec["cwd"],
    )
print(child.pid)
"""


def pid_file(settings: Settings) -> Path:
    return pid_path(settings.run_dir, settings.embed_port)


def log_file(settings: Settings) -> Path:
    return settings.logs_dir / "embed-server.log"


def status(settings: Settings) -> dict[str, Any]:
    """Whether the server answers on the configured address, with its health when it does."""
    url = settings.embed_url
    try:
        health = fetch_health(
            settings.embed_host,
            settings.embed_port,
            token_path(settings.run_dir, settings.embed_port),
            timeout=max(1.0, settings.embed_connect_timeout),
        )
    except ForeignServer as exc:
        return {"status": "foreign", "message": str(exc), "url": url}
    except WarmServerError:
        info = read_pid_file(pid_file(settings))
        if info is not None and _is_our_server(info["pid"]):
            return {
                "status": "starting",
                "message": f"embedding server (pid {info['pid']}) is starting (loading the "
                f"model) or not answering at {url}; see {log_file(settings)}",
                "pid": info["pid"],
                "url": url,
            }
        return {
            "status": "not running",
            "message": f"embedding server is not running at {url}; sessions embed in-process "
            "(slower to start); start it with `memcycle embed-server start`",
            "url": url,
        }
    return {
        "status": "running",
        "message": f"embedding server running at {url}: model {health.get('model')} "
        f"({health.get('dimension')}-d), pid {health.get('pid')}",
        "pid": health.get("pid"),
        "url": url,
        "health": health,
    }


def start(settings: Settings, wait: bool = False, timeout: float = 60.0) -> dict[str, Any]:
    """Start the server in the background unless it already runs; idempotent.

    Returns at once (``"started"`` means launched) unless ``wait``: then it polls ``/health``
    until the server answers, the process dies, or ``timeout`` seconds pass (``"error"``).
    """
    with _start_lock(settings):  # two hooks starting at once launch one server
        current = status(settings)
        if current["status"] == "foreign":
            return {**current, "status": "error"}
        if current["status"] == "running" or (current["status"] == "starting" and not wait):
            return {**current, "status": "already running"}
        if current["status"] == "starting":
            pid, outcome = int(current["pid"]), "already running"
        else:
            try:
                pid = _launch(settings)
            except (OSError, ValueError, subprocess.SubprocessError) as exc:
                return {
                    "status": "error",
                    "message": f"could not launch the embedding server: {exc}",
                    "log": str(log_file(settings)),
                }
            outcome = "started"
            # Recorded now, so a start or status right after this one sees it starting;
            # the server rewrites the file with its details once it has bound the port.
            write_pid_file(
                pid_file(settings),
                {"pid": pid, "host": settings.embed_host, "port": settings.embed_port},
            )
    if not wait:
        return {
            "status": "started",
            "message": f"embedding server starting in the background (pid {pid}) at "
            f"{settings.embed_url}; log: {log_file(settings)}",
            "pid": pid,
            "url": settings.embed_url,
            "log": str(log_file(settings)),
        }
    return _wait_ready(settings, pid, timeout, outcome)


def _wait_ready(settings: Settings, pid: int, timeout: float, outcome: str) -> dict[str, Any]:
    """Poll until the server answers (``outcome``), dies, or ``timeout`` passes (error)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = status(settings)
        if current["status"] == "running":
            return {**current, "status": outcome, "log": str(log_file(settings))}
        if not pid_alive(pid):
            if current["status"] == "starting":  # another start won the race; wait for it
                pid, outcome = int(current["pid"]), "already running"
                continue
            return {
                "status": "error",
                "message": f"embedding server (pid {pid}) exited during startup: "
                f"{_log_tail(log_file(settings))}",
                "pid": pid,
                "log": str(log_file(settings)),
            }
        time.sleep(POLL_INTERVAL)
    return {
        "status": "error",
        "message": f"embedding server (pid {pid}) did not answer within {timeout:.0f}s; "
        f"see {log_file(settings)}",
        "pid": pid,
        "log": str(log_file(settings)),
    }


def stop(settings: Settings, timeout: float = 10.0) -> dict[str, Any]:
    """Stop the server recorded in the pid file (or answering on the port) with SIGTERM.

    Only signals a process that really is an mcp-memory embedding server; escalates to
    SIGKILL after ``timeout`` seconds; removes a stale pid file.
    """
    path = pid_file(settings)
    info = read_pid_file(path)
    pid: int | None = info["pid"] if info is not None else None
    if pid is None or not pid_alive(pid):
        try:
            health = fetch_health(
                settings.embed_host,
                settings.embed_port,
                token_path(settings.run_dir, settings.embed_port),
                timeout=settings.embed_connect_timeout,
            )
        except WarmServerError:
            health = None
        pid = health.get("pid") if health is not None else None
        if not isinstance(pid, int) or not pid_alive(pid):
            path.unlink(missing_ok=True)
            return {
                "status": "not running",
                "message": f"embedding server is not running at {settings.embed_url}",
            }
    if not _is_our_server(pid):
        path.unlink(missing_ok=True)
        return {
            "status": "error",
            "message": f"process {pid} is not an mcp-memory embedding server; not stopping it "
            "(removed the stale pid file)",
            "pid": pid,
        }
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    except PermissionError:
        return {
            "status": "error",
            "message": f"not allowed to stop the embedding server (pid {pid}); it belongs to "
            "another user",
            "pid": pid,
        }
    forced = not _wait_gone(pid, timeout)
    if forced:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        _wait_gone(pid, 5.0)
    path.unlink(missing_ok=True)
    how = f"killed it after {timeout:.0f}s without a clean exit" if forced else "it exited"
    return {
        "status": "stopped",
        "message": f"stopped the embedding server (pid {pid}); {how}",
        "pid": pid,
    }


# -- internals --------------------------------------------------------------------------


@contextlib.contextmanager
def _start_lock(settings: Settings) -> Iterator[None]:
    import fcntl

    path = lock_path(settings.run_dir, settings.embed_port).with_suffix(".start-lock")
    with open_private(path, "ab") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)  # held for milliseconds by another start
        yield


def _launch(settings: Settings) -> int:
    private_dir(settings.home)
    touch_private(log_file(settings))  # the launcher appends to it: created 0600 here
    argv = [sys.executable, "-m", "mcp_memory.embed_server", "--port", str(settings.embed_port)]
    spec = {"argv": argv, "log": str(log_file(settings)), "cwd": str(settings.home)}
    launcher = subprocess.run(
        [sys.executable, "-I", "-S", "-c", _LAUNCHER, json.dumps(spec)],
        env=_child_environment(settings),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if launcher.returncode != 0:
        raise OSError(launcher.stderr.strip() or f"launcher exited {launcher.returncode}")
    return int(launcher.stdout.strip())


def _child_environment(settings: Settings) -> dict[str, str]:
    """This environment plus every setting, so the server sees exactly these settings."""
    env = dict(os.environ)
    for field in fields(settings):
        value = getattr(settings, field.name)
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        env[PREFIX + field.name.upper()] = text
    return env


def _command_line(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        pass
    try:
        result = subprocess.run(
            ["ps", "-o", "command=", "-p", str(pid)],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None


def _is_our_server(pid: int) -> bool:
    if not pid_alive(pid):
        return False
    command = _command_line(pid) or ""
    return "embed_server" in command or "mcp-memory-embed-server" in command


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(POLL_INTERVAL)
    return not pid_alive(pid)


def _log_tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return f"no log at {path}"
    tail = " | ".join(line for line in text.strip().splitlines()[-lines:] if line)
    return tail or f"empty log at {path}"
