"""Anchors between memories and the store: made when a memory is stored, checked when it is read.

:class:`Anchoring` is held by the memory service (one per process, so its :class:`Checker`'s
in-memory cache lasts as long as the process). :meth:`Anchoring.prepare` finds and fingerprints
the anchors of texts about to be stored (before the write transaction: it reads files and runs
``git rev-parse HEAD`` once per batch); :meth:`Anchoring.states` checks the anchors of memories
being shown and writes back what changed (new stats, statuses, followed renames), so the next
process starts warm.

A memory's anchors are relative to its project's directory: a project key that is not an
existing absolute directory (a named project, the global one) has none.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from mcp_memory.anchors.check import AnchorRow, AnchorState, Checker
from mcp_memory.anchors.fingerprint import fingerprint
from mcp_memory.anchors.paths import targets_in
from mcp_memory.errors import StoreError
from mcp_memory.store.anchors import NewAnchor
from mcp_memory.store.database import Store

log = logging.getLogger("mcp_memory")


def project_root(project: str) -> Path | None:
    """The directory a project key names, or None (a named or the global project)."""
    if not os.path.isabs(project):
        return None
    root = Path(project)
    return root if root.is_dir() else None


class Anchoring:
    """Makes and checks the anchors of one store's memories (see the module docstring)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.checker = Checker()
        self._roots: dict[str, Path | None] = {}  # project key -> its directory, once looked up

    # -- making -----------------------------------------------------------------------------

    def prepare(
        self, texts: Sequence[str], project: str, files: Iterable[str] = ()
    ) -> list[list[NewAnchor]]:
        """The anchors of each of ``texts`` (stored in ``project``): the files each names and
        ``files`` (edited in the episode that produced them), fingerprinted now."""
        root = project_root(project)
        if root is None:
            return [[] for _ in texts]
        from mcp_memory.anchors import git

        edited = list(files)
        head: str | None = None
        head_read = False
        out: list[list[NewAnchor]] = []
        for text in texts:
            anchors: list[NewAnchor] = []
            for target in targets_in(text, root, files=edited):
                path = root / target.path
                try:
                    data = path.read_bytes()
                    st = path.stat()
                except OSError:
                    continue
                mark = fingerprint(data, target.kind, target.selector)
                if mark is None:
                    continue
                if not head_read:
                    head = git.head(root) if git.is_repo(root) else None
                    head_read = True
                anchors.append(
                    (
                        target.path,
                        target.kind,
                        target.selector,
                        mark,
                        head,
                        st.st_mtime_ns,
                        st.st_size,
                    )
                )
            out.append(anchors)
        return out

    # -- checking ---------------------------------------------------------------------------

    def states(self, projects: Mapping[int, str]) -> dict[int, list[AnchorState]]:
        """The checked anchors of each memory in ``projects`` (memory id -> its project key)
        that has any. What changed is written back (best effort: a read-only database keeps
        the old rows, and the in-memory cache still spares the next check)."""
        rows = self.store.anchors_of(list(projects))
        if not rows:
            return {}
        out: dict[int, list[AnchorState]] = {}
        updates = []
        for mid, raw in rows.items():
            project = projects[mid]
            if project not in self._roots:
                self._roots[project] = project_root(project)
            root = self._roots[project]
            if root is None:
                continue
            states, changed = self.checker.check(root, [AnchorRow(*r) for r in raw])
            out[mid] = states
            updates.extend(changed)
        if updates:
            try:
                self.store.update_anchors(updates)
            except StoreError as exc:
                log.info("anchor statuses not saved: %s", exc)
        return out
