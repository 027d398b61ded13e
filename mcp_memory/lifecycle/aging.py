"""Age: isolated memories fade; what matters stays.

Expiry is by isolation, not by time. Age is counted per project in memories: a buffer memory
that is still unlinked after ``age_after`` newer memories of its own project is a candidate
(a busy project ages faster than a quiet one, and a week off ages nothing). A substance check
(the LLM when configured, else ``substance_heuristic``) reprieves valuable loners, at most
``max_reprieves`` times; a reprieve restarts the count. Protected memories (decisions, conventions,
preferences and the user's own notes: ``service.classify.PROTECTED_TYPES``) never expire. Expired memories are tombstones: out of recall, restorable
with ``memcycle restore``, purged for good after ``retention_days``.

Code anchors (:mod:`mcp_memory.anchors`): given the service's ``anchoring``, aging first checks
every anchored memory; one whose every anchored file was deleted describes code that is gone and
expires without a substance check (the check judges the text, which may read well and still be
moot). Protected memories in that state are only flagged (``orphaned_protected``): a decision
about deleted code can still explain why it was deleted.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from mcp_memory.anchors.anchoring import Anchoring
from mcp_memory.anchors.verify import verify_project
from mcp_memory.service.classify import PROTECTED_TYPES
from mcp_memory.store.database import Store

log = logging.getLogger("mcp_memory")

Judge = Callable[[str], tuple[bool, str]]  # text -> (keep, reason)


@dataclass(frozen=True)
class AgePolicy:
    age_after: int = 50
    max_reprieves: int = 3
    retention_days: float = 30.0


@dataclass
class AgeReport:
    dry_run: bool
    candidates: list[int] = field(default_factory=list)
    expired: list[int] = field(default_factory=list)
    reprieved: list[dict[str, object]] = field(default_factory=list)
    purged: list[int] = field(default_factory=list)
    orphaned: list[int] = field(default_factory=list)  # every anchored file deleted: expired
    orphaned_protected: list[int] = field(default_factory=list)  # same, protected: only flagged


def candidates(store: Store, policy: AgePolicy, project: str | None = None) -> list[int]:
    """Unprotected buffer memories with no link, connected, and old enough in their project."""
    return store.aging_candidates(policy.age_after, project)


def age(
    store: Store,
    policy: AgePolicy,
    judge: Judge,
    *,
    project: str | None = None,
    dry_run: bool = False,
    now: float | None = None,
    anchoring: Anchoring | None = None,
) -> AgeReport:
    report = AgeReport(dry_run=dry_run)
    report.candidates = candidates(store, policy, project)
    if anchoring is not None:
        for mid in verify_project(anchoring, project).orphaned:
            m = store.get(mid)
            if m.protected or m.type in PROTECTED_TYPES:
                report.orphaned_protected.append(mid)
                continue
            report.orphaned.append(mid)
            report.expired.append(mid)
            if not dry_run:
                store.expire(mid)
    for mid in report.candidates:
        if mid in report.orphaned:
            continue
        m = store.get(mid)
        if m.reprieves < policy.max_reprieves:
            keep, reason = judge(m.content)
            if keep:
                report.reprieved.append({"id": mid, "reason": reason, "reprieves": m.reprieves + 1})
                if not dry_run:
                    seq = store.project_seq(m.project)
                    store.update_memory(mid, reprieves=m.reprieves + 1, age_from=seq)
                continue
        report.expired.append(mid)
        if not dry_run:
            store.expire(mid)
    cutoff = (now or time.time()) - policy.retention_days * 86400
    report.purged = store.expired_before(cutoff)
    if report.purged and not dry_run:
        store.purge(report.purged)
    if not dry_run and (report.expired or report.purged):
        log.info(
            "aged: %d expired, %d reprieved, %d purged",
            len(report.expired),
            len(report.reprieved),
            len(report.purged),
        )
    return report
