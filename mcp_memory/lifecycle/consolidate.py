"""Consolidate: merge a cluster of connected memories into proven knowledge.

For each cluster (see :mod:`clusters`) the provider (Gemini, an OpenAI-compatible server, or
the offline extractive merge) writes one or more merged statements. The answer is validated
(:func:`merge_check.check_merge`: not empty, not a refusal, not longer than the input, every
hard fact kept) before anything changes; on any failure nothing changes. Then, in one
transaction: the merged memories are stored as ``proven``, the originals become
``superseded`` with lineage rows pointing at the result, and a ``consolidations`` row records
it so :meth:`Consolidator.undo` can restore exactly the previous states. Originals are never
deleted. A cluster containing a decision or a user note yields a protected result.

The offline provider never glues texts together: its merge is the cluster's most representative
member (which then becomes the proven result itself, its siblings superseded), or nothing: a
cluster whose members say different things gets status ``needs_llm`` and stays in the buffer
until an LLM is configured (:func:`waiting_for_llm` counts them for ``doctor`` and the
briefing). A dry run shows the clusters and, for the offline provider (free), the merged text;
it never calls a paid API. A budget caps LLM calls and tokens per run and per day; the day's usage is
kept in ``llm_usage`` and shown by ``stats``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from mcp_memory.errors import LLMError, NeedsModel, NotFoundError, ValidationError
from mcp_memory.lifecycle.clusters import Cluster, find_clusters, projects_with_links
from mcp_memory.llm.budget import BudgetLimits, estimate_tokens
from mcp_memory.llm.merge_check import check_merge
from mcp_memory.llm.provider import Provider, Usage
from mcp_memory.llm.spending import Spending, day_usage
from mcp_memory.redaction.redact import redact
from mcp_memory.service.memories import MemoryService, new_memory
from mcp_memory.service.promotion import promote
from mcp_memory.store.base import Memory

log = logging.getLogger("mcp_memory")


@dataclass
class Outcome:
    project: str
    sources: list[int]
    status: str  # applied | already | dry_run | rejected | needs_llm | skipped
    merged: list[str] = field(default_factory=list)
    results: list[int] = field(default_factory=list)
    consolidation_id: int | None = None
    reason: str = ""
    provider: str = ""


class Consolidator:
    def __init__(self, service: MemoryService, provider: Provider, limits: BudgetLimits) -> None:
        self.service = service
        self.store = service.store
        self.provider = provider
        self.limits = limits

    # -- listing ------------------------------------------------------------------------

    def clusters(self, project: str | None = None) -> list[Cluster]:
        projects = [project] if project is not None else projects_with_links(self.store)
        return [c for p in projects for c in find_clusters(self.store, p)]

    def waiting_for_llm(self, project: str | None = None) -> int:
        """How many clusters of ``project`` (None: every project) only an LLM can merge: those
        the offline merge declines, or every cluster when merging is off. 0 with a model."""
        if not self.provider.offline:
            return 0
        waiting = 0
        for cluster in self.clusters(project):
            found = self.store.get_many(list(cluster.members))
            texts = [redact(found[i].content).text for i in cluster.members if i in found]
            try:
                self.provider.merge(texts, max_output_tokens=0)
            except LLMError:
                waiting += 1
        return waiting

    # -- running ------------------------------------------------------------------------

    def run(
        self,
        *,
        project: str | None = None,
        members: list[int] | None = None,
        dry_run: bool = False,
        max_clusters: int = 10,
    ) -> list[Outcome]:
        if members is not None:
            done = self._already(members)
            if done is not None:
                return [done]
            clusters = [self._explicit_cluster(members)]
        else:
            clusters = self.clusters(project)[:max_clusters]
        spending = Spending(
            self.store, self.provider.name, self.limits, offline=self.provider.offline
        )
        outcomes: list[Outcome] = []
        for cluster in clusters:
            outcomes.append(self._one(cluster, spending, dry_run))
        if members is not None and outcomes[0].status == "skipped":
            # Another process (``maintain``, a second session) merged them while we did.
            return [self._already(members) or outcomes[0]]
        return outcomes

    def _already(self, members: list[int]) -> Outcome | None:
        """The applied consolidation that already merged exactly these memories, if any.

        Asking again for a merge that happened (a retry, or ``maintain`` got there first) is
        answered with that merge rather than an error, so a request is safe to repeat.
        """
        ids = sorted(set(members))
        rows = self.store.applied_merges_touching(ids)
        by_id: dict[int, list[tuple[str, str, int, int]]] = {}
        for cid, project, provider, source, result in rows:
            by_id.setdefault(cid, []).append((project, provider, source, result))
        for cid, group in sorted(by_id.items(), reverse=True):
            if sorted({r[2] for r in group}) != ids:
                continue
            return Outcome(
                group[0][0],
                ids,
                "already",
                results=sorted({r[3] for r in group}),
                consolidation_id=cid,
                reason=f"already merged by consolidation {cid}",
                provider=group[0][1],
            )
        return None

    def _explicit_cluster(self, members: list[int]) -> Cluster:
        ids = sorted(set(members))
        if len(ids) < 2:
            raise ValidationError("give at least two memory ids to consolidate")
        found = self.store.get_many(ids)
        missing = [i for i in ids if i not in found]
        if missing:
            raise NotFoundError(f"no memories with ids {missing}")
        projects = {m.project for m in found.values()}
        if len(projects) != 1:
            raise ValidationError("memories from different projects are never consolidated")
        not_buffer = [i for i in ids if found[i].state != "buffer"]
        if not_buffer:
            where = "; ".join(self._whereabouts(found[i]) for i in not_buffer)
            raise ValidationError(
                f"memories {not_buffer} are not in the buffer ({where}); only buffer memories "
                "are consolidated"
            )
        return Cluster(projects.pop(), tuple(ids), 0, 0.0, 0.0)

    def _whereabouts(self, memory: Memory) -> str:
        """Where a memory that is no longer in the buffer went, and how to get it back."""
        mid = memory.id
        if memory.state == "superseded":
            merged = self.store.superseded_by(mid)
            if merged is not None:
                cid, results = merged
                return (
                    f"{mid} was merged into {results} by consolidation {cid}; "
                    f"`memcycle unconsolidate {cid}` brings it back"
                )
            return f"{mid} is superseded"
        if memory.state in ("expired", "deleted"):
            return f"{mid} is {memory.state}; `memcycle restore {mid}` brings it back"
        return f"{mid} is already {memory.state}"

    def _one(self, cluster: Cluster, spending: Spending, dry_run: bool) -> Outcome:
        sources = [self.store.get(i) for i in cluster.members]
        outcome = Outcome(
            cluster.project, list(cluster.members), "skipped", provider=self.provider.name
        )
        if any(m.state != "buffer" for m in sources):
            outcome.reason = "a member changed state since the cluster was found"
            return outcome
        if len({m.visibility for m in sources}) > 1:
            # Merged into one, a private note would reach the team, or team memories would
            # vanish from everyone's recall into a private one.
            outcome.reason = "the cluster mixes private and team memories"
            return outcome
        texts = [redact(m.content).text for m in sorted(sources, key=lambda m: m.created_at)]
        if dry_run and not self.provider.offline:
            outcome.status = "dry_run"
            outcome.reason = (
                f"would send {len(texts)} memories (~{sum(map(estimate_tokens, texts))} tokens) "
                f"to {self.provider.name}"
            )
            return outcome
        try:
            spending.check(sum(map(estimate_tokens, texts)))
            answer = self.provider.merge(
                texts, max_output_tokens=max(256, sum(map(estimate_tokens, texts)))
            )
            spending.record(answer.usage)
            merged = [t.strip() for t in answer.memories]
            check_merge(texts, merged)
        except NeedsModel as exc:  # the offline merge would glue: leave it for an LLM
            outcome.status = "needs_llm"
            outcome.reason = str(exc)
            return outcome
        except LLMError as exc:
            spending.record_failure(exc)  # a bad answer still cost tokens
            outcome.status = "rejected"
            outcome.reason = str(exc)
            log.warning("consolidation of %s rejected: %s", list(cluster.members), exc)
            return outcome
        outcome.merged = merged
        if dry_run:
            outcome.status = "dry_run"
            return outcome
        return self._apply(outcome, sources, answer.model or "")

    def _apply(self, outcome: Outcome, sources: list[Memory], model: str) -> Outcome:
        project = outcome.project
        vectors = self.service.embedder.embed(outcome.merged, "document")
        kind = _result_type(sources)
        protected = any(m.protected for m in sources)
        tags = tuple(dict.fromkeys(t for m in sources for t in m.tags))[:20]
        by_id = {m.id for m in sources}
        kept: set[int] = set()
        with self.store.transaction():
            if any(self.store.get(m.id).state != "buffer" for m in sources):
                outcome.status = "skipped"
                outcome.reason = "a member changed state while merging"
                return outcome
            cid = self.store.add_consolidation(
                project, self.provider.name, model, {"sources": outcome.sources}
            )
            for text, vector in zip(outcome.merged, vectors, strict=True):
                memory = new_memory(
                    text,
                    project=project,
                    type=kind,
                    tags=tags,
                    source="lifecycle",
                    protected=protected,
                    state="proven",
                    metadata={"consolidation": cid},
                    visibility=sources[0].visibility,  # one for all (see _one)
                )
                existing = self.store.find_hash(project, memory.content_hash)
                if existing is not None:
                    rid = promote(self.store, existing.id, "consolidation").id
                    if existing.id in by_id:  # a member stands for the cluster: it is the result
                        kept.add(rid)
                        self.store.update_memory(
                            rid,
                            type=existing.type if kind == "insight" else kind,
                            protected=protected or existing.protected,
                        )
                else:
                    rid = self.store.insert(memory, vector)
                outcome.results.append(rid)
                for m in sources:
                    self.store.add_lineage(cid, rid, m.id, m.state)
                # The result is about the files its sources were about (mcp_memory/anchors).
                self.store.copy_anchors([m.id for m in sources if m.id != rid], rid)
            for m in sources:
                if m.id not in kept:
                    self.store.set_state(m.id, "superseded")
        for rid in outcome.results:
            self.service.linker.connect(rid)
        outcome.consolidation_id = cid
        outcome.status = "applied"
        return outcome

    # -- undo ---------------------------------------------------------------------------

    def undo(self, consolidation_id: int) -> dict[str, object]:
        status = self.store.consolidation_status(consolidation_id)
        if status is None:
            raise NotFoundError(f"no consolidation with id {consolidation_id}")
        if status == "undone":
            raise ValidationError(f"consolidation {consolidation_id} is already undone")
        with self.store.transaction():
            lineage = self.store.consolidation_lineage(consolidation_id)
            results = sorted({r for r, _, _ in lineage})
            restored = {source: state for _, source, state in lineage}
            for source, state in restored.items():
                self.store.set_state(source, state)
            for rid in results:
                if rid in restored:  # a member that stood for its cluster is back in the buffer
                    continue
                if not self.store.is_result_of_other_merge(rid, consolidation_id):
                    self.store.set_state(rid, "deleted")
            self.store.mark_undone(consolidation_id)
        return {
            "consolidation_id": consolidation_id,
            "restored": sorted(restored),
            "removed": results,
        }

    # -- budget -------------------------------------------------------------------------

    def day_usage(self) -> Usage:
        """What paid providers have cost today (table ``llm_usage``)."""
        return day_usage(self.store)


def waiting_note(count: int) -> str:
    """The line ``doctor`` and the briefing show while clusters wait for an LLM ("" for none)."""
    if not count:
        return ""
    return (
        f"{count} cluster(s) wait for an LLM to be consolidated "
        "(set GEMINI_API_KEY / MCP_MEMORY_LLM_PROVIDER)"
    )


def _result_type(sources: list[Memory]) -> str:
    kinds = {m.type for m in sources}
    for kind in ("decision", "user_note", "convention", "preference", "error_fix"):
        if kind in kinds:
            return kind
    return "insight"
