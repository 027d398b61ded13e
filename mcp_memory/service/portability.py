"""Export, import and backup: memories out of one database and into another, and whole-file
copies taken while sessions write.

Export format (JSONL, UTF-8, one JSON object per line, ``kind`` says which):

- ``header`` (first line): ``format`` ``mcp-memory-export``, ``version`` 1, the database's
  ``model`` (id, dimension, pooling) and whether vectors follow;
- ``memory``: every column a user would miss (content, type, project, tags, source, session,
  state, protection, times, recall count, metadata, author, visibility), its ``id`` in the
  source database, its code ``anchors`` (path, part, fingerprint, commit; not this machine's
  file stat or last status: the importing machine checks them against its own checkout) and,
  with ``--vectors``, ``vector``: the float32 little-endian vector, base64;
- ``link``: two memory ids and their similarity;
- ``consolidation`` and ``lineage``: which memories a consolidation merged into which (so
  ``consolidate --undo`` keeps working after an import).

Import checks every line first and stores nothing when one is bad (one error names them all,
see :mod:`~mcp_memory.service.import_check`); texts, tags and projects are redacted exactly as
``remember`` redacts them; everything is stored in one transaction. It maps each source id to
the id it gets (an exact duplicate already present in the same project maps to the existing
memory and is not stored twice), so links and lineage follow; importing a file twice adds
nothing the second time (links, lineage and consolidations are matched by their ends).
Vectors are used as they are only when the file's model and dimension are the database's;
otherwise every text is re-embedded with the database's model (a file from another model
never mixes vector spaces). A vector that does not decode to a finite unit vector of the right
size is never stored: that memory is re-embedded.

Backup uses SQLite's online backup API (:mod:`mcp_memory.store.backup`): it copies a
consistent snapshot while other processes keep writing (WAL readers never block writers), then
opens the copy and runs ``PRAGMA integrity_check`` on it before reporting success.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from mcp_memory.errors import StoreError, ValidationError
from mcp_memory.service.import_check import (
    FORMAT,
    VERSION,
    Checked,
    CheckedMemory,
    check_records,
    parse_lines,
)
from mcp_memory.service.memories import MemoryService
from mcp_memory.service.types import Options
from mcp_memory.store.backup import copy_database
from mcp_memory.store.base import Memory
from mcp_memory.store.database import Store

BATCH = 64  # memories embedded per call on import


@dataclass
class ExportReport:
    path: str
    memories: int = 0
    links: int = 0
    consolidations: int = 0
    lineage: int = 0
    vectors: int = 0
    anchors: int = 0


@dataclass
class ImportReport:
    """What an import added, and what it skipped because it was here already."""

    path: str
    memories: int = 0  # stored now
    duplicates: int = 0  # already present (same project and text), or repeated in the file
    links: int = 0
    links_skipped: int = 0
    consolidations: int = 0
    consolidations_skipped: int = 0
    lineage: int = 0
    lineage_skipped: int = 0
    redacted: int = 0  # secrets removed from texts, tags and projects on the way in
    vectors_reused: int = 0
    reembedded: int = 0
    anchors: int = 0  # code anchors stored with the memories stored now
    model: str = ""  # the file's model
    ids: dict[int, int] = field(default_factory=dict)  # source id -> id here


# -- export ----------------------------------------------------------------------------------


def export(
    store: Store,
    out: TextIO,
    *,
    vectors: bool = False,
    path: str = "-",
    projects: Iterable[str] | None = None,
) -> ExportReport:
    """Write every memory (of ``projects``, default all) with its links and lineage to ``out``.

    Reads one consistent snapshot (a read transaction), so concurrent writers neither block it
    nor tear it.
    """
    report = ExportReport(path)
    scope = None if projects is None else sorted(set(projects))
    model = store.model
    with store.snapshot():  # deferred: a read snapshot, writers go on
        _write(
            out,
            {
                "kind": "header",
                "format": FORMAT,
                "version": VERSION,
                "exported_at": time.time(),
                "schema_version": store.schema_version,
                "model": None
                if model is None
                else {
                    "id": model.model_id,
                    "dimension": model.dimension,
                    "pooling": model.pooling,
                },
                "vectors": bool(vectors and model is not None),
            },
        )
        ids = set(store.memory_ids(scope))
        for chunk in _chunks(sorted(ids), 500):
            memories = store.get_many(chunk)
            blobs = store.vectors(chunk) if vectors and model is not None else {}
            anchors = store.anchors_of(chunk)
            for mid in chunk:
                record = _memory_record(memories[mid])
                if mid in anchors:
                    record["anchors"] = [_anchor_record(row) for row in anchors[mid]]
                    report.anchors += len(anchors[mid])
                if mid in blobs:
                    raw = np.ascontiguousarray(blobs[mid], dtype="<f4").tobytes()
                    record["vector"] = base64.b64encode(raw).decode("ascii")
                    report.vectors += 1
                _write(out, record)
                report.memories += 1
        for a, b, sim in store.every_link():
            if a in ids and b in ids:
                _write(out, {"kind": "link", "source": a, "target": b, "similarity": sim})
                report.links += 1
        used: set[int] = set()
        lineage = []
        for cid, rid, sid, prev in store.every_lineage():
            if rid in ids and sid in ids:
                used.add(cid)
                lineage.append(
                    {
                        "kind": "lineage",
                        "consolidation": cid,
                        "result": rid,
                        "source": sid,
                        "source_prev_state": prev,
                    }
                )
        for consolidation in store.every_consolidation():
            if consolidation["id"] in used:
                _write(out, {"kind": "consolidation", **consolidation})
                report.consolidations += 1
        for record in lineage:
            _write(out, record)
            report.lineage += 1
    return report


def _memory_record(m: Memory) -> dict[str, Any]:
    return {
        "kind": "memory",
        "id": m.id,
        "content": m.content,
        "content_hash": m.content_hash,
        "type": m.type,
        "project": m.project,
        "tags": list(m.tags),
        "source": m.source,
        "session_id": m.session_id,
        "state": m.state,
        "protected": m.protected,
        "created_at": m.created_at,
        "updated_at": m.updated_at,
        "last_recalled_at": m.last_recalled_at,
        "recall_count": m.recall_count,
        "reprieves": m.reprieves,
        "metadata": m.metadata,
        "author": m.author,
        "visibility": m.visibility,
    }


def _anchor_record(row: tuple[Any, ...]) -> dict[str, Any]:
    """One code anchor (``schema.ANCHOR_COLUMNS`` row) as the file carries it: the part of the
    file and its fingerprint then. Its stat and last status are this machine's and stay here:
    the importing machine checks the anchor against its own checkout."""
    _, _, path, _, kind, selector, fingerprint, commit, anchored_at, *_ = row
    return {
        "path": path,
        "kind": kind,
        "selector": selector,
        "fingerprint": fingerprint,
        "commit": commit,
        "anchored_at": anchored_at,
    }


def _write(out: TextIO, record: dict[str, Any]) -> None:
    out.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")


def _chunks(items: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# -- import ----------------------------------------------------------------------------------


def read_export(
    lines: Iterable[str], max_content_chars: int = Options().max_content_chars
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The header and the records of an export, every line checked (see
    :mod:`~mcp_memory.service.import_check`): one error names every bad line."""
    header, records, errors = parse_lines(lines)
    check_records(records, max_content_chars, errors)
    return header, list(records)


def import_records(
    service: MemoryService,
    header: dict[str, Any],
    records: list[dict[str, Any]],
    *,
    path: str = "-",
    progress: Callable[[int, int], None] | None = None,
) -> ImportReport:
    """Store the records of an export through ``service`` (see the module docstring).

    Every record is checked first and nothing is stored if one is bad; the texts that need a
    vector are embedded next (before the write, so a failure stores nothing either); then one
    transaction stores memories, links, consolidations and lineage. Idempotent: what is already
    here (a memory by project and text, a link by its two ends, lineage by result and source,
    a consolidation by its lineage) is mapped to, not stored again, and counted as skipped."""
    checked = check_records(records, service.options.max_content_chars)
    store = service.store
    raw_model = header.get("model")
    model: dict[str, Any] = raw_model if isinstance(raw_model, dict) else {}
    report = ImportReport(path, model=str(model.get("id") or ""))
    report.redacted = sum(m.redacted for m in checked.memories)
    same_model = (
        bool(header.get("vectors"))
        and model.get("id") == service.embedder.model_id
        and model.get("dimension") == service.embedder.dimension
    )
    todo: list[CheckedMemory] = []
    first: dict[tuple[str, str], int] = {}  # (project, hash) -> file id stored for it
    twins: list[CheckedMemory] = []  # repeats within the file
    for m in checked.memories:
        key = (m.memory.project, m.memory.content_hash)
        existing = store.find_hash(*key)
        if existing is not None:
            report.ids[m.id] = existing.id
            report.duplicates += 1
        elif key in first:
            twins.append(m)
        else:
            first[key] = m.id
            todo.append(m)
    vectors = _vectors(service, todo, same_model, report, progress)
    service.ensure_model()
    with store.transaction():
        for m, vector in zip(todo, vectors, strict=True):
            existing = store.find_hash(m.memory.project, m.memory.content_hash)
            if existing is not None:  # stored by someone else meanwhile
                report.ids[m.id] = existing.id
                report.duplicates += 1
                continue
            report.ids[m.id] = new_id = store.insert(m.memory, vector)
            report.memories += 1
            for anchor, at in m.anchors:
                store.add_anchors(new_id, [anchor], at=at)
            report.anchors += len(m.anchors)
        for m in twins:
            report.ids[m.id] = report.ids[first[m.memory.project, m.memory.content_hash]]
            report.duplicates += 1
        _import_relations(store, checked, report)
    return report


def _vectors(
    service: MemoryService,
    todo: list[CheckedMemory],
    same_model: bool,
    report: ImportReport,
    progress: Callable[[int, int], None] | None,
) -> list[np.ndarray]:
    """A vector for each of ``todo``: the file's when it fits this database's model, else a
    fresh one (embedded in batches of ``BATCH``)."""
    dimension = service.embedder.dimension
    vectors = [_vector(m.vector, dimension) if same_model else None for m in todo]
    missing = [n for n, v in enumerate(vectors) if v is None]
    report.vectors_reused = len(todo) - len(missing)
    for start in range(0, len(missing), BATCH):
        batch = missing[start : start + BATCH]
        fresh = service.embedder.embed([todo[n].memory.content for n in batch], "document")
        for n, vector in zip(batch, fresh, strict=True):
            vectors[n] = vector
        report.reembedded += len(batch)
        if progress is not None:
            progress(start + len(batch), len(missing))
    return [v for v in vectors if v is not None]


def _import_relations(store: Store, checked: Checked, report: ImportReport) -> None:
    """Links, consolidations and lineage of the file, mapped to the ids here (inside the
    import's transaction). What is already here is skipped and counted as skipped."""
    ids = report.ids
    for a, b, sim in checked.links:
        x, y = ids[a], ids[b]
        if x == y or store.link_exists(x, y) or store.link_exists(y, x):
            report.links_skipped += 1
            continue
        store.add_links(x, [(y, sim)])
        report.links += 1
    # A row whose result is its source in the file is the member an offline merge kept as the
    # statement (recorded so undo restores it); two file memories that became one memory here
    # (a duplicate) give r == s too, and that row is not recorded.
    rows: dict[int, list[tuple[int, int, str, bool]]] = {cid: [] for cid in checked.consolidations}
    for cid, result, source, prev in checked.lineage:
        rows[cid].append((ids[result], ids[source], prev, result == source))
    for cid, fields in checked.consolidations.items():
        pairs = [(r, s, p) for r, s, p, _ in rows[cid] if r != s]
        owners = [o for r, s, _ in pairs if (o := store.lineage_owner(r, s)) is not None]
        if not pairs or owners:  # nothing to record, or this merge is here already
            report.consolidations_skipped += 1
            here = owners[0] if owners else None
        else:
            detail = dict(fields["detail"])
            if isinstance(detail.get("sources"), list):  # the file's ids, as ids here
                detail["sources"] = [ids.get(i, i) for i in detail["sources"]]
            here = store.add_consolidation(
                fields["project"],
                fields["provider"],
                fields["model"],
                detail,
                status=fields["status"],
                created_at=fields["created_at"],
                undone_at=fields["undone_at"],
            )
            report.consolidations += 1
        for r, s, prev, kept in rows[cid]:
            if here is not None and (r != s or kept) and store.add_lineage(here, r, s, prev):
                report.lineage += 1
            else:
                report.lineage_skipped += 1


def _vector(text: object, dimension: int) -> np.ndarray | None:
    """A file's vector text when it decodes to ``dimension`` finite values of unit length."""
    if not isinstance(text, str):
        return None
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(raw) != 4 * dimension:
        return None
    vector = np.frombuffer(raw, dtype="<f4").astype(np.float32)
    if not np.all(np.isfinite(vector)) or abs(float(np.linalg.norm(vector)) - 1.0) > 1e-3:
        return None
    return vector


# -- backup ----------------------------------------------------------------------------------


@dataclass
class BackupReport:
    source: str
    destination: str
    bytes: int
    memories: int
    integrity: str
    seconds: float


def backup(source: Path, destination: Path, *, overwrite: bool = False) -> BackupReport:
    """Copy the database at ``source`` to ``destination`` with SQLite's online backup API.

    One step copies every page under one read transaction: a consistent snapshot that writers
    in other processes never wait for (WAL). The copy is written to a temporary file next to
    ``destination``, checked (``integrity_check``, memory count), made private (0600) and then
    renamed into place, so a failed or interrupted backup never leaves a half-written file
    under the destination's name.
    """
    started = time.perf_counter()
    if destination.exists() and not overwrite:
        raise ValidationError(f"{destination} exists; choose another name or pass --force")
    if destination.resolve() == source.resolve():
        raise ValidationError("the backup must not overwrite the database itself")
    if not source.is_file():
        raise StoreError(f"no database at {source}")
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(f".{destination.name}.partial-{os.getpid()}")
    partial.unlink(missing_ok=True)
    try:
        integrity, memories = copy_database(source, partial, destination)
        if integrity != "ok":
            raise StoreError(f"the backup copy failed integrity_check: {integrity}")
        os.chmod(partial, 0o600)
        os.replace(partial, destination)
    finally:
        partial.unlink(missing_ok=True)
    return BackupReport(
        str(source),
        str(destination),
        destination.stat().st_size,
        memories,
        integrity,
        round(time.perf_counter() - started, 3),
    )
