"""The PostgreSQL store: :class:`PgStore`, the same interface as the SQLite
:class:`~mcp_memory.store.database.Store`, on a shared team database.

It *is* a ``Store``: the shared mixins (memories, links, lineage, routes, recall events, usage)
run their queries unchanged through :class:`~mcp_memory.store.postgres.connection.PgConnection`,
and this subpackage overrides what differs: opening (a ``psycopg_pool`` connection pool and
the numbered migrations of :mod:`~mcp_memory.store.postgres.migrations`), transactions,
the recorded model, vectors and KNN (pgvector, :mod:`~mcp_memory.store.postgres.vectors`) and
full-text search (``tsvector``, :mod:`~mcp_memory.store.postgres.search`).

Concurrency. Every process (every machine) opens its own ``PgStore``; inside one, a lock
serialises threads as in SQLite, and the connection is leased from the pool for as long as the
lock is held, so a transaction keeps one connection. Transactions run at READ COMMITTED;
``insert`` first upserts its project's counter row, whose row lock orders the writers of one
project until they commit, and the unique ``(project, content_hash)`` index with ``ON
CONFLICT DO NOTHING`` makes a text stored by two machines at once one memory. Recording the
model and applying migrations take transaction-level advisory locks; ``maintain`` holds a
session-level one (:meth:`PgStore.maintenance_lock`), so one machine maintains the database at a
time. The URL's password never
appears in a message: errors name :func:`~mcp_memory.store.postgres.connection.redact`'s form.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import psycopg
from pgvector.psycopg import register_vector
from psycopg_pool import ConnectionPool, PoolTimeout

from mcp_memory.errors import DatabaseUnreachableError, StoreError
from mcp_memory.store.base import ModelInfo
from mcp_memory.store.database import Store
from mcp_memory.store.postgres import migrations
from mcp_memory.store.postgres.connection import PgConnection, redact, refused, scrub
from mcp_memory.store.postgres.indexes import PgIndexes
from mcp_memory.store.postgres.search import PgSearch
from mcp_memory.store.postgres.vectors import PgVectors
from mcp_memory.store.schema import DIMENSION_KEY, MODEL_ID_KEY, POOLING_KEY

CONNECT_TIMEOUT_S = 10
POOL_SIZE = 4
MODEL_LOCK = 0x6D63706E  # pg_advisory_xact_lock key of recording the model
MAINTENANCE_LOCK = 0x6D636D74  # pg_try_advisory_lock key of `maintain` (one machine at a time)


def _configure(conn: psycopg.Connection[Any]) -> None:
    """Each pooled connection: numpy arrays as ``vector`` values; a plan made for each KNN
    query's own values (psycopg prepares a statement after 5 runs, and a generic plan, blind
    to ``LIMIT``, can pick an exact scan: measured 19 ms instead of 2 at 10k x 1024-d); a
    filtered HNSW scan that keeps going until enough rows pass the filter."""
    register_vector(conn)
    conn.execute("SET plan_cache_mode = force_custom_plan")
    conn.execute("SET hnsw.iterative_scan = relaxed_order")


class _NoConnection:
    """``PgStore.db`` while no connection is leased: any use is a bug in the store."""

    def __getattr__(self, name: str) -> Any:
        raise StoreError("internal error: the store used its connection outside its lock")


class _Lease:
    """The store's lock (re-entrant, like SQLite's ``Store.lock``) that also leases one pooled
    connection while it is held, and gives it back when the outermost holder lets go."""

    def __init__(self, store: PgStore) -> None:
        self._store = store
        self._lock = threading.RLock()
        self._depth = 0
        self.conn: psycopg.Connection[Any] | None = None

    def __enter__(self) -> _Lease:
        self._lock.acquire()
        if self._depth == 0:
            try:
                self.conn = self._store.pool.getconn(timeout=CONNECT_TIMEOUT_S)
            except PoolTimeout as exc:
                self._lock.release()
                raise DatabaseUnreachableError(
                    f"the team database {redact(self._store.url)} did not answer within "
                    f"{CONNECT_TIMEOUT_S} s; check that it is up and reachable"
                ) from exc
            self._store.db = cast(Any, PgConnection(self.conn, self._store.url))
        self._depth += 1
        return self

    def __exit__(self, *exc: object) -> None:
        self._depth -= 1
        if self._depth == 0:
            conn, self.conn = self.conn, None
            self._store.db = cast(Any, _NoConnection())
            if conn is not None:
                self._store.pool.putconn(conn)
        self._lock.release()


class PgStore(PgVectors, PgSearch, PgIndexes, Store):
    """A memory database on PostgreSQL. Open with :meth:`connect`; close with :meth:`close`.

    ``user`` is who this process writes as and reads for: memories it stores carry it as
    their ``author``, and another user's ``private`` memories are invisible to it.
    """

    def __init__(self, pool: ConnectionPool[Any], url: str, user: str) -> None:
        self.pool = pool
        self.url = url
        self.user = user
        self.path = Path(redact(url))  # what messages call the database; never a file here
        self.db = cast(Any, _NoConnection())
        self.lock = cast(threading.RLock, _Lease(self))
        self._in_tx = False
        self.model = self.opened_model = self._read_model()
        self.vector_model = None

    @classmethod
    def connect(cls, url: str, *, user: str) -> PgStore:
        """Open (creating and migrating) the database at ``url``."""
        try:
            with psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S) as conn:
                migrations.apply(PgConnection(conn, url))
        except psycopg.Error as exc:
            denied = refused(exc, url)
            if denied is not None:
                raise denied from exc
            kind = (
                DatabaseUnreachableError
                if isinstance(exc, psycopg.OperationalError)
                else StoreError
            )
            raise kind(
                f"cannot open the team database {redact(url)}: "
                f"{scrub(str(exc).strip(), url)}; check the URL, the server and the credentials"
            ) from exc
        pool: ConnectionPool[Any] = ConnectionPool(
            url,
            min_size=1,
            max_size=POOL_SIZE,
            kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT_S},
            configure=_configure,
            open=False,
            name="memcycle",
        )
        try:
            pool.open(wait=True, timeout=CONNECT_TIMEOUT_S)
        except PoolTimeout as exc:
            pool.close()
            raise DatabaseUnreachableError(
                f"cannot open the team database {redact(url)}: no connection within "
                f"{CONNECT_TIMEOUT_S} s; check that it is up and reachable"
            ) from exc
        return cls(pool, url, user)

    def close(self) -> None:
        with self.lock:
            pass
        self.pool.close()

    @property
    def schema_version(self) -> int:
        with self.lock:
            return migrations.current_version(self._pg)

    def quick_check(self) -> str:
        """``ok`` when the server answers and the vector extension is installed."""
        with self.lock:
            row = self._pg.run("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
            return "ok" if row.fetchone() is not None else "the vector extension is missing"

    # -- transactions -------------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """A READ COMMITTED write transaction on one leased connection (nested calls join the
        outer one); any error rolls all of it back."""
        with self.lock:
            if self._in_tx:
                yield
                return
            self._in_tx = True
            try:
                with self._pg.conn.transaction():
                    self.model = self._read_model()  # `reindex` may have switched it
                    yield
            except psycopg.Error as exc:  # the COMMIT itself failed
                raise self._pg.error(exc) from exc
            finally:
                self._in_tx = False

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """A read-only REPEATABLE READ transaction: every read inside sees one state."""
        with self.lock:
            if self._in_tx:
                yield
                return
            self._in_tx = True
            try:
                with self._pg.conn.transaction():
                    self._pg.run("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    yield
            finally:
                self._in_tx = False

    @contextlib.contextmanager
    def maintenance_lock(self) -> Iterator[bool]:
        """True when this machine may maintain the database (``maintain``): a session-level
        advisory lock every machine sharing the database sees, tried without waiting and held
        for the whole ``with`` block on a connection of its own (outside the store's lease, so
        the run's own statements and other threads go on meanwhile). False while another
        machine (or another store of this one) holds it. The lock ends with its session, so a
        maintainer that dies never leaves the database locked."""
        try:
            conn = self.pool.getconn(timeout=CONNECT_TIMEOUT_S)
        except PoolTimeout as exc:
            raise DatabaseUnreachableError(
                f"the team database {redact(self.url)} did not answer within "
                f"{CONNECT_TIMEOUT_S} s; check that it is up and reachable"
            ) from exc
        pg = PgConnection(conn, self.url)
        try:
            held = bool(
                pg.run("SELECT pg_try_advisory_lock(%s)", (MAINTENANCE_LOCK,)).fetchone()[0]
            )
            try:
                yield held
            finally:
                if held:
                    try:
                        pg.run("SELECT pg_advisory_unlock(%s)", (MAINTENANCE_LOCK,))
                    except Exception:
                        conn.close()  # never pool a session that may still hold the lock
                        raise
        finally:
            self.pool.putconn(conn)

    # -- model --------------------------------------------------------------------------

    def _read_model(self) -> ModelInfo | None:
        with self.lock:
            rows: dict[str, Any] = dict(self._pg.run("SELECT key, value FROM meta").fetchall())
        if MODEL_ID_KEY not in rows:
            return None
        return ModelInfo(str(rows[MODEL_ID_KEY]), int(rows[DIMENSION_KEY]), str(rows[POOLING_KEY]))

    def init_model(self, model_id: str, dimension: int, pooling: str) -> ModelInfo:
        """Record the database's model, fix the vector column's dimension and build its
        vector index (once, whichever machine comes first)."""
        if dimension <= 0 or dimension % 8:
            raise StoreError(f"vector dimension must be a positive multiple of 8, not {dimension}")
        with self.transaction():
            self._pg.run("SELECT pg_advisory_xact_lock(%s)", (MODEL_LOCK,))
            existing = self._read_model()
            if existing is not None:
                self.model = existing
                return existing
            self._pg.conn.cursor().executemany(
                "INSERT INTO meta (key, value) VALUES (%s, %s)",
                [
                    (MODEL_ID_KEY, model_id),
                    (DIMENSION_KEY, str(dimension)),
                    (POOLING_KEY, pooling),
                    ("model_recorded_at", str(time.time())),
                ],
            )
            self._pg.run(
                f"ALTER TABLE memory_vectors ALTER COLUMN embedding TYPE vector({int(dimension)})"
            )
            self._pg.run(migrations.vector_index(dimension))
            self.model = self.opened_model = ModelInfo(model_id, dimension, pooling)
            return self.model

    @contextlib.contextmanager
    def bulk_load(self, maintenance_mb: int = 1024, workers: int = 2) -> Iterator[None]:
        """Many inserts at once (an import, a benchmark): the vector index is dropped while
        they run and built once after (``workers`` parallel build processes), which is several
        times faster than growing it row by row. Recall scans without it meanwhile; use it
        when nobody else is using the database."""
        with self.lock:
            self._pg.run(f"DROP INDEX IF EXISTS {migrations.VECTOR_INDEX}")
            try:
                yield
            finally:
                self.build_vector_index(maintenance_mb, workers)

    def build_vector_index(self, maintenance_mb: int = 1024, workers: int = 2) -> None:
        """Build the vector index if it is missing (after :meth:`bulk_load`'s rows), then
        refresh the planner's statistics so that queries see the new rows."""
        with self.lock:
            if self.model is None:
                return
            self._pg.run(
                "SELECT set_config('maintenance_work_mem', %s, false), "
                "set_config('max_parallel_maintenance_workers', %s, false)",
                (f"{maintenance_mb}MB", str(workers)),
            )
            self._pg.run(migrations.vector_index(self.model.dimension))
            self._pg.run("ANALYZE memories, memory_vectors")

    # -- re-embedding (not on PostgreSQL yet) -------------------------------------------

    def begin_reindex(self, model_id: str, dimension: int, pooling: str) -> tuple[int, int]:
        raise StoreError(
            f"re-embedding a PostgreSQL database ({redact(self.url)}) in place is not "
            "supported yet: copy it into a SQLite file with `memcycle migrate --to FILE.db`, "
            "re-embed that copy, then migrate it into a new, empty PostgreSQL database"
        )
