"""Routing: proven memories into the CLAUDE.md and rules files Claude Code reads.

``plan`` never writes: for each proven memory not yet routed it decides an action and, for the
files that would change, shows a unified diff. ``apply`` does the same and writes. ``undo_memory``
takes one memory's line out again; ``undo_file`` reverts the last write to a file from its backup.

Session summaries are history, not knowledge: never routed, whatever their state. Nor is a memory
whose code changed since it was stored (its anchors, :mod:`mcp_memory.anchors`): it is held with
what changed, even with ``force``, until it is updated or forgotten.

Decisions, per memory, against the targets of its own scope only (a project's files for project
memories, ``~/.claude`` for global ones; see :mod:`mcp_memory.routing.targets`):

1. ``routed``: its id is already in a managed block (re-running is idempotent). ``held``: it is
   longer than a rules line may be (``managed.MAX_LINE_CHARS``); it is never cut, the reason
   says to shorten it or consolidate.
2. ``duplicate``: an existing item (a line, paragraph or routed bullet) already says it: the same
   text, or cosine >= ``duplicate`` with no number in the memory missing from that item and no
   disagreement the text rule below finds. Nothing is written; ``apply`` records it as present.
3. ``conflict``: a possible contradiction, shown side by side with the line and held unless
   ``force``. Either an item is close but not the same (cosine in ``[duplicate - conflict_band,
   duplicate)``, or >= ``duplicate`` with a number the item lacks) and its words neither extend
   nor restate it (see 4), or one of the three lines
   most similar to the memory, at cosine >= ``contradiction``, restates its subject with another
   value: :func:`conflicts.contradiction` (offline, text only) finds a changed number, version,
   identifier or name in the same slot, one side saying never / not / no to what the other
   does, one word swapped, or a pair of opposites. A changed value barely moves the cosine, so
   the band alone let contradictions through as ordinary writes; a new rule next to a line
   (other slots, other words) is still written. A configured ``verdict`` (an LLM) can only hold
   more: it is asked about memories that would be written next to a line at least
   ``contradiction`` similar, and never releases what the offline rules hold.
4. ``write`` below a line: a memory that close to an item, that the text rule finds no
   disagreement in, and whose words keep the item's subject and add to it (a port, a flag, a
   precondition, an exception, a version: :mod:`additions`) extends it; it is written in a
   block directly below that item, in its section (``RouteItem.below``). One that says the
   item's words and nothing more is a duplicate. An LLM verdict may still hold it.
5. ``write``: into the section whose content is most similar (the mean of the cosine with the
   section's own vector, its headings and items embedded together, and with its most similar
   item, embedded with its file and headings in front), if that reaches ``route``; otherwise
   into the default target (``.claude/rules/memory.md``, or ``~/.claude/rules/memory.md``), so a
   hand-written CLAUDE.md only receives what clearly belongs in one of its sections.

A memory written in this run counts as an item for the ones after it, so of two proven memories
saying the same thing only the first is written (the second is a duplicate or a conflict), and
of two that contradict each other the second is held. The thresholds come from ``THRESHOLDS``
per model, calibrated by ``bench/route.py`` on a labelled set; settings may override them.
Module layout: :mod:`route_plan` (thresholds, evidence, ``classify``, the plan),
:mod:`route_scope` (target files as sections and items with vectors), :mod:`conflicts` (the
text rule), :mod:`additions` (a memory's words against a line's).

State: a routed memory stays ``proven``; a ``routes`` row and its metadata (``routed_to``,
``routed_section``, ``routed_as``, ``route_id``) record where it went. Every file write is a
``route_writes`` row with the file's hash before and after and a backup of the old bytes under
the data directory; ``undo_file`` refuses when the file changed since (unless ``force``).

Section vectors are cached in ``route_embeddings`` by (model, file, content hash): a plan over
unchanged files embeds nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from mcp_memory.anchors.anchoring import Anchoring
from mcp_memory.anchors.check import describe
from mcp_memory.embedding.protocol import Embedder
from mcp_memory.errors import NotFoundError, ValidationError
from mcp_memory.projects import GLOBAL
from mcp_memory.routing import managed
from mcp_memory.routing.ledger import RouteLedger, UndoResult, put_back
from mcp_memory.routing.plan import (
    FileChange,
    RouteItem,
    RoutePlan,
    Signals,
    Thresholds,
    classify,
    thresholds_for,
    with_write_id,
)
from mcp_memory.routing.scope import (
    Scope,
    Unit,
    embed_scopes,
    evidence,
    load_scope,
    section_scores,
    section_title,
)
from mcp_memory.routing.targets import Document
from mcp_memory.service import promotion
from mcp_memory.store.base import Memory
from mcp_memory.store.database import Store

__all__ = ["CAPTURED_SOURCES", "RouteConfig", "Router", "Verdict", "promote"]

# Sources of memories captured from what tools printed or files held (the hooks), not said by
# the user nor merged from several memories: text an attacker can plant in a README or a
# command's output. Routing holds them for review (action ``review``).
CAPTURED_SOURCES = frozenset({"hook"})
CAPTURED_REASON = (
    "captured from tool output or files, not said by the user: review it, then route it from "
    "a terminal with `memcycle route --apply --force` (an MCP call cannot release it)"
)

# (memory, existing line) -> "conflict" (or "contradicts") | "same" | "compatible". Only
# "conflict" and "same" change anything: they hold a memory the offline rules would write.
# (memory, existing line) -> "contradicts" | "same" | "compatible" | anything else (no
# opinion), alone or with a reason to show.
Verdict = Callable[[str, str], str | tuple[str, str]]


@dataclass(frozen=True)
class RouteConfig:
    """What the composition root passes in (from settings); routing reads no environment."""

    claude_home: Path  # ~/.claude: the only root of global targets
    backup_dir: Path  # copies of files before each write
    targets: tuple[str, ...] = ()  # extra files: relative to the project root, or ~/.claude/...
    default: str = ".claude/rules/memory.md"  # project default target (relative to the root)
    thresholds: Thresholds | None = None  # None: THRESHOLDS for the model


def promote(store: Store, memory_id: int) -> Memory:
    """Mark a memory proven by hand (buffer -> proven), so it can be routed before any
    consolidation has run. Proven stays proven; superseded, expired and deleted are refused."""
    return promotion.promote(store, memory_id, "by hand")


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
        self.thresholds = thresholds_for(embedder.model_id, config.thresholds)
        self.ledger = RouteLedger(
            store, backup_dir=config.backup_dir, claude_home=config.claude_home
        )
        self.anchoring = Anchoring(store)

    # -- plan / apply ------------------------------------------------------------------------

    def plan(
        self,
        projects: Sequence[str],
        *,
        ids: Sequence[int] | None = None,
        force: bool = False,
        release_captured: bool = False,
    ) -> RoutePlan:
        """What routing would do now; writes nothing (the embedding cache aside)."""
        plan, _ = self._plan(projects, ids, force, release_captured)
        return plan

    def apply(
        self,
        projects: Sequence[str],
        *,
        ids: Sequence[int] | None = None,
        force: bool = False,
        release_captured: bool = False,
    ) -> RoutePlan:
        """Plan, then write every changed file (with a backup) and record where memories went.

        Captured memories (:data:`CAPTURED_SOURCES`: text from tool output or files) are held
        for review unless ``release_captured``: only the CLI, a user at a terminal who saw the
        plan, passes it (``memcycle route --apply --force``); an MCP call never does."""
        plan, edited = self._plan(projects, ids, force, release_captured)
        plan.applied = True
        written: list[Document] = []  # put back if a later step fails
        files: list[FileChange] = []
        try:
            with self.store.transaction():
                for change in plan.files:
                    doc, new_text = edited[change.path]
                    write_id = self.ledger.write(doc, new_text, "route")
                    written.append(doc)
                    files.append(with_write_id(change, write_id))
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
        self,
        projects: Sequence[str],
        ids: Sequence[int] | None,
        force: bool,
        release_captured: bool = False,
    ) -> tuple[RoutePlan, dict[str, tuple[Document, str]]]:
        memories = self._candidates(projects, ids)
        plan = RoutePlan(applied=False)
        scopes: dict[str, Scope] = {}
        for m in memories:
            name = "global" if m.project == GLOBAL else "project"
            if name not in scopes:
                scopes[name] = self._scope(name, m.project)
        plan.embedded = embed_scopes(self.store, self.embedder, list(scopes.values()))
        vectors = self._memory_vectors(memories)
        checked = self.anchoring.states({m.id: m.project for m in memories})
        stale = {i: note for i, states in checked.items() if (note := describe(states))}
        edits: dict[tuple[str, int, int, int | None], managed.Edit] = {}
        for m in memories:
            scope = scopes["global" if m.project == GLOBAL else "project"]
            item, below = self._decide(m, vectors[m.id], scope, force, plan)
            if item.action == "write" and m.source in CAPTURED_SOURCES and not release_captured:
                item = replace(item, action="review", line=None, reason=CAPTURED_REASON)
            if item.action in ("write", "review") and m.id in stale:  # never, even with force
                reason = f"{stale[m.id]} Update or forget the memory, then route it"
                item = replace(item, action="held", line=None, reason=reason)
            plan.items.append(item)
            if item.action != "write":
                continue
            doc_i, sec_i = self._locate(scope, item)
            edit = edits.setdefault(
                (scope.name, doc_i, sec_i, below), managed.Edit(sec_i, below=below)
            )
            edit.ids.append(m.id)
            edit.lines.append(item.line or "")
            written = (item.line or "")[2:].strip()  # as parse() reads a routed bullet back
            scope.items.append(Unit(doc_i, sec_i, written, vectors[m.id], below=below))
            scope.contexts.append(Unit(doc_i, sec_i, written, vectors[m.id]))
        edited: dict[str, tuple[Document, str]] = {}
        for name, doc_i in sorted({(n, d) for n, d, _, _ in edits}):
            doc = scopes[name].docs[doc_i]
            key = str(doc.target.path)
            doc_edits = [e for (n, d, _, _), e in edits.items() if n == name and d == doc_i]
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
                    hint = f"; promote it first (memcycle promote {mid})"
                    raise ValidationError(
                        f"memory {mid} is {m.state}, not proven{hint if m.state == 'buffer' else ''}"
                    )
                if m.project not in projects:
                    raise ValidationError(
                        f"memory {mid} belongs to {m.project}, not to the project being routed"
                    )
                if m.type in promotion.EPISODIC_TYPES:
                    raise ValidationError(
                        f"memory {mid} is a {m.type}: session history is never routed into "
                        "CLAUDE.md or rules files; remember the lasting fact on its own instead"
                    )
                out.append(m)
            return out
        found = self.store.get_many(self.store.unrouted_proven_ids(projects))
        return [found[i] for i in sorted(found) if found[i].type not in promotion.EPISODIC_TYPES]

    def _scope(self, name: str, project: str) -> Scope:
        c = self.config
        return load_scope(
            name, project, claude_home=c.claude_home, configured=c.targets, default=c.default
        )

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
        scopes: dict[str, Scope] = {}
        for m in memories:
            name = "global" if m.project == GLOBAL else "project"
            if name not in scopes:
                scopes[name] = self._scope(name, m.project)
        embed_scopes(self.store, self.embedder, list(scopes.values()))
        vectors = self._memory_vectors(memories)
        out = {}
        for m in memories:
            scope = scopes["global" if m.project == GLOBAL else "project"]
            out[m.id] = evidence(m.content, vectors[m.id], scope)[0]
        return out

    def _decide(
        self, m: Memory, vec: np.ndarray, scope: Scope, force: bool, plan: RoutePlan
    ) -> tuple[RouteItem, int | None]:
        """The decision for one memory, and for a write below a line (``extends``) where its
        block goes (``Unit.below``; None: the section's own block)."""
        line = managed.bullet(m.content)
        if m.id in scope.routed:
            d, s = scope.routed[m.id]
            reason = "already in this file's mcp-memory block"
            return _item(m, scope, "routed", d, s, 1.0, reason), None
        if managed.too_long(line):
            reason = (
                f"too long to route ({len(line) - 2} > {managed.MAX_LINE_CHARS} characters); "
                "shorten it or consolidate"
            )
            return _item(m, scope, "held", scope.default_doc, -1, 0.0, reason), None
        sig, match, against = evidence(m.content, vec, scope)
        kind = classify(sig, self.thresholds)
        if match is None:
            return self._write_item(m, vec, scope, line, sig, forced=False), None
        sim = sig.item_similarity
        if kind == "duplicate":
            t = self.thresholds
            said = (
                "the target already says this"
                if sim >= t.duplicate
                else "the target already says this in the same words"
            )
            item = _item(
                m, scope, "duplicate", match.doc, match.section, sim, said, existing=match.text
            )
            return item, None
        if kind == "conflict":
            if force:
                return self._write_item(m, vec, scope, line, sig, forced=True), None
            t = self.thresholds
            if sim < t.duplicate - t.conflict_band and against is not None:
                match, sim, why = against, sig.contradiction_similarity, sig.contradiction
            elif sig.item_contradicts:
                why = sig.contradiction
            elif sig.numbers_differ and sim >= t.duplicate:
                why = "it states a number the existing line does not"
            else:
                why = "it is close to an existing line but not the same"
            return _held(m, scope, match, sim, why), None
        # An LLM verdict can only hold more: it is asked about a memory the offline rules
        # would write next to a line as similar as those the text rule compares, never about
        # one they hold (a "compatible" verdict cannot release it).
        gate = self.thresholds.contradiction
        if self.verdict and not force and gate is not None and sim >= gate:
            answer = self.verdict(m.content, match.text)
            verdict, detail = answer if isinstance(answer, tuple) else (answer, "")
            if verdict in ("conflict", "contradicts", "same"):
                why = (
                    "judged the same by the LLM"
                    if verdict == "same"
                    else "judged conflicting by the LLM"
                )
                held = _held(m, scope, match, sim, f"{why} ({detail})" if detail else why)
                return held, None
            if verdict not in ("compatible", "conflict", "contradicts", "same"):  # no verdict
                plan.unchecked += 1
                plan.unchecked_reason = plan.unchecked_reason or detail or str(verdict)
        if kind == "extends":  # directly below the line it adds to, in that line's section
            reason = f"adds to the line it is written below ({sim:.2f}): {sig.item_adds}"
            item = _item(
                m,
                scope,
                "write",
                match.doc,
                match.section,
                sim,
                reason,
                line=line,
                existing=match.text,
                below=True,
            )
            return item, match.below
        return self._write_item(m, vec, scope, line, sig, forced=False), None

    def _write_item(
        self, m: Memory, vec: np.ndarray, scope: Scope, line: str, sig: Signals, *, forced: bool
    ) -> RouteItem:
        t = self.thresholds.route
        scores = section_scores(scope, vec)
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
        return _item(
            m,
            scope,
            "write",
            d,
            s,
            max(sig.section_similarity, 0.0),
            reason,
            line=line,
            forced=forced,
        )

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
    def _locate(scope: Scope, item: RouteItem) -> tuple[int, int]:
        d = next(i for i, doc in enumerate(scope.docs) if str(doc.target.path) == item.path)
        titles = [sec.title for sec in scope.docs[d].sections]
        return d, titles.index(item.section) if item.section in titles else -1


# -- helpers -----------------------------------------------------------------------------------


def _held(m: Memory, scope: Scope, line: Unit, similarity: float, why: str) -> RouteItem:
    return _item(
        m,
        scope,
        "conflict",
        line.doc,
        line.section,
        similarity,
        f"possible conflict: {why}; compare the two, then route with force to write it anyway",
        existing=line.text,
    )


def _item(
    m: Memory,
    scope: Scope,
    action: str,
    doc_i: int,
    section_i: int,
    similarity: float,
    reason: str,
    *,
    line: str | None = None,
    existing: str | None = None,
    forced: bool = False,
    below: bool = False,
) -> RouteItem:
    doc = scope.docs[doc_i]
    return RouteItem(
        memory_id=m.id,
        content=m.content,
        scope=scope.name,
        action=action,
        target=doc.target.label,
        path=str(doc.target.path),
        section=section_title(doc, section_i),
        similarity=round(similarity, 4),
        reason=reason,
        line=line,
        existing=existing,
        forced=forced,
        below=below,
    )
