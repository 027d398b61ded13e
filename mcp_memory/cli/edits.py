"""Edits of the JSON files Claude Code reads, planned first and then applied safely.

A :class:`Plan` is a list of file changes (old and new text, so ``--dry-run`` prints the diff)
plus service-manager calls. :func:`apply` writes each changed file atomically (a temporary file
renamed over it, mode kept) after a timestamped backup of the old content that never replaces an
earlier backup. A file that is not a JSON object is refused untouched.
"""

from __future__ import annotations

import difflib
import json
import os
import shlex
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mcp_memory.errors import MCPMemoryError


class InstallError(MCPMemoryError):
    """A settings file cannot be read or written safely (nothing was changed)."""


@dataclass
class Change:
    path: Path
    before: str | None  # None: the file did not exist
    after: str | None  # None: the file is to be deleted (an empty unit we created)
    backup: Path | None = None

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def diff(self) -> str:
        return "".join(
            difflib.unified_diff(
                (self.before or "").splitlines(keepends=True),
                (self.after or "").splitlines(keepends=True),
                fromfile=f"{self.path} (now)",
                tofile=f"{self.path} (after)",
            )
        )


@dataclass
class Plan:
    changes: list[Change] = field(default_factory=list)
    commands: list[list[str]] = field(default_factory=list)  # service manager calls

    def describe(self, dry_run: bool) -> str:
        lines = []
        for c in self.changes:
            verb = "would change" if dry_run else "changed"
            if not c.changed:
                lines.append(f"unchanged   {c.path}")
                continue
            lines.append(f"{verb:<11} {c.path}" + (f" (backup {c.backup})" if c.backup else ""))
            if dry_run:
                lines.append(c.diff().rstrip())
        for argv in self.commands:
            lines.append(("would run   " if dry_run else "ran         ") + shlex.join(argv))
        return "\n".join(lines)


def load_json(path: Path) -> tuple[str | None, dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, {}
    except OSError as exc:
        raise InstallError(f"cannot read {path}: {exc}") from exc
    if not text.strip():
        return text, {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InstallError(f"{path} is not valid JSON ({exc}); nothing was changed") from exc
    if not isinstance(data, dict):
        raise InstallError(f"{path} does not hold a JSON object; nothing was changed")
    return text, data


def dump_json(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def plan_json(path: Path, edit: Callable[[dict[str, Any]], dict[str, Any]]) -> Change:
    before, data = load_json(path)
    after_data = edit(data)
    if before is not None and after_data == data:
        return Change(path, before, before)  # semantically unchanged: keep the user's bytes
    if before is None and not after_data:
        return Change(path, None, None)
    return Change(path, before, dump_json(after_data))


def apply(plan: Plan, *, dry_run: bool, run: Callable[[list[str]], None] | None = None) -> None:
    """Write the planned files (each after a backup) and run the service commands."""
    if dry_run:
        return
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for change in plan.changes:
        if not change.changed:
            continue
        if change.before is not None:
            change.backup = _free_name(change.path.with_name(f"{change.path.name}.bak-{stamp}"))
            shutil.copy2(change.path, change.backup)
        if change.after is None:
            change.path.unlink(missing_ok=True)
            continue
        change.path.parent.mkdir(parents=True, exist_ok=True)
        mode = change.path.stat().st_mode & 0o777 if change.path.exists() else 0o644
        temporary = change.path.with_name(f".{change.path.name}.{os.getpid()}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(change.after)
        os.replace(temporary, change.path)
    for argv in plan.commands:
        (run or _run)(argv)


def _free_name(path: Path) -> Path:
    """``path``, or ``path.1``, ``path.2``...: a backup never replaces an earlier one."""
    candidate, n = path, 0
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.name}.{n}")
    return candidate


def _run(argv: list[str]) -> None:
    if shutil.which(argv[0]) is None:
        return
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    if result.returncode != 0:
        raise InstallError(
            f"{shlex.join(argv)} failed: {result.stderr.strip() or result.stdout.strip()}"
        )
