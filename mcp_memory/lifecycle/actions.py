"""What a consolidation request does, whoever sends it: the ``consolidate`` MCP tool and
``memcycle consolidate`` both call :func:`consolidate`, so they share one reading of the
arguments (undo, list, or merge) and one set of validation errors. The entry points only parse
arguments and format the :class:`ConsolidateOutcome`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from mcp_memory.errors import ValidationError
from mcp_memory.lifecycle.clusters import Cluster
from mcp_memory.lifecycle.consolidate import Consolidator, Outcome


@dataclass(frozen=True)
class ConsolidateOutcome:
    """The clusters ready to merge (``list``), the merges done or previewed (``run``), or the
    consolidation put back (``undo``)."""

    action: Literal["list", "run", "undo"]
    clusters: list[Cluster] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    undone: dict[str, object] | None = None

    @property
    def rejected(self) -> bool:
        """True when a merge was refused by the checks (the CLI exits 1)."""
        return any(o.status == "rejected" for o in self.outcomes)


def consolidate(
    worker: Consolidator,
    *,
    project: str | None,
    run: bool = False,
    dry_run: bool = False,
    ids: Sequence[int] = (),
    undo: int | None = None,
) -> ConsolidateOutcome:
    """Undo consolidation ``undo``; or merge exactly ``ids``, or the clusters of ``project``
    (None: every project) when ``run``, previewing only with ``dry_run``; else list the clusters
    ready to merge."""
    if undo is not None:
        if run or dry_run or ids:
            raise ValidationError(
                "undo takes a consolidation id alone; leave out run, dry_run and ids"
            )
        return ConsolidateOutcome("undo", undone=worker.undo(undo))
    if not (run or dry_run or ids):
        return ConsolidateOutcome("list", clusters=worker.clusters(project))
    outcomes = worker.run(project=project, members=list(ids) or None, dry_run=dry_run)
    return ConsolidateOutcome("run", outcomes=outcomes)
