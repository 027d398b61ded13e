"""Salvage a damaged database into a NEW file; the original is never written, moved or deleted.

apsw exposes neither the ``.recover`` shell command nor SQLite's recovery extension, so:

1. ``VACUUM INTO`` a new file (SQLite's own copy): when every page the copy reads is sound,
   this is the whole database, and the result passes ``PRAGMA integrity_check``.
2. Otherwise, a salvage row by row: a fresh database with the current schema, then each table
   of the original read one rowid at a time (a damaged page loses the rows on it, not the rows
   after it), parents first. The derived indexes are rebuilt, not copied: the full-text index
   fills through its triggers as memories are inserted, the bit index from the salvaged vectors.

The original is opened read-only. :func:`recover` returns what was kept per table, and the
caller (``memcycle doctor --repair``) tells the user how to switch to the new file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import apsw

from mcp_memory.errors import StoreError
from mcp_memory.store.database import Store
from mcp_memory.store.migrations import scalar
from mcp_memory.store.schema import DIMENSION_KEY, MEMORY_INDEX, MODEL_ID_KEY, POOLING_KEY

# Plain tables, parents before children (foreign keys); the FTS and vec0 tables are derived.
TABLES = (
    "meta",
    "memories",
    "memory_tags",
    "memory_vectors",
    "links",
    "line_stats",
    "consolidations",
    "lineage",
    "recall_events",
    "route_writes",
    "routes",
    "route_embeddings",
    "project_counters",
    "llm_usage",
    "memory_anchors",
)
MISSES_BEFORE_GIVING_UP = 5_000  # consecutive absent rowids: past the last row


@dataclass
class Recovery:
    """What a recovery kept: ``method`` is ``vacuum`` (a full copy) or ``salvage``."""

    source: Path
    destination: Path
    method: str
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows in the new file
    lost: dict[str, int] = field(default_factory=dict)  # table -> rows that could not be read
    check: str = ""  # the new file's integrity_check

    @property
    def memories(self) -> int:
        return self.rows.get("memories", 0)


def recover(source: Path, destination: Path) -> Recovery:
    """Copy everything readable from ``source`` into ``destination`` (which must not exist)."""
    if destination.exists():
        raise StoreError(f"{destination} already exists; choose another file for the recovery")
    if not source.exists():
        raise StoreError(f"{source} does not exist; nothing to recover")
    destination.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    src = apsw.Connection(
        f"file:{source}?mode=ro", flags=apsw.SQLITE_OPEN_READONLY | apsw.SQLITE_OPEN_URI
    )
    try:
        try:
            src.execute("VACUUM INTO ?", (str(destination),))
            result = _counted(Recovery(source, destination, "vacuum"))
            if result.check == "ok":
                return result
        except apsw.Error:
            pass
        for leftover in (destination, Path(f"{destination}-wal"), Path(f"{destination}-shm")):
            leftover.unlink(missing_ok=True)
        return _salvage(src, Recovery(source, destination, "salvage"))
    finally:
        src.close()


def _counted(result: Recovery) -> Recovery:
    store = Store.open(result.destination)
    try:
        result.check = _integrity(store.db)
        for table in TABLES:
            result.rows[table] = _count(store.db, table)
    finally:
        store.close()
    return result


def _salvage(src: apsw.Connection, result: Recovery) -> Recovery:
    meta = dict(_read_rows(src, "meta", result)[1])
    store = Store.open(result.destination)
    try:
        if MODEL_ID_KEY in meta:
            store.init_model(
                str(meta[MODEL_ID_KEY]), int(meta[DIMENSION_KEY]), str(meta[POOLING_KEY])
            )
        db = store.db
        db.execute("PRAGMA foreign_keys = OFF")
        with store.transaction():
            for table in TABLES:
                columns, rows = (
                    _read_rows(src, table, result)
                    if table != "meta"
                    else (["key", "value"], list(meta.items()))
                )
                if not columns:
                    continue
                kept = set(_columns(db, table))
                use = [c for c in columns if c in kept]
                picks = [columns.index(c) for c in use]
                sql = f"INSERT OR IGNORE INTO {table} ({', '.join(use)}) VALUES ({', '.join('?' * len(use))})"
                for row in rows:
                    db.execute(sql, tuple(row[i] for i in picks))
            for orphan in (
                "DELETE FROM memory_vectors WHERE memory_id NOT IN (SELECT id FROM memories)",
                "DELETE FROM memory_tags WHERE memory_id NOT IN (SELECT id FROM memories)",
            ):
                db.execute(orphan)  # rows of memories that were on a damaged page
            if MODEL_ID_KEY in meta:
                db.execute(
                    f"INSERT INTO {MEMORY_INDEX} (rowid, embedding, project, state) "
                    "SELECT v.memory_id, vec_quantize_binary(v.embedding), m.project, m.state "
                    "FROM memory_vectors v JOIN memories m ON m.id = v.memory_id"
                )
        db.execute("PRAGMA foreign_keys = ON")
        result.check = _integrity(db)
        for table in TABLES:
            result.rows[table] = _count(db, table)
    finally:
        store.close()
    return result


def _read_rows(src: apsw.Connection, table: str, result: Recovery) -> tuple[list[str], list[Any]]:
    """Every readable row of ``table``, one rowid at a time (``meta`` has no integer key
    worth trusting, so it is read whole, or as much of it as a scan returns)."""
    try:
        columns = _columns(src, table)
    except apsw.Error:
        return [], []
    if not columns:
        return [], []
    select = f"SELECT {', '.join(columns)} FROM {table}"
    try:
        return columns, src.execute(select).fetchall()
    except apsw.Error:
        pass
    rows: list[Any] = []
    lost = 0
    try:
        top = scalar(src, f"SELECT max(rowid) FROM {table}")
    except apsw.Error:
        top = None
    rowid, misses, pending = 0, 0, 0
    while (top is None or rowid < top) and misses < MISSES_BEFORE_GIVING_UP:
        rowid += 1
        try:
            row = src.execute(f"{select} WHERE rowid = ?", (rowid,)).fetchone()
        except apsw.Error:
            misses, pending = misses + 1, pending + 1  # unreadable: lost if a row follows
            continue
        if row is None:
            misses += 1
        else:
            lost, misses, pending = lost + pending, 0, 0
            rows.append(row)
    if pending and top is not None and rowid >= top:
        lost += pending
    if lost:
        result.lost[table] = lost
    return columns, rows


def _columns(db: apsw.Connection, table: str) -> list[str]:
    return [str(r[1]) for r in db.execute(f"PRAGMA table_info({table})").fetchall()]


def _count(db: apsw.Connection, table: str) -> int:
    try:
        return int(scalar(db, f"SELECT count(*) FROM {table}"))
    except apsw.Error:
        return 0


def _integrity(db: apsw.Connection) -> str:
    return str(scalar(db, "PRAGMA integrity_check"))
