"""Names and limits of the database that code outside the store reads it by.

The store owns every query; the one reader outside it is :mod:`mcp_memory.hooks.reader`, which
runs on Claude Code's critical path and so cannot import the store (numpy, sqlite-vec's Python
wrapper). It takes the states, the table names, the keys of ``meta`` and the KNN limit from here,
and so does the store, so the two cannot drift apart. This module imports nothing and must stay
that way: importing it has to cost nothing.

The tables themselves are created by :mod:`mcp_memory.store.migrations`, whose SQL is history
(a migration that ran never changes) and spells the names out; ``tests/test_schema.py`` checks
that every name here is a table of a freshly migrated database.
"""

from __future__ import annotations

STATES = ("buffer", "proven", "superseded", "expired", "deleted")
ACTIVE_STATES = ("buffer", "proven")  # the states recall, linking and the hooks see
# Who sees a memory on a team database: everyone, or its author alone.
VISIBILITIES = ("team", "private")
ANCHOR_KINDS = ("file", "lines", "symbol")  # memory_anchors.kind: a whole file, lines, a symbol

MAX_CANDIDATES = 4096  # sqlite-vec caps a KNN query's k here

# Tables.
META = "meta"  # key/value: the recorded model and bookkeeping
MEMORIES = "memories"
MEMORIES_FTS = "memories_fts"  # FTS5 over each memory's content and tags
MEMORY_VECTORS = "memory_vectors"  # each memory's float32 embedding
MEMORY_INDEX = "memory_index"  # sqlite-vec vec0: binary codes with project and state

MEMORY_ANCHORS = "memory_anchors"  # the files each memory is about, with their fingerprints

TABLES = (META, MEMORIES, MEMORIES_FTS, MEMORY_VECTORS, MEMORY_INDEX, MEMORY_ANCHORS)

# The columns of MEMORY_ANCHORS in the order of ``anchors.check.AnchorRow`` (the store and the
# hooks' reader both select them so).
ANCHOR_COLUMNS = (
    "id, memory_id, path, origin_path, kind, selector, fingerprint, anchored_commit, "
    "anchored_at, mtime_ns, size, status, status_commit"
)

# Keys of ``meta`` naming the model the database's vectors were made with.
MODEL_ID_KEY = "model_id"
DIMENSION_KEY = "dimension"
POOLING_KEY = "pooling"
