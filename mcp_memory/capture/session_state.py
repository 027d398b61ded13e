"""Per-session state shared by a session's hook runs: open failures, memories already shown.

One small JSON file per session in ``$MCP_MEMORY_HOME/run/sessions/<session>.json``, locked with
``flock`` while it is read and updated (Claude Code may run the hooks of parallel tool calls at
the same time) and written back only when it changed. The worker deletes a session's file when
the session ends, and files untouched for a week (sessions that never ended cleanly).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_SESSION_SAFE = re.compile(r"^[A-Za-z0-9_-]{1,100}$")


def state_path(run_dir: Path, session_id: str) -> Path:
    name = session_id if _SESSION_SAFE.match(session_id) else _digest(session_id)
    return run_dir / "sessions" / f"{name}.json"


def _digest(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


@contextlib.contextmanager
def session_state(run_dir: Path, session_id: str) -> Iterator[dict[str, Any]]:
    """The session's state dict, locked; written back (atomically) if the caller changed it."""
    path = state_path(run_dir, session_id)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    with os.fdopen(fd, "r+", encoding="utf-8") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        text = handle.read()
        try:
            state = json.loads(text) if text.strip() else {}
        except json.JSONDecodeError:
            state = {}
        if not isinstance(state, dict):
            state = {}
        before = json.dumps(state, sort_keys=True)
        yield state
        after = json.dumps(state, sort_keys=True)
        if after != before:
            state["updated_at"] = time.time()
            handle.seek(0)
            handle.truncate()
            handle.write(json.dumps(state, ensure_ascii=False))
            handle.flush()


def remove_stale_states(run_dir: Path, max_age_days: float = 7.0) -> int:
    """Delete session state files untouched for ``max_age_days`` (sessions that never ended)."""
    cutoff = time.time() - max_age_days * 86400
    removed = 0
    for path in (run_dir / "sessions").glob("*.json"):
        with contextlib.suppress(OSError):
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
    return removed
