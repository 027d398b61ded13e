"""The route ledger and the routing targets' vector cache: ``route_writes`` (each write routing
made to a file), ``routes`` (where each routed memory went) and ``route_embeddings`` (vectors of
the targets' texts by content hash). What the rows mean, and undo, are
:mod:`mcp_memory.routing.ledger` and :mod:`mcp_memory.routing.target_vectors`; this part only
reads and writes them.

None of these methods opens a transaction: routing writes a file and its rows together, so the
caller holds one around both (a method called outside one writes at once, as SQLite does).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mcp_memory.store.base import StoreBase, placeholders

OPEN_ROUTE_STATES = ("written", "present")  # a route that undo can still take back


@dataclass(frozen=True)
class RouteWrite:
    """A ``route_writes`` row still applied: what undoing it needs."""

    id: int
    label: str
    root: str
    kind: str  # "route" | "unroute"
    before_hash: str | None  # None: routing created the file
    after_hash: str | None  # None: routing removed the file
    backup: str | None  # the file's bytes before the write (None when it did not exist)
    created_dirs: list[str]  # directories routing created for the file


@dataclass(frozen=True)
class Route:
    """A ``routes`` row: where a memory went (``written``) or was found (``present``)."""

    id: int
    memory_id: int
    path: str
    label: str
    section: str
    status: str


class StoreRoutes(StoreBase):
    """The route ledger and target-vector cache of :class:`~mcp_memory.store.database.Store`."""

    # -- route_writes ------------------------------------------------------------------------

    def add_route_write(
        self,
        *,
        path: str,
        label: str,
        root: str,
        kind: str,
        before_hash: str | None,
        after_hash: str | None,
        backup: str | None,
        created_dirs: Sequence[str],
    ) -> int:
        """Record a write routing made to ``path``; returns its id."""
        with self.lock:
            rows = self._rows(
                "INSERT INTO route_writes (path, label, root, kind, created_at, before_hash, "
                "after_hash, backup, created_dirs) VALUES (?,?,?,?,?,?,?,?,?) RETURNING id",
                (
                    path,
                    label,
                    root,
                    kind,
                    time.time(),
                    before_hash,
                    after_hash,
                    backup,
                    json.dumps(list(created_dirs)),
                ),
            )
        return int(rows[0][0])

    def last_applied_write(self, path: str) -> RouteWrite | None:
        """The newest write to ``path`` not undone yet (undo reverts writes like a stack)."""
        with self.lock:
            row = self._row(
                "SELECT id, label, root, kind, before_hash, after_hash, backup, created_dirs "
                "FROM route_writes WHERE path = ? AND status = 'applied' ORDER BY id DESC LIMIT 1",
                (path,),
            )
        if row is None:
            return None
        wid, label, root, kind, before, after, backup, dirs = row
        return RouteWrite(
            int(wid), str(label), str(root), str(kind), before, after, backup, json.loads(dirs)
        )

    def mark_write_undone(self, write_id: int) -> None:
        with self.lock:
            self.db.execute(
                "UPDATE route_writes SET status = 'undone', undone_at = ? WHERE id = ?",
                (time.time(), write_id),
            )

    # -- routes ------------------------------------------------------------------------------

    def add_route(
        self,
        memory_id: int,
        *,
        path: str,
        label: str,
        section: str,
        status: str,
        similarity: float,
        write_id: int | None,
    ) -> int:
        """Record where a memory went (``written``) or was found (``present``); returns its id."""
        with self.lock:
            rows = self._rows(
                "INSERT INTO routes (memory_id, path, label, section, status, similarity, "
                "write_id, created_at) VALUES (?,?,?,?,?,?,?,?) RETURNING id",
                (memory_id, path, label, section, status, similarity, write_id, time.time()),
            )
        return int(rows[0][0])

    def open_route(self, memory_id: int) -> Route | None:
        """The memory's newest route still ``written`` or ``present`` (None: not routed)."""
        with self.lock:
            row = self._row(
                "SELECT id, memory_id, path, label, section, status FROM routes "
                f"WHERE memory_id = ? AND status IN ({placeholders(len(OPEN_ROUTE_STATES))}) "
                "ORDER BY id DESC LIMIT 1",
                (memory_id, *OPEN_ROUTE_STATES),
            )
        return None if row is None else _route(row)

    def close_route(self, route_id: int, unwrite_id: int | None) -> int:
        """Mark a route ``undone`` (by the ``unroute`` write ``unwrite_id``, if any); returns
        the id of its memory."""
        with self.lock:
            memory_id = self._row("SELECT memory_id FROM routes WHERE id = ?", (route_id,))[0]
            self.db.execute(
                "UPDATE routes SET status = 'undone', undone_at = ?, unwrite_id = ? WHERE id = ?",
                (time.time(), unwrite_id, route_id),
            )
        return int(memory_id)

    def reopen_route(self, route_id: int) -> None:
        """A route an undone ``unroute`` write had closed is ``written`` again."""
        with self.lock:
            self.db.execute(
                "UPDATE routes SET status = 'written', undone_at = NULL, unwrite_id = NULL "
                "WHERE id = ?",
                (route_id,),
            )

    def routes_written_by(self, write_id: int) -> list[Route]:
        """The routes still ``written`` that the write ``write_id`` wrote."""
        with self.lock:
            rows = self._rows(
                "SELECT id, memory_id, path, label, section, status FROM routes "
                "WHERE write_id = ? AND status = 'written'",
                (write_id,),
            )
        return [_route(r) for r in rows]

    def routes_closed_by(self, write_id: int) -> list[Route]:
        """The routes the ``unroute`` write ``write_id`` closed."""
        with self.lock:
            rows = self._rows(
                "SELECT id, memory_id, path, label, section, status FROM routes "
                "WHERE unwrite_id = ?",
                (write_id,),
            )
        return [_route(r) for r in rows]

    def unrouted_proven_ids(self, projects: Sequence[str]) -> list[int]:
        """Proven memories of ``projects`` with no open route (what routing considers), by id."""
        with self.lock:
            rows = self._rows(
                f"SELECT id FROM memories m WHERE state = 'proven' "
                f"AND project IN ({placeholders(len(projects))}) "
                "AND NOT EXISTS (SELECT 1 FROM routes r WHERE r.memory_id = m.id "
                f"AND r.status IN ({placeholders(len(OPEN_ROUTE_STATES))})) ORDER BY id",
                (*projects, *OPEN_ROUTE_STATES),
            )
        return [int(r[0]) for r in rows]

    # -- route_embeddings --------------------------------------------------------------------

    def route_vectors(self, model: str, path: str) -> dict[str, np.ndarray]:
        """The cached vectors of ``path``'s texts under ``model``, by the texts' sha256."""
        with self.lock:
            rows = self._rows(
                "SELECT content_hash, embedding FROM route_embeddings WHERE model = ? AND path = ?",
                (model, path),
            )
        return {str(h): np.frombuffer(blob, dtype=np.float32) for h, blob in rows}

    def put_route_vector(
        self,
        model: str,
        path: str,
        content_hash: str,
        section: str,
        vector: np.ndarray,
        seen_at: float,
    ) -> None:
        """Cache the vector of one text of ``path`` (replacing the one stored for that text)."""
        with self.lock:
            self.db.execute(
                "INSERT INTO route_embeddings "
                "(model, path, content_hash, section, embedding, seen_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (model, path, content_hash) DO UPDATE "
                "SET section = excluded.section, embedding = excluded.embedding, "
                "seen_at = excluded.seen_at",
                (model, path, content_hash, section, vector.tobytes(), seen_at),
            )

    def prune_route_vectors(self, model: str, path: str, keep: Sequence[str]) -> None:
        """Forget ``path``'s cached vectors except those of the texts hashed in ``keep``."""
        with self.lock:
            self.db.execute(
                "DELETE FROM route_embeddings WHERE model = ? AND path = ? "
                f"AND content_hash NOT IN ({placeholders(len(keep))})",
                (model, path, *keep),
            )


def _route(row: Sequence[Any]) -> Route:
    rid, memory_id, path, label, section, status = row
    return Route(int(rid), int(memory_id), str(path), str(label), str(section), str(status))
