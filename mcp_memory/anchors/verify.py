"""A sweep of every anchored memory of a project (``memcycle verify``, and aging before it
decides): each one's anchors checked now, the stale ones listed with what changed, and the
memories whose every anchor was deleted (the code they describe is gone).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mcp_memory.anchors.anchoring import Anchoring
from mcp_memory.anchors.check import AnchorState, describe

PREVIEW_CHARS = 100
BATCH = 200  # memories checked per store read


@dataclass(frozen=True)
class StaleMemory:
    id: int
    type: str
    project: str
    preview: str
    note: str  # "may be out of date: ..."
    anchors: list[AnchorState]
    all_deleted: bool  # every anchor's file is gone


@dataclass
class VerifyReport:
    checked: int = 0  # anchored memories checked
    stale: list[StaleMemory] = field(default_factory=list)

    @property
    def orphaned(self) -> list[int]:
        """Memories whose every anchor was deleted."""
        return [s.id for s in self.stale if s.all_deleted]


def _preview(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= PREVIEW_CHARS else flat[: PREVIEW_CHARS - 1].rstrip() + "…"


def verify_project(anchoring: Anchoring, project: str | None = None) -> VerifyReport:
    """Check the anchors of every active memory of ``project`` (every project: None)."""
    store = anchoring.store
    report = VerifyReport()
    ids = store.anchored_ids(project)
    for start in range(0, len(ids), BATCH):
        memories = store.get_many(ids[start : start + BATCH])
        checked = anchoring.states({m.id: m.project for m in memories.values()})
        report.checked += len(checked)
        for mid, states in checked.items():
            note = describe(states)
            if note is None:
                continue
            m = memories[mid]
            report.stale.append(
                StaleMemory(
                    id=mid,
                    type=m.type,
                    project=m.project,
                    preview=_preview(m.content),
                    note=note,
                    anchors=states,
                    all_deleted=all(s.status == "deleted" for s in states),
                )
            )
    return report
