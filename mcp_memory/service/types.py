"""The plain dataclasses the memory service takes and returns: its :class:`Options`, the
:class:`RecallFilters` of a recall, and its results (:class:`Remembered`, :class:`Hit`,
:class:`Stats`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from mcp_memory.anchors.check import AnchorState
from mcp_memory.service.fusion import Tuning
from mcp_memory.service.linking import Link
from mcp_memory.service.validation import parse_time
from mcp_memory.store.schema import ACTIVE_STATES

# A memory as callers name it: its id in the local database, or ``t:<id>`` for one on the team
# database in hybrid use (:mod:`mcp_memory.service.hybrid`).
MemoryRef = int | str


@dataclass(frozen=True)
class Options:
    max_content_chars: int = 20_000
    near_duplicates: str = "keep"  # keep | merge
    duplicate_threshold: float = 0.95
    link_threshold: float = 0.6
    promote_after: int = 3  # strong recalls in distinct sessions/days before a memory is proven
    strong_recall: float = 0.6  # query cosine of a strong recall (the model's strong_recall)
    relevance_gate: bool = False  # the query-level gate (recall._gated); opt-in, see config
    tuning: Tuning = Tuning()  # how recall weighs its signals (see search.py)


@dataclass(frozen=True)
class NearDuplicate:
    id: MemoryRef
    similarity: float


@dataclass(frozen=True)
class Remembered:
    id: MemoryRef
    status: str  # created | duplicate | merged
    project: str
    type: str
    redactions: int = 0
    near_duplicates: tuple[NearDuplicate, ...] = ()
    links: tuple[Link, ...] = ()


@dataclass(frozen=True)
class Hit:
    id: MemoryRef
    content: str
    score: float  # the rank-fusion score that orders one recall's hits (not comparable across)
    # The calibrated probability that the hit is relevant (service/relevance.py; None for a
    # model without a calibration), and whether it clears the model's cut.
    relevance: float | None
    relevant: bool
    signals: dict[str, float]  # vector_similarity, vector_rank, margin, keyword_rank
    project: str
    type: str
    tags: tuple[str, ...]
    state: str
    created_at: str
    updated_at: str
    # The files the memory is about, each checked now (mcp_memory/anchors), and what the model
    # should know when one changed ("may be out of date: ..."); None when none did.
    anchors: tuple[AnchorState, ...] = ()
    stale: str | None = None


@dataclass(frozen=True)
class RecallFilters:
    tags: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    states: tuple[str, ...] = ACTIVE_STATES
    since: float | None = None
    until: float | None = None

    @classmethod
    def build(
        cls,
        *,
        tags: Sequence[str] | None = None,
        types: Sequence[str] | None = None,
        states: Sequence[str] | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> RecallFilters:
        """The filters from what a caller sent (the MCP tool and the CLI alike): tags compared
        stripped and lower-case, no states meaning the active ones, dates as ISO 8601 text."""
        return cls(
            tags=tuple(t.strip().lower() for t in tags or ()),
            types=tuple(types or ()),
            states=tuple(states) if states else ACTIVE_STATES,
            since=parse_time(since, "since") if since else None,
            until=parse_time(until, "until") if until else None,
        )


@dataclass
class Stats:
    database: str
    schema_version: int
    model: str | None
    dimension: int | None
    counts: dict[str, object] = field(default_factory=dict)
    llm_usage: list[dict[str, object]] = field(default_factory=list)  # recent days, newest first
