"""Code anchors: the repository files a memory is about, and whether they changed since.

A memory such as "retries live in payments/stripe_client.py" is only as good as that file. When
a memory is stored it is anchored to the files it names (and, for a captured error fix, the files
edited to fix it); recall, the briefing and the prompt hook check those anchors and say when a
memory may be out of date, and why.

- ``paths``: which project files (and lines or symbols) a memory's text names
- ``fingerprint``: the content fingerprint of an anchor: a file's git blob id, or the hash of
  the lines or symbol it names; and finding those lines again after an edit elsewhere
- ``git``: the git plumbing that says in which commit a file was edited, moved or deleted
- ``check``: one anchor's status from a stat, a re-hash only when the stat changed, and git only
  when the content changed (standard library only: the prompt hook runs it)
- ``anchoring``: making the anchors of a new memory and checking a set of memories' anchors
  against the store (the service, the lifecycle and the tools use it)
- ``verify``: a sweep of a project's anchored memories: the stale ones, and those whose every
  anchor was deleted (``memcycle verify``; aging treats the latter as expiry candidates)

Public names are imported on first use (PEP 562).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcp_memory.lazy import exports

if TYPE_CHECKING:
    from mcp_memory.anchors.anchoring import Anchoring
    from mcp_memory.anchors.check import AnchorState, Checker, describe
    from mcp_memory.anchors.verify import VerifyReport, verify_project

__all__ = ["AnchorState", "Anchoring", "Checker", "VerifyReport", "describe", "verify_project"]

_HOMES = {
    "AnchorState": "check",
    "Anchoring": "anchoring",
    "Checker": "check",
    "describe": "check",
    "VerifyReport": "verify",
    "verify_project": "verify",
}

__getattr__ = exports(__name__, _HOMES)
