"""Age: isolated memories fade; what matters stays.

Expiry is by isolation, not by time. Age is counted per project in memories: a buffer memory
that is still unlinked after ``age_after`` newer memories of its own project is a candidate
(a busy project ages faster than a quiet one, and a week off ages nothing). A substance check
(the LLM when configured, else ``substance_heuristic``) reprieves valuable loners, at most
``max_reprieves`` times; a reprieve restarts the count. Protected memories (decisions, conventions,
preferences and the user's own notes: ``service.classify.PROTECTED_TYPES``) never expire. Expired memories are tombstones: out of recall, restorable
with ``memcycle restore``, purged for good after ``retention_days``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

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
) -> AgeReport:
    report = AgeReport(dry_run=dry_run)
    report.candidates = candidates(store, policy, project)
    for mid in report.candidates:
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
