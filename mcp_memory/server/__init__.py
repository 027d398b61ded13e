"""The MCP server: the tools Claude Code calls, each a thin call into the memory service.

- ``tools``: :func:`build_server`: the server, its lifespan (one App) and every tool and resource
- ``stdio``: :func:`serve`: the stdio transport with a guard that answers every line (a JSON-RPC
  error for the malformed ones the SDK would drop)
- ``http``: the streamable-HTTP endpoint (``serve --http``, ``make run``) behind a bearer token,
  an exact Origin list and a Host check; each session's project from its ``X-Memcycle-Project``
- ``results``: the tools' parameter types (described, bounded, enumerated), result models and
  :func:`reply` (structured content once, with a one-line text summary)
- ``daemon``: one long-lived process serving these tools to every session over a Unix socket,
  and ``daemon.relay``, the thin stdio relay ``memcycle serve`` runs

Public names are imported on first use (PEP 562), so importing the package loads no ``mcp``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcp_memory.lazy import exports

if TYPE_CHECKING:
    from mcp_memory.server.tools import build_server

__all__ = [
    "build_server",
]

# Each public name and the module that defines it, imported on first use.
_HOMES = {
    "build_server": "tools",
}


__getattr__ = exports(__name__, _HOMES)
