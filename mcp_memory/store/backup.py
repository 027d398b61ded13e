"""A checked copy of a database file, taken with SQLite's online backup API while other
processes keep writing (what ``memcycle backup`` runs; the file handling around it is in
:func:`mcp_memory.service.portability.backup`).
"""

from __future__ import annotations

import os
from pathlib import Path

import apsw

from mcp_memory.errors import StoreError
from mcp_memory.store.migrations import scalar

BUSY_TIMEOUT_MS = 10_000


def copy_database(source: Path, copy: Path, destination: Path) -> tuple[str, int]:
    """Copy the database at ``source`` into a new file ``copy`` (created 0600, must not exist;
    it becomes ``destination`` once the caller is satisfied) and check it; returns the copy's
    ``integrity_check`` answer and its memory count.

    One step copies every page under one read transaction: a consistent snapshot that
    writers in other processes never wait for (WAL). The copy is switched to a rollback
    journal, so it is one self-contained file.
    """
    try:
        return _copy(source, copy)
    except apsw.Error as exc:
        raise StoreError(f"backup of {source} to {destination} failed: {exc}") from exc


def _copy(source: Path, copy: Path) -> tuple[str, int]:
    src = apsw.Connection(str(source), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        src.set_busy_timeout(BUSY_TIMEOUT_MS)
        fd = os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        dst = apsw.Connection(str(copy))
        try:
            with dst.backup("main", src, "main") as step:
                while not step.done:
                    step.step(-1)
            dst.execute("PRAGMA journal_mode = DELETE")
        finally:
            dst.close()
    finally:
        src.close()
    check = apsw.Connection(str(copy), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        integrity = str(scalar(check, "PRAGMA integrity_check"))
        memories = int(scalar(check, "SELECT count(*) FROM memories"))
    finally:
        check.close()
    return integrity, memories
