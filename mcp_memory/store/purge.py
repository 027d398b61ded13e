"""Hard delete (``mcp-memory purge``): a memory removed so that no byte of its text is left in
the database file, its ``-wal`` or its free pages.

What holds a memory's text besides its row: both full-text indexes (``memories_fts`` and
``recall_fts``; FTS5 keeps a deleted row's tokens in old segments until they are merged, so
both are ``optimize``-d), its session neighbours' ``context`` (re-chained by
:meth:`~mcp_memory.store.memories.StoreMemories.purge`), the ``line_stats`` keys of its lines
(lower-cased line shapes, see :mod:`mcp_memory.service.boilerplate`), and old page versions:
the erase runs with ``PRAGMA secure_delete = ON`` (freed cells and pages are overwritten with
zeros) and ends with ``PRAGMA wal_checkpoint(TRUNCATE)`` (the new pages go into the file and
the ``-wal`` is emptied). Its vector, tags, links, recall events and routes go with the row
(foreign keys), its binary code with the sqlite-vec row (and the in-RAM bit index follows the
row, see :mod:`mcp_memory.store.bit_index`), its lineage rows here.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

from mcp_memory.store.base import placeholders
from mcp_memory.store.lineage import StoreLineage
from mcp_memory.store.memories import StoreMemories
from mcp_memory.store.migrations import scalar


class StorePurge(StoreMemories, StoreLineage):
    """Hard delete for :class:`~mcp_memory.store.database.Store`."""

    def lineage_around(self, ids: Sequence[int]) -> list[tuple[int, int, int, str, str]]:
        """Every lineage row ``(consolidation, result, source, source's previous state,
        consolidation status)`` in which one of ``ids`` is the result or a source."""
        if not ids:
            return []
        marks = placeholders(len(ids))
        with self.lock:
            rows = self._rows(
                "SELECT l.consolidation_id, l.result_id, l.source_id, l.source_prev_state, "
                "c.status FROM lineage l JOIN consolidations c ON c.id = l.consolidation_id "
                f"WHERE l.result_id IN ({marks}) OR l.source_id IN ({marks}) ORDER BY 1, 2, 3",
                (*ids, *ids),
            )
        return [(int(c), int(r), int(s), str(p), str(st)) for c, r, s, p, st in rows]

    def routed_paths(self, ids: Sequence[int]) -> list[str]:
        """Files (CLAUDE.md, rules) that routing wrote a line of ``ids`` into, still there."""
        if not ids:
            return []
        with self.lock:
            rows = self._rows(
                "SELECT DISTINCT path FROM routes WHERE status = 'written' "
                f"AND memory_id IN ({placeholders(len(ids))}) ORDER BY 1",
                tuple(ids),
            )
        return [str(r[0]) for r in rows]

    def erase(
        self,
        ids: Sequence[int],
        line_keys: Sequence[tuple[str, str]],
        restore: Mapping[int, str],
    ) -> bool:
        """Delete ``ids`` for good (see the module docstring) in one transaction: their lineage
        rows and the consolidations left without any, one count of each of their
        ``line_keys`` (``(project, key)``); ``restore`` puts merge sources whose result goes
        back into their previous state. Returns whether the ``-wal`` was emptied (a reader in
        another process can keep old pages in it until it finishes)."""
        if not ids:
            return True
        marks = placeholders(len(ids))
        with self.lock, self._secure_delete():
            with self.transaction():
                touched = [
                    int(r[0])
                    for r in self._rows(
                        "DELETE FROM lineage WHERE result_id IN "
                        f"({marks}) OR source_id IN ({marks}) RETURNING consolidation_id",
                        (*ids, *ids),
                    )
                ]
                self.db.executemany(
                    "DELETE FROM consolidations WHERE id = ? AND NOT EXISTS "
                    "(SELECT 1 FROM lineage WHERE consolidation_id = ?)",
                    [(c, c) for c in sorted(set(touched))],
                )
                for mid, state in restore.items():
                    self.set_state(mid, state)
                self.db.executemany(
                    "UPDATE line_stats SET memories = memories - 1 WHERE project = ? AND key = ?",
                    list(line_keys),
                )
                self.db.execute("DELETE FROM line_stats WHERE memories <= 0")
                self.purge(ids)
                self._compact_text_indexes()
            return self.checkpoint()

    @contextmanager
    def _secure_delete(self) -> Iterator[None]:
        """Freed cells and pages overwritten with zeros while erasing (SQLite's
        ``secure_delete``), the setting restored after."""
        prior = int(scalar(self.db, "PRAGMA secure_delete"))
        self.db.execute("PRAGMA secure_delete = ON")
        try:
            yield
        finally:
            self.db.execute(f"PRAGMA secure_delete = {prior}")

    def _compact_text_indexes(self) -> None:
        """Merge the full-text segments, so no deleted row's tokens stay in old ones."""
        for table in ("memories_fts", "recall_fts"):
            self.db.execute(f"INSERT INTO {table} ({table}) VALUES ('optimize')")

    def checkpoint(self) -> bool:
        """Copy every page of the ``-wal`` into the database file and empty the ``-wal``;
        False when a reader in another process kept part of it."""
        with self.lock:
            row = self._row("PRAGMA wal_checkpoint(TRUNCATE)")
        return row is not None and int(row[0]) == 0
