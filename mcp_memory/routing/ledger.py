"""The route ledger: every write routing makes to a file, where each memory went, and undo.

A write is a ``route_writes`` row: the file, the sha256 of its bytes before and after, and a
backup of the old bytes under the data directory (``backups/routes/<sha256>.md``, shared by
equal contents). ``undo_file`` reverts the newest applied write of a file: it restores the backup
(or deletes a file routing created, and the directories it created for it), and refuses when the
file's bytes are no longer what that write left, unless forced, because undoing would then lose
someone's edits. Writes of one file therefore undo in reverse order, like a stack.

Where a memory went is a ``routes`` row (``written`` into a block, ``present`` when the file
already said it, ``undone``) mirrored in the memory's metadata: ``routed_to`` (the file),
``routed_section``, ``routed_as`` and ``route_id``. ``undo_memory`` takes one memory's bullet out
of its block, the section's own or one below the line it extends (the block goes when it
empties; a file holding only what routing wrote goes too);
that is itself a write (kind ``unroute``), so ``undo_file`` can revert it in turn.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from mcp_memory.errors import ValidationError
from mcp_memory.projects import GLOBAL
from mcp_memory.routing import managed
from mcp_memory.routing.targets import Document, Target, check_path, load, project_root, sha256
from mcp_memory.store.database import Store

log = logging.getLogger("mcp_memory")


@dataclass(frozen=True)
class UndoResult:
    path: str
    target: str
    memory_ids: list[int]
    restored: str  # "backup" | "deleted" | "line removed" | "record only"
    write_id: int | None
    message: str


class RouteLedger:
    def __init__(self, store: Store, *, backup_dir: Path, claude_home: Path) -> None:
        self.store = store
        self.backup_dir = backup_dir
        self.claude_home = claude_home

    def write(self, doc: Document, new_text: str, kind: str) -> int:
        """Back up, replace atomically, record; returns the route_writes id."""
        target = doc.target
        check_path(target.root, target.path)  # again, just before writing
        data = new_text.encode("utf-8")
        backup = None
        if doc.exists:
            backup = str(managed.save_backup(self.backup_dir, doc.text.encode("utf-8")))
        created_dirs: list[str] = []
        if not doc.exists:
            target.root.mkdir(parents=True, exist_ok=True, mode=0o700)  # ~/.claude on a new box
            parent = target.path.parent
            missing = []
            while not parent.exists():
                missing.append(parent)
                parent = parent.parent
            for directory in reversed(missing):
                check_path(target.root, directory, directory=True)
                directory.mkdir()
                created_dirs.append(str(directory))
        after: str | None = sha256(data)
        if data:
            managed.replace_file(target.path, data, expected=doc.sha256, mode=doc.mode)
        else:  # everything in it was ours: remove the file instead of leaving it empty
            managed.remove_file(target.path, expected=doc.sha256 or "")
            after = None
        return self.store.add_route_write(
            path=str(target.path),
            label=target.label,
            root=str(target.root),
            kind=kind,
            before_hash=doc.sha256,
            after_hash=after,
            backup=backup,
            created_dirs=created_dirs,
        )

    def record(
        self,
        memory_id: int,
        where: tuple[str, str, str],  # (path, label, section)
        status: str,
        similarity: float,
        write_id: int | None,
    ) -> None:
        """Where a memory went (``written``) or was found (``present``), in table and metadata."""
        path, label, section = where
        rid = self.store.add_route(
            memory_id,
            path=path,
            label=label,
            section=section,
            status=status,
            similarity=similarity,
            write_id=write_id,
        )
        self._mark(memory_id, path, section, status, rid)

    def _mark(self, memory_id: int, path: str | None, section: str, status: str, rid: int) -> None:
        meta = dict(self.store.get(memory_id).metadata)
        for key in ("routed_to", "routed_section", "routed_as", "route_id"):
            meta.pop(key, None)
        if path is not None:
            meta.update(routed_to=path, routed_section=section, routed_as=status, route_id=rid)
        self.store.update_memory(memory_id, metadata=meta)

    # -- undo --------------------------------------------------------------------------------

    def undo_memory(self, memory_id: int, *, force: bool = False) -> UndoResult:
        """Take one memory back out: its bullet leaves the block (the block goes when empty)."""
        memory = self.store.get(memory_id)
        route = self.store.open_route(memory_id)
        if route is None:
            raise ValidationError(f"memory {memory_id} has not been routed; nothing to undo")
        rid, path, label, section = route.id, route.path, route.label, route.section
        if route.status == "present":
            with self.store.transaction():
                self._close_route(rid, None)
            return UndoResult(
                path,
                label,
                [memory_id],
                "record only",
                None,
                f"memory {memory_id} is no longer marked as present in {label}",
            )
        root = self.claude_home if memory.project == GLOBAL else project_root(memory.project)
        scope = "global" if memory.project == GLOBAL else "project"
        target = Target(check_path(root, Path(path)), label, scope, root.resolve())
        doc = load(target)
        block = next((b for s in doc.sections for b in s.blocks if memory_id in b.ids), None)
        if block is None:
            if not force:
                raise ValidationError(
                    f"memory {memory_id} is no longer in {label} (its block was edited or "
                    "removed); nothing was changed. Undo with force to drop the record only"
                )
            with self.store.transaction():
                self._close_route(rid, None)
            return UndoResult(
                path,
                label,
                [memory_id],
                "record only",
                None,
                f"memory {memory_id}'s route record dropped; {label} untouched",
            )
        keep = [(i, line) for i, line in zip(block.ids, block.lines, strict=True) if i != memory_id]
        if keep:
            body = managed.block_body(
                block.section, [i for i, _ in keep], [line for _, line in keep], doc.eol
            )
            new_text = managed.replace_block(doc.text, block, body, doc.eol)
        else:
            new_text = managed.remove_block(doc.text, block, doc.eol)
            if new_text == f"# {managed.NEW_FILE_HEADING}{doc.eol}":
                new_text = ""  # only the heading routing created is left: remove the file
        with self.store.transaction():
            write_id = self.write(doc, new_text, "unroute")
            self._close_route(rid, write_id)
        return UndoResult(
            path,
            label,
            [memory_id],
            "line removed",
            write_id,
            f"memory {memory_id} removed from {label} ({section})",
        )

    def undo_file(self, path: str, *, project: str | None, force: bool = False) -> UndoResult:
        """Revert the last write routing made to a file, restoring its backup exactly."""
        if "\x00" in path:
            raise ValidationError(
                "undo_file contains a NUL byte, which no file path can hold; pass the path of "
                "a routed file as plain text (e.g. CLAUDE.md)"
            )
        full = self._resolve(path, project)
        last = self.store.last_applied_write(str(full))
        if last is None:
            raise ValidationError(f"no routing to undo for {full}")
        wid, label, before = last.id, last.label, last.before_hash
        check_path(Path(last.root), full)
        current = managed.read_bytes(full)
        now_hash = None if current is None else sha256(current)
        if now_hash != last.after_hash and not force:
            raise ValidationError(
                f"{label} changed since mcp-memory wrote it (write {wid}); undoing would lose "
                "those edits. Edit the block by hand, or undo with force to restore the backup "
                "anyway"
            )
        with self.store.transaction():
            if before is None:
                if current is not None:
                    managed.remove_file(full, expected=str(now_hash))
                for directory in reversed(last.created_dirs):
                    try:
                        os.rmdir(directory)
                    except OSError:
                        break  # not empty: something else lives there now
                restored = "deleted"
            else:
                data = managed.load_backup(Path(str(last.backup)), before)
                mode = None if current is None else os.stat(full).st_mode & 0o7777
                managed.replace_file(full, data, expected=now_hash, mode=mode)
                restored = "backup"
            self.store.mark_write_undone(wid)
            ids = self._reopen_routes(wid, last.kind)
        return UndoResult(
            str(full),
            label,
            ids,
            restored,
            wid,
            f"{label} restored to its content before write {wid}",
        )

    def _resolve(self, path: str, project: str | None) -> Path:
        home = self.claude_home.resolve()
        if path == "~/.claude" or path.startswith("~/.claude/"):
            return home / path.removeprefix("~/.claude").lstrip("/")
        given = Path(path).expanduser()
        if given.is_absolute():
            root = home if given.is_relative_to(home) else None
            if root is None and project is not None and project != GLOBAL:
                root = project_root(project)
            if root is None:
                raise ValidationError(f"{path} is not inside the project or ~/.claude")
            return check_path(root, given)
        if project is None or project == GLOBAL:
            raise ValidationError(
                f"{path} is relative: name it as ~/.claude/... or run in a project"
            )
        return check_path(project_root(project), given)

    def _close_route(self, rid: int, unwrite_id: int | None) -> None:
        memory_id = self.store.close_route(rid, unwrite_id)
        self._mark(memory_id, None, "", "", rid)

    def _reopen_routes(self, write_id: int, kind: str) -> list[int]:
        """After a file undo: routes it wrote are undone; routes it removed come back."""
        if kind == "route":
            written = self.store.routes_written_by(write_id)
            for route in written:
                self._close_route(route.id, None)
            return [route.memory_id for route in written]
        closed = self.store.routes_closed_by(write_id)
        for route in closed:
            self.store.reopen_route(route.id)
            self._mark(route.memory_id, route.path, route.section, "written", route.id)
        return [route.memory_id for route in closed]


def put_back(doc: Document) -> None:
    """Best effort after a failed multi-file apply: restore what an earlier step wrote."""
    path = doc.target.path
    try:
        current = managed.read_bytes(path)
        now = None if current is None else sha256(current)
        if doc.exists:
            managed.replace_file(path, doc.text.encode("utf-8"), expected=now, mode=doc.mode)
        elif now is not None:
            managed.remove_file(path, expected=now)
    except OSError as exc:  # pragma: no cover - reported, the original error is raised
        log.error("could not restore %s after a failed routing: %s", path, exc)
