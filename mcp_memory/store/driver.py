"""What this machine's SQLite driver can do, asked of a throwaway in-memory connection: its
versions, whether the bundled SQLite has FTS5 and whether sqlite-vec loads (``memcycle doctor``
reports them, through ``app.py``, before it opens the real database)."""

from __future__ import annotations

import apsw

from mcp_memory.store.migrations import scalar


def versions() -> tuple[str, str]:
    """apsw's version and the version of the SQLite library it bundles."""
    return apsw.apsw_version(), apsw.sqlite_lib_version()


def has_fts5() -> bool:
    """Whether the SQLite that apsw bundles was built with FTS5 (full-text search needs it)."""
    conn = apsw.Connection(":memory:")
    try:
        return bool(scalar(conn, "SELECT sqlite_compileoption_used('ENABLE_FTS5')"))
    finally:
        conn.close()


def sqlite_vec_version() -> str:
    """The version of the sqlite-vec extension, loaded into a fresh connection (raises when it
    does not load)."""
    import sqlite_vec

    conn = apsw.Connection(":memory:")
    try:
        conn.enable_load_extension(True)
        conn.load_extension(sqlite_vec.loadable_path())
        return str(scalar(conn, "SELECT vec_version()"))
    finally:
        conn.close()
