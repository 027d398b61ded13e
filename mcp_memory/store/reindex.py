"""The staging area of a re-embed (``memcycle reindex``): new vectors wait in their own table,
``reindex_vectors``, and the target model in ``meta`` (``reindex_*`` keys), until one
transaction switches the database to them (:meth:`StoreReindex.switch_to_staged`). The steps
and why they are safe while sessions run: :mod:`mcp_memory.lifecycle.reindex`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from mcp_memory.store.base import ModelInfo, StoreBase, placeholders
from mcp_memory.store.migrations import scalar
from mcp_memory.store.vectors import index_sql

REINDEX_KEYS = ("reindex_model", "reindex_dimension", "reindex_pooling", "reindex_started_at")


class StoreReindex(StoreBase):
    """The ``reindex_vectors`` table and ``reindex_*`` meta keys of
    :class:`~mcp_memory.store.database.Store`."""

    def reindex_target(self) -> tuple[str, int] | None:
        """The model (id, dimension) an unfinished reindex is moving to, if any."""
        with self.lock:
            rows = dict(self._rows("SELECT key, value FROM meta WHERE key LIKE 'reindex_%'"))
        if "reindex_model" not in rows:
            return None
        return str(rows["reindex_model"]), int(rows["reindex_dimension"])

    def begin_reindex(self, model_id: str, dimension: int, pooling: str) -> tuple[int, int]:
        """In one transaction: create the staging table, keep the staged vectors when they are
        for this model (a resumed run) or drop them and record the new target, and return
        ``(already staged, vectors to replace)``."""
        with self.transaction():
            self.db.execute(
                "CREATE TABLE IF NOT EXISTS reindex_vectors ("
                "memory_id INTEGER PRIMARY KEY REFERENCES memories (id) ON DELETE CASCADE, "
                "embedding BLOB NOT NULL)"
            )
            if self.reindex_target() != (model_id, dimension):  # fresh start or change of mind
                self.db.execute("DELETE FROM reindex_vectors")
                self._forget_target()
                self.db.execute(
                    "INSERT INTO meta (key, value) VALUES (?, ?), (?, ?), (?, ?), (?, ?)",
                    (
                        "reindex_model",
                        model_id,
                        "reindex_dimension",
                        str(dimension),
                        "reindex_pooling",
                        pooling,
                        "reindex_started_at",
                        str(time.time()),
                    ),
                )
            staged = int(scalar(self.db, "SELECT count(*) FROM reindex_vectors"))
            total = int(scalar(self.db, "SELECT count(*) FROM memory_vectors"))
        return staged, total

    def _forget_target(self) -> None:
        self.db.execute(
            f"DELETE FROM meta WHERE key IN ({placeholders(len(REINDEX_KEYS))})", REINDEX_KEYS
        )

    def reindex_remaining(self, limit: int) -> list[tuple[int, str]]:
        """``(id, content)`` of up to ``limit`` memories with a vector but no staged one yet,
        oldest first."""
        with self.lock:
            rows = self._rows(
                "SELECT m.id, m.content FROM memory_vectors v JOIN memories m "
                "ON m.id = v.memory_id WHERE NOT EXISTS (SELECT 1 FROM reindex_vectors r "
                "WHERE r.memory_id = v.memory_id) ORDER BY m.id LIMIT ?",
                (limit,),
            )
        return [(int(i), str(c)) for i, c in rows]

    def stage_vectors(self, vectors: Sequence[tuple[int, bytes]]) -> None:
        """Store new float32 vectors ``(memory id, blob)`` in the staging table, in one
        transaction; memories deleted meanwhile are skipped."""
        with self.transaction():
            self.db.executemany(
                "INSERT OR REPLACE INTO reindex_vectors (memory_id, embedding) "
                "SELECT ?, ? WHERE EXISTS (SELECT 1 FROM memories WHERE id = ?)",
                [(mid, blob, mid) for mid, blob in vectors],
            )

    def switch_to_staged(self, old: ModelInfo, model_id: str, dimension: int, pooling: str) -> int:
        """Make the staged vectors the database's vectors (joins the caller's transaction):
        rebuild ``memory_index`` at the new dimension, replace ``memory_vectors``, clear topic
        vectors and the old model's route embeddings, record the new model and drop the
        staging area. Returns the new ``model_generation``."""
        with self.transaction():
            self.db.execute("DROP TABLE memory_index")
            self.db.execute(index_sql("memory_index", dimension))
            self.db.execute(
                "INSERT INTO memory_index (rowid, embedding, project, state) "
                "SELECT r.memory_id, vec_quantize_binary(r.embedding), m.project, m.state "
                "FROM reindex_vectors r JOIN memories m ON m.id = r.memory_id "
                "WHERE EXISTS (SELECT 1 FROM memory_vectors v WHERE v.memory_id = r.memory_id)"
            )
            self.db.execute(
                "UPDATE memory_vectors SET embedding = (SELECT r.embedding FROM reindex_vectors r "
                "WHERE r.memory_id = memory_vectors.memory_id), topic_hash = NULL, "
                "topic_embedding = NULL"
            )
            self.db.execute("DELETE FROM route_embeddings WHERE model = ?", (old.model_id,))
            row = self._row("SELECT value FROM meta WHERE key = 'model_generation'")
            generation = 1 + int(0 if row is None else row[0])
            now = str(time.time())
            self.db.executemany(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                [
                    ("model_id", model_id),
                    ("dimension", str(dimension)),
                    ("pooling", pooling),
                    ("model_recorded_at", now),
                    ("model_generation", str(generation)),
                    ("previous_model", f"{old.model_id} ({old.dimension}-d)"),
                ],
            )
            self._forget_target()
            self.db.execute("DROP TABLE reindex_vectors")
            self.model = ModelInfo(model_id, dimension, pooling)
        return generation
