"""Vectors on PostgreSQL: each memory's embedding in a pgvector ``vector(D)`` column with an
HNSW index on cosine distance, and nearest-neighbour search over it (:meth:`PgVectors.knn`).

``memory_vectors`` carries copies of the columns a KNN query filters on (project, state and
``owner``, the author of a private memory), so the filter is applied inside the index scan:
pgvector 0.8's iterative scan (``hnsw.iterative_scan = relaxed_order``) keeps walking the graph
until ``k`` rows pass it, instead of returning fewer than asked for a narrow project.
A scope holding no more vectors than the candidate pool is searched exactly (a sequential
scan), as the SQLite store does, so small projects get exact answers.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mcp_memory.store.postgres.connection import PgPart
from mcp_memory.store.schema import ACTIVE_STATES, MAX_CANDIDATES
from mcp_memory.store.vectors import StoreVectors

EF_SEARCH_MIN = 100  # the HNSW candidate list of a query, raised to k when k is larger
EF_SEARCH_MAX = 1000  # pgvector's ceiling


class PgVectors(PgPart, StoreVectors):
    """The vector table of :class:`~mcp_memory.store.postgres.database.PgStore`."""

    def set_vector(self, memory_id: int, vector: np.ndarray, project: str, state: str) -> None:
        with self.transaction():
            vec = self._checked_vector(vector)
            self._pg.run(
                "INSERT INTO memory_vectors (memory_id, embedding, project, state, owner) "
                "SELECT id, %s, %s, %s, CASE WHEN visibility = 'private' THEN author END "
                "FROM memories WHERE id = %s "
                "ON CONFLICT (memory_id) DO UPDATE SET embedding = excluded.embedding, "
                "project = excluded.project, state = excluded.state, owner = excluded.owner, "
                "topic_hash = NULL, topic_embedding = NULL",
                (vec, project, state, memory_id),
            )
            self._pg.run("UPDATE memories SET embedded = 1 WHERE id = %s", (memory_id,))

    def vectors(self, ids: Sequence[int]) -> dict[int, np.ndarray]:
        if not ids:
            return {}
        with self.lock:
            rows = self._pg.run(
                "SELECT memory_id, embedding FROM memory_vectors WHERE memory_id = ANY(%s)",
                (list(ids),),
            ).fetchall()
        return {int(i): np.asarray(v.to_numpy(), dtype=np.float32) for i, v in rows}

    def knn(
        self,
        query: np.ndarray,
        k: int,
        *,
        projects: Sequence[str] | None,
        states: Sequence[str] = ACTIVE_STATES,
        oversample: int = 10,
        min_candidates: int = 400,
    ) -> list[tuple[int, float]]:
        """Nearest memories by cosine similarity, best first, as ``(id, similarity)``: exact
        when the scope holds at most ``max(k * oversample, min_candidates)`` vectors, else
        from the HNSW index with ``ef_search = max(100, k)`` (recall@10 measured in
        ``docs/benchmarks.md``, section "PostgreSQL")."""
        if self.model is None or k <= 0:
            return []
        q = np.ascontiguousarray(query, dtype=np.float32)
        pool = min(MAX_CANDIDATES, max(k * oversample, min_candidates))
        where = ["state = ANY(%s)", "(owner IS NULL OR owner = %s)"]
        params: list[object] = [list(states), self.user]
        if projects is not None:
            where.append("project = ANY(%s)")
            params.append(list(projects))
        scope = " AND ".join(where)
        with self.lock:
            in_scope = self._pg.run(
                f"SELECT count(*) FROM (SELECT 1 FROM memory_vectors WHERE {scope} LIMIT %s) s",
                (*params, pool + 1),
            ).fetchone()[0]
            # `+ 0` keeps the planner off the index: the exact distance of every row.
            order = "embedding <=> %b" if in_scope > pool else "(embedding <=> %b) + 0"
            ef = min(EF_SEARCH_MAX, max(EF_SEARCH_MIN, k))
            self._pg.run("SELECT set_config('hnsw.ef_search', %s, false)", (str(ef),))
            rows = self._pg.run(
                "SELECT memory_id, d FROM (SELECT memory_id, embedding <=> %b AS d "
                f"FROM memory_vectors WHERE {scope} ORDER BY {order} LIMIT %s) hits "
                "ORDER BY d, memory_id",
                (q, *params, q, k),
            ).fetchall()
        return [(int(i), 1.0 - float(d)) for i, d in rows]

    def topic_vectors(self, ids: Sequence[int]) -> dict[int, tuple[str | None, np.ndarray | None]]:
        if not ids:
            return {}
        with self.lock:
            rows = self._pg.run(
                "SELECT memory_id, topic_hash, topic_embedding FROM memory_vectors "
                "WHERE memory_id = ANY(%s)",
                (list(ids),),
            ).fetchall()
        return {
            int(i): (h, None if b is None else np.frombuffer(b, dtype=np.float32))
            for i, h, b in rows
        }

    def set_topic_vector(self, memory_id: int, topic_hash: str, vector: np.ndarray) -> None:
        with self.transaction():
            self._guard_vectors()
            self._pg.run(
                "UPDATE memory_vectors SET topic_hash = %s, topic_embedding = %s "
                "WHERE memory_id = %s",
                (topic_hash, np.ascontiguousarray(vector, dtype=np.float32).tobytes(), memory_id),
            )
