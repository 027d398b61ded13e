"""Consolidations and their lineage: which memories a merge replaced by which results.

A ``consolidations`` row records one merge (project, provider, model, ``applied`` or ``undone``);
each ``lineage`` row says that one source memory went into one result, and the state the
source had before, so undoing restores exactly that. This mixin owns both tables: the
consolidator, ``promote``, export and import read and write them only through it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence

from mcp_memory.store.base import StoreBase, placeholders
from mcp_memory.store.migrations import scalar


class StoreLineage(StoreBase):
    """The ``consolidations`` and ``lineage`` tables of :class:`~mcp_memory.store.database.Store`."""

    def add_consolidation(
        self,
        project: str,
        provider: str,
        model: str | None,
        detail: dict[str, object],
        *,
        status: str = "applied",
        created_at: float | None = None,
        undone_at: float | None = None,
    ) -> int:
        """Record one merge and return its id (joins the caller's transaction)."""
        with self.transaction():
            return int(
                scalar(
                    self.db,
                    "INSERT INTO consolidations (project, created_at, provider, model, status, "
                    "undone_at, detail) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
                    (
                        project,
                        time.time() if created_at is None else created_at,
                        provider,
                        model,
                        status,
                        undone_at,
                        json.dumps(detail),
                    ),
                )
            )

    def add_lineage(
        self, consolidation_id: int, result_id: int, source_id: int, source_prev_state: str
    ) -> bool:
        """Record that ``source_id`` (then in ``source_prev_state``) went into ``result_id``;
        a row already there is kept (and False returned)."""
        with self.transaction():
            self.db.execute(
                "INSERT OR IGNORE INTO lineage (consolidation_id, result_id, source_id, "
                "source_prev_state) VALUES (?, ?, ?, ?)",
                (consolidation_id, result_id, source_id, source_prev_state),
            )
            return bool(self.db.changes())

    def lineage_owner(self, result_id: int, source_id: int) -> int | None:
        """The consolidation that recorded ``source_id`` going into ``result_id``, if any (an
        import matches a file's consolidation to one already here by it)."""
        with self.lock:
            row = self._row(
                "SELECT consolidation_id FROM lineage WHERE result_id = ? AND source_id = ?",
                (result_id, source_id),
            )
        return None if row is None else int(row[0])

    def applied_merges_touching(
        self, source_ids: Sequence[int]
    ) -> list[tuple[int, str, str, int, int]]:
        """Every lineage row ``(consolidation id, project, provider, source, result)`` of the
        applied consolidations that merged any of ``source_ids``."""
        if not source_ids:
            return []
        with self.lock:
            rows = self._rows(
                "SELECT c.id, c.project, c.provider, l.source_id, l.result_id FROM lineage l "
                "JOIN consolidations c ON c.id = l.consolidation_id "
                "WHERE c.status = 'applied' AND l.consolidation_id IN (SELECT consolidation_id "
                f"FROM lineage WHERE source_id IN ({placeholders(len(source_ids))}))",
                tuple(source_ids),
            )
        return [(int(c), str(p), str(pr), int(s), int(r)) for c, p, pr, s, r in rows]

    def superseded_by(self, memory_id: int) -> tuple[int, list[int]] | None:
        """The latest applied consolidation that merged ``memory_id`` and the results it made
        (ascending), or None when no applied merge took it."""
        with self.lock:
            rows = self._rows(
                "SELECT l.consolidation_id, l.result_id FROM lineage l JOIN consolidations c "
                "ON c.id = l.consolidation_id WHERE l.source_id = ? AND c.status = 'applied' "
                "ORDER BY l.consolidation_id DESC",
                (memory_id,),
            )
        if not rows:
            return None
        cid = int(rows[0][0])
        return cid, sorted({int(r[1]) for r in rows if int(r[0]) == cid})

    def merged_from(self, memory_id: int) -> tuple[int, list[int]] | None:
        """The latest applied consolidation that produced ``memory_id`` and its sources
        (ascending), or None when no applied merge made it."""
        with self.lock:
            rows = self._rows(
                "SELECT l.consolidation_id, l.source_id FROM lineage l JOIN consolidations c "
                "ON c.id = l.consolidation_id WHERE l.result_id = ? AND c.status = 'applied' "
                "ORDER BY l.consolidation_id DESC",
                (memory_id,),
            )
        if not rows:
            return None
        cid = int(rows[0][0])
        return cid, sorted({int(r[1]) for r in rows if int(r[0]) == cid and r[1] != memory_id})

    def consolidation_status(self, consolidation_id: int) -> str | None:
        """``applied`` or ``undone``; None when there is no such consolidation."""
        with self.lock:
            row = self._row("SELECT status FROM consolidations WHERE id = ?", (consolidation_id,))
        return None if row is None else str(row[0])

    def consolidation_lineage(self, consolidation_id: int) -> list[tuple[int, int, str]]:
        """``(result, source, source's previous state)`` of each lineage row of one merge."""
        with self.lock:
            rows = self._rows(
                "SELECT result_id, source_id, source_prev_state FROM lineage "
                "WHERE consolidation_id = ?",
                (consolidation_id,),
            )
        return [(int(r), int(s), str(p)) for r, s, p in rows]

    def is_result_of_other_merge(self, result_id: int, consolidation_id: int) -> bool:
        """Whether another applied consolidation also produced ``result_id`` (so undoing
        ``consolidation_id`` must keep it)."""
        with self.lock:
            row = self._row(
                "SELECT 1 FROM lineage l JOIN consolidations c ON c.id = l.consolidation_id "
                "WHERE l.result_id = ? AND c.id != ? AND c.status = 'applied'",
                (result_id, consolidation_id),
            )
        return row is not None

    def mark_undone(self, consolidation_id: int) -> None:
        with self.transaction():
            self.db.execute(
                "UPDATE consolidations SET status = 'undone', undone_at = ? WHERE id = ?",
                (time.time(), consolidation_id),
            )

    def every_lineage(self) -> list[tuple[int, int, int, str]]:
        """All lineage rows ``(consolidation, result, source, source's previous state)``, in
        order (for export)."""
        with self.lock:
            rows = self._rows(
                "SELECT consolidation_id, result_id, source_id, source_prev_state FROM lineage "
                "ORDER BY 1, 2, 3"
            )
        return [(int(c), int(r), int(s), str(p)) for c, r, s, p in rows]

    def every_consolidation(self) -> list[dict[str, object]]:
        """All consolidations as records (for export), by id; ``detail`` decoded."""
        with self.lock:
            rows = self._rows(
                "SELECT id, project, created_at, provider, model, status, undone_at, detail "
                "FROM consolidations ORDER BY id"
            )
        return [
            {
                "id": cid,
                "project": project,
                "created_at": created,
                "provider": provider,
                "model": llm,
                "status": status,
                "undone_at": undone,
                "detail": json.loads(detail),
            }
            for cid, project, created, provider, llm, status, undone, detail in rows
        ]

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
