"""``memcycle migrate --to``: every memory this user may read, copied from one database into
another (SQLite to the team PostgreSQL and back), with what makes it the same memory there.

What is copied: memories (text, type, tags, source, session chain, state, protection, times,
recall counts, metadata, author and visibility), their vectors, anchors, links, and the
consolidations and lineage that ``consolidate --undo`` needs. What is not: the routes of
``CLAUDE.md`` files and their write log (they describe files on this machine and are rebuilt
by ``memcycle route``), topic vectors (recomputed by linking), recall events and usage.

Vectors are copied as they are, so both sides must hold one vector space: the source's model
id, dimension and pooling are recorded on an empty target, and a target built with another
model is refused before anything is written (:class:`~mcp_memory.errors.ModelMismatchError`).

Resumable. Memories are copied in batches of ``batch``, each in one transaction of the target,
in id order (so session chains rebuild in order); a memory already in the target (same project,
text and reader, the store's unique key) maps to the one there and is not stored again. Links
are matched by their two ends and lineage by result and source. Re-running after an
interruption therefore continues where it stopped and duplicates nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mcp_memory.errors import ModelMismatchError
from mcp_memory.service import boilerplate
from mcp_memory.store.anchors import NewAnchor
from mcp_memory.store.base import Memory, NewMemory
from mcp_memory.store.database import Store

BATCH = 200  # memories per target transaction
LINK_BATCH = 2000


@dataclass
class MigrateReport:
    """What a migration copied now and what it found in the target already."""

    target: str  # the target as messages may name it (a URL without its password)
    memories: int = 0
    already: int = 0  # memories the target held already (an earlier, interrupted run)
    vectors: int = 0
    anchors: int = 0
    links: int = 0
    consolidations: int = 0
    lineage: int = 0
    model: str = ""


def check_models(source: Store, target: Store, source_name: str, target_name: str) -> None:
    """Record the source's model on an empty target, or refuse two different vector spaces."""
    model = source.refresh_model()
    if model is None:
        return
    theirs = target.refresh_model()
    if theirs is None:
        target.init_model(model.model_id, model.dimension, model.pooling)
        return
    if (theirs.model_id, theirs.dimension, theirs.pooling) != (
        model.model_id,
        model.dimension,
        model.pooling,
    ):
        raise ModelMismatchError(
            f"{target_name} holds vectors of {theirs.model_id} ({theirs.dimension}-d, "
            f"{theirs.pooling} pooling) but {source_name} holds {model.model_id} "
            f"({model.dimension}-d, {model.pooling} pooling); vectors of two models cannot "
            "share one index. Migrate into an empty database, or first re-embed one side with "
            f"`memcycle reindex` so both use {theirs.model_id}"
        )


def _copy(m: Memory, user: str) -> NewMemory:
    """The target's row of ``m``. A private memory this user can read is theirs (a SQLite
    file is one user's, recorded perhaps under another host name), so it keeps them as its
    author on the team database; a memory without an author gets this user."""
    author = user if m.visibility == "private" or not m.author else m.author
    return NewMemory(
        content=m.content,
        content_hash=m.content_hash,
        project=m.project,
        type=m.type,
        tags=m.tags,
        source=m.source,
        session_id=m.session_id,
        protected=m.protected,
        state=m.state,
        metadata=m.metadata,
        line_keys=boilerplate.keys(m.content),
        created_at=m.created_at,
        updated_at=m.updated_at,
        last_recalled_at=m.last_recalled_at,
        recall_count=m.recall_count,
        reprieves=m.reprieves,
        visibility=m.visibility,
        author=author,
    )


def _anchor(row: tuple[object, ...]) -> NewAnchor:
    """An anchor row (``schema.ANCHOR_COLUMNS``) as ``add_anchors`` takes it."""
    _, _, path, _, kind, selector, fingerprint, commit, _, mtime_ns, size, *_ = row
    return (path, kind, selector, fingerprint, commit, mtime_ns, size)  # type: ignore[return-value]


def migrate(
    source: Store,
    target: Store,
    *,
    source_name: str,
    target_name: str,
    batch: int = BATCH,
    progress: Callable[[int, int], None] | None = None,
) -> MigrateReport:
    """Copy what ``source``'s user may read into ``target`` (see the module docstring)."""
    check_models(source, target, source_name, target_name)
    report = MigrateReport(target_name, model="" if target.model is None else target.model.model_id)
    ids: dict[int, int] = {}  # source id -> target id
    every = source.memory_ids()
    for start in range(0, len(every), batch):
        _copy_batch(source, target, every[start : start + batch], ids, report)
        if progress is not None:
            progress(min(start + batch, len(every)), len(every))
    _copy_links(source, target, ids, report)
    _copy_lineage(source, target, ids, report)
    return report


def _copy_batch(
    source: Store, target: Store, chunk: list[int], ids: dict[int, int], report: MigrateReport
) -> None:
    memories = source.get_many(chunk)
    vectors = source.vectors(chunk) if source.model is not None else {}
    anchors = source.anchors_of(chunk)
    with target.transaction():
        for mid in chunk:
            m = memories.get(mid)
            if m is None:  # purged since the list was read
                continue
            there = target.find_hash(m.project, m.content_hash)
            if there is not None:
                ids[mid] = there.id
                report.already += 1
                continue
            new = target.insert(_copy(m, target.user), vectors.get(mid))
            ids[mid] = new
            report.memories += 1
            report.vectors += mid in vectors
            rows = anchors.get(mid, [])
            for row in rows:  # each with when it was anchored
                target.add_anchors(new, [_anchor(row)], at=float(row[8]))
            report.anchors += len(rows)
            if m.connected:
                target.mark_connected(new)
            if m.age_from != m.seq:  # isolation counted from the same distance back
                target.update_memory(new, age_from=target.get(new).seq - (m.seq - m.age_from))


def _copy_links(source: Store, target: Store, ids: dict[int, int], report: MigrateReport) -> None:
    links = [(ids[a], ids[b], s) for a, b, s in source.every_link() if a in ids and b in ids]
    for start in range(0, len(links), LINK_BATCH):
        with target.transaction():
            for x, y, sim in links[start : start + LINK_BATCH]:
                if x == y or target.link_exists(x, y) or target.link_exists(y, x):
                    continue
                target.add_links(x, [(y, sim)])
                report.links += 1


def _copy_lineage(source: Store, target: Store, ids: dict[int, int], report: MigrateReport) -> None:
    """Consolidations whose memories were copied, matched to one already in the target by
    any of their (result, source) rows, as an import matches them."""
    rows: dict[int, list[tuple[int, int, str]]] = {}
    for cid, result, src, prev in source.every_lineage():
        if result in ids and src in ids:
            rows.setdefault(cid, []).append((ids[result], ids[src], prev))
    with target.transaction():
        for fields in source.every_consolidation():
            cid = int(str(fields["id"]))
            if cid not in rows:
                continue
            owners = [o for r, s, _ in rows[cid] if (o := target.lineage_owner(r, s)) is not None]
            if owners:
                here = owners[0]
            else:
                detail = dict(fields["detail"])  # type: ignore[call-overload]
                if isinstance(detail.get("sources"), list):
                    detail["sources"] = [ids.get(i, i) for i in detail["sources"]]
                here = target.add_consolidation(
                    str(fields["project"]),
                    str(fields["provider"]),
                    None if fields["model"] is None else str(fields["model"]),
                    detail,
                    status=str(fields["status"]),
                    created_at=float(str(fields["created_at"])),
                    undone_at=None
                    if fields["undone_at"] is None
                    else float(str(fields["undone_at"])),
                )
                report.consolidations += 1
            for r, s, prev in rows[cid]:
                report.lineage += target.add_lineage(here, r, s, prev)
