"""Links between memories (``links``), the per-project line statistics that tell boilerplate
from substance (``line_stats``, see :mod:`mcp_memory.service.boilerplate`), and the ``connected`` mark
of a memory linking has run for: what :mod:`mcp_memory.service.linking` reads and writes.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from mcp_memory.store.base import StoreBase, placeholders
from mcp_memory.store.schema import ACTIVE_STATES


class StoreLinks(StoreBase):
    """The link tables of :class:`~mcp_memory.store.database.Store`."""

    def add_links(self, source_id: int, targets: Sequence[tuple[int, float]]) -> None:
        now = time.time()
        with self.transaction():
            self.db.executemany(
                "INSERT OR IGNORE INTO links (source_id, target_id, similarity, created_at) "
                "SELECT ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM memories WHERE id = ?)",
                [(source_id, t, round(sim, 6), now, t) for t, sim in targets if t != source_id],
            )

    def remove_link(self, a: int, b: int) -> None:
        with self.transaction():
            self.db.execute(
                "DELETE FROM links WHERE (source_id = ? AND target_id = ?) "
                "OR (source_id = ? AND target_id = ?)",
                (a, b, b, a),
            )

    def links_of(self, memory_id: int) -> list[tuple[int, float]]:
        """Every memory linked to ``memory_id`` (either direction), strongest first."""
        with self.lock:
            rows = self._rows(
                "SELECT target_id, similarity FROM links WHERE source_id = ? "
                "UNION ALL SELECT source_id, similarity FROM links WHERE target_id = ? "
                "ORDER BY 2 DESC",
                (memory_id, memory_id),
            )
        return [(int(i), float(sim)) for i, sim in rows]

    def link_counts(self, ids: Sequence[int]) -> dict[int, int]:
        if not ids:
            return {}
        marks = placeholders(len(ids))
        with self.lock:
            rows = self._rows(
                f"SELECT id, count(*) FROM (SELECT source_id AS id FROM links WHERE source_id IN "
                f"({marks}) UNION ALL SELECT target_id FROM links WHERE target_id IN ({marks})) AS ends "
                "GROUP BY id",
                (*ids, *ids),
            )
        counts = {int(i): 0 for i in ids}
        counts.update({int(i): int(n) for i, n in rows})
        return counts

    def project_links(self, project: str, states: Sequence[str]) -> list[tuple[int, int, float]]:
        """Links whose two ends are both in ``project`` and in ``states``."""
        marks = placeholders(len(states))
        seen_a, params_a = self.visible("a")
        seen_b, params_b = self.visible("b")
        with self.lock:
            rows = self._rows(
                "SELECT l.source_id, l.target_id, l.similarity FROM links l "
                "JOIN memories a ON a.id = l.source_id JOIN memories b ON b.id = l.target_id "
                f"WHERE a.project = ? AND b.project = ? AND a.state IN ({marks}) "
                f"AND b.state IN ({marks}) AND {seen_a} AND {seen_b}",
                (project, project, *states, *states, *params_a, *params_b),
            )
        return [(int(a), int(b), float(sim)) for a, b, sim in rows]

    def line_counts(self, project: str, keys: Sequence[str]) -> dict[str, int]:
        if not keys:
            return {}
        with self.lock:
            rows = self._rows(
                f"SELECT key, memories FROM line_stats WHERE project = ? "
                f"AND key IN ({placeholders(len(keys))})",
                (project, *keys),
            )
        return {str(k): int(n) for k, n in rows}

    def link_exists(self, source_id: int, target_id: int) -> bool:
        """Whether a link from ``source_id`` to ``target_id`` (this direction) is stored."""
        with self.lock:
            row = self._row(
                "SELECT 1 FROM links WHERE source_id = ? AND target_id = ?", (source_id, target_id)
            )
        return row is not None

    def every_link(self) -> list[tuple[int, int, float]]:
        """All links ``(source, target, similarity)`` ordered by source and target (for export)."""
        with self.lock:
            rows = self._rows("SELECT source_id, target_id, similarity FROM links ORDER BY 1, 2")
        return [(int(a), int(b), float(s)) for a, b, s in rows]

    def projects_with_buffer_links(self) -> list[str]:
        """Projects having a link from a buffer memory (where clusters may be), sorted."""
        with self.lock:
            rows = self._rows(
                "SELECT DISTINCT m.project FROM links l JOIN memories m ON m.id = l.source_id "
                "WHERE m.state = 'buffer' ORDER BY 1"
            )
        return [str(r[0]) for r in rows]

    def active_texts(self, ids: Sequence[int]) -> list[tuple[int, str, str, tuple[str, ...]]]:
        """``(id, content, project, tags)`` of those of ``ids`` still active: all linking needs
        of a candidate (the rest of a memory row is not read)."""
        if not ids:
            return []
        seen, seen_params = self.visible()
        with self.lock:
            rows = self._rows(
                f"SELECT id, content, project, tags FROM memories "
                f"WHERE id IN ({placeholders(len(ids))}) "
                f"AND +state IN ({placeholders(len(ACTIVE_STATES))}) AND {seen}",
                (*ids, *ACTIVE_STATES, *seen_params),
            )
        return [
            (int(i), str(content), str(project), tuple(str(tags).split()) if tags else ())
            for i, content, project, tags in rows
        ]

    def tag_counts(
        self, tags: Sequence[str], projects: Sequence[str], *, cap: int | None = None
    ) -> dict[str, int]:
        """How many active memories of ``projects`` carry each of ``tags`` (tags no memory
        carries are absent), counted up to ``cap`` when given: a caller asking whether a tag is
        rare need not read the thousands of rows a common tag may have."""
        if not tags or not projects:
            return {}
        seen, seen_params = self.visible("m")
        carriers = (
            "SELECT 1 FROM memory_tags t JOIN memories m ON m.id = t.memory_id WHERE t.tag = ? "
            f"AND m.project IN ({placeholders(len(projects))}) "
            f"AND m.state IN ({placeholders(len(ACTIVE_STATES))}) AND {seen}"
        )
        if cap is not None:
            carriers += f" LIMIT {int(cap)}"
        counts = {}
        with self.lock:
            for tag in dict.fromkeys(tags):
                rows = self._rows(
                    f"SELECT count(*) FROM ({carriers}) AS c",
                    (tag, *projects, *ACTIVE_STATES, *seen_params),
                )
                if n := int(rows[0][0]):
                    counts[tag] = n
        return counts

    def mark_connected(self, memory_id: int) -> None:
        with self.transaction():
            self.db.execute("UPDATE memories SET connected = 1 WHERE id = ?", (memory_id,))
