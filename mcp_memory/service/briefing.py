"""Briefing: the few memories that matter most for this project right now, within a budget.

Sections, in order of priority, each memory shown once: the project's protected memories
(decisions, the user's notes, and global ones), proven knowledge, memories relevant to the
current context (branch, recently touched files, the first prompt: searched with the real
recall path, without counting as recalls), the most recent activity, and last the newest
session summaries. Summaries are episodic history: at most ``MAX_SUMMARIES`` of them, newest
first, whichever section found them, so they never crowd out knowledge (issue 13: six of twelve
items were summaries). The token budget is estimated at four characters per token; long
memories are shortened.

Near-duplicates (the same fact said again: cosine at least the model's duplicate threshold and
the same numbers) are shown once, as the first of their group in section order; a statement
with another value (a timeout of 30 vs 60 minutes) is a different fact and stays.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from mcp_memory import projects
from mcp_memory.anchors.check import describe
from mcp_memory.projects import GLOBAL, display_name
from mcp_memory.service.memories import MemoryService
from mcp_memory.service.types import MemoryRef
from mcp_memory.store.base import Memory

ITEM_CHARS = 320
MAX_SUMMARIES = 2
RECENT_ITEMS = 6
SUMMARY = "session_summary"
TEAM_PREFIX = "t:"  # how a team memory is named (service.hybrid.team_ref)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")


@dataclass(frozen=True)
class BriefingContext:
    branch: str | None = None
    recent_files: tuple[str, ...] = ()
    prompt: str | None = None

    def query(self) -> str:
        parts = [self.prompt or "", self.branch or "", " ".join(self.recent_files)]
        return " ".join(p for p in parts if p).strip()


@dataclass
class Briefing:
    project: str
    text: str
    ids: list[MemoryRef] = field(default_factory=list)  # t:<id> for a team memory
    tokens: int = 0


def _tokens(text: str) -> int:
    return (len(text) + 3) // 4


def _short(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= ITEM_CHARS else flat[: ITEM_CHARS - 1] + "…"


def numbers(text: str) -> set[str]:
    """The numbers written in a text: two texts that differ in one state different values."""
    return {n.replace(",", ".") for n in _NUMBER.findall(text)}


def near_duplicate_ids(service: MemoryService, memories: list[Memory]) -> set[int]:
    """Ids of ``memories`` that repeat an earlier one of the list (same fact, other words)."""
    threshold = service.options.duplicate_threshold
    vectors = service.store.vectors([m.id for m in memories])
    kept: list[tuple[Memory, set[str]]] = []
    repeats: set[int] = set()
    for m in memories:
        vector, digits = vectors.get(m.id), numbers(m.content)
        if vector is not None and any(
            digits == d and k.id in vectors and float(vector @ vectors[k.id]) >= threshold
            for k, d in kept
        ):
            repeats.add(m.id)
        else:
            kept.append((m, digits))
    return repeats


@dataclass(frozen=True)
class _Item:
    """A memory of one of the briefing's databases: ``ref`` is how it is shown (its id, or
    ``t:<id>`` from the team database), ``source`` which database (0 local, 1 team)."""

    ref: MemoryRef
    memory: Memory
    source: int


def _interleave(lists: list[list[_Item]]) -> list[_Item]:
    """The databases' lists of one section taken in turn, each keeping its own order."""
    out: list[_Item] = []
    for n in range(max((len(x) for x in lists), default=0)):
        out += [x[n] for x in lists if n < len(x)]
    return out


def build_briefing(
    service: MemoryService,
    project: str,
    context: BriefingContext | None = None,
    *,
    budget_tokens: int = 800,
    footer: str = "",
    team: MemoryService | None = None,
) -> Briefing:
    """``footer``: a closing line about the memory itself (clusters waiting for an LLM), shown
    when there is anything to brief. ``team``: the team database a hybrid setup keeps
    ``project`` on (:mod:`mcp_memory.service.hybrid`); its memories are merged into every
    section and shown as ``[t:<id>]``, the local database still giving the global ones."""
    sources: list[tuple[MemoryService, list[str], str]] = [(service, projects.scope(project), "")]
    if team is not None:
        sources.append((team, [project], TEAM_PREFIX))

    def fetch(source: int, ids: list[int]) -> list[_Item]:
        found = sources[source][0].store.get_many(ids)
        prefix = sources[source][2]
        return [_Item(f"{prefix}{i}" if prefix else i, found[i], source) for i in ids if i in found]

    def each(read: Callable[[MemoryService, list[str]], list[int]]) -> list[_Item]:
        return _interleave(
            [fetch(n, read(svc, scope)) for n, (svc, scope, _) in enumerate(sources)]
        )

    sections: list[tuple[str, list[_Item]]] = [
        ("Decisions and notes", each(lambda s, scope: s.store.protected_ids(scope, 12))),
        ("Proven knowledge", each(lambda s, scope: s.store.proven_ids(scope, 12))),
    ]
    query = (context or BriefingContext()).query()
    if query:
        found: list[tuple[float, _Item]] = []
        for n, (svc, scope, _) in enumerate(sources):
            hits = [h for h in svc.recall(query, projects=scope, k=8, count_recall=False)]
            # Only hits judged relevant (service/relevance.py): an off-topic prompt lists nothing.
            by_id = {item.memory.id: item for item in fetch(n, [int(h.id) for h in hits])}
            found += [(h.score, by_id[int(h.id)]) for h in hits if h.relevant and h.id in by_id]
        found.sort(key=lambda pair: -pair[0])
        sections.append(("Relevant now", [item for _, item in found[:8]]))
    wanted = RECENT_ITEMS + MAX_SUMMARIES + 4
    recent = each(lambda s, scope: s.store.recent_buffer_ids(scope, wanted))
    recent.sort(key=lambda item: (item.memory.created_at, item.source), reverse=True)
    sections.append(("Recently", [i for i in recent if i.memory.type != SUMMARY][:RECENT_ITEMS]))
    summaries = {i.ref: i for _, items in sections for i in items if i.memory.type == SUMMARY}
    summaries.update({i.ref: i for i in recent if i.memory.type == SUMMARY})
    newest = sorted(
        summaries.values(), key=lambda i: (i.memory.created_at, i.memory.id), reverse=True
    )
    sections = [
        (title, [i for i in items if i.memory.type != SUMMARY]) for title, items in sections
    ]
    sections.append(("Recent sessions", newest[:MAX_SUMMARIES]))
    ordered = list({i.ref: i for _, items in sections for i in items}.values())
    repeats: set[MemoryRef] = set()
    notes: dict[MemoryRef, str] = {}
    texts: set[str] = set()
    for item in ordered:  # the same text in both databases (stored before the move): once
        text = " ".join(item.memory.content.split()).lower()
        if text in texts:
            repeats.add(item.ref)
        texts.add(text)
    for n, (svc, _, _) in enumerate(sources):
        mine = [i for i in ordered if i.source == n]
        refs = {i.memory.id: i.ref for i in mine}
        repeats |= {refs[mid] for mid in near_duplicate_ids(svc, [i.memory for i in mine])}
        # Memories whose code changed since they were stored say so (mcp_memory/anchors).
        checked = svc.anchoring.states(
            {i.memory.id: i.memory.project for i in mine if i.ref not in repeats}
        )
        notes.update(
            {refs[mid]: note for mid, states in checked.items() if (note := describe(states))}
        )
    header = f"## Memory briefing: {display_name(project)}"
    lines = [header]
    used = _tokens(header)
    shown: list[MemoryRef] = []
    for title, items in sections:
        items = [i for i in items if i.ref not in shown and i.ref not in repeats]
        if not items:
            continue
        title_line = f"{title}:"
        if used + _tokens(title_line) >= budget_tokens:
            break
        block = [title_line]
        cost = _tokens(title_line)
        for item in items:
            m = item.memory
            where = " (global)" if m.project == GLOBAL and project != GLOBAL else ""
            line = f"- [{item.ref}] {_short(m.content)}{where}"
            if item.ref in notes:
                line += f" ({notes[item.ref]})"
            if used + cost + _tokens(line) > budget_tokens:
                break
            block.append(line)
            cost += _tokens(line)
            shown.append(item.ref)
        if len(block) > 1:
            lines.extend(block)
            used += cost
    if not shown:
        return Briefing(project, "", [], 0)
    if footer:
        lines.append(f"({footer})")
    text = "\n".join(lines)
    return Briefing(project, text, shown, _tokens(text))
