"""The hooks' requests to the daemon: a prompt's query vector and a memory stored now.

Where a daemon runs for this data home, a hook uses it instead of the warm server and the spool:
its model is loaded already (no model in the hook, ever) and it stores a memory at once, so the
hook can say "saved" only after the daemon committed it. The daemon is trusted exactly as a relay
trusts it (:func:`mcp_memory.daemon_link.connect`: the run folder and the socket are this user's
and private, and on Linux the peer runs as this user) before the prompt or the note is sent.

Every call gives up within a short timeout and raises :class:`~mcp_memory.hooks.reader.Unavailable`
(no daemon, another version or other settings, too slow, anything odd): the hook then does what it
did before the daemon (the warm server, or the spool and its worker). A memory the daemon refused
on its content raises :class:`Refused`, whose message the hook shows instead of a save.

Standard library and :mod:`mcp_memory.daemon_link` only: the hooks import this on their fast path.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from mcp_memory import __version__, daemon_link
from mcp_memory.hooks.reader import Unavailable, checked_vector

if TYPE_CHECKING:
    from mcp_memory.config import Settings

EMBED_TIMEOUT = 1.0  # seconds for a prompt's query vector (the warm server is tried next)
REMEMBER_TIMEOUT = 2.0  # seconds for a stored memory (then the spool: the worker stores it)


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
