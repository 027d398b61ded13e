"""``memcycle daemon start|stop|status|logs``: the daemon as a background service.

Each function returns a plain dict with a ``status`` and a human ``message``, like
:mod:`mcp_memory.embed_server.process`: ``start`` gives ``"started"``, ``"already running"`` or
``"error"``; ``stop`` gives ``"stopped"`` or ``"not running"``; ``status`` gives ``"running"``
(with the daemon's pid, version and session counts, asked over its socket) or ``"not running"``.
A daemon started here serves sessions whose ``MCP_MEMORY_*`` settings equal this command's.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

from mcp_memory.config import Settings
from mcp_memory.daemon_link import LOG, PID, UntrustedSocket, socket_path
from mcp_memory.files import pid_alive
from mcp_memory.server.daemon.launch import StartFailed, connect_or_start, try_connect


def log_file(settings: Settings) -> Path:
    return settings.logs_dir / LOG


def _ask(settings: Settings) -> dict[str, Any] | None:
    """The daemon's own status over its socket, or None when none answers."""
    sock = try_connect(settings.run_dir)
    if sock is None:
        return None
    with sock:
        sock.settimeout(5)
        sock.sendall(json.dumps({"relay": 1, "status": True}).encode() + b"\n")
        data = b""
        while b"\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                return None
            data += chunk
    answer = json.loads(data.partition(b"\n")[0])
    return answer if isinstance(answer, dict) and answer.get("ok") else None


def status(settings: Settings) -> dict[str, Any]:
    try:
        answer = _ask(settings)
    except UntrustedSocket as exc:
        return {"status": "error", "message": f"not using the daemon's socket: {exc}"}
    except (OSError, ValueError):
        answer = None
    where = socket_path(settings.run_dir)
    if answer is None:
        return {
            "status": "not running",
            "message": f"the daemon is not running ({where}); the next session starts it, "
            "or `memcycle daemon start`",
            "socket": str(where),
        }
    return {
        "status": "running",
        "message": f"daemon running (pid {answer['pid']}, version {answer['version']}): "
        f"{answer.get('active', 0)} sessions now, {answer.get('served', 0)} served; {where}",
        "socket": str(where),
        **{k: answer.get(k) for k in ("pid", "version", "active", "served")},
    }


def start(settings: Settings, timeout: float = 60.0) -> dict[str, Any]:
    if status(settings)["status"] == "running":
        return {**status(settings), "status": "already running"}
    try:
        sock = connect_or_start(settings.home, settings.state, os.environ, timeout)
    except StartFailed as exc:
        return {"status": "error", "message": str(exc), "log": str(log_file(settings))}
    sock.close()
    current = status(settings)
    return {**current, "status": "started", "log": str(log_file(settings))}


def stop(settings: Settings, timeout: float = 10.0) -> dict[str, Any]:
    pid = _recorded_pid(settings)
    if pid is None:
        return {"status": "not running", "message": "the daemon is not running"}
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    forced = pid_alive(pid)
    if forced:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    how = f"killed it after {timeout:.0f}s" if forced else "it exited"
    return {"status": "stopped", "message": f"stopped the daemon (pid {pid}); {how}", "pid": pid}


def logs(settings: Settings, lines: int = 50) -> dict[str, Any]:
    path = log_file(settings)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {"status": "empty", "message": f"no daemon log at {path}", "log": str(path)}
    tail = text.splitlines()[-lines:]
    return {"status": "ok", "message": "\n".join(tail), "log": str(path), "lines": tail}


def _recorded_pid(settings: Settings) -> int | None:
    """The pid in ``daemon.pid`` when that process lives and is our daemon."""
    try:
        pid = int(json.loads((settings.run_dir / PID).read_text())["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not pid_alive(pid):
        return None
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return pid  # no /proc (macOS): the pid file is all there is
    return pid if b"mcp_memory.server.daemon" in command else None
