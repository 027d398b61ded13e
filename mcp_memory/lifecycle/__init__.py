"""The lifecycle of stored memories: how buffer memories become proven knowledge or fade.

- ``clusters``: groups of 3+ connected buffer memories that are about one thing
- ``consolidate``: :class:`Consolidator`: merge a cluster into proven knowledge, and undo it
- ``aging``: isolated memories fade (:class:`AgePolicy`, :class:`Judge`); what matters stays
- ``maintenance``: :func:`maintain`: embed, link, consolidate and age in the background
- ``reindex``: re-embed every memory with another model, then switch
- ``actions``: the consolidate request the MCP tool and the CLI both make (list, run, undo)

Public names are imported on first use (PEP 562).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcp_memory.lazy import exports

if TYPE_CHECKING:
    from mcp_memory.lifecycle.aging import AgePolicy, Judge
    from mcp_memory.lifecycle.clusters import connected, find_clusters
    from mcp_memory.lifecycle.consolidate import Consolidator
    from mcp_memory.lifecycle.maintenance import MaintainReport, maintain

__all__ = [
    "AgePolicy",
    "Consolidator",
    "Judge",
    "MaintainReport",
    "connected",
    "find_clusters",
    "maintain",
]

# Each public name and the module that defines it, imported on first use.
_HOMES = {
    "AgePolicy": "aging",
    "Consolidator": "consolidate",
    "Judge": "aging",
    "MaintainReport": "maintenance",
    "connected": "clusters",
    "find_clusters": "clusters",
    "maintain": "maintenance",
}


__getattr__ = exports(__name__, _HOMES)
