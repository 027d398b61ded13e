"""The MCP server: the tools Claude Code calls, each a thin call into the memory service.

- ``tools``: :func:`build_server`: the server, its lifespan (one App) and every tool and resource
- ``results``: the tools' parameter types (described, bounded, enumerated), result models and
  :func:`reply` (structured content once, with a one-line text summary)

Public names are imported on first use (PEP 562), so importing the package loads no ``mcp``.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mcp_memory.server.tools import build_server

__all__ = [
    "build_server",
]

# Each public name and the module that defines it, imported on first use.
_HOMES = {
    "build_server": "tools",
}


def __getattr__(name: str) -> Any:
    """PEP 562: import a public name's module on first use, never its siblings."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value
