"""Keyword search on PostgreSQL: ``tsvector`` full-text search for recall's keyword signal.

The service builds an FTS5 expression (:func:`mcp_memory.text.keywords.keyword_query`: quoted
words joined by ``OR``); here each quoted word becomes ``plainto_tsquery('english', word)``,
passed as a parameter (no query syntax from the user's text reaches the parser), and the
words are OR-ed. Ranking is ``ts_rank`` over ``memories.tsv``: a memory's own text and tags
are weight A (1.0), its session neighbours' text weight B (``context_weight``), as the SQLite
store ranks ``recall_fts`` with BM25 column weights. Scores are on another scale than BM25's;
recall fuses the two signals by rank, so only their order matters.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from mcp_memory.store.postgres.connection import PgPart
from mcp_memory.store.schema import ACTIVE_STATES
from mcp_memory.store.search import CONTEXT_WEIGHT, StoreSearch

_QUOTED = re.compile(r'"((?:[^"]|"")*)"')


def match_words(match: str) -> list[str]:
    """The words of an FTS5 expression of quoted words (``"a" OR "b"``)."""
    return [w.replace('""', '"') for w in _QUOTED.findall(match) if w.strip()]


class PgSearch(PgPart, StoreSearch):
    """The full-text search of :class:`~mcp_memory.store.postgres.database.PgStore`."""

    def fts(
        self,
        match: str,
        k: int,
        *,
        projects: Sequence[str] | None,
        states: Sequence[str] = ACTIVE_STATES,
        context_weight: float = CONTEXT_WEIGHT,
    ) -> list[tuple[int, float]]:
        """Full-text matches ranked by ``ts_rank``, best first, as ``(id, score)`` (higher is
        better); ``match`` is the quoted-words expression recall builds (see above).
        ``context_weight`` 0 leaves the neighbours' text out of matching, not just ranking."""
        words = match_words(match)
        if not words:
            return []
        query = " || ".join(["plainto_tsquery('english', %s)"] * len(words))
        vector = "m.tsv" if context_weight > 0 else "ts_filter(m.tsv, '{a}')"
        where = [
            f"{vector} @@ q.q",
            "m.state = ANY(%s)",
            "(m.visibility = 'team' OR m.author = %s)",
        ]
        params: list[object] = [*words, max(float(context_weight), 0.0), list(states), self.user]
        if projects is not None:
            where.append("m.project = ANY(%s)")
            params.append(list(projects))
        params.append(k)
        with self.lock:
            rows = self._pg.run(
                f"SELECT m.id, ts_rank(ARRAY[0, 0, w.b, 1]::float4[], m.tsv, q.q) AS rank "
                f"FROM (SELECT {query} AS q) q, (SELECT %s::float4 AS b) w, memories m "
                f"WHERE {' AND '.join(where)} ORDER BY rank DESC, m.id LIMIT %s",
                params,
            ).fetchall()
        return [(int(i), float(r)) for i, r in rows]
