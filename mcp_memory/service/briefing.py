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
from dataclasses import dataclass, field

from mcp_memory import projects
from mcp_memory.anchors.check import describe
from mcp_memory.projects import GLOBAL, display_name
from mcp_memory.service.memories import MemoryService
from mcp_memory.store.base import Memory

ITEM_CHARS = 320
MAX_SUMMARIES = 2
RECENT_ITEMS = 6
SUMMARY = "session_summary"
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
    ids: list[int] = field(default_factory=list)
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


def build_briefing(
    service: MemoryService,
    project: str,
    context: BriefingContext | None = None,
    *,
    budget_tokens: int = 800,
    footer: str = "",
) -> Briefing:
    """``footer``: a closing line about the memory itself (clusters waiting for an LLM), shown
    when there is anything to brief."""
    store = service.store
    scope = projects.scope(project)

    def fetch(ids: list[int]) -> list[Memory]:
        found = store.get_many(ids)
        return [found[i] for i in ids if i in found]

    sections: list[tuple[str, list[Memory]]] = [
        ("Decisions and notes", fetch(store.protected_ids(scope, 12))),
        ("Proven knowledge", fetch(store.proven_ids(scope, 12))),
    ]
    query = (context or BriefingContext()).query()
    if query:
        hits = service.recall(query, projects=scope, k=8, count_recall=False)
        relevant = store.get_many([h.id for h in hits])
        # Only hits judged relevant (service/relevance.py): an off-topic prompt lists nothing.
        sections.append(
            ("Relevant now", [relevant[h.id] for h in hits if h.relevant and h.id in relevant])
        )
    recent = fetch(store.recent_buffer_ids(scope, RECENT_ITEMS + MAX_SUMMARIES + 4))
    sections.append(("Recently", [m for m in recent if m.type != SUMMARY][:RECENT_ITEMS]))
    found = {m.id: m for _, memories in sections for m in memories if m.type == SUMMARY}
    found.update({m.id: m for m in recent if m.type == SUMMARY})
    newest = sorted(found.values(), key=lambda m: (m.created_at, m.id), reverse=True)
    sections = [(title, [m for m in ms if m.type != SUMMARY]) for title, ms in sections]
    sections.append(("Recent sessions", newest[:MAX_SUMMARIES]))
    ordered = list({m.id: m for _, ms in sections for m in ms}.values())
    repeats = near_duplicate_ids(service, ordered)
    # Memories whose code changed since they were stored say so (mcp_memory/anchors).
    checked = service.anchoring.states({m.id: m.project for m in ordered if m.id not in repeats})
    notes = {i: note for i, states in checked.items() if (note := describe(states))}
    header = f"## Memory briefing: {display_name(project)}"
    lines = [header]
    used = _tokens(header)
    shown: list[int] = []
    for title, memories in sections:
        items = [m for m in memories if m.id not in shown and m.id not in repeats]
        if not items:
            continue
        title_line = f"{title}:"
        if used + _tokens(title_line) >= budget_tokens:
            break
        block = [title_line]
        cost = _tokens(title_line)
        for m in items:
            where = " (global)" if m.project == GLOBAL and project != GLOBAL else ""
            line = f"- [{m.id}] {_short(m.content)}{where}"
            if m.id in notes:
                line += f" ({notes[m.id]})"
            if used + cost + _tokens(line) > budget_tokens:
                break
            block.append(line)
            cost += _tokens(line)
            shown.append(m.id)
        if len(block) > 1:
            lines.extend(block)
            used += cost
    if not shown:
        return Briefing(project, "", [], 0)
    if footer:
        lines.append(f"({footer})")
    text = "\n".join(lines)
    return Briefing(project, text, shown, _tokens(text))
