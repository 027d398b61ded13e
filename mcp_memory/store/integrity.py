"""Is the database whole? SQLite's own checks plus the invariants between our tables.

:func:`audit` runs ``PRAGMA integrity_check``, the FTS5 ``integrity-check`` command of each
full-text index (it compares the index with the ``memories`` rows it is built from), and looks
for rows that point at nothing: vectors, tags, links, lineage and index entries of memories
that no longer exist, embedded memories without a vector or an index entry, index entries
whose state or project disagree with the memory. Given ids (memories a caller was told were
stored), it also checks each one is there with its content, its vector, its index entry and
its full-text entry.

On PostgreSQL the same audit checks what that engine leaves to us
(:mod:`mcp_memory.store.postgres.integrity`). The reliability tests and ``bench/reliability.py`` call it after concurrent writers, crashes and
faults; ``doctor`` reports its findings.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field

import apsw

from mcp_memory.store.database import Store
from mcp_memory.store.migrations import scalar

# name -> SQL counting rows that break an invariant (each must be 0).
ORPHANS: dict[str, str] = {
    "vectors without memory": "SELECT count(*) FROM memory_vectors v "
    "WHERE NOT EXISTS (SELECT 1 FROM memories m WHERE m.id = v.memory_id)",
    "tags without memory": "SELECT count(*) FROM memory_tags t "
    "WHERE NOT EXISTS (SELECT 1 FROM memories m WHERE m.id = t.memory_id)",
    "links with a missing end": "SELECT count(*) FROM links l "
    "WHERE NOT EXISTS (SELECT 1 FROM memories m WHERE m.id = l.source_id) "
    "OR NOT EXISTS (SELECT 1 FROM memories m WHERE m.id = l.target_id)",
    "lineage with a missing memory": "SELECT count(*) FROM lineage g "
    "WHERE NOT EXISTS (SELECT 1 FROM memories m WHERE m.id = g.result_id) "
    "OR NOT EXISTS (SELECT 1 FROM memories m WHERE m.id = g.source_id) "
    "OR NOT EXISTS (SELECT 1 FROM consolidations c WHERE c.id = g.consolidation_id)",
    "embedded memories without a vector": "SELECT count(*) FROM memories m WHERE m.embedded = 1 "
    "AND NOT EXISTS (SELECT 1 FROM memory_vectors v WHERE v.memory_id = m.id)",
    "vectors of memories marked unembedded": "SELECT count(*) FROM memory_vectors v "
    "JOIN memories m ON m.id = v.memory_id WHERE m.embedded = 0",
}
# Only once the database has a model (and so a vector index).
INDEX_ORPHANS: dict[str, str] = {
    "index entries without memory": "SELECT count(*) FROM memory_index i "
    "WHERE NOT EXISTS (SELECT 1 FROM memories m WHERE m.id = i.rowid)",
    "vectors without index entry": "SELECT count(*) FROM memory_vectors v "
    "WHERE NOT EXISTS (SELECT 1 FROM memory_index i WHERE i.rowid = v.memory_id)",
    "index entries without vector": "SELECT count(*) FROM memory_index i "
    "WHERE NOT EXISTS (SELECT 1 FROM memory_vectors v WHERE v.memory_id = i.rowid)",
    "index state or project differs": "SELECT count(*) FROM memory_index i "
    "JOIN memories m ON m.id = i.rowid WHERE i.state != m.state OR i.project != m.project",
}

_WORD = re.compile(r"[A-Za-z0-9]")  # a text with these has at least one full-text token


@dataclass
class Audit:
    integrity: str  # "ok" or SQLite's first complaints
    fts: dict[str, str]  # full-text index -> "ok" or the error
    orphans: dict[str, int]  # invariant -> rows breaking it
    memories: int
    checked: int = 0  # acknowledged ids looked at
    missing: dict[str, list[int]] = field(default_factory=dict)  # what -> acknowledged ids

    @property
    def ok(self) -> bool:
        return (
            self.integrity == "ok"
            and all(v == "ok" for v in self.fts.values())
            and not any(self.orphans.values())
            and not any(self.missing.values())
        )

    def problems(self) -> list[str]:
        out = [] if self.integrity == "ok" else [f"integrity_check: {self.integrity}"]
        out += [f"{name}: {err}" for name, err in self.fts.items() if err != "ok"]
        out += [f"{name}: {n}" for name, n in self.orphans.items() if n]
        out += [f"{what}: {ids[:10]}" for what, ids in self.missing.items() if ids]
        return out


def audit(store: Store, acknowledged: Iterable[int] = (), *, embedded: bool = True) -> Audit:
    """Check the whole database, and that every id in ``acknowledged`` is fully stored.

    ``embedded`` False accepts acknowledged memories that are stored as text only (hooks store
    text; ``maintain`` embeds later): they must still have content and a full-text entry.
    A PostgreSQL store is audited by :mod:`mcp_memory.store.postgres.integrity`.
    """
    if "mcp_memory.store.postgres.database" in sys.modules:  # else no store can be a PgStore
        from mcp_memory.store.postgres.database import PgStore

        if isinstance(store, PgStore):
            from mcp_memory.store.postgres import integrity as pg_integrity

            return pg_integrity.audit(store, acknowledged, embedded=embedded)
    with store.lock:
        db = store.db
        rows = [str(r[0]) for r in db.execute("PRAGMA integrity_check(20)").fetchall()]
        integrity = "ok" if rows == ["ok"] else "; ".join(rows)
        tables = {
            str(r[0]) for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        fts: dict[str, str] = {}
        for name in ("memories_fts", "recall_fts"):
            if name in tables:
                fts[name] = _fts_check(db, name)
        checks = dict(ORPHANS)
        if "memory_index" in tables:
            checks.update(INDEX_ORPHANS)
        orphans = {name: int(scalar(db, sql)) for name, sql in checks.items()}
        total = int(scalar(db, "SELECT count(*) FROM memories"))
        ids = sorted(set(acknowledged))
        missing: dict[str, list[int]] = {
            "not stored": [],
            "empty content": [],
            "no vector": [],
            "no index entry": [],
            "not found by full-text search": [],
        }
        indexed = _indexed(db) if ids else set()
        for mid in ids:
            row = db.execute(
                "SELECT content, embedded FROM memories WHERE id = ?", (mid,)
            ).fetchone()
            if row is None:
                missing["not stored"].append(mid)
                continue
            content, is_embedded = str(row[0]), bool(row[1])
            if not content.strip():
                missing["empty content"].append(mid)
            if embedded or is_embedded:
                if (
                    db.execute(
                        "SELECT 1 FROM memory_vectors WHERE memory_id = ?", (mid,)
                    ).fetchone()
                    is None
                ):
                    missing["no vector"].append(mid)
                if (
                    "memory_index" not in tables
                    or db.execute("SELECT 1 FROM memory_index WHERE rowid = ?", (mid,)).fetchone()
                    is None
                ):
                    missing["no index entry"].append(mid)
            if _WORD.search(content) and mid not in indexed:
                missing["not found by full-text search"].append(mid)
    return Audit(integrity, fts, orphans, total, len(ids), missing)


def _indexed(db: apsw.Connection) -> set[int]:
    """The rowids the full-text index holds terms for (read from the index itself)."""
    db.execute(
        "CREATE VIRTUAL TABLE IF NOT EXISTS temp.audit_terms USING fts5vocab(main, memories_fts, instance)"
    )
    try:
        return {int(r[0]) for r in db.execute("SELECT DISTINCT doc FROM temp.audit_terms")}
    finally:
        db.execute("DROP TABLE temp.audit_terms")


def _fts_check(db: apsw.Connection, name: str) -> str:
    try:
        db.execute(f"INSERT INTO {name} ({name}) VALUES ('integrity-check')")
    except apsw.Error as exc:
        return f"{type(exc).__name__}: {exc}"
    return "ok"
