"""Code anchors (``memory_anchors``): the repository files each memory is about, with the
fingerprint of the anchored content and the status last decided for it (see
:mod:`mcp_memory.anchors`, which makes and checks them; this mixin only stores them).

Rows travel as plain tuples in the column order of ``schema.ANCHOR_COLUMNS`` (the anchors
package wraps them in its ``AnchorRow``): the store imports nothing above it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

from mcp_memory.store.base import StoreBase, placeholders
from mcp_memory.store.schema import ACTIVE_STATES, ANCHOR_COLUMNS, MEMORY_ANCHORS

# (path, kind, selector, fingerprint, commit, mtime_ns, size) of a new anchor
NewAnchor = tuple[str, str, str, str, str | None, int | None, int | None]


class StoreAnchors(StoreBase):
    """The ``memory_anchors`` table of :class:`~mcp_memory.store.database.Store`."""

    def add_anchors(
        self, memory_id: int, anchors: Sequence[NewAnchor], at: float | None = None
    ) -> None:
        """Anchor ``memory_id`` to ``anchors`` (an anchor it has already is kept as it is)."""
        if not anchors:
            return
        at = time.time() if at is None else at
        with self.transaction():
            self.db.executemany(
                f"INSERT OR IGNORE INTO {MEMORY_ANCHORS} (memory_id, path, origin_path, kind, "
                "selector, fingerprint, anchored_commit, anchored_at, mtime_ns, size, status) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'fresh')",
                [(memory_id, a[0], a[0], *a[1:5], at, a[5], a[6]) for a in anchors],
            )

    def anchors_of(self, ids: Sequence[int]) -> dict[int, list[tuple[Any, ...]]]:
        """The anchor rows of each of ``ids`` that has any (``schema.ANCHOR_COLUMNS`` order)."""
        if not ids:
            return {}
        with self.lock:
            rows = self._rows(
                f"SELECT {ANCHOR_COLUMNS} FROM {MEMORY_ANCHORS} "
                f"WHERE memory_id IN ({placeholders(len(ids))}) ORDER BY id",
                tuple(ids),
            )
        out: dict[int, list[tuple[Any, ...]]] = {}
        for row in rows:
            out.setdefault(int(row[1]), []).append(tuple(row))
        return out

    def copy_anchors(self, sources: Iterable[int], target: int) -> None:
        """Give ``target`` (a consolidation's result) the anchors of its ``sources``, as they
        were anchored (their fingerprints, commits and statuses), once per file part."""
        ids = sorted(set(sources))
        if not ids:
            return
        with self.transaction():
            self.db.execute(
                f"INSERT OR IGNORE INTO {MEMORY_ANCHORS} (memory_id, path, origin_path, kind, "
                "selector, fingerprint, anchored_commit, anchored_at, mtime_ns, size, status, "
                "status_commit, checked_at) "
                "SELECT ?, path, origin_path, kind, selector, fingerprint, anchored_commit, "
                "anchored_at, mtime_ns, size, status, status_commit, checked_at "
                f"FROM {MEMORY_ANCHORS} WHERE memory_id IN ({placeholders(len(ids))}) ORDER BY id",
                (target, *ids),
            )

    def update_anchors(self, updates: Iterable[Sequence[Any]]) -> None:
        """Write back checks: rows of (id, path, selector, mtime_ns, size, status,
        status_commit, checked_at)."""
        rows = [(*u[1:], u[0]) for u in updates]
        if not rows:
            return
        with self.transaction():
            self.db.executemany(
                f"UPDATE {MEMORY_ANCHORS} SET path = ?, selector = ?, mtime_ns = ?, size = ?, "
                "status = ?, status_commit = ?, checked_at = ? WHERE id = ?",
                rows,
            )

    def anchored_ids(self, project: str | None = None) -> list[int]:
        """Active memories (of ``project``, if given) that have anchors."""
        return self._anchored(project, "")

    def orphaned_ids(self, project: str | None = None) -> list[int]:
        """Active memories (of ``project``, if given) whose every anchor was last found
        deleted: the code they describe is gone."""
        return self._anchored(
            project,
            f" AND NOT EXISTS (SELECT 1 FROM {MEMORY_ANCHORS} a WHERE a.memory_id = m.id "
            "AND a.status != 'deleted')",
        )

    def _anchored(self, project: str | None, condition: str) -> list[int]:
        """Active memories (of ``project``, if given) with anchors, meeting ``condition``
        (SQL over ``m``, the memory), in id order."""
        where = f"m.state IN ({placeholders(len(ACTIVE_STATES))})"
        params: list[object] = [*ACTIVE_STATES]
        if project is not None:
            where += " AND m.project = ?"
            params.append(project)
        with self.lock:
            rows = self._rows(
                f"SELECT m.id FROM memories m WHERE {where} AND EXISTS "
                f"(SELECT 1 FROM {MEMORY_ANCHORS} a WHERE a.memory_id = m.id){condition} "
                "ORDER BY m.id",
                params,
            )
        return [int(r[0]) for r in rows]
