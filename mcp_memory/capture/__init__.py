"""Capture: what hooks notice during a session, turned into memories without an LLM. On the hook
path, so every module here imports only the standard library at import time.

- ``observe``: passive capture from tool results: failures with their fixes, recorded decisions
- ``shell_commands``: what a shell command is: routine, inert, a re-run, a lint or install run
- ``prompts``: which prompts are the user's (not task notifications or command plumbing)
- ``transcript``: session summaries from Claude Code transcripts
- ``session_state``: per-session state shared by a session's hook runs
- ``spool``: hook writes as job files, stored by a detached worker through the service

Public names are imported on first use (PEP 562), so importing one module never imports another.
``observe`` and ``session_state`` are not re-exported: they would shadow their modules.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mcp_memory.capture.observe import bash_outcome, error_line
    from mcp_memory.capture.shell_commands import is_routine

__all__ = [
    "bash_outcome",
    "error_line",
    "is_routine",
]

# Each public name and the module that defines it, imported on first use.
_HOMES = {
    "bash_outcome": "observe",
    "error_line": "observe",
    "is_routine": "shell_commands",
}


def __getattr__(name: str) -> Any:
    """PEP 562: import a public name's module on first use, never its siblings."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value
