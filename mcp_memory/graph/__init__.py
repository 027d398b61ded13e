"""The memory graph page (``mcp-memory graph``): memories, links, clusters and lineage as one HTML
file that a browser only has to draw.

- ``page``: :func:`write_graph`: read the graph and write the page
- ``layout``: the positions, computed once in Python

Public names are imported on first use (PEP 562).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcp_memory.lazy import exports

if TYPE_CHECKING:
    from mcp_memory.graph.page import DEFAULT_STATES, write_graph

__all__ = [
    "DEFAULT_STATES",
    "write_graph",
]

# Each public name and the module that defines it, imported on first use.
_HOMES = {
    "DEFAULT_STATES": "page",
    "write_graph": "page",
}


__getattr__ = exports(__name__, _HOMES)
