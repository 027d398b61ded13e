"""The memory service: what a memory goes through on the way in and out, free of MCP, HTTP and the
environment. It gets a Store and an Embedder and is the one write path for every writer.

- ``memories``: :class:`MemoryService`: remember (validate, redact, dedupe, classify, embed, link),
  forget, restore, stats
- ``recall``: the recall path: vector and keyword search fused, filters, session lift
- ``fusion``: how recall weighs its signals (:class:`Tuning`) and their rank fusion
- ``query``: what a query says besides its words: the dates and names it mentions, identifiers
- ``relevance``: the calibrated relevant / not-relevant decision per hit (pure Python)
- ``linking``: link each new memory to the existing memories it is about
- ``promotion``: the one buffer -> proven path (by hand, by recalls, by consolidation)
- ``boilerplate``: structural noise (shared format is not a shared topic)
- ``classify``: memory types, classified at write time
- ``briefing``: the few memories that matter most for a project now, within a budget
- ``portability``: export, import and backup
- ``types``: the dataclasses the service takes and returns
- ``validation``: checks of what callers send, and the limits on it

Public names are imported on first use (PEP 562), never their siblings.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mcp_memory.service.briefing import BriefingContext, build_briefing
    from mcp_memory.service.memories import MemoryService, content_hash
    from mcp_memory.service.portability import backup, export, import_records, read_export
    from mcp_memory.service.types import Hit, Options, RecallFilters, Remembered
    from mcp_memory.service.validation import parse_time

__all__ = [
    "BriefingContext",
    "Hit",
    "MemoryService",
    "Options",
    "RecallFilters",
    "Remembered",
    "backup",
    "build_briefing",
    "content_hash",
    "export",
    "import_records",
    "parse_time",
    "read_export",
]

# Each public name and the module that defines it, imported on first use.
_HOMES = {
    "BriefingContext": "briefing",
    "Hit": "types",
    "MemoryService": "memories",
    "Options": "types",
    "RecallFilters": "types",
    "Remembered": "types",
    "backup": "portability",
    "build_briefing": "briefing",
    "content_hash": "memories",
    "export": "portability",
    "import_records": "portability",
    "parse_time": "validation",
    "read_export": "portability",
}


def __getattr__(name: str) -> Any:
    """PEP 562: import a public name's module on first use, never its siblings."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value
