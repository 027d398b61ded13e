"""The hooks' requests to the daemon: a prompt's query vector, a memory stored now, and a team
project's memories for a prompt.

Where a daemon runs for this data home, a hook uses it instead of the warm server and the spool:
its model is loaded already (no model in the hook, ever) and it stores a memory at once, so the
hook can say "saved" only after the daemon committed it. The daemon is trusted exactly as a relay
trusts it (:func:`mcp_memory.daemon_link.connect`: the run folder and the socket are this user's
and private, and on Linux the peer runs as this user) before the prompt or the note is sent.

Every call gives up within a short timeout and raises :class:`~mcp_memory.hooks.reader.Unavailable`
(no daemon, another version or other settings, too slow, anything odd): the hook then does what it
did before the daemon (the warm server, or the spool and its worker). A memory the daemon refused
on its content raises :class:`Refused`, whose message the hook shows instead of a save.

A team project's (hybrid use) memories live on the team database, which the hook cannot open
without importing a PostgreSQL driver (0.1-0.45 s): :func:`recall` asks the daemon, which holds
the team link, for the memories the prompt hook may inject. No daemon, or a team database that
does not answer it: :class:`~mcp_memory.hooks.reader.Unavailable`, and the hook reads the local
file and says the team's memories were not searched.

Standard library and :mod:`mcp_memory.daemon_link` only: the hooks import this on their fast path.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from mcp_memory import __version__, daemon_link
from mcp_memory.hooks.reader import Candidate, Unavailable, checked_vector

if TYPE_CHECKING:
    from mcp_memory.config import Settings

EMBED_TIMEOUT = 1.0  # seconds for a prompt's query vector (the warm server is tried next)
REMEMBER_TIMEOUT = 2.0  # seconds for a stored memory (then the spool: the worker stores it)
# Seconds for a team project's recall (embed, local and team search); with the local fallback
# that follows a timeout (daemon embed 1.0 s, warm server 1.5 s) it stays in the 4 s deadline.
RECALL_TIMEOUT = 1.2


class Refused(Exception):
    """The daemon refused the memory itself (its content): the spool would not take it either."""


def _ask(settings: Settings, request: dict[str, Any], timeout: float) -> dict[str, Any]:
    if not settings.daemon:
        raise Unavailable("the daemon is off (MCP_MEMORY_DAEMON)")
    hello = {
        "relay": 1,
        "version": __version__,
        "settings": daemon_link.settings_key(os.environ),
        "hook": request,
    }
    try:
        answer = daemon_link.request(settings.run_dir, hello, timeout)
    except (OSError, ValueError) as exc:  # none there, not ours, too slow, garbled
        raise Unavailable(f"daemon: {exc}") from exc
    if answer.get("ok") is not True:
        if answer.get("reason") == "refused":
            raise Refused(str(answer.get("error") or "the daemon refused the memory"))
        raise Unavailable(f"daemon: {answer.get('error')}")
    return answer


def embed_query(settings: Settings, text: str, *, model_id: str, dimension: int) -> bytes:
    """The query vector of ``text`` from the daemon's model, checked like the warm server's."""
    answer = _ask(settings, {"op": "embed", "text": text}, EMBED_TIMEOUT)
    return checked_vector(answer, "vector", model_id, dimension, "daemon")


def remember(settings: Settings, job: dict[str, Any]) -> int:
    """Store a hook's ``remember`` job (the spool's format) through the daemon; the memory's id
    once it is committed."""
    answer = _ask(settings, {"op": "remember", "job": job}, REMEMBER_TIMEOUT)
    memory_id = answer.get("id")
    if not isinstance(memory_id, int):
        raise Unavailable("daemon: no memory id in its answer")
    return memory_id


def recall(
    settings: Settings,
    text: str,
    project: str,
    *,
    k: int,
    exclude: Collection[int | str],
    skip_types: Collection[str],
) -> tuple[str, list[Candidate], dict[int | str, str]]:
    """The daemon's recall over both databases for a prompt hook: its model's id (for the hook's
    cosine floor), the relevant vector hits not in ``exclude`` nor of ``skip_types``, best
    first (team ids are ``t:N``), and the stale-anchor note of those whose code changed."""
    request = {
        "op": "recall",
        "text": text,
        "project": project,
        "k": k,
        "exclude": list(exclude),
        "skip_types": list(skip_types),
    }
    answer = _ask(settings, request, RECALL_TIMEOUT)
    model, hits = answer.get("model"), answer.get("hits")
    if not isinstance(model, str) or not isinstance(hits, list):
        raise Unavailable("daemon: no model or hits in its recall answer")
    found: list[Candidate] = []
    stale: dict[int | str, str] = {}
    try:
        for h in hits:
            mid = h["id"]
            if not isinstance(mid, int) and not (isinstance(mid, str) and mid.startswith("t:")):
                raise ValueError(f"memory id {mid!r}")
            found.append(
                Candidate(
                    mid,
                    str(h["content"]),
                    str(h["type"]),
                    str(h["project"]),
                    float(h["created_at"]),
                    similarity=float(h["similarity"]),
                    coverage=None,
                    relevant=True,  # the daemon sends only the hits its recall judged relevant
                )
            )
            if h.get("stale"):
                stale[mid] = str(h["stale"])
    except (KeyError, TypeError, ValueError) as exc:
        raise Unavailable(f"daemon: a garbled recall hit ({exc})") from exc
    return model, found, stale
