"""Briefing: the few memories that matter most for this project right now, within a budget.

Sections, in order of priority, each memory shown once: the project's protected memories
(decisions, the user's notes, and global ones), proven knowledge, memories relevant to the
current context (branch, recently touched files, the first prompt: searched with the real
recall path, without counting as recalls), and the most recent activity. The token budget is
estimated at four characters per token; long memories are shortened.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mcp_memory import projects
from mcp_memory.projects import GLOBAL, display_name
from mcp_memory.service.memories import MemoryService
from mcp_memory.store.base import Memory

ITEM_CHARS = 320


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


def build_briefing(
    service: MemoryService,
    project: str,
    context: BriefingContext | None = None,
    *,
    budget_tokens: int = 800,
) -> Briefing:
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
    sections.append(
        ("Recently", fetch(store.recent_buffer_ids(scope, 6))),
    )
    header = f"## Memory briefing: {display_name(project)}"
    lines = [header]
    used = _tokens(header)
    shown: list[int] = []
    for title, memories in sections:
        items = [m for m in memories if m.id not in shown]
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
    text = "\n".join(lines)
    return Briefing(project, text, shown, _tokens(text))
