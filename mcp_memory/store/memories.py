"""Memory rows: storing a memory (with its tags, line statistics and session chain), changing
its state, purging, reading it back, and the counts ``stats`` reports.

A memory stored with a ``session_id`` joins that session's chain: ``prev_id`` points to the
session's previous memory in the project, and ``context`` holds its neighbours' text.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from mcp_memory.errors import NotFoundError, StoreError, ValidationError
from mcp_memory.store.base import (
    MEMORY_COLUMNS,
    Memory,
    NewMemory,
    placeholders,
    row_to_memory,
)
from mcp_memory.store.migrations import scalar
from mcp_memory.store.schema import ACTIVE_STATES, STATES
from mcp_memory.store.vectors import StoreVectors
from mcp_memory.text.labels import label_of

MAX_ID = 2**63 - 1  # the largest id SQLite can store
CONTEXT_CHARS = 1000  # of each neighbour's text kept in a memory's ``context``


def _context(before: str, after: str) -> str:
    """The ``context`` of a memory: its neighbours' text, each clipped, one per line."""
    return "\n".join(p[:CONTEXT_CHARS] for p in (before, after) if p)


class StoreMemories(StoreVectors):
    """The memory rows of :class:`~mcp_memory.store.database.Store` (a memory is stored with its vector,
    so this part builds on :class:`~mcp_memory.store.vectors.StoreVectors`)."""

    def insert(self, memory: NewMemory, vector: np.ndarray | None = None) -> int:
        """Store one memory. With a ``session_id`` it joins that session's chain: ``prev_id``
        points to the session's previous memory in the project, and each of the two carries
        the other's text in ``context`` (the lower-weighted third column of ``recall_fts``)."""
        now = time.time()
        with self.transaction():
            # The project's counter first: on PostgreSQL its row lock orders the project's
            # writers, so the session chain below reads what the one before committed.
            seq = scalar(
                self.db,
                "INSERT INTO project_counters (project, seq) VALUES (?, 1) "
                "ON CONFLICT (project) DO UPDATE SET seq = project_counters.seq + 1 RETURNING seq",
                (memory.project,),
            )
            prev = None
            if memory.session_id is not None:
                prev = self._row(
                    "SELECT id, content, prev_id FROM memories WHERE project = ? "
                    "AND session_id = ? ORDER BY id DESC LIMIT 1",
                    (memory.project, memory.session_id),
                )
            inserted = self._row(
                "INSERT INTO memories (content, content_hash, type, project, tags, source, "
                "session_id, state, protected, created_at, updated_at, metadata, seq, age_from, "
                "prev_id, context, label, last_recalled_at, recall_count, reprieves, author, "
                "visibility) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
                "ON CONFLICT DO NOTHING RETURNING id",
                (
                    memory.content,
                    memory.content_hash,
                    memory.type,
                    memory.project,
                    " ".join(memory.tags),
                    memory.source,
                    memory.session_id,
                    memory.state,
                    int(memory.protected),
                    now if memory.created_at is None else memory.created_at,
                    now if memory.updated_at is None else memory.updated_at,
                    json.dumps(memory.metadata),
                    seq,
                    seq,
                    None if prev is None else int(prev[0]),
                    "" if prev is None else _context(str(prev[1]), ""),
                    label_of(memory.content),
                    memory.last_recalled_at,
                    memory.recall_count,
                    memory.reprieves,
                    self.user if memory.author is None else memory.author,
                    memory.visibility,
                ),
            )
            if inserted is None:
                # Another writer (process or machine) stored the same text since the caller
                # looked: that row is the memory, and nothing is written twice.
                twin = self.find_hash(memory.project, memory.content_hash)
                if twin is None:
                    raise StoreError(
                        "this memory collides with one stored by another author that this user "
                        "may not see; store it as a team memory or reword it"
                    )
                return twin.id
            mid = int(inserted[0])
            if prev is not None:  # the previous memory now has this one after it
                before = (
                    None
                    if prev[2] is None
                    else self._row("SELECT content FROM memories WHERE id = ?", (prev[2],))
                )
                self.db.execute(
                    "UPDATE memories SET context = ? WHERE id = ?",
                    (_context("" if before is None else str(before[0]), memory.content), prev[0]),
                )
            self.db.executemany(
                "INSERT OR IGNORE INTO memory_tags (memory_id, tag) VALUES (?, ?)",
                [(mid, t) for t in memory.tags],
            )
            self.db.executemany(
                "INSERT INTO line_stats (project, key, memories) VALUES (?, ?, 1) "
                "ON CONFLICT (project, key) DO UPDATE SET memories = line_stats.memories + 1",
                [(memory.project, k) for k in sorted(set(memory.line_keys))],  # one lock order
            )
            if vector is not None:
                self.set_vector(int(mid), vector, memory.project, memory.state)
        return int(mid)

    def set_state(self, memory_id: int, state: str) -> None:
        if state not in STATES:
            raise StoreError(f"unknown state {state!r}")
        with self.transaction():
            now = time.time()
            changed = self._rows(
                "UPDATE memories SET state = ?, updated_at = ?, state_changed_at = ? "
                "WHERE id = ? RETURNING id",
                (state, now, now, memory_id),
            )
            if not changed:
                raise NotFoundError(f"no memory with id {memory_id}")
            self._index_state(memory_id, state)

    def _index_state(self, memory_id: int, state: str) -> None:
        """Keep the vector index's copy of a memory's state in step (KNN filters on it)."""
        if self.model is not None:
            self.db.execute("UPDATE memory_index SET state = ? WHERE rowid = ?", (state, memory_id))

    def purge(self, ids: Sequence[int]) -> None:
        """Delete memories for good (tags, vectors, links and index rows go with them). Their
        session neighbours are chained around them and lose their text from ``context``."""
        if not ids:
            return
        marks = placeholders(len(ids))
        with self.transaction():
            prevs: dict[int, int | None] = dict(
                self._rows(f"SELECT id, prev_id FROM memories WHERE id IN ({marks})", ids)
            )
            self._unindex(ids)
            self.db.execute(f"DELETE FROM memories WHERE id IN ({marks})", tuple(ids))
            nexts = [
                int(r[0])
                for r in self._rows(f"SELECT id FROM memories WHERE prev_id IN ({marks})", ids)
            ]
            for mid in nexts:
                prev = self._row("SELECT prev_id FROM memories WHERE id = ?", (mid,))[0]
                while prev in prevs:  # skip over every purged memory
                    prev = prevs[prev]
                self.db.execute("UPDATE memories SET prev_id = ? WHERE id = ?", (prev, mid))
            survivors = {p for p in prevs.values() if p is not None and p not in prevs}
            self._rechain(sorted(survivors | set(nexts)))

    def _unindex(self, ids: Sequence[int]) -> None:
        """Drop memories from the vector index (a vec0 table has no foreign key to cascade)."""
        if self.model is not None:
            marks = placeholders(len(ids))
            self.db.execute(f"DELETE FROM memory_index WHERE rowid IN ({marks})", tuple(ids))

    def _rechain(self, ids: Sequence[int]) -> None:
        """Recompute ``context`` of ``ids`` from their current session neighbours."""
        for mid in ids:
            before = self._row(
                "SELECT p.content FROM memories m JOIN memories p ON p.id = m.prev_id "
                "WHERE m.id = ?",
                (mid,),
            )
            after = self._row(
                "SELECT content FROM memories WHERE prev_id = ? ORDER BY id LIMIT 1", (mid,)
            )
            text = _context("" if before is None else before[0], "" if after is None else after[0])
            self.db.execute("UPDATE memories SET context = ? WHERE id = ?", (text, mid))

    def expire(self, memory_id: int) -> None:
        """Make a memory a tombstone: out of recall, restorable until it is purged."""
        self.set_state(memory_id, "expired")

    def aging_candidates(self, age_after: int, project: str | None = None) -> list[int]:
        """Unprotected buffer memories that linking has run for, still without a link after
        ``age_after`` newer memories of their project (of ``project`` only, if given)."""
        where = (
            "m.state = 'buffer' AND m.protected = 0 AND m.connected = 1 "
            "AND (SELECT c.seq FROM project_counters c WHERE c.project = m.project) - m.age_from "
            ">= ? AND NOT EXISTS (SELECT 1 FROM links l WHERE l.source_id = m.id "
            "OR l.target_id = m.id)"
        )
        seen, seen_params = self.visible("m")
        where += f" AND {seen}"
        params: list[object] = [age_after, *seen_params]
        if project is not None:
            where += " AND m.project = ?"
            params.append(project)
        with self.lock:
            rows = self._rows(f"SELECT m.id FROM memories m WHERE {where} ORDER BY m.id", params)
        return [int(r[0]) for r in rows]

    def expired_before(self, cutoff: float) -> list[int]:
        """Tombstones expired before ``cutoff`` that no consolidation lists as a source (undo
        must find those): what aging purges."""
        seen, seen_params = self.visible()
        with self.lock:
            rows = self._rows(
                "SELECT id FROM memories WHERE state = 'expired' AND state_changed_at < ? "
                f"AND id NOT IN (SELECT source_id FROM lineage) AND {seen} ORDER BY id",
                (cutoff, *seen_params),
            )
        return [int(r[0]) for r in rows]

    def record_recalls(self, ids: Iterable[int]) -> None:
        now = time.time()
        with self.transaction():
            self.db.executemany(
                "UPDATE memories SET recall_count = recall_count + 1, last_recalled_at = ? "
                "WHERE id = ?",
                [(now, i) for i in ids],
            )

    def pending(self, column: str, limit: int) -> list[int]:
        """Active memories not yet ``embedded`` or ``connected`` (oldest first)."""
        if column not in ("embedded", "connected"):
            raise StoreError(f"unknown column {column!r}")
        extra = " AND embedded = 1" if column == "connected" else ""
        seen, seen_params = self.visible()
        with self.lock:
            rows = self._rows(
                f"SELECT id FROM memories WHERE {column} = 0{extra} "
                f"AND state IN ('buffer', 'proven') AND {seen} ORDER BY id LIMIT ?",
                (*seen_params, limit),
            )
        return [int(r[0]) for r in rows]

    def pending_count(self, column: str) -> int:
        """How many memories :meth:`pending` would return without a limit."""
        if column not in ("embedded", "connected"):
            raise StoreError(f"unknown column {column!r}")
        extra = " AND embedded = 1" if column == "connected" else ""
        seen, seen_params = self.visible()
        with self.lock:
            return int(
                scalar(
                    self.db,
                    f"SELECT count(*) FROM memories WHERE {column} = 0{extra} "
                    f"AND state IN ('buffer', 'proven') AND {seen}",
                    seen_params,
                )
            )

    def memory_ids(self, projects: Sequence[str] | None = None) -> list[int]:
        """Ids of every memory (of ``projects``, if given; any state), ascending."""
        where, params = self.visible()
        if projects is not None:
            where += f" AND project IN ({placeholders(len(projects))})"
            params = (*params, *projects)
        with self.lock:
            rows = self._rows(f"SELECT id FROM memories WHERE {where} ORDER BY id", params)
        return [int(r[0]) for r in rows]

    def project_seq(self, project: str) -> int:
        with self.lock:
            row = self._row("SELECT seq FROM project_counters WHERE project = ?", (project,))
        return 0 if row is None else int(row[0])

    def update_memory(self, memory_id: int, **fields: Any) -> None:
        allowed = {"age_from", "reprieves", "protected", "type", "metadata", "recall_count"}
        unknown = set(fields) - allowed
        if unknown:
            raise StoreError(f"cannot update {sorted(unknown)}")
        values = [
            json.dumps(v) if k == "metadata" else int(v) if isinstance(v, bool) else v
            for k, v in fields.items()
        ]
        assignments = ", ".join(f"{k} = ?" for k in fields)
        with self.transaction():
            self.db.execute(
                f"UPDATE memories SET {assignments}, updated_at = ? WHERE id = ?",
                (*values, time.time(), memory_id),
            )

    def query_ids(self, where: str, params: Sequence[Any] = ()) -> list[int]:
        """Ids of memories matching a WHERE clause written by this package (never user text)."""
        with self.lock:
            rows = self._rows(f"SELECT id FROM memories WHERE {where}", tuple(params))
        return [int(r[0]) for r in rows]

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Run package-written SQL (inside the caller's transaction when there is one)."""
        with self.lock:
            return self._rows(sql, params)

    def get(self, memory_id: int) -> Memory:
        found = self.get_many([memory_id])
        if not found:
            raise NotFoundError(f"no memory with id {memory_id}")
        return found[memory_id]

    def get_many(self, ids: Sequence[int]) -> dict[int, Memory]:
        if not ids:
            return {}
        for memory_id in ids:  # SQLite's integers end at 2^63-1; past it apsw overflows
            if not 1 <= memory_id <= MAX_ID:
                raise ValidationError(f"memory ids run from 1 to {MAX_ID}; got {memory_id}")
        seen, seen_params = self.visible()
        with self.lock:
            rows = self._rows(
                f"SELECT {MEMORY_COLUMNS} FROM memories WHERE id IN ({placeholders(len(ids))}) "
                f"AND {seen}",
                (*ids, *seen_params),
            )
        return {m.id: m for m in map(row_to_memory, rows)}

    def find_hash(self, project: str, content_hash: str) -> Memory | None:
        seen, seen_params = self.visible()
        with self.lock:
            row = self._row(  # a team twin and the user's private one: the oldest
                f"SELECT {MEMORY_COLUMNS} FROM memories WHERE project = ? AND content_hash = ? "
                f"AND {seen} ORDER BY id LIMIT 1",
                (project, content_hash, *seen_params),
            )
        return None if row is None else row_to_memory(row)

    def project_keys(self) -> list[str]:
        """Every project that has a memory, in any state."""
        with self.lock:
            rows = self._rows("SELECT DISTINCT project FROM memories")
        return [str(r[0]) for r in rows]

    def session_memory_ids(
        self, session_id: str, *, type: str, source: str, exclude: int
    ) -> list[int]:
        """Active memories of one session with that ``type`` and ``source``, but ``exclude``."""
        seen, seen_params = self.visible()
        with self.lock:
            rows = self._rows(
                "SELECT id FROM memories WHERE session_id = ? AND type = ? AND source = ? "
                f"AND state IN ({placeholders(len(ACTIVE_STATES))}) AND id != ? AND {seen}",
                (session_id, type, source, *ACTIVE_STATES, exclude, *seen_params),
            )
        return [int(r[0]) for r in rows]

    def graph_rows(
        self, states: Sequence[str], projects: Sequence[str] | None
    ) -> list[tuple[Any, ...]]:
        """What the graph page draws of each memory in ``states`` (of ``projects``; None: all),
        by project and id: ``(id, content, type, project, tags, state, protected, created_at,
        recall_count, last_recalled_at, age_from, connected, its project's seq)``."""
        seen, seen_params = self.visible("m")
        where = [f"m.state IN ({placeholders(len(states))})", seen]
        params: list[object] = [*states, *seen_params]
        if projects is not None:
            where.append(f"m.project IN ({placeholders(len(projects))})")
            params.extend(projects)
        with self.lock:
            rows = self._rows(
                "SELECT m.id, m.content, m.type, m.project, m.tags, m.state, m.protected, "
                "m.created_at, m.recall_count, m.last_recalled_at, m.age_from, m.connected, "
                "coalesce((SELECT c.seq FROM project_counters c WHERE c.project = m.project), 0) "
                f"FROM memories m WHERE {' AND '.join(where)} ORDER BY m.project, m.id",
                params,
            )
        return [tuple(r) for r in rows]

    def counts(self) -> dict[str, object]:
        with self.lock:
            by_state: dict[str, int] = dict(
                self._rows("SELECT state, count(*) FROM memories GROUP BY state")
            )
            by_project: dict[str, int] = dict(
                self._rows(
                    "SELECT project, count(*) FROM memories WHERE state IN ('buffer','proven') "
                    "GROUP BY project"
                )
            )
            by_type: dict[str, int] = dict(
                self._rows(
                    "SELECT type, count(*) FROM memories WHERE state IN ('buffer','proven') "
                    "GROUP BY type"
                )
            )
            total = scalar(self.db, "SELECT count(*) FROM memories")
            vectors = scalar(self.db, "SELECT count(*) FROM memory_vectors")
            links = scalar(self.db, "SELECT count(*) FROM links")
            unembedded = scalar(self.db, "SELECT count(*) FROM memories WHERE embedded = 0")
        return {
            "total": total,
            "by_state": {s: int(by_state.get(s, 0)) for s in STATES},
            "by_project": by_project,
            "by_type": by_type,
            "vectors": vectors,
            "links": links,
            "unembedded": unembedded,
        }

    def table_counts(self) -> dict[str, int]:
        """Row counts of every table a write touches (tests use them to prove atomicity)."""
        tables = ["memories", "memory_tags", "memory_vectors", "links"]
        with self.lock:
            out = {t: int(scalar(self.db, f"SELECT count(*) FROM {t}")) for t in tables}
            out.update(self._index_counts())
        return out

    def _index_counts(self) -> dict[str, int]:
        """Rows of the indexes kept in tables of their own (the FTS5 and vec0 tables)."""
        out = {"memories_fts": int(scalar(self.db, "SELECT count(*) FROM memories_fts"))}
        if self.model is not None:
            out["memory_index"] = int(scalar(self.db, "SELECT count(*) FROM memory_index"))
        return out
