"""The memory service: what a memory goes through on the way in and out, free of MCP, HTTP and the
environment. It gets a Store and an Embedder and is the one write path for every writer.

- ``memories``: :class:`MemoryService`: remember (validate, redact, dedupe, classify, embed, link),
  forget, restore, stats
- ``recall``: the recall path: vector and keyword search fused, filters, session lift
- ``fusion``: how recall weighs its signals (:class:`Tuning`) and their rank fusion
- ``query``: what a query says besides its words: the dates and names it mentions, identifiers
- ``relevance``: the calibrated relevant / not-relevant decision per hit and the query-level
  gate "does anything answer this" (pure Python)
- ``coverage``: late-interaction coverage of a query by a hit (token states, for the gate)
- ``linking``: link each new memory to the existing memories it is about
- ``promotion``: the one buffer -> proven path (by hand, by recalls, by consolidation)
- ``boilerplate``: structural noise (shared format is not a shared topic)
- ``classify``: memory types, classified at write time
- ``briefing``: the few memories that matter most for a project now, within a budget
- ``hybrid``: chosen projects on the team database, the rest local: writes routed, recall and
  the briefing merged, team ids ``t:<id>``, reads that fall back while it is down
- ``detail``: one memory in full, with its links and lineage (the ``get`` tool, ``show``)
- ``portability``: export, import and backup
- ``migrate``: every readable memory copied into another database (SQLite <-> PostgreSQL)
- ``import_check``: every line of an import file checked before anything is stored
- ``purge``: the hard delete that leaves no byte of a memory's text behind
- ``types``: the dataclasses the service takes and returns
- ``validation``: checks of what callers send, and the limits on it

Public names are imported on first use (PEP 562), never their siblings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcp_memory.lazy import exports

if TYPE_CHECKING:
    from mcp_memory.service.briefing import BriefingContext, build_briefing
    from mcp_memory.service.detail import MemoryDetail, memory_detail
    from mcp_memory.service.memories import MemoryService, content_hash
    from mcp_memory.service.portability import backup, export, import_records, read_export
    from mcp_memory.service.types import Hit, Options, RecallFilters, Remembered
    from mcp_memory.service.validation import parse_time, validate_states

__all__ = [
    "BriefingContext",
    "Hit",
    "MemoryDetail",
    "MemoryService",
    "Options",
    "RecallFilters",
    "Remembered",
    "backup",
    "build_briefing",
    "content_hash",
    "export",
    "import_records",
    "memory_detail",
    "parse_time",
    "read_export",
    "validate_states",
]

# Each public name and the module that defines it, imported on first use.
_HOMES = {
    "BriefingContext": "briefing",
    "Hit": "types",
    "MemoryDetail": "detail",
    "MemoryService": "memories",
    "Options": "types",
    "RecallFilters": "types",
    "Remembered": "types",
    "backup": "portability",
    "build_briefing": "briefing",
    "content_hash": "memories",
    "export": "portability",
    "import_records": "portability",
    "memory_detail": "detail",
    "parse_time": "validation",
    "read_export": "portability",
    "validate_states": "validation",
}


__getattr__ = exports(__name__, _HOMES)
