"""What recall reads besides vectors: BM25 full-text matches (``recall_fts``), session
neighbours, labels, tags, and the label, date and text of candidate memories; and the
selections a briefing shows (protected, proven and recent memories of a scope).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import apsw

from mcp_memory.errors import StoreError
from mcp_memory.store.base import StoreBase, placeholders
from mcp_memory.store.schema import ACTIVE_STATES

# BM25 weight of a memory's session neighbours' text (``recall_fts.context``); its own text and
# tags weigh 1. Chosen on LoCoMo (see service/fusion.py's Tuning, which passes its own value).
CONTEXT_WEIGHT = 0.5


class StoreSearch(StoreBase):
    """The full-text and recall reads of :class:`~mcp_memory.store.database.Store`."""

    def fts(
        self,
        match: str,
        k: int,
        *,
        projects: Sequence[str] | None,
        states: Sequence[str] = ACTIVE_STATES,
        context_weight: float = CONTEXT_WEIGHT,
    ) -> list[tuple[int, float]]:
        """Full-text matches ranked by BM25, best first, as ``(id, score)`` with the score
        positive (higher is better); ``match`` is an FTS5 expression.

        Ranks on ``recall_fts``: a memory's own text and tags at weight 1 and its session
        neighbours' text (``context``) at ``context_weight`` (0: not searched at all).
        """
        if context_weight <= 0:
            match = f"{{content tags}} : ({match})"
        where = [f"m.state IN ({placeholders(len(states))})"]
        params: list[object] = [match, *states]
        if projects is not None:
            where.append(f"m.project IN ({placeholders(len(projects))})")
            params.extend(projects)
        params.append(k)
        with self.lock:
            try:
                rows = self._rows(
                    f"SELECT m.id, bm25(recall_fts, 1.0, 1.0, {float(context_weight)}) AS rank "
                    "FROM recall_fts JOIN memories m ON m.id = recall_fts.rowid "
                    f"WHERE recall_fts MATCH ? AND {' AND '.join(where)} "
                    "ORDER BY rank LIMIT ?",
                    tuple(params),
                )
            except apsw.SQLError as exc:
                raise StoreError(f"bad full-text query {match!r}: {exc}") from exc
        return [(int(i), -float(r)) for i, r in rows]

    def neighbours(self, ids: Sequence[int], states: Sequence[str]) -> dict[int, list[int]]:
        """The session neighbours (previous and next memory, in ``states``) of each of ``ids``
        that has any."""
        if not ids:
            return {}
        marks, smarks = placeholders(len(ids)), placeholders(len(states))
        with self.lock:
            rows = self._rows(
                "SELECT a.id, a.prev_id FROM memories a JOIN memories b ON b.id = a.prev_id "
                f"WHERE a.id IN ({marks}) AND b.state IN ({smarks}) "
                "UNION ALL SELECT a.prev_id, a.id FROM memories a "
                f"WHERE a.prev_id IN ({marks}) AND a.state IN ({smarks})",
                (*ids, *states, *ids, *states),
            )
        out: dict[int, list[int]] = {}
        for mid, other in rows:
            out.setdefault(int(mid), []).append(int(other))
        return out

    def labels(self, words: Iterable[str], projects: Sequence[str] | None) -> set[str]:
        """Which of ``words`` label at least one memory in ``projects`` (None: any project)."""
        words = sorted(set(words))
        if not words:
            return set()
        sql = f"SELECT DISTINCT label FROM memories WHERE label IN ({placeholders(len(words))})"
        params: list[object] = list(words)
        if projects is not None:
            sql += f" AND project IN ({placeholders(len(projects))})"
            params.extend(projects)
        with self.lock:
            return {str(r[0]) for r in self._rows(sql, params)}

    def heads(self, ids: Sequence[int]) -> dict[int, tuple[str | None, float, str | None]]:
        """The label, ``created_at`` and ``session_id`` of each memory: what recall needs of
        every candidate (a whole :class:`Memory` only for the best)."""
        if not ids:
            return {}
        with self.lock:
            rows = self._rows(
                "SELECT id, label, created_at, session_id FROM memories "
                f"WHERE id IN ({placeholders(len(ids))})",
                tuple(ids),
            )
        return {int(i): (label, float(at), session) for i, label, at, session in rows}

    def contents(self, ids: Sequence[int]) -> dict[int, str]:
        """The text of each memory in ``ids``."""
        if not ids:
            return {}
        with self.lock:
            rows = self._rows(
                f"SELECT id, content FROM memories WHERE id IN ({placeholders(len(ids))})",
                tuple(ids),
            )
        return {int(i): str(text) for i, text in rows}

    def ids_with_tags(self, tags: Sequence[str]) -> set[int]:
        """Memories carrying every one of ``tags``."""
        with self.lock:
            rows = self._rows(
                f"SELECT memory_id FROM memory_tags WHERE tag IN ({placeholders(len(tags))}) "
                "GROUP BY memory_id HAVING count(DISTINCT tag) = ?",
                (*tags, len(set(tags))),
            )
        return {int(r[0]) for r in rows}

    # -- the briefing's selections ------------------------------------------------------

    def _ranked_ids(self, projects: Sequence[str], where: str, order: str, limit: int) -> list[int]:
        with self.lock:
            rows = self._rows(
                f"SELECT id FROM memories WHERE project IN ({placeholders(len(projects))}) "
                f"AND {where} ORDER BY {order} LIMIT ?",
                (*projects, int(limit)),
            )
        return [int(r[0]) for r in rows]

    def protected_ids(self, projects: Sequence[str], limit: int) -> list[int]:
        """Active protected memories (decisions, the user's notes) of ``projects``, most
        recalled first, then newest."""
        return self._ranked_ids(
            projects,
            "state IN ('buffer','proven') AND protected = 1",
            "recall_count DESC, created_at DESC",
            limit,
        )

    def proven_ids(self, projects: Sequence[str], limit: int) -> list[int]:
        """Unprotected proven memories of ``projects``, most recalled first, then most
        recently changed."""
        return self._ranked_ids(
            projects,
            "state = 'proven' AND protected = 0",
            "recall_count DESC, updated_at DESC",
            limit,
        )

    def recent_buffer_ids(self, projects: Sequence[str], limit: int) -> list[int]:
        """The newest buffer memories of ``projects``."""
        return self._ranked_ids(projects, "state = 'buffer'", "created_at DESC, id DESC", limit)
