"""The SQLite store: every SQL statement of the package lives here (SQLite with FTS5 for keywords and
sqlite-vec for vectors). One :class:`Store` per database file, composed of mixins over one
connection; the rest of the package calls its methods and never writes SQL.

- ``database``: the :class:`Store` itself: open, migrate, close, transactions
- ``base``: the row types (:class:`Memory`, :class:`NewMemory`, :class:`ModelInfo`) and states
- ``memories``: storing a memory (tags, line statistics, session chain), changing and reading rows
- ``vectors``: each memory's embeddings and the binary index table, KNN
- ``links``: links between memories and the per-project line statistics
- ``search``: what recall reads besides vectors: full-text matches, session neighbours
- ``bit_index`` and ``bit_codes``: the binary codes held in RAM, the candidate stage of KNN
- ``migrations``: numbered schema migrations, applied in order on open
- ``integrity``: SQLite's own checks plus the invariants between our tables
- ``schema``: table names, states and limits, import-light (the hooks' reader shares them)
- ``lineage``: consolidations and their lineage (which sources went into which result)
- ``recall_events``: strong recalls, counted for promotion
- ``routes``: the route ledger (``route_writes``, ``routes``) and the target-vector cache
- ``anchors``: code anchors (``memory_anchors``): the files each memory is about, their
  fingerprints and last status
- ``usage``: what LLM calls cost per day (``llm_usage``)
- ``reindex``: the staging vectors of a re-embed and the switch to them
- ``backup``: an online copy of the database file, checked
- ``purge``: removing a memory's text from every table, FTS index and free page
- ``recover``: salvaging a damaged database into a new file (``memcycle doctor --repair``)
- ``driver``: what the SQLite build offers (FTS5, the sqlite-vec version), for doctor
- ``postgres``: the same store on a shared PostgreSQL with pgvector (the subpackage's own
  docstring lists its modules); it reuses the mixins above through a dialect shim

Public names are imported on first use (PEP 562): importing one module never imports the others.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcp_memory.lazy import exports

if TYPE_CHECKING:
    from mcp_memory.store.base import Memory, ModelInfo, NewMemory
    from mcp_memory.store.database import Store
    from mcp_memory.store.schema import ACTIVE_STATES, STATES

__all__ = [
    "ACTIVE_STATES",
    "STATES",
    "Memory",
    "ModelInfo",
    "NewMemory",
    "Store",
]

# Each public name and the module that defines it, imported on first use.
_HOMES = {
    "ACTIVE_STATES": "schema",
    "STATES": "schema",
    "Memory": "base",
    "ModelInfo": "base",
    "NewMemory": "base",
    "Store": "database",
}


__getattr__ = exports(__name__, _HOMES)
