"""SQLite storage: memories, tags, links, full-text index and vectors.

Driver: ``apsw``. CPython's ``sqlite3`` cannot load extensions on many builds (this machine's
default Python, macOS system Python), and sqlite-vec is an extension. apsw is maintained in
lock-step with SQLite releases (bundling a current SQLite with FTS5), loads extensions on every
platform, and exposes SQLite's own transaction and busy-handler semantics without the implicit
transactions of the DB-API module.

Vectors: the full float32 vector of each memory lives in ``memory_vectors``; a sqlite-vec
``vec0`` table holds its binary quantization (1 bit per dimension) with ``project`` and
``state`` metadata. A KNN query scans the compact bit index for candidates, then rescores them
exactly with the full vectors (see ``docs/benchmarks.md`` for why: a float vec0 scan is ~20x
slower at 100k x 1024-d).

One connection must not be used by several threads at once: ``Store`` serialises access with
a lock, and each process opens its own ``Store``.

Layout. This module opens the database, runs its transactions and keeps its recorded model;
:class:`Store` gets the rest from one mixin per group of tables:

- ``store_memories.py``: memory rows (insert, state, purge, reads, counts);
- ``store_vectors.py``: vectors and KNN (and the in-RAM bit index behind it);
- ``store_links.py``: links, line statistics, the ``connected`` mark;
- ``store_search.py``: full-text matches and the other reads of recall (and the briefing);
- ``lineage.py``: consolidations and their lineage;
- ``purge.py``: hard delete, leaving no byte of a memory's text in the file (``purge``);
- ``recall_events.py``: strong recalls, counted for promotion;
- ``routes.py``: the route ledger (``route_writes``, ``routes``) and the target-vector cache;
- ``reindex.py``: the staging vectors of a re-embed and the switch to them;
- ``usage.py``: what LLM calls cost per day;
- ``anchors.py``: the files each memory is about (code anchors) and their last status;
- ``store_base.py``: the row types, the states and the base class the mixins share.

Why mixins rather than collaborator objects: every part shares one connection, one lock and one
transaction (``insert`` stores the vector inside its own transaction; the service wraps many
calls in one), so separate objects would only hold references back to the same state, and
callers would either change (``store.vectors.knn``) or need ~40 forwarding methods. With
mixins callers keep the one ``Store`` they have and each file holds one group of tables.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import apsw
import sqlite_vec

from mcp_memory.errors import (
    CorruptDatabaseError,
    DiskFullError,
    ModelMismatchError,
    ReadOnlyDatabaseError,
    StoreError,
)
from mcp_memory.files import private_dir
from mcp_memory.store import migrations
from mcp_memory.store.anchors import StoreAnchors
from mcp_memory.store.base import ModelInfo
from mcp_memory.store.bit_index import BitIndex
from mcp_memory.store.lineage import StoreLineage
from mcp_memory.store.links import StoreLinks
from mcp_memory.store.memories import StoreMemories
from mcp_memory.store.migrations import scalar
from mcp_memory.store.purge import StorePurge
from mcp_memory.store.recall_events import StoreRecallEvents
from mcp_memory.store.reindex import StoreReindex
from mcp_memory.store.routes import StoreRoutes
from mcp_memory.store.schema import (
    DIMENSION_KEY,
    MEMORY_INDEX,
    MODEL_ID_KEY,
    POOLING_KEY,
)
from mcp_memory.store.search import StoreSearch
from mcp_memory.store.usage import StoreUsage
from mcp_memory.store.vectors import index_sql

BUSY_TIMEOUT_MS = 10_000
REPAIR_HINT = (
    "the readable data is still in the file: do not delete it or move it aside to start over. "
    "Run `memcycle doctor --repair` to copy everything readable into a new file next to it (the "
    "original is kept), then switch to it as it says, or restore a backup"
)


def translate(exc: BaseException, path: str | Path) -> BaseException:
    """The project error for a SQLite failure a user can act on (damaged file, read-only file
    or file system, full disk), with what to do next; any other exception unchanged."""
    if isinstance(exc, apsw.CorruptError | apsw.NotADBError):
        return CorruptDatabaseError(f"database {path} is damaged ({exc}); {REPAIR_HINT}")
    if isinstance(exc, apsw.ReadOnlyError):
        return ReadOnlyDatabaseError(
            f"cannot write to {path}: it is read-only here ({exc}). Nothing was written and "
            "nothing is lost; reads still work. Make the file and its directory writable, or "
            "point MCP_MEMORY_HOME at a writable directory"
        )
    if isinstance(exc, apsw.FullError):
        return DiskFullError(
            f"cannot write to {path}: the disk is full ({exc}). Nothing was written and the "
            "database is unchanged. Free some disk space and retry"
        )
    return exc


class _Cursor(apsw.Cursor):
    """Every statement the store runs goes through here (``cursor_factory``), so a damaged,
    read-only or full database surfaces as a project error wherever it is met. Plain row
    iteration is left to apsw (a Python ``__next__`` would triple its cost); ``fetchall`` and
    ``fetchone``, which the store's reads use, are covered."""

    def _fail(self, exc: apsw.Error) -> BaseException:
        return translate(exc, self.connection.filename or ":memory:")

    def execute(self, *args: Any, **kwargs: Any) -> apsw.Cursor:
        try:
            return super().execute(*args, **kwargs)
        except apsw.Error as exc:
            raise self._fail(exc) from exc

    def executemany(self, *args: Any, **kwargs: Any) -> apsw.Cursor:
        try:
            return super().executemany(*args, **kwargs)
        except apsw.Error as exc:
            raise self._fail(exc) from exc

    def fetchall(self) -> list[Any]:
        try:
            return super().fetchall()
        except apsw.Error as exc:
            raise self._fail(exc) from exc

    def fetchone(self) -> Any:
        try:
            return super().fetchone()
        except apsw.Error as exc:
            raise self._fail(exc) from exc


class Store(
    StorePurge,
    StoreMemories,
    StoreLinks,
    StoreSearch,
    StoreRoutes,
    StoreLineage,
    StoreRecallEvents,
    StoreReindex,
    StoreUsage,
    StoreAnchors,
):
    """A memory database file. Open with :meth:`open`; close with :meth:`close`."""

    def __init__(self, db: apsw.Connection, path: Path) -> None:
        self.db = db
        self.path = path
        self.lock = threading.RLock()
        self._in_tx = False
        self.model: ModelInfo | None = self._read_model()
        # (model id, dimension) of the vectors this process writes and queries with, set by
        # MemoryService: a database switched to another model by `reindex` in another process
        # then refuses them (ModelMismatchError) instead of mixing vector spaces.
        self.vector_model: tuple[str, int] | None = None
        self.opened_model = self.model
        self.bit_index = BitIndex(db)  # the binary codes in RAM that knn scans (loaded lazily)

    # -- opening ------------------------------------------------------------------------

    @classmethod
    def open(cls, path: Path | str, *, read_only: bool = False) -> Store:
        """Open (creating and migrating) the database at ``path``. A file that cannot be
        written (read-only file, directory or file system) is opened read-only instead, so
        reads keep working and writes fail with :class:`ReadOnlyDatabaseError`; ``read_only``
        asks for that mode directly."""
        path = Path(path)
        if not read_only:
            try:
                return cls._open(path, read_only=False)
            except ReadOnlyDatabaseError:
                if not path.exists():
                    raise
        return cls._open(path, read_only=True)

    @classmethod
    def _open(cls, path: Path, *, read_only: bool) -> Store:
        flags = (
            apsw.SQLITE_OPEN_READONLY
            if read_only
            else apsw.SQLITE_OPEN_READWRITE | apsw.SQLITE_OPEN_CREATE
        )
        try:
            if str(path) != ":memory:" and not read_only:
                private_dir(path.parent)
            db = apsw.Connection(str(path), flags=flags)
            db.cursor_factory = _Cursor
        except PermissionError as exc:
            raise translate(apsw.ReadOnlyError(str(exc)), path) from exc
        except (apsw.Error, OSError) as exc:
            raise StoreError(
                f"cannot open database {path}: {exc}; check the path and permissions"
            ) from exc
        try:
            db.set_busy_timeout(BUSY_TIMEOUT_MS)
            db.enable_load_extension(True)
            db.load_extension(sqlite_vec.loadable_path())
            db.enable_load_extension(False)
            if not read_only:
                db.execute("PRAGMA journal_mode = WAL")
                db.execute("PRAGMA synchronous = NORMAL")
            db.execute("PRAGMA foreign_keys = ON")
            migrations.apply(db)  # reads user_version only when the schema is current
        except (apsw.Error, StoreError) as exc:
            db.close()
            if isinstance(exc, StoreError):
                raise
            if isinstance(exc, apsw.BusyError):
                raise StoreError(
                    f"cannot open database {path}: another process kept it locked for more "
                    f"than {BUSY_TIMEOUT_MS / 1000:g} s (the busy timeout). Retry in a moment; if "
                    f"it persists, find the process holding it (`fuser {path}`) and end it"
                ) from exc
            raise StoreError(f"cannot open database {path}: {exc}") from exc
        if str(path) != ":memory:" and not read_only:
            for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
                if p.exists():
                    p.chmod(0o600)
        return cls(db, path)

    def close(self) -> None:
        with self.lock:
            self.db.close()

    @property
    def schema_version(self) -> int:
        with self.lock:
            return int(scalar(self.db, "PRAGMA user_version"))

    def quick_check(self) -> str:
        """SQLite's ``PRAGMA quick_check``: ``ok``, or the first problem it found."""
        with self.lock:
            return str(scalar(self.db, "PRAGMA quick_check"))

    # -- transactions -------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """An IMMEDIATE write transaction (nested calls join the outer one).

        IMMEDIATE takes the write lock up front, so the busy timeout applies instead of a
        deadlock-prone upgrade from a read lock. A lock held past the busy timeout, a full
        disk or an I/O error rolls everything back and becomes a StoreError saying what to do.
        """
        with self.lock:
            if self._in_tx:
                yield
                return
            try:
                self.db.execute("BEGIN IMMEDIATE")
            except apsw.Error as exc:
                raise self._write_error(exc) from exc
            self._in_tx = True
            try:
                self.model = self._read_model()  # `reindex` may have switched it meanwhile
                yield
                self.db.execute("COMMIT")
            except BaseException as exc:
                self._in_tx = False
                if not self.db.getautocommit():  # a failed COMMIT may have rolled back already
                    self.db.execute("ROLLBACK")
                if isinstance(exc, apsw.BusyError | apsw.FullError | apsw.IOError):
                    raise self._write_error(exc) from exc
                raise
            self._in_tx = False

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """A read transaction (deferred): every read inside sees one consistent state of the
        database, while writers in other processes go on (WAL). Holds this store's lock."""
        with self.lock:
            self.db.execute("BEGIN")
            try:
                yield
            finally:
                self.db.execute("COMMIT")

    @contextmanager
    def maintenance_lock(self) -> Iterator[bool]:
        """True when this process may maintain the database (``maintain``), for the whole
        ``with`` block. A SQLite file has one machine: the caller's lock file next to the
        database is all it needs, so this is always free. The PostgreSQL store overrides it
        with a lock every machine sharing the database sees."""
        yield True

    def _write_error(self, exc: apsw.Error) -> Exception:
        if isinstance(exc, apsw.BusyError):
            return StoreError(
                f"database {self.path} stayed locked by another process for more than "
                f"{BUSY_TIMEOUT_MS / 1000:g} s (the busy timeout); nothing was written. Retry in a "
                f"moment; if it persists, find the process holding it (`fuser {self.path}`) "
                "and end it"
            )
        if isinstance(exc, apsw.FullError | apsw.IOError):
            return StoreError(
                f"cannot write to {self.path}: {exc} (disk full or I/O error); nothing was "
                "written and the database is unchanged. Free disk space and retry"
            )
        return exc

    # -- model --------------------------------------------------------------------------

    def _read_model(self) -> ModelInfo | None:
        rows: dict[str, Any] = dict(self._rows("SELECT key, value FROM meta"))
        if MODEL_ID_KEY not in rows:
            return None
        return ModelInfo(str(rows[MODEL_ID_KEY]), int(rows[DIMENSION_KEY]), str(rows[POOLING_KEY]))

    def init_model(self, model_id: str, dimension: int, pooling: str) -> ModelInfo:
        """Record the database's model and create its vector index (once)."""
        if dimension <= 0 or dimension % 8:
            raise StoreError(f"vector dimension must be a positive multiple of 8, not {dimension}")
        with self.transaction():
            existing = self._read_model()
            if existing is not None:
                self.model = existing
                return existing
            now = str(time.time())
            self.db.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?)",
                [
                    (MODEL_ID_KEY, model_id),
                    (DIMENSION_KEY, str(dimension)),
                    (POOLING_KEY, pooling),
                    ("model_recorded_at", now),
                ],
            )
            self.db.execute(index_sql(MEMORY_INDEX, dimension))
            self.model = self.opened_model = ModelInfo(model_id, dimension, pooling)
            return self.model

    def refresh_model(self) -> ModelInfo | None:
        """Re-read the recorded model: ``memcycle reindex`` in another process may have
        switched it."""
        with self.lock:
            self.model = self._read_model()
            return self.model

    def check_model(self, model_id: str, dimension: int) -> None:
        if self.refresh_model() is None:
            return
        assert self.model is not None
        if self.opened_model not in (None, self.model) and self.vector_model is not None:
            self._guard_vectors()  # switched by `reindex` under this process: say so
        if (self.model.model_id, self.model.dimension) != (model_id, dimension):
            raise ModelMismatchError(
                f"database {self.path} was built with {self.model.model_id} "
                f"({self.model.dimension}-d) but {model_id} ({dimension}-d) is configured; "
                f"set MCP_MEMORY_MODEL={self.model.model_id} (and MCP_MEMORY_DIMENSION="
                f"{self.model.dimension}) or use another MCP_MEMORY_DB"
            )
