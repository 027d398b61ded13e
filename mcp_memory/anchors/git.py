"""The git plumbing behind an anchor's status: which commit edited, moved or deleted a file.

Only :mod:`mcp_memory.anchors.check` calls these, and only once a file's content no longer
matches its fingerprint (or the file is gone): a fresh anchor never spawns git. Each call is one
short ``git`` process (a few milliseconds) with a timeout; any failure (no git on the PATH, not a
repository, a damaged one) is None, which the check reports as "no commit known", never an error.

- :func:`head`: the commit checked out when a memory is anchored
- :func:`edited_in`: the newest commit since the anchor that touched the file, or "uncommitted"
- :func:`moved_to`: where a missing file went: a staged rename (``git status``), a committed one
  (the commit that removed the path, then its renames with ``git diff-tree -M``), or an untracked
  file of the same name whose content still matches
- :func:`removed_in`: the commit that deleted a path
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

TIMEOUT = 5.0  # seconds per git call


def run(root: Path, *args: str) -> str | None:
    """``git -C root args`` stdout, or None when git fails or is missing."""
    try:
        done = subprocess.run(
            ["git", "-C", str(root), *args],
            capture_output=True,
            timeout=TIMEOUT,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.decode("utf-8", errors="surrogateescape")


def is_repo(root: Path) -> bool:
    """Whether ``root`` is inside a git work tree (``.git`` found upward, no process)."""
    current = root.resolve()
    return any((p / ".git").exists() for p in (current, *current.parents))


def head(root: Path) -> str | None:
    out = run(root, "rev-parse", "--verify", "-q", "HEAD")
    return out.strip() or None if out else None


def _first(out: str | None) -> str | None:
    if not out:
        return None
    line = out.strip().splitlines()
    return line[0].strip() if line else None


def uncommitted(root: Path, path: str) -> bool:
    """Whether the work tree or the index holds a change of ``path`` that HEAD does not."""
    out = run(root, "status", "--porcelain=v1", "-z", "--", path)
    return bool(out and out.strip("\x00").strip())


def edited_in(root: Path, path: str, since: str | None) -> str | None:
    """The newest commit after ``since`` that touched ``path``, or None when the file has
    uncommitted changes (the edit seen is not in any commit yet). A branch switch shows as the
    newest commit of the checked-out branch that is not in ``since``'s history; with no
    ``since`` (or an unknown one), the newest commit touching it."""
    if uncommitted(root, path):
        return None
    commit = None
    if since:
        commit = _first(run(root, "log", "-1", "--format=%H", f"{since}..HEAD", "--", path))
    if commit is None:
        last = _first(run(root, "log", "-1", "--format=%H", "--", path))
        commit = last if last != since else None
    return commit


def removed_in(root: Path, path: str) -> str | None:
    """The commit (reachable from HEAD) that deleted or renamed away ``path``."""
    return _first(
        run(root, "log", "-1", "--format=%H", "--no-renames", "--diff-filter=D", "--", path)
    )


def _pairs(out: str) -> list[tuple[str, str, str]]:
    """(status, old, new) from ``--name-status -z`` output (renames carry two paths)."""
    fields = out.split("\x00")
    pairs: list[tuple[str, str, str]] = []
    i = 0
    while i < len(fields) and fields[i]:
        status = fields[i]
        if status[:1] in ("R", "C") and i + 2 < len(fields):
            pairs.append((status[0], fields[i + 1], fields[i + 2]))
            i += 3
        elif i + 1 < len(fields):
            pairs.append((status[0], fields[i + 1], fields[i + 1]))
            i += 2
        else:
            break
    return pairs


def moved_to(root: Path, path: str, same: Callable[[str], bool]) -> tuple[str, str | None] | None:
    """Where the missing ``path`` went and in which commit (None: not committed yet), or None
    when git knows no rename. ``same(new_path)`` says whether a candidate holds the anchored
    content: an untracked file is only taken for the moved one when it does."""
    staged = run(root, "diff", "--cached", "-M", "--name-status", "-z", "HEAD")
    for status, old, new in _pairs(staged or ""):
        if status == "R" and old == path:
            return new, None
    commit = removed_in(root, path)
    if commit is not None:
        out = run(root, "diff-tree", "-r", "-M", "--name-status", "-z", "--root", commit)
        for status, old, new in _pairs((out or "").split("\x00", 1)[-1] if out else ""):
            if status == "R" and old == path:
                return new, commit
    name = path.rsplit("/", 1)[-1]
    untracked = run(root, "ls-files", "--others", "--exclude-standard", "-z")
    for candidate in (untracked or "").split("\x00"):
        if candidate and candidate.rsplit("/", 1)[-1] == name and same(candidate):
            return candidate, None
    return None
