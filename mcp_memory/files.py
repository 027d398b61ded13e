"""Private files: the data directory's folders are 0700 and its files 0600, whatever the umask.

Every entry point (CLI, MCP server, hooks, the hooks' worker, the warm server, demo) may be the
first to create ``$MCP_MEMORY_HOME``; each goes through these helpers so the first one leaves the
same private modes. ``Path.mkdir(parents=True, mode=0o700)`` is not enough: the parents it creates
get the umask's default (0755), and the umask can narrow the mode of the last one too.

:func:`atomic_write` is the one temporary-then-rename writer: the temporary file is created in
the target's directory with ``O_EXCL | O_NOFOLLOW`` and a random name, so a planted symlink or a
file left at a guessed ``.NAME.tmp`` is never followed or overwritten. Standard library only:
hooks import this module.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import IO, Any

DIR_MODE = 0o700
FILE_MODE = 0o600
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def private_dir(path: Path) -> Path:
    """Create ``path`` and any missing parents, each 0700 (existing folders are left alone)."""
    missing: list[Path] = []
    current = Path(path)
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=DIR_MODE)
        except FileExistsError:  # another process made it meanwhile: its modes are its own
            continue
        os.chmod(directory, DIR_MODE)  # the umask may have narrowed or kept group bits
    return path


def open_private(path: Path, mode: str = "a", *, encoding: str | None = "utf-8") -> IO[Any]:
    """Open ``path`` for appending or writing, created 0600 (its folder created 0700).

    An existing file keeps its content; a symlink in its place is refused (``O_NOFOLLOW``).
    """
    private_dir(path.parent)
    flags = os.O_WRONLY | os.O_CREAT | _NOFOLLOW
    if "a" in mode:
        flags |= os.O_APPEND
    elif "w" in mode:
        flags |= os.O_TRUNC
    fd = os.open(path, flags, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
        return os.fdopen(fd, mode, encoding=None if "b" in mode else encoding)
    except BaseException:
        os.close(fd)
        raise


def touch_private(path: Path) -> Path:
    """Make sure ``path`` exists and is 0600 (for files another library opens, like logs)."""
    with open_private(path, "a"):
        pass
    return path


def atomic_write(
    path: Path, data: str | bytes, *, mode: int = FILE_MODE, replace: bool = True
) -> bool:
    """Write ``path`` with ``data`` atomically: a fresh temporary file next to it (``O_EXCL``,
    ``O_NOFOLLOW``, ``mode``) is written, synced and renamed over it. Never follows a symlink.

    ``replace=False`` creates ``path`` only if it does not exist (the temporary file is
    hard-linked into place, which fails on an existing name): of several processes writing at
    once exactly one wins, and nobody ever reads a half-written file. Returns whether ``path``
    was written."""
    path = Path(path)
    private_dir(path.parent)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW
    for _ in range(10):
        temporary = path.with_name(f".{path.name}.{os.urandom(6).hex()}.tmp")
        try:
            fd = os.open(temporary, flags, mode)
            break
        except FileExistsError:
            continue
    else:
        raise FileExistsError(f"could not create a temporary file next to {path}")
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(fd, mode)
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(temporary, path)
            return True
        try:
            os.link(temporary, path)
        except FileExistsError:
            return False
        finally:
            os.unlink(temporary)
        return True
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def acquire_lock(path: Path, *, wait: bool = False) -> IO[bytes] | None:
    """An exclusive lock on ``path`` held until the file is closed, or None if taken (with
    ``wait``, it waits for the holder to let go instead)."""
    import fcntl

    handle = open_private(path, "ab")  # held for the life of the server
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except OSError:
        handle.close()
        return None
    return handle


def pid_alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie waiting to be reaped (what a pid file's
    reader asks before trusting it: the warm server's and the daemon's)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (macOS): the signal check is all there is
    return stat.rpartition(")")[2].split()[:1] != ["Z"]
