"""Vectors: each memory's float32 embedding and topic embedding (``memory_vectors``), its binary
code in the sqlite-vec ``memory_index``, and nearest-neighbour search over them (:meth:`knn`).

A KNN query takes its candidates from the binary codes held in RAM (:mod:`mcp_memory.store.bit_index`)
or, when that index cannot serve, from two scans of ``memory_index``; either way the candidates
are rescored exactly with the full vectors.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mcp_memory.errors import ModelMismatchError, StoreError
from mcp_memory.store.base import StoreBase, placeholders
from mcp_memory.store.bit_codes import SHORTLIST_FACTOR
from mcp_memory.store.migrations import scalar
from mcp_memory.store.schema import ACTIVE_STATES, MAX_CANDIDATES


def index_sql(name: str, dimension: int) -> str:
    """The vec0 table of binary-quantized vectors (see the module docstring of ``store.py``)."""
    return (
        f"CREATE VIRTUAL TABLE {name} USING vec0("
        f"embedding bit[{dimension}], project text, state text)"
    )


class StoreVectors(StoreBase):
    """The vector tables of :class:`~mcp_memory.store.database.Store`."""

    def _guard_vectors(self) -> None:
        """Refuse this process's vectors when the database's model is not theirs (call inside
        a transaction, after the model was re-read)."""
        model, mine = self.model, self.vector_model
        if model is None or mine is None or mine == (model.model_id, model.dimension):
            return
        raise ModelMismatchError(
            f"database {self.path} now uses {model.model_id} ({model.dimension}-d), switched by "
            f"`memcycle reindex` while this process ran with {mine[0]} ({mine[1]}-d); "
            "restart it (in Claude Code: /mcp, then reconnect the memory server)"
        )

    def _checked_vector(self, vector: np.ndarray) -> np.ndarray:
        """``vector`` as float32 once it fits the database's model (inside the write)."""
        vec = np.ascontiguousarray(vector, dtype=np.float32)
        if self.model is None:
            raise StoreError("the database has no model recorded; call init_model first")
        self._guard_vectors()
        if vec.shape != (self.model.dimension,) or not np.all(np.isfinite(vec)):
            raise StoreError(
                f"refusing a vector of shape {vec.shape}; the database is "
                f"{self.model.dimension}-d {self.model.model_id}"
            )
        return vec

    def set_vector(self, memory_id: int, vector: np.ndarray, project: str, state: str) -> None:
        with self.transaction():
            blob = self._checked_vector(vector).tobytes()
            self.db.execute(
                "INSERT OR REPLACE INTO memory_vectors (memory_id, embedding) VALUES (?, ?)",
                (memory_id, blob),
            )
            self.db.execute("DELETE FROM memory_index WHERE rowid = ?", (memory_id,))
            self.db.execute(
                "INSERT INTO memory_index (rowid, embedding, project, state) "
                "VALUES (?, vec_quantize_binary(?), ?, ?)",
                (memory_id, blob, project, state),
            )
            self.db.execute("UPDATE memories SET embedded = 1 WHERE id = ?", (memory_id,))

    def vectors(self, ids: Sequence[int]) -> dict[int, np.ndarray]:
        if not ids:
            return {}
        with self.lock:
            rows = self._rows(
                f"SELECT memory_id, embedding FROM memory_vectors "
                f"WHERE memory_id IN ({placeholders(len(ids))})",
                tuple(ids),
            )
        return {int(i): np.frombuffer(b, dtype=np.float32) for i, b in rows}

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
        """Nearest memories by cosine: binary-code candidates, rescored exactly.

        ``pool = max(k * oversample, min_candidates)`` memories (at most 4096) are rescored with
        their float32 vectors; a scope (projects and states) holding no more embedded memories
        than that is rescored whole, so the result is exact. Candidates come from the binary
        codes held in RAM (:mod:`mcp_memory.store.bit_index`): the rows within ``1.25 * sqrt(D)`` bits
        of the k-th nearest code, at most ``4 * pool``, re-ranked by ``q . sign(x)`` down to the
        pool. When that index cannot serve (see its docstring), two sqlite-vec scans of
        ``memory_index`` pick the same shortlist and all of it is rescored (:meth:`_knn_vec0`).
        Numbers in ``docs/benchmarks.md``, section "recall" (``bench/recall.py``): at 100k x
        1024-d the default pool gives recall@10 >= 0.99 against exact search in a few ms.
        """
        if self.model is None or k <= 0:
            return []
        q = np.ascontiguousarray(query, dtype=np.float32)
        pool = min(MAX_CANDIDATES, max(k * oversample, min_candidates))
        with self.lock:
            hits = self.bit_index.search(q, k, projects=projects, states=states, pool=pool)
            if hits is not None:
                return hits
            shortlist = min(MAX_CANDIDATES, SHORTLIST_FACTOR * pool)
            return self._knn_vec0(q, k, projects, states, shortlist)

    def _knn_vec0(
        self,
        q: np.ndarray,
        k: int,
        projects: Sequence[str] | None,
        states: Sequence[str],
        pool: int,
    ) -> list[tuple[int, float]]:
        """:meth:`knn` by sqlite-vec scans of ``memory_index``; ``pool`` candidates rescored.

        Two scans: one scan for the ``pool`` nearest codes would cost N x pool (sqlite-vec
        0.1.9 picks each 1,024-row chunk's top k with k linear passes), while a ``distance <=
        limit`` constraint costs what the rows that pass it cost. So the first scan finds the
        k-th nearest Hamming distance, and the second takes every code within ``1.25 *
        sqrt(D)`` bits of it, nearest first, up to the pool.
        """
        assert self.model is not None
        blob = q.tobytes()
        margin = float(np.ceil(1.25 * np.sqrt(self.model.dimension)))
        where = [f"state IN ({placeholders(len(states))})"]
        filters: list[object] = [*states]
        if projects is not None:
            where.append(f"project IN ({placeholders(len(projects))})")
            filters.extend(projects)
        scope = " AND ".join(where)
        scan = (
            "SELECT rowid, distance FROM memory_index WHERE embedding MATCH "
            f"vec_quantize_binary(?) AND k = ? {{}} AND {scope}"
        )
        in_scope = scalar(
            self.db,
            f"SELECT count(*) FROM (SELECT 1 FROM memories WHERE {scope} AND embedded = 1 LIMIT ?)",
            (*filters, pool + 1),
        )
        if in_scope <= pool:
            rows = self._rows(scan.format(""), (blob, pool, *filters))
        else:
            rows = self._rows(scan.format(""), (blob, min(k, pool), *filters))
            if len(rows) == min(k, pool):
                limit = float(rows[-1][1]) + margin
                rows = self._rows(scan.format("AND distance <= ?"), (blob, pool, limit, *filters))
        ids = [int(r[0]) for r in rows]
        if not ids:
            return []
        blobs = self._rows(
            f"SELECT memory_id, embedding FROM memory_vectors "
            f"WHERE memory_id IN ({placeholders(len(ids))})",
            tuple(ids),
        )
        row_ids = np.fromiter((r[0] for r in blobs), dtype=np.int64, count=len(blobs))
        matrix = np.frombuffer(b"".join(r[1] for r in blobs), dtype=np.float32).reshape(
            len(blobs), -1
        )
        sims = matrix @ q
        top = np.argsort(-sims, kind="stable")[:k]
        return [(int(row_ids[i]), float(sims[i])) for i in top]

    def topic_vectors(self, ids: Sequence[int]) -> dict[int, tuple[str | None, np.ndarray | None]]:
        if not ids:
            return {}
        with self.lock:
            rows = self._rows(
                "SELECT memory_id, topic_hash, topic_embedding FROM memory_vectors "
                f"WHERE memory_id IN ({placeholders(len(ids))})",
                tuple(ids),
            )
        return {
            int(i): (h, None if b is None else np.frombuffer(b, dtype=np.float32))
            for i, h, b in rows
        }

    def set_topic_vector(self, memory_id: int, topic_hash: str, vector: np.ndarray) -> None:
        with self.transaction():
            self._guard_vectors()
            self.db.execute(
                "UPDATE memory_vectors SET topic_hash = ?, topic_embedding = ? WHERE memory_id = ?",
                (topic_hash, np.ascontiguousarray(vector, dtype=np.float32).tobytes(), memory_id),
            )
