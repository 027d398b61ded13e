"""Consolidations and their lineage: which memories a merge replaced by which results.

A ``consolidations`` row records one merge (project, provider, model, ``applied`` or
``undone``); each ``lineage`` row says that one source memory went into one result.
"""

from __future__ import annotations

from mcp_memory.store.base import StoreBase


class StoreLineage(StoreBase):
    """The ``consolidations`` and ``lineage`` tables of :class:`~mcp_memory.store.database.Store`."""

    def applied_lineage(self) -> list[tuple[int, int, int, float, str]]:
        """Every lineage row of the applied consolidations as ``(consolidation id, source,
        result, when it was merged, provider)``, by consolidation, result and source."""
        with self.lock:
            rows = self._rows(
                "SELECT l.consolidation_id, l.source_id, l.result_id, c.created_at, c.provider "
                "FROM lineage l JOIN consolidations c ON c.id = l.consolidation_id "
                "WHERE c.status = 'applied' ORDER BY l.consolidation_id, l.result_id, l.source_id"
            )
        return [(int(c), int(s), int(r), float(at), str(p)) for c, s, r, at, p in rows]
