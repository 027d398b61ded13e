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
  hook says so instead of claiming the save;
- ``{"op": "recall", "text", "project", "k", "exclude", "skip_types"}``: what the prompt hook of
  a team project (hybrid use) may inject, from :meth:`HybridMemory.recall` over both databases
  (ids of the team's are ``t:N``): ``{"ok": true, "model", "hits": [...]}``, each hit's id,
  type, project, creation time, text (at most :data:`MAX_HIT_CHARS`), cosine to the prompt,
  calibrated relevance and stale-anchor note. Only vector hits the recall judged relevant, not
  already shown (``exclude``) and not of ``skip_types``: the hook applies its own cosine floor
  on top. The team database not answering is ``{"ok": false, "reason": "team"}``: the hook
  then reads the local file itself and says the team's memories were not searched. The
  memories' text was redacted when it was stored; the prompt is only embedded, never stored.
"""

from __future__ import annotations

import base64
import logging
import sys
from datetime import datetime
from typing import Any

import anyio.to_thread
import numpy as np

from mcp_memory.app import App
from mcp_memory.capture.spool import remember_job
from mcp_memory.errors import MCPMemoryError, ValidationError
from mcp_memory.projects import scope

log = logging.getLogger("mcp_memory.server.daemon")

MAX_QUERY_CHARS = 2000  # = hooks.reader.MAX_QUERY_CHARS: the models read a few hundred tokens
MAX_HIT_CHARS = 1200  # = hooks.reader.MAX_CHARS: the most text a prompt hook injects
MAX_RECALL_K = 50


class TeamUnreachable(Exception):
    """The team database did not answer a hook's recall: the hook falls back to its reader."""


async def answer(app: App, request: dict[str, Any]) -> dict[str, Any]:
    """The reply to one hook request (never raises for a bad request: it says why)."""
    op = request.get("op")
    try:
        if op == "embed":
            return await anyio.to_thread.run_sync(_embed, app, request)
        if op == "remember":
            return await anyio.to_thread.run_sync(_remember, app, request)
        if op == "recall":
            return await anyio.to_thread.run_sync(_recall, app, request)
    except TeamUnreachable as exc:
        return {"ok": False, "reason": "team", "error": str(exc)}
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


def _recall(app: App, request: dict[str, Any]) -> dict[str, Any]:
    text, project, k = request["text"], request["project"], request.get("k", 10)
    if not isinstance(text, str) or not text.strip():
        raise ValueError("recall needs a non-empty text")
    if not isinstance(project, str) or not project:
        raise ValueError("recall needs the hook's project")
    if not isinstance(k, int) or not 0 < k <= MAX_RECALL_K:
        raise ValueError(f"recall needs k between 1 and {MAX_RECALL_K}")
    exclude = {str(i) for i in request.get("exclude") or ()}
    skip = set(request.get("skip_types") or ())
    recalled = app.memory.recall(
        text[:MAX_QUERY_CHARS], projects=scope(project), k=k, count_recall=False
    )
    if recalled.team_reachable is False:
        raise TeamUnreachable(recalled.note or "the team database was not reachable")
    hits = []
    for h in recalled.hits:
        similarity = h.signals.get("vector_similarity")
        if similarity is None or not h.relevant or str(h.id) in exclude or h.type in skip:
            continue  # the hook injects vector hits the recall judged relevant, once a session
        hits.append(
            {
                "id": h.id,
                "type": h.type,
                "project": h.project,
                "created_at": datetime.fromisoformat(h.created_at).timestamp(),
                "content": h.content[:MAX_HIT_CHARS],
                "similarity": similarity,
                "relevance": h.relevance,
                "stale": h.stale,
            }
        )
    return {"ok": True, "model": app.embedder.model_id, "hits": hits}
