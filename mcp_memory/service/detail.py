"""One memory in full: its text (never shortened), state, type, protection, dates, where it was
routed, the memories it is linked to, and its lineage (the consolidation that merged it into
others, or the one that made it from others). The briefing and recall shorten memories; this is
how a caller reads one whole (the ``get`` tool and ``memcycle show``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mcp_memory.anchors.anchoring import Anchoring
from mcp_memory.anchors.check import AnchorState, describe
from mcp_memory.projects import GLOBAL
from mcp_memory.service.recall import iso
from mcp_memory.service.types import MemoryRef
from mcp_memory.store.database import Store

PREVIEW_CHARS = 160  # linked and lineage memories are previews; their own `get` shows them whole


@dataclass(frozen=True)
class Related:
    """Another memory as a one-line preview, with how it relates (a link's similarity)."""

    id: MemoryRef
    state: str
    preview: str
    similarity: float | None = None


@dataclass(frozen=True)
class Lineage:
    """A consolidation: its id and the memories on the other side of it."""

    consolidation_id: int
    memories: list[Related]


@dataclass(frozen=True)
class MemoryDetail:
    id: MemoryRef
    content: str
    type: str
    project: str  # "global" for the global key
    state: str
    protected: bool
    tags: list[str]
    source: str
    created_at: str
    updated_at: str
    recall_count: int
    last_recalled_at: str | None
    routed_to: str | None
    links: list[Related] = field(default_factory=list)
    merged_from: Lineage | None = None  # it is the result of this merge (these are the sources)
    merged_into: Lineage | None = None  # this merge superseded it (these are the results)
    anchors: list[AnchorState] = field(default_factory=list)  # its files, checked now
    stale: str | None = None  # "may be out of date: ..." when one of them changed


def _preview(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= PREVIEW_CHARS else flat[: PREVIEW_CHARS - 1].rstrip() + "…"


def memory_detail(store: Store, memory_id: int, anchoring: Anchoring | None = None) -> MemoryDetail:
    """Memory ``memory_id`` whatever its state (NotFoundError if there is none), its code
    anchors checked (with ``anchoring``'s cache when given)."""
    m = store.get(memory_id)
    anchors = (anchoring or Anchoring(store)).states({m.id: m.project}).get(m.id, [])
    links = store.links_of(memory_id)
    merged_from = store.merged_from(memory_id)
    merged_into = store.superseded_by(memory_id)
    wanted = [i for i, _ in links]
    wanted += merged_from[1] if merged_from else []
    wanted += merged_into[1] if merged_into else []
    others = store.get_many(sorted(set(wanted)))

    def related(i: int, similarity: float | None = None) -> Related:
        o = others[i]
        return Related(i, o.state, _preview(o.content), similarity)

    def lineage(found: tuple[int, list[int]] | None) -> Lineage | None:
        if found is None:
            return None
        return Lineage(found[0], [related(i) for i in found[1] if i in others])

    routed = m.metadata.get("routed_to")
    return MemoryDetail(
        id=m.id,
        content=m.content,
        type=m.type,
        project="global" if m.project == GLOBAL else m.project,
        state=m.state,
        protected=m.protected,
        tags=list(m.tags),
        source=m.source,
        created_at=iso(m.created_at),
        updated_at=iso(m.updated_at),
        recall_count=m.recall_count,
        last_recalled_at=iso(m.last_recalled_at) if m.last_recalled_at else None,
        routed_to=str(routed) if routed else None,
        links=[related(i, round(s, 4)) for i, s in links if i in others],
        merged_from=lineage(merged_from),
        merged_into=lineage(merged_into),
        anchors=anchors,
        stale=describe(anchors),
    )
