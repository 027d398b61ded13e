"""The whole-file check an import runs before it stores anything.

An export is read line by line (:func:`parse_lines`), then every record is checked
(:func:`check_records`): types, ranges (finite timestamps between 1970 and 2100, counts in
``0..2**31-1``, similarities in ``[-1, 1]``), known types, states and sources, text limits,
nesting depth, and that every id a link or lineage row names is a memory (or consolidation)
of the same file. Every bad line is collected and reported in one
:class:`~mcp_memory.errors.ValidationError` (``line 7: created_at must be ...``, the first 20
then ``and N more``), so a file is either stored whole or not at all and the user fixes every
problem in one go.

Checked memories are already what the service stores: text, tags and project go through the
service's own redaction (:func:`~mcp_memory.service.memories.redact_content`,
``redact_tags``, ``redact_project``), the one path ``remember`` uses too.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from mcp_memory.errors import ValidationError
from mcp_memory.redaction.redact import redact
from mcp_memory.service.classify import TYPES
from mcp_memory.service.memories import (
    MAX_TIME,
    MIN_TIME,
    SOURCES,
    new_memory,
    redact_content,
    redact_project,
    redact_tags,
    validate_content,
)
from mcp_memory.store.anchors import NewAnchor
from mcp_memory.store.base import NewMemory
from mcp_memory.store.schema import ANCHOR_KINDS, STATES, VISIBILITIES

FORMAT = "mcp-memory-export"
VERSION = 1
KINDS = ("memory", "link", "consolidation", "lineage")
MAX_LINE_CHARS = 8 * 1024 * 1024  # a line longer than this is not something we wrote
MAX_DEPTH = 32  # nesting of a record's metadata or detail
MAX_NAME_CHARS = 65_536  # projects, session ids, providers, models
MAX_OBJECT_CHARS = 256 * 1024  # metadata or detail, as JSON
MAX_COUNT = 2**31 - 1
MAX_ID = 2**63 - 1
MAX_ANCHORS = 256  # code anchors of one memory
SHOWN = 20  # bad lines named in the error; the rest are counted


class Record(dict[str, Any]):
    """One record of an export and the line of the file it came from (0: not from a file)."""

    line: int = 0


@dataclass
class CheckedMemory:
    id: int  # in the file
    memory: NewMemory  # what is stored: redacted, hash recomputed
    vector: object  # the file's vector text, if any (decoded later, see portability._vector)
    redacted: int  # secrets removed from its text, tags and project
    anchors: list[tuple[NewAnchor, float]] = field(default_factory=list)  # (anchor, when)


@dataclass
class Checked:
    """An export's records, every one of them valid."""

    memories: list[CheckedMemory] = field(default_factory=list)
    links: list[tuple[int, int, float]] = field(default_factory=list)
    consolidations: dict[int, dict[str, Any]] = field(default_factory=dict)
    lineage: list[tuple[int, int, int, str]] = field(default_factory=list)  # cid, result, src


class Bad(Exception):
    """One problem with one record (becomes a line of the import's error)."""


def parse_lines(lines: Iterable[str]) -> tuple[dict[str, Any], list[Record], list[str]]:
    """The header, the records and the problems of the lines that are not records.

    A file whose first line is not an export header is refused at once: it is not an export."""
    header: dict[str, Any] | None = None
    records: list[Record] = []
    errors: list[str] = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = _parse(line)
        except Bad as exc:
            if header is None:
                raise ValidationError(f"line {n}: {exc}; not a memcycle export") from None
            errors.append(f"line {n}: {exc}")
            continue
        if header is None:
            header = _header(record, n)
            continue
        if record.get("kind") not in KINDS:
            errors.append(f"line {n}: unknown kind {_show(record.get('kind'))}")
            continue
        rec = Record(record)
        rec.line = n
        records.append(rec)
    if header is None:
        raise ValidationError("the file is empty; nothing to import")
    return header, records, errors


def _parse(line: str) -> dict[str, Any]:
    if len(line) > MAX_LINE_CHARS:
        raise Bad(f"is {len(line)} characters long (the limit is {MAX_LINE_CHARS})")
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise Bad(f"is not JSON ({exc})") from None
    except RecursionError:
        raise Bad("is JSON nested too deeply to read (over ~1000 levels)") from None
    if not isinstance(record, dict):
        raise Bad("is not a JSON object")
    return record


def _header(record: dict[str, Any], n: int) -> dict[str, Any]:
    if record.get("kind") != "header" or record.get("format") != FORMAT:
        raise ValidationError(
            f"line {n} is not an {FORMAT} header; export the file with `memcycle export`"
        )
    if record.get("version") != VERSION:
        raise ValidationError(
            f"export version {_show(record.get('version'))} is not supported (this is "
            f"version {VERSION}); upgrade mcp-memory"
        )
    return record


def check_records(
    records: Sequence[dict[str, Any]], max_content_chars: int, errors: Sequence[str] = ()
) -> Checked:
    """Every record checked (see the module docstring); raises one ValidationError naming
    every bad line (``errors``: problems already found while parsing) or returns them all."""
    problems = list(errors)
    out = Checked()
    where = [_where(r, i) for i, r in enumerate(records)]
    memory_ids = _ids(records, "memory")
    consolidation_ids = _ids(records, "consolidation")
    seen: dict[tuple[str, int], str] = {}
    for r, at in zip(records, where, strict=True):
        try:
            kind = r.get("kind")
            if kind not in KINDS:
                raise Bad(f"unknown kind {_show(kind)}")
            if kind in ("memory", "consolidation"):
                rid = _id(r.get("id"), "id")
                if (kind, rid) in seen:
                    raise Bad(f"{kind} id {rid} appears twice (first at {seen[kind, rid]})")
                seen[kind, rid] = at
            if kind == "memory":
                out.memories.append(_memory(r, max_content_chars))
            elif kind == "link":
                out.links.append(_link(r, memory_ids))
            elif kind == "consolidation":
                out.consolidations[int(r["id"])] = _consolidation(r)
            else:
                out.lineage.append(_lineage(r, memory_ids, consolidation_ids))
        except (Bad, ValidationError) as exc:
            problems.append(f"{at}: {exc}")
    if problems:
        _fail(problems)
    return out


def _fail(problems: list[str]) -> None:
    n = len(problems)
    shown = problems[:SHOWN]
    if n > SHOWN:
        shown.append(f"and {n - SHOWN} more")
    raise ValidationError(
        f"{n} bad line{'s' if n != 1 else ''} in the export; nothing was imported. Fix "
        "them (or export again with `memcycle export`) and import again:\n  " + "\n  ".join(shown)
    )


def _where(r: dict[str, Any], index: int) -> str:
    line = getattr(r, "line", 0)
    return f"line {line}" if line else f"record {index + 1}"


def _ids(records: Sequence[dict[str, Any]], kind: str) -> set[int]:
    """The ids of ``kind`` records that have a usable one (a bad record is reported on its own
    line; what refers to it is not reported again)."""
    return {
        r["id"]
        for r in records
        if r.get("kind") == kind and isinstance(r.get("id"), int) and not isinstance(r["id"], bool)
    }


# -- one record per kind ---------------------------------------------------------------------


def _memory(r: dict[str, Any], max_content_chars: int) -> CheckedMemory:
    text, secrets = redact_content(validate_content(r.get("content"), max_content_chars))
    project, in_project = redact_project(_name(r.get("project"), "project"))
    raw_tags = r.get("tags")
    if raw_tags is not None and not isinstance(raw_tags, list):
        raise Bad("tags must be a list of strings")
    tags, in_tags = redact_tags(raw_tags)
    kind = _choice(r.get("type"), TYPES, "type")
    source = _choice(r.get("source", "import"), SOURCES, "source")
    state = _choice(r.get("state", "buffer"), STATES, "state")
    session = r.get("session_id")
    if session is not None:
        session = _name(session, "session_id", empty=True)
    protected = r.get("protected", False)
    if not isinstance(protected, bool):
        raise Bad(f"protected must be true or false, not {_show(protected)}")
    now = time.time()
    memory = new_memory(
        text,
        project=project,
        type=kind,
        tags=tags,
        source=source,
        session_id=session,
        protected=protected,
        state=state,
        metadata=_object(r.get("metadata"), "metadata"),
        created_at=_time(r.get("created_at", now), "created_at"),
        updated_at=_time(r.get("updated_at", now), "updated_at"),
        last_recalled_at=_time(r.get("last_recalled_at"), "last_recalled_at", optional=True),
        recall_count=_count(r.get("recall_count", 0), "recall_count"),
        reprieves=_count(r.get("reprieves", 0), "reprieves"),
        visibility=_choice(r.get("visibility", "team"), VISIBILITIES, "visibility"),
    )
    return CheckedMemory(
        int(r["id"]),
        memory,
        r.get("vector"),
        secrets + in_project + in_tags,
        _anchors(r.get("anchors"), now),
    )


def _anchors(value: object, now: float) -> list[tuple[NewAnchor, float]]:
    """A memory's code anchors: repository-relative paths only (an anchor names a file of the
    project's checkout; an absolute path or one that climbs out with ``..`` is refused)."""
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_ANCHORS:
        raise Bad(f"anchors must be a list of at most {MAX_ANCHORS} objects")
    out = []
    for a in value:
        if not isinstance(a, dict):
            raise Bad(f"an anchor must be an object, not {_show(a)}")
        path = a.get("path")
        if (
            not isinstance(path, str)
            or not path
            or len(path) > 1024
            or "\0" in path
            or PurePosixPath(path).is_absolute()
            or ".." in PurePosixPath(path).parts
        ):
            raise Bad(f"an anchor's path must be relative to the repository, not {_show(path)}")
        kind = _choice(a.get("kind"), ANCHOR_KINDS, "an anchor's kind")
        selector, fingerprint = a.get("selector", ""), a.get("fingerprint")
        if not isinstance(selector, str) or len(selector) > 1024:
            raise Bad(f"an anchor's selector must be a string, not {_show(selector)}")
        if not isinstance(fingerprint, str) or not 0 < len(fingerprint) <= 128:
            raise Bad(f"an anchor's fingerprint must be a string, not {_show(fingerprint)}")
        commit = a.get("commit")
        if commit is not None and (not isinstance(commit, str) or len(commit) > 64):
            raise Bad(f"an anchor's commit must be a string, not {_show(commit)}")
        at = _time(a.get("anchored_at", now), "an anchor's anchored_at")
        anchor: NewAnchor = (path, kind, selector, fingerprint, commit, None, None)
        out.append((anchor, now if at is None else at))
    return out


def _link(r: dict[str, Any], memories: set[int]) -> tuple[int, int, float]:
    a, b = _ref(r.get("source"), "source", memories), _ref(r.get("target"), "target", memories)
    if a == b:
        raise Bad(f"a link from memory {a} to itself")
    sim = r.get("similarity")
    if (
        isinstance(sim, bool)
        or not isinstance(sim, int | float)
        or not math.isfinite(sim)
        or not -1.0 <= sim <= 1.0
    ):
        raise Bad(f"similarity must be a number between -1 and 1, not {_show(sim)}")
    return a, b, float(sim)


def _consolidation(r: dict[str, Any]) -> dict[str, Any]:
    project, _ = redact_project(_name(r.get("project"), "project"))
    provider = r.get("provider") or "import"
    model = r.get("model")
    return {
        "project": project,
        "provider": _name(provider, "provider"),
        "model": None if model is None else _name(model, "model", empty=True),
        "status": _choice(r.get("status"), ("applied", "undone"), "status"),
        "created_at": _time(r.get("created_at", time.time()), "created_at"),
        "undone_at": _time(r.get("undone_at"), "undone_at", optional=True),
        "detail": _object(r.get("detail"), "detail"),
    }


def _lineage(
    r: dict[str, Any], memories: set[int], consolidations: set[int]
) -> tuple[int, int, int, str]:
    cid = r.get("consolidation")
    if not isinstance(cid, int) or isinstance(cid, bool) or cid not in consolidations:
        raise Bad(f"consolidation {_show(cid)} is not a consolidation in this file")
    result = _ref(r.get("result"), "result", memories)
    source = _ref(r.get("source"), "source", memories)
    # result == source is the member an offline merge kept as the cluster's statement
    # (lifecycle/consolidate.py): a real lineage row, which undo reads to restore its state.
    return cid, result, source, _choice(r.get("source_prev_state"), STATES, "source_prev_state")


# -- fields ------------------------------------------------------------------------------------


def _id(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_ID:
        raise Bad(f"{name} must be a positive integer below 2**63, not {_show(value)}")
    return value


def _ref(value: object, name: str, known: set[int]) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value not in known:
        raise Bad(f"{name} {_show(value)} is not a memory in this file")
    return value


def _choice(value: object, allowed: Sequence[str], name: str) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise Bad(f"{name} must be one of {', '.join(allowed)}, not {_show(value)}")
    return value


def _name(value: object, name: str, *, empty: bool = False) -> str:
    """A project, session id, provider or model: text of at most ``MAX_NAME_CHARS`` (any
    characters: what ``remember`` stored must import again)."""
    if not isinstance(value, str) or not (empty or value.strip()) or len(value) > MAX_NAME_CHARS:
        raise Bad(
            f"{name} must be text of {0 if empty else 1}-{MAX_NAME_CHARS} characters, "
            f"not {_show(value)}"
        )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise Bad(f"{name} contains invalid Unicode (lone surrogates)") from None
    return value


def _time(value: object, name: str, *, optional: bool = False) -> float | None:
    if value is None and optional:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not MIN_TIME <= value <= MAX_TIME
    ):
        raise Bad(
            f"{name} must be a finite timestamp between 1970 and 2100 (seconds since "
            f"1970-01-01 UTC), not {_show(value)}"
        )
    return float(value)


def _count(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNT:
        raise Bad(f"{name} must be a whole number from 0 to {MAX_COUNT}, not {_show(value)}")
    return value


def _object(value: object, name: str) -> dict[str, object]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Bad(f"{name} must be a JSON object, not {_show(value)}")
    if _depth(value) > MAX_DEPTH:
        raise Bad(f"{name} is nested more than {MAX_DEPTH} levels deep (the limit)")
    size = len(json.dumps(value))
    if size > MAX_OBJECT_CHARS:
        raise Bad(f"{name} is {size} characters as JSON; the limit is {MAX_OBJECT_CHARS}")
    return value


def _depth(value: object) -> int:
    """How deeply lists and objects nest in ``value`` (iterative: no recursion limit)."""
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Iterable[object] = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        if depth <= MAX_DEPTH:
            stack.extend((child, depth + 1) for child in children)
    return deepest


def _show(value: object) -> str:
    """A value for an error message: clipped (a line can be megabytes) and redacted (an
    error is printed and logged; a secret in a bad field must not be)."""
    text = repr(value)
    text = text if len(text) <= 200 else text[:200]
    text = redact(text).text
    return text if len(text) <= 60 else text[:57] + "..."
