"""What the SQLite store does to its own index tables, done the PostgreSQL way.

SQLite keeps the vector index (vec0) and the full-text indexes (FTS5) in tables with no
foreign keys, so the shared mixins call hooks to keep them in step; here the vector row
follows its memory by ``ON DELETE CASCADE``, the ``tsvector`` is a generated column, and a
hard delete ends with ``VACUUM`` so the dead row versions holding the text are reclaimed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from mcp_memory.store.postgres.connection import PgPart


class PgIndexes(PgPart):
    """The index upkeep of :class:`~mcp_memory.store.postgres.database.PgStore`."""

    def _index_state(self, memory_id: int, state: str) -> None:
        self._pg.run(
            "UPDATE memory_vectors SET state = %s WHERE memory_id = %s", (state, memory_id)
        )

    def _unindex(self, ids: Sequence[int]) -> None:
        """Nothing: vector rows go with their memory (foreign key with cascade)."""

    def _index_counts(self) -> dict[str, int]:
        """The vector index covers every row of ``memory_vectors`` (it is an index on that
        table, not a table of its own), so it holds as many entries as that table has rows."""
        if self.model is None:
            return {}
        row = self._pg.run("SELECT count(*) FROM memory_vectors").fetchone()
        return {"memory_index": int(row[0])}

    @contextmanager
    def _secure_delete(self) -> Iterator[None]:
        yield

    def _compact_text_indexes(self) -> None:
        """Nothing: the text index is a column of the memory row itself."""

    def checkpoint(self) -> bool:
        """Reclaim the dead row versions that still hold erased text (``VACUUM``; needs no
        transaction to be open, and another session's old snapshot can keep them)."""
        with self.lock:
            self._pg.run("VACUUM memories, memory_vectors, memory_tags")
        return True
