"""The PostgreSQL store: a shared team database with pgvector, behind the same interface as the
SQLite :class:`~mcp_memory.store.database.Store` (install with ``pip install
'memcycle[postgres]'``; chosen by ``MCP_MEMORY_DATABASE_URL=postgresql://...``).

- ``database``: :class:`PgStore`: the connection pool, transactions, the recorded model
- ``connection``: the leased connection as the shared mixins see it, and URL redaction
- ``migrations``: numbered schema migrations with a ``schema_version`` table
- ``vectors``: ``vector(D)``, KNN: HNSW over sign bits, then exact cosine rescoring
- ``search``: ``tsvector`` full-text search for recall's keyword signal
- ``indexes``: index upkeep the SQLite store does by hand (state copies, cascade, VACUUM)
- ``integrity``: the integrity audit: invalid or missing indexes, invariants, acknowledged ids

Importing this package imports nothing: psycopg is needed only when a database URL is set.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcp_memory.lazy import exports

if TYPE_CHECKING:
    from mcp_memory.store.postgres.connection import redact
    from mcp_memory.store.postgres.database import PgStore

__all__ = ["PgStore", "redact"]

_HOMES = {"PgStore": "database", "redact": "connection"}

__getattr__ = exports(__name__, _HOMES)
