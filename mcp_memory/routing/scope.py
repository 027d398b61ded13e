"""What a memory is routed against: one scope's target files as sections and items with their
vectors, and the evidence (:class:`route_plan.Signals`) for one memory against them.

A scope is a project's files or ``~/.claude``'s (see :mod:`targets`). Each section is embedded
with its headings and items together; each item (a line, paragraph or routed bullet) twice:
as written, for the duplicate and conflict checks, and with its file and headings in front,
for choosing a section. Vectors are cached (see :mod:`target_vectors`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mcp_memory.embedding.protocol import Embedder
from mcp_memory.routing import managed
from mcp_memory.routing.additions import Overlap, overlap
from mcp_memory.routing.conflicts import Clash, contradiction, flat, numbers
from mcp_memory.routing.plan import Signals
from mcp_memory.routing.target_vectors import vectors_for
from mcp_memory.routing.targets import Document, discover, load, project_root
from mcp_memory.store.database import Store

CONTRADICTION_LINES = 3  # how many of the most similar lines the text rule compares


@dataclass
class Unit:
    """A thing a memory is compared with: a section, or an item inside one."""

    doc: int
    section: int  # index into the document's sections; -1 for a new section
    text: str
    vector: np.ndarray | None = None
    below: int | None = None  # an item's Section.anchors entry: where a block extending it goes


@dataclass
class Scope:
    name: str  # project | global
    root: Path
    docs: list[Document]
    sections: list[Unit]
    items: list[Unit]  # plain item text: duplicate and conflict checks
    contexts: list[Unit]  # the same items prefixed with file and headings: routing
    default_doc: int
    routed: dict[int, tuple[int, int]]  # memory id -> (doc, section) of the block holding it

    def where(self, unit: Unit | None) -> str:
        """ "FILE#SECTION" of a unit ("" for none)."""
        if unit is None:
            return ""
        doc = self.docs[unit.doc]
        return f"{doc.target.label}#{section_title(doc, unit.section)}"


def load_scope(
    name: str, project: str, *, claude_home: Path, configured: Sequence[str], default: str
) -> Scope:
    if name == "global":
        root = claude_home  # may not exist yet: created on the first write
        targets = discover("global", root, configured=configured)
    else:
        root = project_root(project)
        targets = discover("project", root, configured=configured, default=default)
    docs = [load(t) for t in targets]
    sections: list[Unit] = []
    items: list[Unit] = []
    contexts: list[Unit] = []
    routed: dict[int, tuple[int, int]] = {}
    for d, doc in enumerate(docs):
        for s, sec in enumerate(doc.sections):
            sections.append(Unit(d, s, sec.embed_text(doc.target.label)))
            items.extend(
                Unit(d, s, text, below=below)
                for text, below in zip(sec.items, sec.anchors, strict=True)
            )
            contexts.extend(
                Unit(d, s, sec.context_text(doc.target.label, text)) for text in sec.items
            )
            for block in sec.blocks:
                routed.update({mid: (d, s) for mid in block.ids})
    default_doc = next(d for d, doc in enumerate(docs) if doc.target.default)
    return Scope(name, root.resolve(), docs, sections, items, contexts, default_doc, routed)


def embed_scopes(store: Store, embedder: Embedder, scopes: list[Scope]) -> int:
    """Give every section and item its vector; returns how many texts were embedded."""
    units = [u for scope in scopes for u in (*scope.sections, *scope.items, *scope.contexts)]
    texts = []
    for scope in scopes:
        for unit in (*scope.sections, *scope.items, *scope.contexts):
            doc = scope.docs[unit.doc]
            texts.append((str(doc.target.path), doc.sections[unit.section].name, unit.text))
    vectors, embedded = vectors_for(store, embedder, texts)
    for unit, vector in zip(units, vectors, strict=True):
        unit.vector = vector
    return embedded


def section_scores(scope: Scope, vec: np.ndarray) -> list[tuple[Unit, float, float, float]]:
    """(section, score, own cosine, best item cosine) per section. The score is the mean of
    the section vector's cosine and its best item's, each item embedded with its file and
    headings in front; a section without items scores by its own vector. bench/route.py
    compares each alone: the mean routes best and best separates what fits nowhere."""
    best_context: dict[tuple[int, int], float] = {}
    for unit in scope.contexts:
        key = (unit.doc, unit.section)
        sim = float(np.dot(unit.vector, vec))  # type: ignore[arg-type]
        best_context[key] = max(sim, best_context.get(key, -1.0))
    out = []
    for unit in scope.sections:
        if not scope.docs[unit.doc].sections[unit.section].writable:
            continue
        own = float(np.dot(unit.vector, vec))  # type: ignore[arg-type]
        context = best_context.get((unit.doc, unit.section), own)
        out.append((unit, (own + context) / 2, own, context))
    return out


def evidence(
    content: str, vec: np.ndarray, scope: Scope
) -> tuple[Signals, Unit | None, Unit | None]:
    """The evidence for one memory, its most similar item, and the line the text rule finds
    disagreeing with it: the most similar of the CONTRADICTION_LINES closest lines that
    :func:`conflicts.contradiction` flags (None when it flags none)."""
    scores = section_scores(scope, vec)
    best: Unit | None = None
    best_sim = -1.0
    for unit, sim, _, _ in scores:
        if sim > best_sim:
            best, best_sim = unit, sim
    by_own = max(scores, key=lambda x: x[2])[0] if scores else None
    by_item = max(scores, key=lambda x: x[3])[0] if scores else None
    text = flat(managed.bullet(content)[2:])
    sims = [
        (1.0 if flat(u.text) == text else float(np.dot(u.vector, vec)), n)  # type: ignore[arg-type]
        for n, u in enumerate(scope.items)
    ]
    closest = sorted(sims, key=lambda x: (-x[0], x[1]))[:CONTRADICTION_LINES]
    match = scope.items[closest[0][1]] if closest else None
    match_sim = closest[0][0] if closest else -1.0
    clash: Clash | None = None
    against: Unit | None = None
    against_sim = -1.0
    for sim, n in closest:
        clash = contradiction(content, scope.items[n].text)
        if clash is not None:
            against, against_sim = scope.items[n], sim
            break
    words = overlap(content, match.text) if match is not None else Overlap(0.0, (), 0, False)
    signals = Signals(
        section=scope.where(best),
        section_similarity=round(best_sim, 4),
        section_by_vector=scope.where(by_own),
        section_by_item=scope.where(by_item),
        item=scope.where(match),
        item_text=None if match is None else match.text,
        item_similarity=round(match_sim, 4),
        numbers_differ=match is not None and bool(numbers(content) - numbers(match.text)),
        item_contradicts=against is not None and against is match,
        contradiction=clash.describe() if clash is not None else "",
        contradiction_kind=clash.kind if clash is not None else "",
        contradiction_item=scope.where(against),
        contradiction_text=None if against is None else against.text,
        contradiction_similarity=round(against_sim, 4),
        item_kept=round(words.kept, 4),
        item_new=len(words.new),
        item_dropped=words.dropped,
        item_restates=words.restates,
        item_negates=bool(words.negated),
        item_adds=words.describe() if words.new else "",
    )
    return signals, match, against


def section_title(doc: Document, index: int) -> str:
    return doc.sections[index].title if index >= 0 else managed.NEW_FILE_HEADING
