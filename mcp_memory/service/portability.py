"""Export, import and backup: memories out of one database and into another, and whole-file
copies taken while sessions write.

Export format (JSONL, UTF-8, one JSON object per line, ``kind`` says which):

- ``header`` (first line): ``format`` ``mcp-memory-export``, ``version`` 1, the database's
  ``model`` (id, dimension, pooling) and whether vectors follow;
- ``memory``: every column a user would miss (content, type, project, tags, source, session,
  state, protection, times, recall count, metadata), its ``id`` in the source database and,
  with ``--vectors``, ``vector``: the float32 little-endian vector, base64;
- ``link``: two memory ids and their similarity;
- ``consolidation`` and ``lineage``: which memories a consolidation merged into which (so
  ``consolidate --undo`` keeps working after an import).

Import maps each source id to the id it gets (an exact duplicate already present in the same
project maps to the existing memory and is not stored twice), so links and lineage follow.
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
from mcp_memory.service.classify import TYPES
from mcp_memory.service.memories import MemoryService, new_memory
from mcp_memory.service.validation import SOURCES, validate_content, validate_tags
from mcp_memory.store.backup import copy_database
from mcp_memory.store.base import Memory
from mcp_memory.store.database import Store
from mcp_memory.store.schema import STATES

FORMAT = "mcp-memory-export"
VERSION = 1
BATCH = 64  # memories embedded per call on import
MAX_LINE_CHARS = 8 * 1024 * 1024  # a line longer than this is not something we wrote


@dataclass
class ExportReport:
    path: str
    memories: int = 0
    links: int = 0
    consolidations: int = 0
    lineage: int = 0
    vectors: int = 0


@dataclass
class ImportReport:
    path: str
    memories: int = 0  # stored now
    duplicates: int = 0  # already present (same project and text)
    links: int = 0
    consolidations: int = 0
    lineage: int = 0
    vectors_reused: int = 0
    reembedded: int = 0
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
            for mid in chunk:
                record = _memory_record(memories[mid])
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
    }


def _write(out: TextIO, record: dict[str, Any]) -> None:
    out.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")


def _chunks(items: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# -- import ----------------------------------------------------------------------------------


def read_export(lines: Iterable[str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The header and the records of an export, validated line by line (errors name the line)."""
    header: dict[str, Any] | None = None
    records: list[dict[str, Any]] = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if len(line) > MAX_LINE_CHARS:
            raise ValidationError(f"line {n} is {len(line)} characters; not an mcp-memory export")
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValidationError(
                f"line {n} is not JSON ({exc}); not an mcp-memory export"
            ) from None
        if not isinstance(record, dict):
            raise ValidationError(f"line {n} is not a JSON object; not an mcp-memory export")
        if header is None:
            if record.get("kind") != "header" or record.get("format") != FORMAT:
                raise ValidationError(
                    f"line {n} is not an {FORMAT} header; export the file with `memcycle export`"
                )
            if record.get("version") != VERSION:
                raise ValidationError(
                    f"export version {record.get('version')!r} is not supported (this is "
                    f"version {VERSION}); upgrade memcycle"
                )
            header = record
            continue
        if record.get("kind") not in ("memory", "link", "consolidation", "lineage"):
            raise ValidationError(f"line {n} has unknown kind {record.get('kind')!r}")
        records.append(record)
    if header is None:
        raise ValidationError("the file is empty; nothing to import")
    return header, records


def import_records(
    service: MemoryService,
    header: dict[str, Any],
    records: list[dict[str, Any]],
    *,
    path: str = "-",
    progress: Callable[[int, int], None] | None = None,
) -> ImportReport:
    """Store the records of an export through ``service`` (see the module docstring)."""
    store = service.store
    model = header.get("model") or {}
    report = ImportReport(path, model=str(model.get("id") or ""))
    same_model = (
        bool(header.get("vectors"))
        and model.get("id") == service.embedder.model_id
        and model.get("dimension") == service.embedder.dimension
    )
    memories = [_check_memory(r, service) for r in records if r["kind"] == "memory"]
    todo: list[tuple[dict[str, Any], np.ndarray | None]] = []
    for r in memories:
        existing = store.find_hash(r["memory"].project, r["memory"].content_hash)
        if existing is not None:
            report.ids[r["id"]] = existing.id
            report.duplicates += 1
            continue
        todo.append((r, _vector(r, service.embedder.dimension) if same_model else None))
    done = 0
    for start in range(0, len(todo), BATCH):
        batch = todo[start : start + BATCH]
        missing = [n for n, (_, v) in enumerate(batch) if v is None]
        if missing:
            fresh = service.embedder.embed(
                [batch[n][0]["memory"].content for n in missing], "document"
            )
            for n, vector in zip(missing, fresh, strict=True):
                batch[n] = (batch[n][0], vector)
            report.reembedded += len(missing)
        report.vectors_reused += len(batch) - len(missing)
        service.ensure_model()
        with store.transaction():
            for r, vector in batch:
                existing = store.find_hash(r["memory"].project, r["memory"].content_hash)
                if existing is not None:  # stored by someone else meanwhile
                    report.ids[r["id"]] = existing.id
                    report.duplicates += 1
                    continue
                mid = store.insert(r["memory"], vector)
                report.ids[r["id"]] = mid
                report.memories += 1
        done += len(batch)
        if progress is not None:
            progress(done, len(todo))
    _import_relations(store, records, report)
    return report


def _import_relations(store: Store, records: list[dict[str, Any]], report: ImportReport) -> None:
    ids = report.ids
    with store.transaction():
        links = [
            (ids[r["source"]], ids[r["target"]], float(r["similarity"]))
            for r in records
            if r["kind"] == "link" and r.get("source") in ids and r.get("target") in ids
        ]
        for a, b, sim in links:
            if a != b and not store.link_exists(a, b):
                store.add_links(a, [(b, sim)])
                report.links += 1
        consolidations: dict[int, int] = {}
        for r in records:
            if r["kind"] != "consolidation" or not isinstance(r.get("id"), int):
                continue
            if r.get("status") not in ("applied", "undone"):
                raise ValidationError(f"consolidation {r['id']} has unknown status")
            consolidations[r["id"]] = store.add_consolidation(
                str(r.get("project", "")),
                str(r.get("provider") or "import"),
                r.get("model"),
                r.get("detail") or {},
                status=r["status"],
                created_at=float(r.get("created_at") or time.time()),
                undone_at=r.get("undone_at"),
            )
            report.consolidations += 1
        for r in records:
            if r["kind"] != "lineage":
                continue
            cid, rid, sid = r.get("consolidation"), r.get("result"), r.get("source")
            prev = r.get("source_prev_state")
            if cid in consolidations and rid in ids and sid in ids and prev in STATES:
                store.add_lineage(consolidations[cid], ids[rid], ids[sid], prev)
                report.lineage += 1


def _check_memory(r: dict[str, Any], service: MemoryService) -> dict[str, Any]:
    """A memory record checked field by field, as ``{"id": its id in the file, "memory": the
    NewMemory to store, "vector": the file's vector text}``: the text is re-validated and
    its hash recomputed (by :func:`new_memory`), so a hand-edited file cannot plant a wrong
    hash."""
    where = f"memory {r.get('id')!r}"
    if not isinstance(r.get("id"), int):
        raise ValidationError(f"{where}: id must be an integer")
    content = validate_content(r.get("content"), service.options.max_content_chars)
    project = r.get("project")
    if not isinstance(project, str) or not project:
        raise ValidationError(f"{where}: project must be a non-empty string")
    tags = validate_tags(r.get("tags") or ())
    kind, source, state = r.get("type"), r.get("source", "import"), r.get("state", "buffer")
    if kind not in TYPES or source not in SOURCES or state not in STATES:
        raise ValidationError(f"{where}: type, source or state is not one mcp-memory knows")
    session = r.get("session_id")
    metadata = r.get("metadata") or {}
    if (session is not None and not isinstance(session, str)) or not isinstance(metadata, dict):
        raise ValidationError(f"{where}: session_id must be text and metadata an object")

    def number(name: str, default: float | None) -> float | None:
        value = r.get(name, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
            raise ValidationError(f"{where}: {name} must be a non-negative number")
        return float(value)

    now = time.time()
    memory = new_memory(
        content,
        project=project,
        type=kind,
        tags=tags,
        source=source,
        session_id=session,
        protected=bool(r.get("protected")),
        state=state,
        metadata=metadata,
        created_at=number("created_at", now),
        updated_at=number("updated_at", now),
        last_recalled_at=number("last_recalled_at", None),
        recall_count=int(number("recall_count", 0) or 0),
        reprieves=int(number("reprieves", 0) or 0),
    )
    return {"id": r["id"], "memory": memory, "vector": r.get("vector")}


def _vector(r: dict[str, Any], dimension: int) -> np.ndarray | None:
    """The record's vector when it decodes to ``dimension`` finite values of unit length."""
    text = r.get("vector")
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
