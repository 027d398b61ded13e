"""Routing: proven memories into the CLAUDE.md and rules files Claude Code reads, with an undo.

- ``router``: :class:`Router` and :func:`promote`: plan and apply routes
- ``plan``: thresholds, the evidence per memory, the decision rule, the plan it reports
- ``scope``: one scope's target files as sections and items, and the evidence against them
- ``targets``: the Markdown target files, their sections, and path safety
- ``target_vectors``: vectors of target sections and items, cached by content hash
- ``managed``: the text mcp-memory writes into a target, and how it writes it
- ``conflicts``: conflicts a cosine cannot see (a line restated with another value)
- ``additions``: whether a memory adds to the line it resembles (written below it) or only
  restates it
- ``ledger``: every write routing makes, where each memory went, and undo
- ``verdict``: :class:`LLMVerdict`: a configured LLM's word on a possible contradiction
- ``actions``: the route request the MCP tool and the CLI both make (plan, apply, promote, undo)

Public names are imported on first use (PEP 562).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcp_memory.lazy import exports

if TYPE_CHECKING:
    from mcp_memory.routing.ledger import UndoResult
    from mcp_memory.routing.plan import FALLBACK, THRESHOLDS, FileChange, RouteItem, Thresholds
    from mcp_memory.routing.router import RouteConfig, Router, promote
    from mcp_memory.routing.verdict import LLMVerdict

__all__ = [
    "FALLBACK",
    "THRESHOLDS",
    "FileChange",
    "LLMVerdict",
    "RouteConfig",
    "RouteItem",
    "Router",
    "Thresholds",
    "UndoResult",
    "promote",
]

# Each public name and the module that defines it, imported on first use.
_HOMES = {
    "FALLBACK": "plan",
    "THRESHOLDS": "plan",
    "FileChange": "plan",
    "LLMVerdict": "verdict",
    "RouteConfig": "router",
    "RouteItem": "plan",
    "Router": "router",
    "Thresholds": "plan",
    "UndoResult": "ledger",
    "promote": "router",
}


__getattr__ = exports(__name__, _HOMES)
