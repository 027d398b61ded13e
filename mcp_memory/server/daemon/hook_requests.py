"""The hooks' one-shot requests to the daemon: embed a prompt, store a memory.

A hook is a fresh interpreter on Claude Code's critical path: it cannot load a model, and it
spools its writes for a worker when nothing else can take them. Where a daemon runs (and proves
it is ours, like it does to a relay: :func:`mcp_memory.daemon_link.connect`), the hook
sends one hello that carries its request instead of a session's ``cwd``
(:mod:`mcp_memory.hooks.daemon_link`), and this module answers it with the daemon's warm model and
memory service, in a worker thread under the same job limit as the tools:

- ``{"op": "embed", "text": ...}``: ``{"ok": true, "model", "dimension", "vector"}``, the
  query vector as base64 float32 little-endian (what the warm server's ``/embed`` sends);
- ``{"op": "remember", "job": {...}}``: the hook's spool job stored now, embedded, through
  :func:`mcp_memory.capture.spool.remember_job`; ``{"ok": true, "id", "status"}`` once committed.
  A memory the service refuses is ``{"ok": false, "reason": "refused", "error": ...}``: the
  hook says so instead of claiming the save.
"""

from __future__ import annotations

import base64
import logging
import sys
from typing import Any

import anyio.to_thread
import numpy as np

from mcp_memory.app import App
from mcp_memory.capture.spool import remember_job
from mcp_memory.errors import MCPMemoryError, ValidationError

log = logging.getLogger("mcp_memory.server.daemon")

MAX_QUERY_CHARS = 2000  # = hooks.reader.MAX_QUERY_CHARS: the models read a few hundred tokens


async def answer(app: App, request: dict[str, Any]) -> dict[str, Any]:
    """The reply to one hook request (never raises for a bad request: it says why)."""
    op = request.get("op")
    try:
        if op == "embed":
            return await anyio.to_thread.run_sync(_embed, app, request)
        if op == "remember":
            return await anyio.to_thread.run_sync(_remember, app, request)
    except ValidationError as exc:
        return {"ok": False, "reason": "refused", "error": str(exc)}
    except (MCPMemoryError, KeyError, TypeError, ValueError) as exc:
        log.warning("hook request %s failed: %s", op, exc)
        return {"ok": False, "reason": "failed", "error": str(exc)}
    return {"ok": False, "reason": "hook", "error": f"unknown hook request {op!r}"}


def _embed(app: App, request: dict[str, Any]) -> dict[str, Any]:
    text = request["text"]
    if not isinstance(text, str) or not text.strip():
        raise ValueError("embed needs a non-empty text")
    vector = np.asarray(app.embedder.embed([text[:MAX_QUERY_CHARS]], kind="query")[0], "<f4")
    if sys.byteorder == "big":
        vector = vector.astype("<f4")
    return {
        "ok": True,
        "model": app.embedder.model_id,
        "dimension": app.embedder.dimension,
        "vector": base64.b64encode(vector.tobytes()).decode("ascii"),
    }


def _remember(app: App, request: dict[str, Any]) -> dict[str, Any]:
    job = request["job"]
    if not isinstance(job, dict) or job.get("kind") != "remember":
        raise ValueError("remember needs a remember job")
    result = remember_job(app.memory, job, embed=True)
    log.info("stored memory %s (%s, %s) from a hook", result.id, result.type, result.status)
    return {"ok": True, "id": result.id, "status": result.status}
