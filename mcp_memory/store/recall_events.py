"""Strong recalls (``recall_events``): at most one per memory and context (a session, or a
day without one). Counting them in distinct contexts is how a buffer memory that keeps being
needed becomes proven (see :mod:`mcp_memory.service.promotion`).
"""

from __future__ import annotations

from collections.abc import Sequence

from mcp_memory.store.base import StoreBase, placeholders


class StoreRecallEvents(StoreBase):
    """The ``recall_events`` table of :class:`~mcp_memory.store.database.Store`."""

    def add_recall_events(self, ids: Sequence[int], context: str, at: float) -> None:
        """Record a strong recall of each of ``ids`` in ``context`` (once per context)."""
        with self.transaction():
            self.db.executemany(
                "INSERT OR IGNORE INTO recall_events (memory_id, context, at) VALUES (?, ?, ?)",
                [(mid, context, at) for mid in ids],
            )

    def buffer_recalled_in(self, ids: Sequence[int], contexts: int) -> list[int]:
        """Those of ``ids`` still in the buffer that were strongly recalled in at least
        ``contexts`` contexts."""
        if not ids:
            return []
        with self.lock:
            rows = self._rows(
                f"SELECT m.id FROM memories m WHERE m.id IN ({placeholders(len(ids))}) "
                "AND m.state = 'buffer' "
                "AND (SELECT count(*) FROM recall_events e WHERE e.memory_id = m.id) >= ?",
                (*ids, contexts),
            )
        return [int(r[0]) for r in rows]
