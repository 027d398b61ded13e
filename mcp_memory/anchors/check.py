"""One anchor's status, checked as cheaply as it can be.

1. ``os.stat`` the file. Its (mtime_ns, size) equal to what the anchor last saw: the status
   last decided stands (nothing read, no process).
2. The stat changed: read and re-hash the file. The fingerprint still found (for lines, maybe at
   a new range): fresh again; the new stat is remembered.
3. The content changed or the file is gone: ask git (:mod:`mcp_memory.anchors.git`) in which
   commit it was edited, moved or deleted. A move is followed: the anchor's path becomes the new
   one and its content is checked there.

Statuses: ``fresh`` (unchanged), ``edited``, ``moved`` (renamed or moved, content unchanged;
moved and changed is ``edited`` with ``moved_from``), ``deleted``, and ``unknown``: the file
cannot be read, or it is missing outside git, where a move cannot be told from a deletion.
Outside git an edit is still seen (the fingerprint does not need git), only without a commit.

:class:`Checker` keeps what it decided per file stat in memory, so a process checking the same
anchors again pays one ``stat`` each; what changed is returned as :class:`Update` rows for the
store to persist (the next process then starts from them). Standard library only: the prompt hook
imports this module and spawns git only for a file whose stat changed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

STALE = frozenset({"edited", "moved", "deleted"})
STATUSES = ("fresh", "edited", "moved", "deleted", "unknown")


class AnchorRow(NamedTuple):
    """One row of the anchors table (``store.schema.ANCHOR_COLUMNS``, in that order)."""

    id: int
    memory_id: int
    path: str  # where the anchored content is now (a followed rename changes it)
    origin_path: str  # where it was when the memory was stored (what the memory says)
    kind: str  # file | lines | symbol
    selector: str
    fingerprint: str
    commit: str | None  # HEAD when anchored
    anchored_at: float
    mtime_ns: int | None  # the stat the status below was decided at
    size: int | None
    status: str
    status_commit: str | None


class Update(NamedTuple):
    """What a check changed in an anchor row (the store writes it back)."""

    id: int
    path: str
    selector: str
    mtime_ns: int | None
    size: int | None
    status: str
    status_commit: str | None
    checked_at: float


@dataclass(frozen=True)
class AnchorState:
    """An anchor as recall, ``get`` and the briefing report it."""

    path: str  # the file the memory names
    status: str  # fresh | edited | moved | deleted | unknown
    kind: str = "file"  # file | lines | symbol
    selector: str = ""  # the lines ("40-55") or symbol the anchor covers
    moved_to: str | None = None  # the file's path now, when it was moved or renamed
    commit: str | None = None  # the commit that edited, moved or deleted it (None: uncommitted)
    anchored_commit: str | None = None  # HEAD when the memory was anchored
    anchored_at: float = 0.0

    @property
    def stale(self) -> bool:
        return self.status in STALE


def _state(row: AnchorRow, status: str, commit: str | None) -> AnchorState:
    return AnchorState(
        path=row.origin_path,
        status=status,
        kind=row.kind,
        selector=row.selector,
        moved_to=row.path if row.path != row.origin_path else None,
        commit=commit,
        anchored_commit=row.commit,
        anchored_at=row.anchored_at,
    )


class Checker:
    """Checks anchors against one project root's files (see the module docstring)."""

    def __init__(self) -> None:
        # (root, anchor id) -> (mtime_ns, size, path, status, commit): decided at that stat
        self._seen: dict[tuple[str, int], tuple[int, int, str, str, str | None]] = {}

    def check(
        self, root: Path, rows: Sequence[AnchorRow]
    ) -> tuple[list[AnchorState], list[Update]]:
        states: list[AnchorState] = []
        updates: list[Update] = []
        for row in rows:
            state, update = self.check_one(root, row)
            states.append(state)
            if update is not None:
                updates.append(update)
        return states, updates

    def check_one(self, root: Path, row: AnchorRow) -> tuple[AnchorState, Update | None]:
        key = (str(root), row.id)
        seen = self._seen.get(key)
        path = seen[2] if seen is not None else row.path
        try:
            st = os.stat(os.path.join(key[0], path))
            stat: tuple[int, int] | None = (st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            stat = None
        except OSError:
            return _state(row, "unknown", None), None
        if seen is not None and stat is not None and stat == seen[:2]:
            return _state(row._replace(path=path), seen[3], seen[4]), None
        if stat is not None and path == row.path and stat == (row.mtime_ns, row.size):
            self._seen[key] = (*stat, row.path, row.status, row.status_commit)
            return _state(row, row.status, row.status_commit), None
        status, commit, now_path, selector, stat = self._decide(root, row, path, stat)
        if stat is not None:
            self._seen[key] = (*stat, now_path, status, commit)
        else:
            self._seen.pop(key, None)
        decided = row._replace(path=now_path, selector=selector)
        update = Update(
            row.id,
            now_path,
            selector,
            None if stat is None else stat[0],
            None if stat is None else stat[1],
            status,
            commit,
            time.time(),
        )
        changed = (now_path, selector, status, commit) != (
            row.path,
            row.selector,
            row.status,
            row.status_commit,
        ) or (stat is not None and stat != (row.mtime_ns, row.size))
        return _state(decided, status, commit), update if changed else None

    def _decide(
        self, root: Path, row: AnchorRow, path: str, stat: tuple[int, int] | None
    ) -> tuple[str, str | None, str, str, tuple[int, int] | None]:
        """(status, commit, path, selector, stat) after the stat changed or the file vanished."""
        from mcp_memory.anchors import git

        in_git = git.is_repo(root)
        if stat is None:
            if not in_git:
                return "unknown", None, path, row.selector, None
            moved = git.moved_to(root, path, lambda p: self._matches(root, p, row) is not None)
            if moved is None:
                return "deleted", git.removed_in(root, path), path, row.selector, None
            path, commit = moved
            try:
                st = os.stat(root / path)
            except OSError:
                return "unknown", commit, path, row.selector, None
            stat = (st.st_mtime_ns, st.st_size)
            selector = self._matches(root, path, row)
            if selector is not None:
                return "moved", commit, path, selector, stat
            edit = git.edited_in(root, path, row.commit)
            return "edited", edit or commit, path, row.selector, stat
        selector = self._matches(root, path, row)
        if selector is not None:
            return (
                ("moved" if path != row.origin_path else "fresh"),
                (row.status_commit if path != row.origin_path else None),
                path,
                selector,
                stat,
            )
        if selector is None and self._unreadable(root, path):
            return "unknown", None, path, row.selector, stat
        commit = git.edited_in(root, path, row.commit) if in_git else None
        return "edited", commit, path, row.selector, stat

    @staticmethod
    def _matches(root: Path, path: str, row: AnchorRow) -> str | None:
        from mcp_memory.anchors.fingerprint import locate

        try:
            data = (root / path).read_bytes()
        except OSError:
            return None
        return locate(data, row.kind, row.selector, row.fingerprint)

    @staticmethod
    def _unreadable(root: Path, path: str) -> bool:
        return not os.access(root / path, os.R_OK)


# -- what the model reads --------------------------------------------------------------------------


def _short(commit: str | None) -> str:
    return commit[:7] if commit else ""


def _day(ts: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ts))


def _what(state: AnchorState) -> str:
    where = f" in commit {_short(state.commit)}" if state.commit else " (not committed yet)"
    if state.status == "moved":
        return f"moved to {state.moved_to}{where}"
    if state.status == "deleted":
        return f"deleted{where}"
    moved = f", now at {state.moved_to}" if state.moved_to else ""
    part = {"lines": f" (lines {state.selector})", "symbol": f" ({state.selector})"}.get(
        state.kind, ""
    )
    return f"edited{part}{where}{moved}"


def describe(states: Sequence[AnchorState]) -> str | None:
    """``may be out of date: <file> changed since <when> (<what>)`` for the stale anchors of one
    memory, or None when none is stale. The model reads it next to the memory."""
    stale = [s for s in states if s.stale]
    if not stale:
        return None
    parts = []
    for s in stale:
        since = _day(s.anchored_at)
        if s.anchored_commit:
            since += f", commit {_short(s.anchored_commit)}"
        parts.append(f"{s.path} changed since {since} ({_what(s)})")
    return "may be out of date: " + "; ".join(parts) + ". Verify against the code before acting."
