"""Per-session state shared by a session's hook runs: open failures, memories already shown.

One small JSON file per session in ``run/sessions/<session>.json`` in the state folder, locked with
``flock`` while it is read and updated (Claude Code may run the hooks of parallel tool calls at
the same time) and written back only when it changed. The worker deletes a session's file when
the session ends, and files untouched for a week (sessions that never ended cleanly).

What a hook keeps here is redacted before it is written: the open failures hold a command and
its error tail for as long as the session lasts, so a secret in them would sit on disk for days.
The redactor (~0.1 s to import) is loaded only by the runs whose failures changed.
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

from mcp_memory.files import FILE_MODE, private_dir

_SESSION_SAFE = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_REDACTED = "failures"  # the key whose strings come from commands and their output


def redact_strings(value: Any) -> Any:
    """``value`` with every string in it (in lists and dicts, at any depth) redacted."""
    from mcp_memory.redaction.redact import redact

    if isinstance(value, str):
        return redact(value).text
    if isinstance(value, list):
        return [redact_strings(v) for v in value]
    if isinstance(value, dict):
        return {k: redact_strings(v) for k, v in value.items()}
    return value


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
    private_dir(path.parent)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | _NOFOLLOW, FILE_MODE)
    with os.fdopen(fd, "r+", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), FILE_MODE)
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        text = handle.read()
        try:
            state = json.loads(text) if text.strip() else {}
        except json.JSONDecodeError:
            state = {}
        if not isinstance(state, dict):
            state = {}
        before = json.dumps(state, sort_keys=True)
        before_redacted = json.dumps(state.get(_REDACTED), sort_keys=True)
        yield state
        after = json.dumps(state, sort_keys=True)
        if after != before:
            if json.dumps(state.get(_REDACTED), sort_keys=True) != before_redacted:
                state[_REDACTED] = redact_strings(state.get(_REDACTED))
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
