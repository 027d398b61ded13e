"""Capture: what hooks notice during a session, turned into memories without an LLM. On the hook
path, so every module here imports only the standard library at import time.

- ``observe``: passive capture from tool results: failures with their fixes, recorded decisions
- ``shell_commands``: what a shell command is: routine, inert, a re-run, a lint or install run
- ``prompts``: which prompts are the user's (not task notifications or command plumbing)
- ``transcript``: session summaries from Claude Code transcripts
- ``session_state``: per-session state shared by a session's hook runs
- ``spool``: hook writes as job files, the worker's lock and the briefing cache (the detached
  worker that stores the jobs is an entry point: ``mcp_memory.hooks.worker``)

Public names are imported on first use (PEP 562), so importing one module never imports another.
``observe`` and ``session_state`` are not re-exported: they would shadow their modules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcp_memory.lazy import exports

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


__getattr__ = exports(__name__, _HOMES)
