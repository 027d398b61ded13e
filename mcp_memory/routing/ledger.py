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
of its block (the block goes when it empties; a file holding only what routing wrote goes too);
that is itself a write (kind ``unroute``), so ``undo_file`` can revert it in turn.
"""

from __future__ import annotations

import json
import logging
import os
import time
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
        rows = self.store.execute(
            "INSERT INTO route_writes (path, label, root, kind, created_at, before_hash, "
            "after_hash, backup, created_dirs) VALUES (?,?,?,?,?,?,?,?,?) RETURNING id",
            (
                str(target.path),
                target.label,
                str(target.root),
                kind,
                time.time(),
                doc.sha256,
                after,
                backup,
                json.dumps(created_dirs),
            ),
        )
        return int(rows[0][0])

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
        rows = self.store.execute(
            "INSERT INTO routes (memory_id, path, label, section, status, similarity, write_id, "
            "created_at) VALUES (?,?,?,?,?,?,?,?) RETURNING id",
            (memory_id, path, label, section, status, similarity, write_id, time.time()),
        )
        self._mark(memory_id, path, section, status, int(rows[0][0]))

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
        rows = self.store.execute(
            "SELECT id, path, label, section, status FROM routes WHERE memory_id = ? "
            "AND status IN ('written', 'present') ORDER BY id DESC LIMIT 1",
            (memory_id,),
        )
        if not rows:
            raise ValidationError(f"memory {memory_id} has not been routed; nothing to undo")
        rid, path, label, section, status = rows[0]
        if status == "present":
            with self.store.transaction():
                self._close_route(int(rid), None)
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
        hit = next(
            (s for s in doc.sections if s.block is not None and memory_id in s.block.ids), None
        )
        if hit is None or hit.block is None:
            if not force:
                raise ValidationError(
                    f"memory {memory_id} is no longer in {label} (its block was edited or "
                    "removed); nothing was changed. Undo with force to drop the record only"
                )
            with self.store.transaction():
                self._close_route(int(rid), None)
            return UndoResult(
                path,
                label,
                [memory_id],
                "record only",
                None,
                f"memory {memory_id}'s route record dropped; {label} untouched",
            )
        block = hit.block
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
            self._close_route(int(rid), write_id)
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
        full = self._resolve(path, project)
        rows = self.store.execute(
            "SELECT id, label, root, kind, before_hash, after_hash, backup, created_dirs "
            "FROM route_writes WHERE path = ? AND status = 'applied' ORDER BY id DESC LIMIT 1",
            (str(full),),
        )
        if not rows:
            raise ValidationError(f"no routing to undo for {full}")
        wid, label, root, kind, before, after, backup, dirs = rows[0]
        check_path(Path(root), full)
        current = managed.read_bytes(full)
        now_hash = None if current is None else sha256(current)
        if now_hash != after and not force:
            raise ValidationError(
                f"{label} changed since mcp-memory wrote it (write {wid}); undoing would lose "
                "those edits. Edit the block by hand, or undo with force to restore the backup "
                "anyway"
            )
        with self.store.transaction():
            if before is None:
                if current is not None:
                    managed.remove_file(full, expected=str(now_hash))
                for directory in reversed(json.loads(dirs)):
                    try:
                        os.rmdir(directory)
                    except OSError:
                        break  # not empty: something else lives there now
                restored = "deleted"
            else:
                data = managed.load_backup(Path(backup), str(before))
                mode = None if current is None else os.stat(full).st_mode & 0o7777
                managed.replace_file(full, data, expected=now_hash, mode=mode)
                restored = "backup"
            self.store.execute(
                "UPDATE route_writes SET status = 'undone', undone_at = ? WHERE id = ?",
                (time.time(), wid),
            )
            ids = self._reopen_routes(int(wid), str(kind))
        return UndoResult(
            str(full),
            str(label),
            ids,
            restored,
            int(wid),
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
        memory_id = self.store.execute("SELECT memory_id FROM routes WHERE id = ?", (rid,))[0][0]
        self.store.execute(
            "UPDATE routes SET status = 'undone', undone_at = ?, unwrite_id = ? WHERE id = ?",
            (time.time(), unwrite_id, rid),
        )
        self._mark(int(memory_id), None, "", "", rid)

    def _reopen_routes(self, write_id: int, kind: str) -> list[int]:
        """After a file undo: routes it wrote are undone; routes it removed come back."""
        if kind == "route":
            rows = self.store.execute(
                "SELECT id, memory_id FROM routes WHERE write_id = ? AND status = 'written'",
                (write_id,),
            )
            for rid, _ in rows:
                self._close_route(int(rid), None)
            return [int(mid) for _, mid in rows]
        rows = self.store.execute(
            "SELECT id, memory_id, path, section FROM routes WHERE unwrite_id = ?", (write_id,)
        )
        for rid, mid, path, section in rows:
            self.store.execute(
                "UPDATE routes SET status = 'written', undone_at = NULL, unwrite_id = NULL "
                "WHERE id = ?",
                (rid,),
            )
            self._mark(int(mid), str(path), str(section), "written", int(rid))
        return [int(r[1]) for r in rows]


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
