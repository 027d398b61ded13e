"""Vectors on PostgreSQL: each memory's embedding in a pgvector ``vector(D)`` column, and
nearest-neighbour search over it (:meth:`PgVectors.knn`) in two stages, as the SQLite store
does: candidates from an HNSW index over the vectors' sign bits (``binary_quantize``, Hamming
distance; :func:`~mcp_memory.store.postgres.migrations.vector_index`), then exact cosine
distances of those candidates. The bit graph holds 128 bytes a vector at 1024-d where a
float one holds 4 KB (~4 GB at 1M, more than a small server's memory for an in-memory build);
at 1M x 1024-d it built in 11 minutes on two shared cores, and a pool of 400 rescored gives
recall@10 0.986-0.988 (``docs/benchmarks.md``, section "postgres-scale"). The Hamming
ranking is what needs that pool: exact Hamming top-200 finds 0.97-0.99 of the 10 nearest.

``memory_vectors`` carries copies of the columns a KNN query filters on (project, state and
``owner``, the author of a private memory), so the filter is applied inside the index scan:
pgvector 0.8's iterative scan (``hnsw.iterative_scan = relaxed_order``) keeps walking the graph
until enough rows pass it, instead of returning fewer than asked for a narrow project.
A scope holding no more vectors than the candidate pool is searched exactly (a sequential
scan), as the SQLite store does, so small projects get exact answers.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mcp_memory.store.postgres.connection import PgPart
from mcp_memory.store.schema import ACTIVE_STATES, MAX_CANDIDATES
from mcp_memory.store.vectors import StoreVectors

EF_SEARCH_MAX = 1000  # pgvector's ceiling; a larger pool is reached by the iterative scan


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
        when the scope holds at most ``pool = max(k * oversample, min_candidates)`` vectors,
        else the ``pool`` nearest by Hamming distance of their sign bits (the HNSW index, with
        ``ef_search = pool``) rescored by exact cosine (recall@10 measured in
        ``docs/benchmarks.md``, sections "postgres" and "postgres-scale")."""
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
        bits = f"binary_quantize(embedding)::bit({int(self.model.dimension)})"
        with self.lock:
            in_scope = self._pg.run(
                f"SELECT count(*) FROM (SELECT 1 FROM memory_vectors WHERE {scope} LIMIT %s) s",
                (*params, pool + 1),
            ).fetchone()[0]
            if in_scope > pool:
                self._pg.run(
                    "SELECT set_config('hnsw.ef_search', %s, false)",
                    (str(min(EF_SEARCH_MAX, pool)),),
                )
                candidates = (
                    f"SELECT memory_id, embedding FROM memory_vectors WHERE {scope} "
                    f"ORDER BY {bits} <~> binary_quantize(%b) LIMIT %s"
                )
                args: list[object] = [*params, q, pool]
            else:  # a small scope: every row in it
                candidates = f"SELECT memory_id, embedding FROM memory_vectors WHERE {scope}"
                args = list(params)
            rows = self._pg.run(
                f"SELECT memory_id, embedding <=> %b AS d FROM ({candidates}) c "
                "ORDER BY d, memory_id LIMIT %s",
                (q, *args, k),
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
