"""Hybrid use: chosen projects live on the team database, everything else in the local SQLite.

One :class:`HybridMemory` holds the local service and, when projects are routed to a team
database, a :class:`TeamLink` to the team's service. A write goes to the one database its
project lives on (:class:`Routing`); recall and the briefing read both and merge them. The
routing lives here, in the service layer: each store stays one database and knows nothing of
the other.

Ids are per database, so a memory read from the team database is named ``t:<id>``
(:func:`team_ref`) everywhere it is shown or taken back (recall, the briefing, ``get``,
``forget``, ``show``); a plain id (``123`` or ``"123"``) is the local database's, as it always
was, so nothing stored before hybrid use changes its name.

When the team database does not answer, nothing breaks: recall and the briefing return what is
local and say the team database was not reachable (:attr:`Recalled.note`); a write for a team
project raises :class:`~mcp_memory.errors.DatabaseUnreachableError`, which the entry points
turn into a durably queued write (``app.queue_remember``). After a failure the team database is
tried again only after ``RETRY_S``, so a recall during an outage does not wait for a timeout
each time. A database that *refuses* (wrong password, no such database:
:class:`~mcp_memory.errors.DatabaseRefusedError`) is never treated as down: that error
propagates, saying what to fix.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from mcp_memory.errors import DatabaseUnreachableError, ValidationError
from mcp_memory.projects import GLOBAL
from mcp_memory.service.briefing import Briefing, BriefingContext, build_briefing
from mcp_memory.service.detail import MemoryDetail, memory_detail
from mcp_memory.service.memories import MemoryService
from mcp_memory.service.types import Hit, MemoryRef, RecallFilters, Remembered
from mcp_memory.store.base import Memory

TEAM_PREFIX = "t:"
RETRY_S = 30.0  # after a failure, the team database is tried again this much later
T = TypeVar("T")


def team_ref(memory_id: int) -> str:
    """How a team memory is named outside its database: ``t:123``."""
    return f"{TEAM_PREFIX}{memory_id}"


def parse_ref(ref: MemoryRef) -> tuple[bool, int]:
    """``(on the team database, id)`` of a memory reference: ``t:123`` is the team's memory
    123, ``123`` or ``"123"`` the local database's."""
    if isinstance(ref, int) and not isinstance(ref, bool):
        team, text = False, str(ref)
    elif isinstance(ref, str):
        text = ref.strip().lower()
        team = text.startswith(TEAM_PREFIX)
        text = text.removeprefix(TEAM_PREFIX)
    else:
        raise ValidationError(f"a memory id is a number or t:<number>, not {ref!r}")
    if not text.isdigit() or int(text) < 1:
        raise ValidationError(
            f"a memory id is a positive number (local) or t:<number> (team), not {ref!r}"
        )
    return team, int(text)


def relabel(value: T) -> T:
    """``value`` (a result dataclass) with every memory id in it named as a team memory: its
    ``id`` fields, those of the dataclasses it holds, and lists and tuples of them."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes: dict[str, Any] = {}
        for f in dataclasses.fields(value):
            item = getattr(value, f.name)
            if f.name == "id" and isinstance(item, int):
                changes[f.name] = team_ref(item)
            elif dataclasses.is_dataclass(item) or isinstance(item, list | tuple):
                changes[f.name] = relabel(item)
        return dataclasses.replace(value, **changes)
    if isinstance(value, list | tuple):
        return type(value)(relabel(v) for v in value)
    return value


@dataclass(frozen=True)
class Routing:
    """Which projects live on the team database: the keys listed, or every project but the
    global memories with ``*``. Global memories are the user's own and always stay local."""

    team: tuple[str, ...] = ()

    def is_team(self, project: str) -> bool:
        return project != GLOBAL and ("*" in self.team or project in self.team)

    def team_scope(self, scope: Sequence[str] | None) -> list[str] | None:
        """What of a recall's ``scope`` (None: every project) the team database holds; an
        empty list when none of it."""
        if scope is None:
            return None if "*" in self.team else list(self.team)
        return [p for p in scope if self.is_team(p)]


class TeamLink:
    """The team database's service, opened on first use and again after an outage.

    ``opener`` builds the service (opening the database); it raises
    :class:`DatabaseUnreachableError` while the server does not answer. After a failure the
    link reports the same error, without trying, until ``retry_s`` passed."""

    def __init__(
        self,
        opener: Callable[[], MemoryService],
        *,
        retry_s: float = RETRY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._opener = opener
        self._retry_s = retry_s
        self._clock = clock
        self.service: MemoryService | None = None
        self.error: DatabaseUnreachableError | None = None
        self._failed_at = 0.0
        # The daemon's sessions share one link from several threads: one opens it at a time.
        self._lock = threading.RLock()

    def get(self) -> MemoryService:
        """The team service; :class:`DatabaseUnreachableError` while it is down."""
        with self._lock:
            if self.service is not None:
                return self.service
            if self.error is not None and self._clock() - self._failed_at < self._retry_s:
                raise DatabaseUnreachableError(str(self.error))  # fresh: no growing traceback
            try:
                self.service = self._opener()
            except DatabaseUnreachableError as exc:
                self.failed(exc)
                raise
            self.error = None
            return self.service

    def failed(self, exc: DatabaseUnreachableError) -> None:
        """The team database stopped answering: close it, remember why and when."""
        with self._lock:
            if self.service is not None:
                service, self.service = self.service, None
                with contextlib.suppress(Exception):  # a broken pool may fail to close
                    service.store.close()
            self.error = exc
            self._failed_at = self._clock()

    def call(self, fn: Callable[[MemoryService], T]) -> T:
        """``fn`` on the team service, marking the link down when the database stops
        answering in the middle (the error propagates)."""
        service = self.get()
        try:
            return fn(service)
        except DatabaseUnreachableError as exc:
            self.failed(exc)
            raise

    @property
    def reachable(self) -> bool:
        """Whether the team database answers now (opening it if it is not open)."""
        try:
            self.get()
        except DatabaseUnreachableError:
            return False
        return True

    def close(self) -> None:
        with self._lock:
            if self.service is not None:
                self.service.store.close()
                self.service = None


@dataclass(frozen=True)
class Recalled:
    """A recall over both databases: the merged hits, and ``note`` when the team database
    could not be searched (``team_reachable`` False; None without a team database, or when
    the scope holds no team project)."""

    hits: list[Hit]
    team_reachable: bool | None = None
    note: str | None = None


def unreachable_note(exc: Exception) -> str:
    return (
        f"the team database was not reachable ({exc}); these results are from the local "
        "database only"
    )


def _strength(hit: Hit) -> tuple[float, float, float]:
    """What compares hits of two databases: the calibrated relevance probability, then the
    query's cosine (both absolute), then the fusion score. The score alone cannot: it is rank
    based, so each database's first hit has the same score however well it matches."""
    relevance = hit.relevance if hit.relevance is not None else -1.0
    return relevance, hit.signals.get("vector_similarity", -1.0), hit.score


def merge_hits(local: list[Hit], team: list[Hit], k: int) -> list[Hit]:
    """Both databases' hits in one list of at most ``k``: each keeps its own order (its
    recall ranked it), and the two are merged by comparing their heads' :func:`_strength`. A
    memory both hold (the same text, e.g. stored locally before its project moved to the team
    database) appears once, where the stronger copy came."""
    team = relabel(team)
    out: dict[str, Hit] = {}
    i = j = 0
    while i < len(local) or j < len(team):
        if j >= len(team) or (i < len(local) and _strength(local[i]) >= _strength(team[j])):
            hit, i = local[i], i + 1
        else:
            hit, j = team[j], j + 1
        out.setdefault(" ".join(hit.content.split()).lower(), hit)
    return list(out.values())[:k]


class HybridMemory:
    """Remember, recall, get, forget and restore over the local database and, for the
    projects ``routing`` sends there, the team database (``team``; None: local only, every
    call is the local service's)."""

    def __init__(
        self, local: MemoryService, routing: Routing | None = None, team: TeamLink | None = None
    ) -> None:
        self.local = local
        self.routing = routing or Routing()
        self.team = team

    def on_team(self, project: str) -> bool:
        return self.team is not None and self.routing.is_team(project)

    # -- writes -------------------------------------------------------------------------

    def remember_many(
        self, contents: Sequence[str], *, project: str, **kw: Any
    ) -> list[Remembered]:
        """:meth:`MemoryService.remember_many` on the database ``project`` lives on; a team
        project's results are named ``t:<id>``. Raises :class:`DatabaseUnreachableError`
        when that is the team database and it does not answer (queue the write then)."""
        if self.team is None or not self.routing.is_team(project):
            return self.local.remember_many(contents, project=project, **kw)
        done = self.team.call(lambda s: s.remember_many(contents, project=project, **kw))
        return relabel(done)

    def remember(self, content: str, *, project: str, **kw: Any) -> Remembered:
        return self.remember_many([content], project=project, **kw)[0]

    def _by_ref(self, ref: MemoryRef, fn: Callable[[MemoryService, int], T]) -> T:
        team, mid = parse_ref(ref)
        if not team:
            return fn(self.local, mid)
        if self.team is None:
            raise ValidationError(
                f"{ref} names a team memory, but no team database is configured "
                "(MCP_MEMORY_TEAM_PROJECTS)"
            )
        return relabel(self.team.call(lambda s: fn(s, mid)))

    def get(self, ref: MemoryRef) -> Memory:
        return self._by_ref(ref, lambda s, i: s.store.get(i))

    def forget(self, ref: MemoryRef) -> Memory:
        return self._by_ref(ref, lambda s, i: s.forget(i))

    def restore(self, ref: MemoryRef) -> Memory:
        return self._by_ref(ref, lambda s, i: s.restore(i))

    def detail(self, ref: MemoryRef) -> MemoryDetail:
        """One memory in full (``get``, ``show``), from the database its id names."""
        return self._by_ref(ref, lambda s, i: memory_detail(s.store, i, s.anchoring))

    # -- reads --------------------------------------------------------------------------

    def recall(
        self,
        query: str,
        *,
        projects: Sequence[str] | None,
        k: int = 10,
        filters: RecallFilters | None = None,
        count_recall: bool = True,
        context: str | None = None,
    ) -> Recalled:
        """Recall on the local database (the whole scope: global memories, and a team
        project's memories stored before it moved) and on the team database (the scope's
        team projects), merged (:func:`merge_hits`). The team side failing leaves the local
        hits, with a note."""
        kw: dict[str, Any] = {"k": k, "filters": filters, "count_recall": count_recall}
        local = self.local.recall(query, projects=projects, context=context, **kw)
        scope = None if self.team is None else self.routing.team_scope(projects)
        if self.team is None or scope == []:
            return Recalled(local[:k])
        try:
            team = self.team.call(lambda s: s.recall(query, projects=scope, context=context, **kw))
        except DatabaseUnreachableError as exc:
            return Recalled(local[:k], False, unreachable_note(exc))
        return Recalled(merge_hits(local, team, k), True)

    def briefing(
        self,
        project: str,
        context: BriefingContext | None = None,
        *,
        budget_tokens: int = 800,
        footer: str = "",
    ) -> Briefing:
        """:func:`build_briefing` with, for a team project, the team database's memories
        merged in; while it does not answer, the local memories and a footer saying so."""
        if self.team is None or not self.routing.is_team(project):
            return build_briefing(
                self.local, project, context, budget_tokens=budget_tokens, footer=footer
            )
        try:
            return self.team.call(
                lambda team: build_briefing(
                    self.local,
                    project,
                    context,
                    budget_tokens=budget_tokens,
                    footer=footer,
                    team=team,
                )
            )
        except DatabaseUnreachableError:
            note = "the team database was not reachable: local memories only"
            return build_briefing(
                self.local,
                project,
                context,
                budget_tokens=budget_tokens,
                footer="; ".join(x for x in (footer, note) if x),
            )
