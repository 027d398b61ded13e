"""``memcycle maintain``: the lifecycle's background work, safe while sessions run.

1. embed memories stored without a vector (hooks store text only: they never load a model);
2. connect memories that were embedded but not linked (a crash between the two, or step 1);
3. age: expire isolated memories, reprieve valuable loners, purge old tombstones;
4. consolidate clusters, if an LLM provider is configured (or explicitly asked for).

Every write is its own short IMMEDIATE transaction, so sessions writing at the same time only
wait for the busy timeout, never fail; a lock file keeps two ``maintain`` runs of this machine
from doing the same work twice, and the store's maintenance lock two machines sharing one team
database (PostgreSQL: an advisory lock; a SQLite file has one machine). The second run reports
which lock it met and returns.
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from mcp_memory.errors import MCPMemoryError, NotFoundError, StoreError
from mcp_memory.files import private_dir
from mcp_memory.lifecycle.aging import AgePolicy, Judge, age
from mcp_memory.lifecycle.consolidate import Consolidator
from mcp_memory.service.memories import MemoryService

log = logging.getLogger("mcp_memory")

EMBED_BATCH = 64
Progress = Callable[[str, int, int], None]  # (step, done, total): the CLI draws a bar from it


@dataclass
class MaintainReport:
    ran: bool = True
    embedded: int = 0
    connected: int = 0
    links: int = 0
    age: dict[str, object] = field(default_factory=dict)
    consolidations: list[dict[str, object]] = field(default_factory=list)
    message: str = ""
    # Hybrid use: the team database's own report (``asdict`` of one), or ``ran`` False and why
    # when it was not reachable; None without a team database.
    team: dict[str, object] | None = None


@contextmanager
def exclusive(lock_path: Path) -> Iterator[bool]:
    """True when this process holds the maintain lock (non-blocking)."""
    private_dir(lock_path.parent)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def embed_pending(
    service: MemoryService, limit: int = 10_000, progress: Progress | None = None
) -> int:
    store = service.store
    done = 0
    total = min(limit, store.pending_count("embedded")) if progress else 0
    while done < limit:
        ids = store.pending("embedded", EMBED_BATCH)
        if not ids:
            break
        memories = store.get_many(ids)
        ids = [i for i in ids if i in memories]
        vectors = service.embedder.embed([memories[i].content for i in ids], "document")
        service.ensure_model()
        for mid, vector in zip(ids, vectors, strict=True):
            try:
                current = store.get(mid)
                store.set_vector(mid, vector, current.project, current.state)
            except (NotFoundError, StoreError) as exc:  # deleted meanwhile
                log.debug("skipping memory %s: %s", mid, exc)
        done += len(ids)
        if progress:
            progress("embed", done, max(total, done))
    return done


def connect_pending(
    service: MemoryService, limit: int = 10_000, progress: Progress | None = None
) -> tuple[int, int]:
    connected = links = 0
    total = min(limit, service.store.pending_count("connected")) if progress else 0
    while connected < limit:
        ids = service.store.pending("connected", EMBED_BATCH)
        if not ids:
            break
        for mid in ids:
            links += len(service.linker.connect(mid))
            connected += 1
            if progress:
                progress("connect", connected, max(total, connected))
    return connected, links


def maintain(
    service: MemoryService,
    *,
    lock_path: Path,
    policy: AgePolicy,
    consolidator: Consolidator | None,
    judge: Judge,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> MaintainReport:
    with exclusive(lock_path) as mine:
        if not mine:
            return MaintainReport(ran=False, message="another maintain run holds the lock")
        with service.store.maintenance_lock() as ours:
            if not ours:
                return MaintainReport(
                    ran=False,
                    message=f"another machine is maintaining this database "
                    f"({service.store.path}) right now; this run left the work to it",
                )
            return _run(service, policy, consolidator, judge, dry_run, progress)


def _run(
    service: MemoryService,
    policy: AgePolicy,
    consolidator: Consolidator | None,
    judge: Judge,
    dry_run: bool,
    progress: Progress | None,
) -> MaintainReport:
    """The steps of one run, under both locks."""
    report = MaintainReport()
    if not dry_run:
        report.embedded = embed_pending(service, progress=progress)
        report.connected, report.links = connect_pending(service, progress=progress)
    report.age = asdict(
        age(service.store, policy, judge, dry_run=dry_run, anchoring=service.anchoring)
    )
    if consolidator is not None:
        try:
            outcomes = consolidator.run(dry_run=dry_run)
        except MCPMemoryError as exc:
            report.message = f"consolidation skipped: {exc}"
        else:
            report.consolidations = [asdict(o) for o in outcomes]
    return report
