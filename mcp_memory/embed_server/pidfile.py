"""The server's files in ``run_dir``: a JSON pid file, a lock held while it lives, and its token.

``embed-server-{port}.pid`` holds ``{"pid", "host", "port", "model", "dimension"}``, written
after the port is bound and removed on a clean exit. ``embed-server-{port}.lock`` is held with
``flock`` by the running server, so a second one started at the same time exits at once.
``embed-server-{port}.token`` (0600, in the 0700 run directory) holds a random secret the server
draws at start: clients send a challenge and talk only to a server that answers it with the
secret's HMAC (:func:`mcp_memory.embedding.protocol.proof`), so a program squatting on the port
is never sent memory text.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from mcp_memory.files import atomic_write


def pid_path(run_dir: Path, port: int) -> Path:
    """Where the server listening on ``port`` records its pid."""
    return run_dir / f"embed-server-{port}.pid"


def read_pid_file(path: Path) -> dict[str, Any] | None:
    """The pid file's JSON, or None when it is missing or unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("pid"), int):
        return None
    return data


def write_pid_file(path: Path, info: dict[str, Any]) -> None:
    atomic_write(path, json.dumps(info))


def remove_pid_file(path: Path) -> None:
    """Remove the pid file if it is still this process's."""
    data = read_pid_file(path)
    if data is not None and data.get("pid") == os.getpid():
        path.unlink(missing_ok=True)


def lock_path(run_dir: Path, port: int) -> Path:
    """Held (flock) by the server for ``port`` while it lives, so only one can start."""
    return run_dir / f"embed-server-{port}.lock"


def write_token(path: Path, token: bytes) -> None:
    """Write ``token`` (hex) to ``path``, 0600, replacing any older server's token atomically."""
    atomic_write(path, token.hex())


def remove_token(path: Path, token: bytes) -> None:
    """Remove the token file if it still holds ``token`` (a newer server may have replaced it)."""
    try:
        if path.read_text(encoding="ascii").strip() == token.hex():
            path.unlink(missing_ok=True)
    except (OSError, UnicodeDecodeError):
        pass
