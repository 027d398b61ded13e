"""Routing: proven memories into the CLAUDE.md and rules files Claude Code reads.

``plan`` never writes: for each proven memory not yet routed it decides an action and, for the
files that would change, shows a unified diff. ``apply`` does the same and writes. ``undo_memory``
takes one memory's line out again; ``undo_file`` reverts the last write to a file from its backup.

Decisions, per memory, against the targets of its own scope only (a project's files for project
memories, ``~/.claude`` for global ones; see :mod:`mcp_memory.targets`):

1. ``routed``: its id is already in a managed block (re-running is idempotent).
2. ``duplicate``: an existing item (a line, paragraph or routed bullet) already says it: the same
   text, or cosine >= ``duplicate`` with no number in the memory missing from that item. Nothing
   is written; ``apply`` records it as present there.
3. ``conflict``: an item is close but not the same: cosine in ``[duplicate - conflict_band,
   duplicate)``, or >= ``duplicate`` while the memory states a number the item does not ("valid
   60 minutes" vs "valid 15 minutes"). It is shown side by side with that item and held unless
   ``force``; a configured ``verdict`` (an LLM) may settle it as same / conflicting / compatible.
4. ``write``: into the section whose content is most similar (the mean of the cosine with the
   section's own vector, its headings and items embedded together, and with its most similar
   item, embedded with its file and headings in front), if that reaches ``route``; otherwise
   into the default target (``.claude/rules/memory.md``, or ``~/.claude/rules/memory.md``), so a
   hand-written CLAUDE.md only receives what clearly belongs in one of its sections.

A memory written in this run counts as an item for the ones after it, so of two proven memories
saying the same thing only the first is written (the second is a duplicate or a conflict). The thresholds come from ``THRESHOLDS`` per model,
calibrated by ``bench/route.py`` on a labelled set; settings may override them.

State: a routed memory stays ``proven``; a ``routes`` row and its metadata (``routed_to``,
``routed_section``, ``routed_as``, ``route_id``) record where it went. Every file write is a
``route_writes`` row with the file's hash before and after and a backup of the old bytes under
the data directory; ``undo_file`` refuses when the file changed since (unless ``force``).

Section vectors are cached in ``route_embeddings`` by (model, file, content hash): a plan over
unchanged files embeds nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import managed
from .embedder import Embedder
from .errors import NotFoundError, ValidationError
from .route_ledger import RouteLedger, UndoResult, put_back
from .store import GLOBAL, Memory, Store
from .target_vectors import vectors_for
from .targets import (
    Document,
    discover,
    load,
    project_root,
)

ACTIONS = ("write", "duplicate", "conflict", "routed")
Verdict = Callable[[str, str], str]  # (memory, existing item) -> "same" | "conflict" | "compatible"
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")


@dataclass(frozen=True)
class Thresholds:
    route: float  # a section at least this similar receives the memory; else the default target
    duplicate: float  # an item at least this similar already says it
    conflict_band: float  # items in [duplicate - band, duplicate) are possible conflicts


# Calibrated by bench/route.py on bench/data/route_cases.json (see docs/benchmarks.md, "route").
# qwen3-0.6b has not been run on that set yet: its values are provisional, set from its wider
# spread of cosines (unrelated texts sit higher than with MiniLM).
THRESHOLDS = {
    "minilm": Thresholds(route=0.29, duplicate=0.92, conflict_band=0.12),
    "qwen3-0.6b": Thresholds(route=0.45, duplicate=0.90, conflict_band=0.12),
}
FALLBACK = Thresholds(route=0.35, duplicate=0.92, conflict_band=0.15)


@dataclass(frozen=True)
class Signals:
    """What a decision rests on: the most similar section and the most similar item."""

    section: str  # "FILE#SECTION" of the most similar section ("" when there is none)
    section_similarity: float  # its score (see Router._section_scores)
    section_by_vector: str  # the best section by its own vector alone (for comparison)
    section_by_item: str  # the best section by its best item alone (for comparison)
    item: str  # "FILE#SECTION" holding the most similar item
    item_text: str | None
    item_similarity: float  # 1.0 for the same text
    numbers_differ: bool  # the memory states a number that item does not


def classify(s: Signals, t: Thresholds) -> str:
    """``duplicate``, ``conflict``, ``section`` (route there) or ``default`` (before any
    LLM verdict or ``force``). Shared by the router and bench/route.py's threshold sweep."""
    if s.item_similarity >= t.duplicate and not s.numbers_differ:
        return "duplicate"
    if s.item_similarity >= t.duplicate - t.conflict_band:
        return "conflict"
    return "section" if s.section_similarity >= t.route else "default"


@dataclass(frozen=True)
class RouteConfig:
    """What the composition root passes in (from settings); routing reads no environment."""

    claude_home: Path  # ~/.claude: the only root of global targets
    backup_dir: Path  # copies of files before each write
    targets: tuple[str, ...] = ()  # extra files: relative to the project root, or ~/.claude/...
    default: str = ".claude/rules/memory.md"  # project default target (relative to the root)
    thresholds: Thresholds | None = None  # None: THRESHOLDS for the model


@dataclass(frozen=True)
class RouteItem:
    memory_id: int
    content: str
    scope: str  # project | global
    action: str  # write | duplicate | conflict | routed
    target: str  # label of the file it goes to (write) or was found in
    path: str
    section: str
    similarity: float  # the section's (write) or the matching item's (duplicate, conflict)
    reason: str
    line: str | None = None  # the bullet written (write)
    existing: str | None = None  # the item side by side (duplicate, conflict)
    forced: bool = False


@dataclass(frozen=True)
class FileChange:
    path: str
    target: str
    created: bool
    memory_ids: list[int]
    diff: str
    write_id: int | None = None


@dataclass
class RoutePlan:
    applied: bool
    items: list[RouteItem] = field(default_factory=list)
    files: list[FileChange] = field(default_factory=list)
    embedded: int = 0  # target texts embedded by this call (0 when the cache had them all)

    @property
    def counts(self) -> dict[str, int]:
        return {a: sum(1 for i in self.items if i.action == a) for a in ACTIONS}

    def summary(self) -> str:
        """One line saying what this plan does (or did)."""
        counts = self.counts
        if not self.items:
            return "nothing to route: no proven memory waits for a CLAUDE.md or rules file"
        verb = "wrote" if self.applied else "would write"
        parts = [f"{verb} {counts['write']} memories into {len(self.files)} file(s)"]
        if counts["duplicate"]:
            parts.append(f"{counts['duplicate']} already present")
        if counts["conflict"]:
            parts.append(f"{counts['conflict']} possible conflict(s) held (force writes them)")
        if counts["routed"]:
            parts.append(f"{counts['routed']} already routed")
        tail = "" if self.applied or not counts["write"] else "; nothing written yet (apply writes)"
        return ", ".join(parts) + tail


@dataclass
class _Unit:
    """A thing a memory is compared with: a section, or an item inside one."""

    doc: int
    section: int  # index into the document's sections; -1 for a new section
    text: str
    vector: np.ndarray | None = None


@dataclass
class _Scope:
    name: str  # project | global
    root: Path
    docs: list[Document]
    sections: list[_Unit]
    items: list[_Unit]  # plain item text: duplicate and conflict checks
    contexts: list[_Unit]  # the same items prefixed with file and headings: routing
    default_doc: int
    routed: dict[int, tuple[int, int]]  # memory id -> (doc, section) of the block holding it


def promote(store: Store, memory_id: int) -> Memory:
    """Mark a memory proven by hand (buffer -> proven), so it can be routed before any
    consolidation has run. Proven stays proven; superseded, expired and deleted are refused."""
    memory = store.get(memory_id)
    if memory.state == "buffer":
        store.set_state(memory_id, "proven")
        return store.get(memory_id)
    if memory.state == "proven":
        return memory
    if memory.state == "superseded":
        rows = store.execute(
            "SELECT l.result_id FROM lineage l JOIN consolidations c ON c.id = l.consolidation_id "
            "WHERE l.source_id = ? AND c.status = 'applied' ORDER BY c.id DESC LIMIT 1",
            (memory_id,),
        )
        into = f" into memory {rows[0][0]}; promote that one" if rows else ""
        raise ValidationError(f"memory {memory_id} is superseded (merged{into}) instead")
    raise ValidationError(
        f"memory {memory_id} is {memory.state}; restore it first "
        f"(mcp-memory forget {memory_id} --restore), then promote it"
    )


class Router:
    def __init__(
        self,
        store: Store,
        embedder: Embedder,
        config: RouteConfig,
        verdict: Verdict | None = None,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.config = config
        self.verdict = verdict
        self.thresholds = config.thresholds or THRESHOLDS.get(embedder.model_id, FALLBACK)
        self.ledger = RouteLedger(
            store, backup_dir=config.backup_dir, claude_home=config.claude_home
        )

    # -- plan / apply ------------------------------------------------------------------------

    def plan(
        self, projects: Sequence[str], *, ids: Sequence[int] | None = None, force: bool = False
    ) -> RoutePlan:
        """What routing would do now; writes nothing (the embedding cache aside)."""
        plan, _ = self._plan(projects, ids, force)
        return plan

    def apply(
        self, projects: Sequence[str], *, ids: Sequence[int] | None = None, force: bool = False
    ) -> RoutePlan:
        """Plan, then write every changed file (with a backup) and record where memories went."""
        plan, edited = self._plan(projects, ids, force)
        plan.applied = True
        written: list[Document] = []  # put back if a later step fails
        files: list[FileChange] = []
        try:
            with self.store.transaction():
                for change in plan.files:
                    doc, new_text = edited[change.path]
                    write_id = self.ledger.write(doc, new_text, "route")
                    written.append(doc)
                    files.append(_with_id(change, write_id))
                    for item in plan.items:
                        if item.action == "write" and item.path == change.path:
                            self._record(item, "written", write_id)
                for item in plan.items:
                    if item.action == "duplicate":
                        self._record(item, "present", None)
        except BaseException:
            for doc in reversed(written):
                put_back(doc)
            raise
        plan.files = files
        return plan

    def _plan(
        self, projects: Sequence[str], ids: Sequence[int] | None, force: bool
    ) -> tuple[RoutePlan, dict[str, tuple[Document, str]]]:
        memories = self._candidates(projects, ids)
        plan = RoutePlan(applied=False)
        scopes: dict[str, _Scope] = {}
        for m in memories:
            name = "global" if m.project == GLOBAL else "project"
            if name not in scopes:
                scopes[name] = self._scope(name, m.project)
        plan.embedded = self._embed_scopes(list(scopes.values()))
        vectors = self._memory_vectors(memories)
        edits: dict[tuple[str, int, int], managed.Edit] = {}
        for m in memories:
            scope = scopes["global" if m.project == GLOBAL else "project"]
            item = self._decide(m, vectors[m.id], scope, force)
            plan.items.append(item)
            if item.action != "write":
                continue
            doc_i, sec_i = self._locate(scope, item)
            edit = edits.setdefault((scope.name, doc_i, sec_i), managed.Edit(sec_i))
            edit.ids.append(m.id)
            edit.lines.append(item.line or "")
            scope.items.append(_Unit(doc_i, sec_i, item.line or "", vectors[m.id]))
            scope.contexts.append(_Unit(doc_i, sec_i, item.line or "", vectors[m.id]))
        edited: dict[str, tuple[Document, str]] = {}
        for name, doc_i in sorted({(n, d) for n, d, _ in edits}):
            doc = scopes[name].docs[doc_i]
            key = str(doc.target.path)
            doc_edits = [e for (n, d, _), e in edits.items() if n == name and d == doc_i]
            new_text = managed.render(doc, doc_edits)
            edited[key] = (doc, new_text)
            plan.files.append(
                FileChange(
                    path=key,
                    target=doc.target.label,
                    created=not doc.exists,
                    memory_ids=[i for e in doc_edits for i in e.ids],
                    diff=managed.diff(doc.text, new_text, doc.target.label, doc.exists),
                )
            )
        return plan, edited

    def _candidates(self, projects: Sequence[str], ids: Sequence[int] | None) -> list[Memory]:
        if ids:
            found = self.store.get_many(list(ids))
            out = []
            for mid in ids:
                m = found.get(mid)
                if m is None:
                    raise NotFoundError(f"no memory with id {mid}")
                if m.state != "proven":
                    hint = f"; promote it first (mcp-memory promote {mid})"
                    raise ValidationError(
                        f"memory {mid} is {m.state}, not proven{hint if m.state == 'buffer' else ''}"
                    )
                if m.project not in projects:
                    raise ValidationError(
                        f"memory {mid} belongs to {m.project}, not to the project being routed"
                    )
                out.append(m)
            return out
        marks = ",".join("?" * len(projects))
        rows = self.store.execute(
            f"SELECT id FROM memories m WHERE state = 'proven' AND project IN ({marks}) "
            "AND NOT EXISTS (SELECT 1 FROM routes r WHERE r.memory_id = m.id "
            "AND r.status IN ('written', 'present')) ORDER BY id",
            tuple(projects),
        )
        found = self.store.get_many([int(r[0]) for r in rows])
        return [found[i] for i in sorted(found)]

    def _scope(self, name: str, project: str) -> _Scope:
        if name == "global":
            root = self.config.claude_home  # may not exist yet: created on the first write
            targets = discover("global", root, configured=self.config.targets)
        else:
            root = project_root(project)
            targets = discover(
                "project", root, configured=self.config.targets, default=self.config.default
            )
        docs = [load(t) for t in targets]
        sections: list[_Unit] = []
        items: list[_Unit] = []
        contexts: list[_Unit] = []
        routed: dict[int, tuple[int, int]] = {}
        for d, doc in enumerate(docs):
            for s, sec in enumerate(doc.sections):
                sections.append(_Unit(d, s, sec.embed_text(doc.target.label)))
                items.extend(_Unit(d, s, text) for text in sec.items)
                contexts.extend(
                    _Unit(d, s, sec.context_text(doc.target.label, text)) for text in sec.items
                )
                if sec.block is not None:
                    routed.update({mid: (d, s) for mid in sec.block.ids})
        default_doc = next(d for d, doc in enumerate(docs) if doc.target.default)
        return _Scope(name, root.resolve(), docs, sections, items, contexts, default_doc, routed)

    # -- embeddings --------------------------------------------------------------------------

    def _embed_scopes(self, scopes: list[_Scope]) -> int:
        """Give every section and item its vector (see :mod:`target_vectors`)."""
        units = [u for scope in scopes for u in (*scope.sections, *scope.items, *scope.contexts)]
        texts = []
        for scope in scopes:
            for unit in (*scope.sections, *scope.items, *scope.contexts):
                doc = scope.docs[unit.doc]
                texts.append((str(doc.target.path), doc.sections[unit.section].name, unit.text))
        vectors, embedded = vectors_for(self.store, self.embedder, texts)
        for unit, vector in zip(units, vectors, strict=True):
            unit.vector = vector
        return embedded

    def _memory_vectors(self, memories: list[Memory]) -> dict[int, np.ndarray]:
        stored = self.store.vectors([m.id for m in memories]) if self.store.model else {}
        if self.store.model is not None:
            self.store.check_model(self.embedder.model_id, self.embedder.dimension)
        todo = [m for m in memories if m.id not in stored]
        if todo:
            fresh = self.embedder.embed([m.content for m in todo], "document")
            stored.update({m.id: fresh[n] for n, m in enumerate(todo)})
        return stored

    # -- decisions ---------------------------------------------------------------------------

    def signals(self, projects: Sequence[str], ids: Sequence[int]) -> dict[int, Signals]:
        """The raw evidence for each memory (benchmarks sweep thresholds over it)."""
        memories = self._candidates(projects, ids)
        scopes: dict[str, _Scope] = {}
        for m in memories:
            name = "global" if m.project == GLOBAL else "project"
            if name not in scopes:
                scopes[name] = self._scope(name, m.project)
        self._embed_scopes(list(scopes.values()))
        vectors = self._memory_vectors(memories)
        out = {}
        for m in memories:
            scope = scopes["global" if m.project == GLOBAL else "project"]
            out[m.id] = self._signals(m, vectors[m.id], scope)[0]
        return out

    @staticmethod
    def _section_scores(scope: _Scope, vec: np.ndarray) -> list[tuple[_Unit, float, float, float]]:
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

    def _signals(self, m: Memory, vec: np.ndarray, scope: _Scope) -> tuple[Signals, _Unit | None]:
        scores = self._section_scores(scope, vec)
        best: _Unit | None = None
        best_sim = -1.0
        for unit, sim, _, _ in scores:
            if sim > best_sim:
                best, best_sim = unit, sim
        by_own = max(scores, key=lambda x: x[2])[0] if scores else None
        by_item = max(scores, key=lambda x: x[3])[0] if scores else None
        flat = _flat(managed.bullet(m.content)[2:])
        match: _Unit | None = None
        match_sim = -1.0
        for unit in scope.items:
            sim = 1.0 if _flat(unit.text) == flat else float(np.dot(unit.vector, vec))  # type: ignore[arg-type]
            if sim > match_sim:
                match, match_sim = unit, sim

        def where(u: _Unit | None) -> str:
            if u is None:
                return ""
            doc = scope.docs[u.doc]
            return f"{doc.target.label}#{_section_title(doc, u.section)}"

        signals = Signals(
            section=where(best),
            section_similarity=round(best_sim, 4),
            section_by_vector=where(by_own),
            section_by_item=where(by_item),
            item=where(match),
            item_text=None if match is None else match.text,
            item_similarity=round(match_sim, 4),
            numbers_differ=match is not None and bool(_numbers(m.content) - _numbers(match.text)),
        )
        return signals, match

    def _decide(self, m: Memory, vec: np.ndarray, scope: _Scope, force: bool) -> RouteItem:
        line = managed.bullet(m.content)
        if m.id in scope.routed:
            d, s = scope.routed[m.id]
            return _item(m, scope, "routed", d, s, 1.0, "already in this file's mcp-memory block")
        sig, match = self._signals(m, vec, scope)
        kind = classify(sig, self.thresholds)
        if kind in ("section", "default") or match is None:
            return self._write_item(m, vec, scope, line, sig, forced=False)
        sim = sig.item_similarity
        if kind == "duplicate":
            return _item(m, scope, "duplicate", match.doc, match.section, sim,
                         "the target already says this", existing=match.text)  # fmt: skip
        verdict = self.verdict(m.content, match.text) if self.verdict else None
        if verdict == "same":
            return _item(m, scope, "duplicate", match.doc, match.section, sim,
                         "judged the same by the LLM", existing=match.text)  # fmt: skip
        if verdict == "compatible":
            return self._write_item(m, vec, scope, line, sig, forced=False)
        if force:
            return self._write_item(m, vec, scope, line, sig, forced=True)
        if verdict == "conflict":
            why = "judged conflicting by the LLM"
        elif sig.numbers_differ and sim >= self.thresholds.duplicate:
            why = "it states a number the existing line does not"
        else:
            why = "it is close to an existing line but not the same"
        return _item(m, scope, "conflict", match.doc, match.section, sim,
                     f"possible conflict: {why}; compare the two, then route with force to "
                     "write it anyway", existing=match.text)  # fmt: skip

    def _write_item(
        self, m: Memory, vec: np.ndarray, scope: _Scope, line: str, sig: Signals, *, forced: bool
    ) -> RouteItem:
        t = self.thresholds.route
        scores = self._section_scores(scope, vec)
        if sig.section_similarity >= t:
            best = max(scores, key=lambda us: us[1])[0]
            d, s = best.doc, best.section
            reason = f"most similar section ({sig.section_similarity:.2f} >= {t:.2f})"
        else:
            d, s = scope.default_doc, -1
            options = [(u, sim) for u, sim, _, _ in scores if u.doc == d]
            if options:
                s = max(options, key=lambda us: us[1])[0].section
            elif scope.docs[d].sections:
                raise ValidationError(
                    f"{scope.docs[d].target.path} ends inside a code fence that is never closed; "
                    "close it (```) so mcp-memory can add its section after it"
                )
            reason = (
                f"no section similar enough (best {sig.section_similarity:.2f} < {t:.2f}); "
                "the default target"
            )
        if forced:
            reason += "; written despite a possible conflict (force)"
        return _item(m, scope, "write", d, s, max(sig.section_similarity, 0.0), reason,
                     line=line, forced=forced)  # fmt: skip

    def _record(self, item: RouteItem, status: str, write_id: int | None) -> None:
        where = (item.path, item.target, item.section)
        self.ledger.record(item.memory_id, where, status, item.similarity, write_id)

    def undo_memory(self, memory_id: int, *, force: bool = False) -> UndoResult:
        """Take one memory's line out of its block again (see :mod:`route_ledger`)."""
        return self.ledger.undo_memory(memory_id, force=force)

    def undo_file(self, path: str, *, project: str | None, force: bool = False) -> UndoResult:
        """Restore a file to its content before routing's last write to it."""
        return self.ledger.undo_file(path, project=project, force=force)

    @staticmethod
    def _locate(scope: _Scope, item: RouteItem) -> tuple[int, int]:
        d = next(i for i, doc in enumerate(scope.docs) if str(doc.target.path) == item.path)
        titles = [sec.title for sec in scope.docs[d].sections]
        return d, titles.index(item.section) if item.section in titles else -1


# -- helpers -----------------------------------------------------------------------------------


def _section_title(doc: Document, index: int) -> str:
    return doc.sections[index].title if index >= 0 else managed.NEW_FILE_HEADING


def _numbers(text: str) -> set[str]:
    return {n.replace(",", ".") for n in _NUMBER.findall(text)}


def _flat(text: str) -> str:
    return " ".join(re.sub(r"[`*_\"'.,;:!?()]", " ", text.lower()).split())


def _item(
    m: Memory,
    scope: _Scope,
    action: str,
    doc_i: int,
    section_i: int,
    similarity: float,
    reason: str,
    *,
    line: str | None = None,
    existing: str | None = None,
    forced: bool = False,
) -> RouteItem:
    doc = scope.docs[doc_i]
    return RouteItem(
        memory_id=m.id,
        content=m.content,
        scope=scope.name,
        action=action,
        target=doc.target.label,
        path=str(doc.target.path),
        section=_section_title(doc, section_i),
        similarity=round(similarity, 4),
        reason=reason,
        line=line,
        existing=existing,
        forced=forced,
    )


def _with_id(change: FileChange, write_id: int) -> FileChange:
    return FileChange(change.path, change.target, change.created, change.memory_ids,
                      change.diff, write_id)  # fmt: skip
