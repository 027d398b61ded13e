"""The integrity audit (:func:`mcp_memory.store.integrity.audit`) on PostgreSQL.

What SQLite checks by hand, PostgreSQL mostly guarantees: pages carry their own checks and a
crash is recovered from the write-ahead log, vectors, tags, links and anchors follow their
memory by foreign keys, and the full-text ``tsvector`` is a generated column of the memory row
itself. So the audit here checks what can still go wrong:

- ``integrity``: the vector extension is installed and no index is invalid (an index build
  that was interrupted, ``CREATE INDEX CONCURRENTLY`` that failed) or, once the database has a
  model, missing (the vector index is dropped while ``PgStore.bulk_load`` runs);
- the shared invariants (:data:`~mcp_memory.store.integrity.ORPHANS`), plus the copies of a
  memory's state, project and owner that ``memory_vectors`` keeps for the KNN filter;
- each acknowledged id: stored, with content, with its vector, and with full-text terms when
  its text has any.
"""

from __future__ import annotations

from collections.abc import Iterable

from mcp_memory.store.integrity import ORPHANS, Audit
from mcp_memory.store.postgres import migrations
from mcp_memory.store.postgres.database import PgStore

COPIES: dict[str, str] = {
    "vector copies of state or project differ": "SELECT count(*) FROM memory_vectors v "
    "JOIN memories m ON m.id = v.memory_id WHERE v.state != m.state OR v.project != m.project",
    "vector owner differs from the memory's visibility": "SELECT count(*) FROM memory_vectors v "
    "JOIN memories m ON m.id = v.memory_id "
    "WHERE v.owner IS DISTINCT FROM (CASE WHEN m.visibility = 'private' THEN m.author END)",
}


def audit(store: PgStore, acknowledged: Iterable[int] = (), *, embedded: bool = True) -> Audit:
    """:func:`mcp_memory.store.integrity.audit` for a :class:`PgStore` (see the module
    docstring); ``fts`` is empty: there is no separate full-text index to compare."""
    with store.snapshot():
        pg = store._pg
        problems = [] if store.quick_check() == "ok" else ["the vector extension is missing"]
        invalid = pg.run(
            "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND NOT i.indisvalid ORDER BY 1"
        ).fetchall()
        problems += [f"index {r[0]} is invalid: run REINDEX INDEX {r[0]}" for r in invalid]
        (vector_index,) = pg.run("SELECT to_regclass(%s)", (migrations.VECTOR_INDEX,)).fetchone()
        if store.model is not None and vector_index is None:
            problems.append(
                f"the vector index {migrations.VECTOR_INDEX} is missing (a bulk load that did "
                "not finish): PgStore.build_vector_index builds it"
            )
        checks = {**ORPHANS, **COPIES}
        orphans = {name: int(pg.execute(sql).fetchone()[0]) for name, sql in checks.items()}
        total = int(pg.run("SELECT count(*) FROM memories").fetchone()[0])
        ids = sorted(set(acknowledged))
        missing: dict[str, list[int]] = {
            "not stored": [],
            "empty content": [],
            "no vector": [],
            "no index entry": [],
            "not found by full-text search": [],
        }
        rows = pg.run(
            "SELECT m.id, m.content, m.embedded, v.memory_id IS NOT NULL, "
            "length(m.tsv) = 0 AND length(to_tsvector('english', m.content)) > 0 "
            "FROM memories m LEFT JOIN memory_vectors v ON v.memory_id = m.id "
            "WHERE m.id = ANY(%s)",
            (ids,),
        ).fetchall()
        found = {int(r[0]): r[1:] for r in rows}
        for mid in ids:
            if mid not in found:
                missing["not stored"].append(mid)
                continue
            content, is_embedded, has_vector, no_terms = found[mid]
            if not str(content).strip():
                missing["empty content"].append(mid)
            if (embedded or bool(is_embedded)) and not has_vector:
                missing["no vector"].append(mid)
                missing["no index entry"].append(mid)  # the index covers every vector row
            if no_terms:
                missing["not found by full-text search"].append(mid)
    return Audit(
        "ok" if not problems else "; ".join(problems), {}, orphans, total, len(ids), missing
    )
