"""Hard delete: what ``mcp-memory purge`` runs when a secret was stored and must go.

``forget`` is a soft delete (the memory stays, restorable) and aging only purges expired
tombstones; :func:`purge` removes the given memories for good, with everything that holds
their text in the database (see :mod:`mcp_memory.store.purge`), and then says what it could not
reach: backup files (SQLite copies found under the data directory, listed), other files there
that still contain the text (a spool job, a cached briefing, a log), files routing wrote a line
of it into, and exports, which it cannot know about.

Lineage: a consolidation copies its sources' text into its results. Purging a source leaves
the result alone and names it (it may repeat the text); purging a result puts its sources
back into the state they had before the merge (as ``consolidate --undo`` does) and names them.
``with_lineage`` purges every memory connected to the given ones by lineage instead.

Deliberately not an MCP tool: a model should not be able to destroy memories for good.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from mcp_memory.errors import NotFoundError, ValidationError
from mcp_memory.service import boilerplate
from mcp_memory.store.database import Store

SQLITE_MAGIC = b"SQLite format 3\x00"
MAX_SCAN_BYTES = 64 * 1024 * 1024  # larger files under the data directory are not read
SKIP_DIRS = ("models",)  # downloaded embedding models: large and never hold memories
NEEDLE_CHARS = 64  # of each purged text, looked for in the other files


@dataclass
class PurgeReport:
    purged: list[int]
    lineage_kept: list[int] = field(default_factory=list)  # made from or into them, kept
    lineage_note: str = ""
    restored: list[int] = field(default_factory=list)  # sources of a purged result, back
    wal_checkpointed: bool = False
    backups: list[str] = field(default_factory=list)
    other_files: list[str] = field(default_factory=list)  # still containing a purged text
    routed_files: list[str] = field(default_factory=list)
    unreachable: str = ""


def purge(
    store: Store,
    ids: Iterable[int],
    *,
    with_lineage: bool = False,
    data_dir: Path | None = None,
) -> PurgeReport:
    """Delete ``ids`` for good; see the module docstring. ``data_dir`` (default: the
    database's directory) is searched for backups and files that still hold the text."""
    wanted = sorted(set(ids))
    if not wanted:
        raise ValidationError("give at least one memory id to purge")
    found = store.get_many(wanted)
    missing = [i for i in wanted if i not in found]
    if missing:
        raise NotFoundError(
            f"no memory with id {', '.join(map(str, missing))}; nothing was purged "
            "(`mcp-memory recall` shows ids)"
        )
    doomed = set(wanted)
    if with_lineage:
        frontier = set(wanted)
        while frontier:
            rows = store.lineage_around(sorted(frontier))
            frontier = {i for _, r, s, _, _ in rows for i in (r, s)} - doomed
            doomed |= frontier
        found.update(store.get_many(sorted(doomed - set(found))))
    rows = store.lineage_around(sorted(doomed))
    kept = sorted({i for _, r, s, _, _ in rows for i in (r, s)} - doomed)
    restore = _sources_to_restore(store, rows, doomed)
    line_keys = [(m.project, k) for m in found.values() for k in set(boilerplate.keys(m.content))]
    texts = [m.content for m in found.values()]
    report = PurgeReport(sorted(doomed), lineage_kept=kept, restored=sorted(restore))
    report.routed_files = store.routed_paths(sorted(doomed))
    report.wal_checkpointed = store.erase(sorted(doomed), line_keys, restore)
    if kept:
        report.lineage_note = (
            f"memories {', '.join(map(str, kept))} were merged from or into the purged ones and "
            "may repeat their text; purge them too, or run again with --with-lineage"
        )
    home = data_dir if data_dir is not None else store.path.parent
    report.backups, report.other_files = _leftovers(home, store.path, texts)
    report.unreachable = _unreachable(report, home)
    return report


def _sources_to_restore(
    store: Store, rows: list[tuple[int, int, int, str, str]], doomed: set[int]
) -> dict[int, str]:
    """Sources (kept) of a purged result that no other applied merge still holds, with the
    state each had before the merge."""
    restore: dict[int, str] = {}
    for _, result, source, prev, status in rows:
        if result in doomed and source not in doomed and status == "applied":
            restore[source] = prev
    for source in list(restore):
        others = [
            r
            for _, r, s, _, st in store.lineage_around([source])
            if s == source and r not in doomed and st == "applied"
        ]
        if others or store.get(source).state != "superseded":
            del restore[source]
    return restore


def _leftovers(home: Path, db: Path, texts: list[str]) -> tuple[list[str], list[str]]:
    """SQLite files under ``home`` other than the database (backups), and the other files
    there that still contain the start of one of ``texts``."""
    own = {db.resolve(), *(Path(f"{db}{s}").resolve() for s in ("-wal", "-shm", "-journal"))}
    needles = [t[:NEEDLE_CHARS].encode("utf-8") for t in texts if t]
    backups: list[str] = []
    others: list[str] = []
    if not home.is_dir():
        return backups, others
    for path in sorted(home.rglob("*")):
        rel = path.relative_to(home)
        if rel.parts and rel.parts[0] in SKIP_DIRS or path.resolve() in own:
            continue
        try:
            if not path.is_file() or path.stat().st_size > MAX_SCAN_BYTES:
                continue
            data = path.read_bytes()
        except OSError:
            continue
        if data.startswith(SQLITE_MAGIC):
            backups.append(str(path))
        elif any(n in data for n in needles):
            others.append(str(path))
    return backups, others


def _unreachable(report: PurgeReport, home: Path) -> str:
    parts = []
    if report.backups:
        parts.append(
            f"{len(report.backups)} backup file(s) under {home} may still hold the text "
            "(listed); delete them, or restore one, purge there and back it up again"
        )
    else:
        parts.append(f"no backup files under {home}; backups kept elsewhere are not reached")
    if report.other_files:
        parts.append("other files there still contain the text (listed); delete them")
    if report.routed_files:
        parts.append(
            "routing wrote a line of it into files (listed); remove the line there "
            "(`memcycle unroute ID` before purging does it)"
        )
    parts.append(
        "exports (`memcycle export` files) cannot be known here; delete or edit any that "
        "hold the text"
    )
    if not report.wal_checkpointed:
        parts.append(
            "another process was reading the database, so old pages may stay in its -wal "
            "file until it ends; close sessions and run `mcp-memory purge` again"
        )
    return "; ".join(parts)
