"""Promotion: how a memory becomes proven knowledge after it was stored. One path for the
three ways it happens:

- ``recall``: a buffer memory recalled strongly in ``promote_after`` distinct sessions (or days
  without one) (:func:`promote_recalled`, called by every counted recall); never a session
  summary (``EPISODIC_TYPES``), which is history, not knowledge;
- ``by hand``: ``memcycle promote`` or the route tool, so a memory can be routed before any
  consolidation has run (:func:`mcp_memory.routing.router.promote`);
- ``consolidation``: a merge's result that was already stored (same text in the project) is
  proven again by the merge, whatever state it was in.

Every one calls :func:`promote`, which makes the one state change (``Store.set_state``) and
logs why. A merge's brand-new results are stored proven directly (``NewMemory.state``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Literal

from mcp_memory.errors import ValidationError
from mcp_memory.store.base import Memory
from mcp_memory.store.database import Store

log = logging.getLogger("mcp_memory")

Reason = Literal["recall", "by hand", "consolidation"]
STRONG_HITS = 3  # only the top of a search can count as a strong recall
# Episodic history, not knowledge: recalled often (a session summary matches many queries about
# its project) but never proven by recall counts (issue 13: one was, then offered for routing).
EPISODIC_TYPES = frozenset({"session_summary"})


def promote(store: Store, memory_id: int, reason: Reason) -> Memory:
    """Make a memory proven (buffer -> proven) and return it; proven stays proven.

    A superseded, expired or deleted memory is refused (with how to get it back) unless a
    consolidation restates it: then the merge proves it again.
    """
    memory = store.get(memory_id)
    if memory.state == "proven":
        return memory
    if memory.state != "buffer" and reason != "consolidation":
        if memory.state == "superseded":
            merged = store.superseded_by(memory_id)
            into = f" into memory {merged[1][0]}; promote that one" if merged else ""
            raise ValidationError(f"memory {memory_id} is superseded (merged{into}) instead")
        raise ValidationError(
            f"memory {memory_id} is {memory.state}; restore it first "
            f"(memcycle forget {memory_id} --restore), then promote it"
        )
    store.set_state(memory_id, "proven")
    log.info("memory %s promoted to proven (%s)", memory_id, reason)
    return store.get(memory_id)


def strong_recalls(
    hits: Sequence[tuple[int, Mapping[str, float]]], strong_recall: float
) -> list[int]:
    """Which hits of one search, ``(id, signals)`` best first, count as strong recalls.

    A broad search touches many memories, so only the top three count, and only when the
    match is strong: the vector similarity reaches the model's ``strong_recall``, or, for the
    top hit, both the vector and the keyword side found it.
    """
    return [
        mid
        for n, (mid, signals) in enumerate(hits[:STRONG_HITS])
        if (n == 0 and "vector_rank" in signals and "keyword_rank" in signals)
        or signals.get("vector_similarity", 0.0) >= strong_recall
    ]


def promote_recalled(
    store: Store,
    hits: Sequence[tuple[int, Mapping[str, float]]],
    context: str | None,
    *,
    strong_recall: float,
    promote_after: int,
) -> list[int]:
    """Count the strong recalls among ``hits`` in ``context`` (a session id; default: the
    day), at most once per memory and context, and promote the buffer memories that reached
    ``promote_after`` contexts. One transaction; returns the promoted ids."""
    strong = strong_recalls(hits, strong_recall)
    if not strong:
        return []
    ctx = context or datetime.now(UTC).strftime("day:%Y-%m-%d")
    with store.transaction():
        store.add_recall_events(strong, ctx, time.time())
        ready = store.buffer_recalled_in(strong, promote_after)
        found = store.get_many(ready)
        ready = [mid for mid in ready if mid in found and found[mid].type not in EPISODIC_TYPES]
        for mid in ready:
            promote(store, mid, "recall")
    return ready
