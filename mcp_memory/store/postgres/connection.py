"""The PostgreSQL connection as the store's shared SQL sees it, and URLs without their password.

The store's mixins (:mod:`mcp_memory.store.memories`, ``links``, ``lineage`` ...) are written
once, for SQLite's ``apsw`` connection: ``db.execute(sql, params)`` returning a cursor with
``fetchall``/``fetchone``, ``db.executemany`` and ``db.changes()``. :class:`PgConnection`
offers the same calls over one psycopg connection, so those queries run unchanged on
PostgreSQL. Their SQL is kept to what both engines accept; :func:`dialect` rewrites the
only three SQLite spellings they still use:

- ``?`` placeholders become ``%s`` (and a literal ``%`` becomes ``%%``);
- ``INSERT OR IGNORE INTO ...`` becomes ``INSERT INTO ... ON CONFLICT DO NOTHING``;
- ``+state`` (SQLite's "do not use an index for this column" hint) becomes ``state``.

Everything else that differs (vectors, full-text search, ``INSERT OR REPLACE``, PRAGMAs) is a
method of its own in this subpackage, never a rewrite.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

import psycopg

from mcp_memory.errors import DatabaseRefusedError, DatabaseUnreachableError, StoreError
from mcp_memory.store.base import StoreBase

_IGNORE = re.compile(r"^\s*INSERT OR IGNORE INTO\b", re.IGNORECASE)
# What a server that answered but refused the login says (libpq gives a failed connection no
# SQLSTATE, only the text): retrying cannot help, the URL or the server's setup must change.
# "too many connections" and "starting up"/"shutting down" are not here: those pass.
_REFUSED = re.compile(
    r"password authentication failed|authentication failed for user|no password supplied|"
    r"database \S+ does not exist|role \S+ does not exist|no pg_hba\.conf entry|"
    r"permission denied for database|server does not support SSL|SSL was required|"
    r"certificate verify failed|not permitted to log in",
    re.IGNORECASE,
)
_FIXES = (
    ("password", "fix the user name and password in MCP_MEMORY_DATABASE_URL"),
    ("does not exist", "create the database (or role), or fix its name in the URL"),
    ("pg_hba", "ask the server's admin to allow this user and host in pg_hba.conf"),
    ("SSL", "fix sslmode in the URL, or enable TLS on the server"),
)


def redact(url: str) -> str:
    """``url`` with its password replaced by ``***`` (user, host, port and database kept), so
    it can appear in a log line, an error or ``doctor`` output."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "postgresql://***"
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}"
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def scrub(text: str, url: str) -> str:
    """``text`` (an error message) without ``url``'s password anywhere in it."""
    password = urlsplit(url).password
    return text.replace(password, "***") if password else text


def refused(exc: Exception, url: str) -> DatabaseRefusedError | None:
    """The error for a connection the server answered and refused (see ``_REFUSED``), saying
    what to fix and never the password; None when it may be the network or a server that is
    down (then :class:`DatabaseUnreachableError`)."""
    text = scrub(str(exc).strip(), url)
    if not _REFUSED.search(text):
        return None
    fix = next((f for key, f in _FIXES if key.lower() in text.lower()), "fix the URL")
    return DatabaseRefusedError(
        f"the team database {redact(url)} refused the connection ({text}); {fix}. Nothing is "
        "queued for a database that refuses: the write failed"
    )


def dialect(sql: str) -> str:
    """The PostgreSQL spelling of one of the store's shared statements (see the module
    docstring); question marks inside string literals are left alone."""
    ignore = bool(_IGNORE.match(sql))
    if ignore:
        sql = _IGNORE.sub("INSERT INTO", sql, count=1)
    out: list[str] = []
    quoted = False
    for ch in sql:
        if ch == "'":
            quoted = not quoted
        if ch == "?" and not quoted:
            out.append("%s")
        elif ch == "%":
            out.append("%%")
        else:
            out.append(ch)
    text = "".join(out).replace("+state", "state")
    return f"{text} ON CONFLICT DO NOTHING" if ignore else text


class PgCursor:
    """The result of one statement: rows when it returned any, else none."""

    def __init__(self, cursor: psycopg.Cursor[Any]) -> None:
        self._cursor = cursor

    def fetchall(self) -> list[Any]:
        return [] if self._cursor.description is None else self._cursor.fetchall()

    def fetchone(self) -> Any:
        return None if self._cursor.description is None else self._cursor.fetchone()

    def __iter__(self) -> Any:
        return iter(self.fetchall())


class PgConnection:
    """One leased psycopg connection with the calls the shared mixins make (see the module
    docstring). Failures become :class:`StoreError` with the URL's password scrubbed."""

    def __init__(self, conn: psycopg.Connection[Any], url: str) -> None:
        self.conn = conn
        self.url = url
        self._changes = 0

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> PgCursor:
        return self.run(dialect(sql), params)

    def run(self, sql: str, params: Sequence[Any] | None = None) -> PgCursor:
        """A statement already written for PostgreSQL (``%s`` placeholders)."""
        try:
            cursor = self.conn.execute(sql, tuple(params) if params is not None else None)
        except psycopg.Error as exc:
            raise self.error(exc) from exc
        self._changes = max(cursor.rowcount, 0)
        return PgCursor(cursor)

    def executemany(self, sql: str, seq: Iterable[Sequence[Any]]) -> None:
        rows = [tuple(r) for r in seq]
        if not rows:
            self._changes = 0
            return
        try:
            with self.conn.cursor() as cursor:
                cursor.executemany(dialect(sql), rows)
                self._changes = max(cursor.rowcount, 0)
        except psycopg.Error as exc:
            raise self.error(exc) from exc

    def changes(self) -> int:
        """Rows the last statement inserted, changed or deleted (apsw's ``changes()``)."""
        return self._changes

    def error(self, exc: psycopg.Error) -> Exception:
        """The project error for a failed statement, naming the database without password."""
        if isinstance(exc, psycopg.errors.UniqueViolation):
            return StoreError(
                f"a row with the same key is already stored: {scrub(str(exc), self.url)}"
            )
        if isinstance(exc, psycopg.OperationalError):
            denied = refused(exc, self.url)
            if denied is not None:
                return denied
            return DatabaseUnreachableError(
                f"lost the connection to the team database {redact(self.url)} "
                f"({scrub(str(exc).strip(), self.url)}); nothing of this write was kept. Check "
                "that the server is up and reachable, then retry"
            )
        return StoreError(f"{redact(self.url)}: {scrub(str(exc).strip(), self.url)}")


class PgPart(StoreBase):
    """What the PostgreSQL parts of :class:`~mcp_memory.store.postgres.database.PgStore`
    share: who reads and writes (``user``) and the leased connection as a PostgreSQL one."""

    user: str
    url: str

    def visible(self, alias: str = "") -> tuple[str, tuple[Any, ...]]:
        """Team memories and the user's own private ones: another user's private memory is
        never read for this process (get, briefing, graph, export, lifecycle)."""
        p = f"{alias}." if alias else ""
        return f"({p}visibility = 'team' OR {p}author = ?)", (self.user,)

    @property
    def _pg(self) -> PgConnection:
        """The leased connection (the store's lock must be held), with ``run`` for
        statements written for PostgreSQL."""
        return cast(PgConnection, self.db)
