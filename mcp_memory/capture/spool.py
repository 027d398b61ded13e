"""Hook writes go through a spool: a hook drops a job file and a detached worker stores it.

Why: storing goes through :class:`~mcp_memory.service.memories.MemoryService` (validation, redaction,
deduplication, classification), and importing it costs numpy + ONNX Runtime, ~0.5 s, far over a
hook's budget. A hook instead writes one small JSON job (text already redacted, so no secret
touches the disk here) into ``run/spool/`` in the state folder and, unless a worker is already
draining the spool, starts the worker detached (:mod:`mcp_memory.hooks.worker`, an entry point:
it opens the App and reads the settings, which this module never does). A locked or busy
database only delays the worker; a job that cannot be stored stays in the spool for the next
worker (or moves to ``spool/failed/`` when it is invalid). Where the daemon runs, a hook hands
the job to it instead (:mod:`mcp_memory.hooks.daemon_calls`), which stores it at once with the
same :func:`remember_job`; the spool is the fallback.

Job kinds: ``remember`` (content, project, type, tags, source, session_id), ``session`` (a
transcript to summarize, then maintenance), ``briefing`` (refresh a project's cached briefing).

This module holds the files both sides share: the job files (:func:`enqueue`,
:func:`pending_jobs`, and :func:`remember_job`, how a ``remember`` job is stored), the
worker's lock ``run/hook-worker.lock`` (:func:`locked`, held by a
running worker; :func:`worker_running` asks without waiting), the detached start
(:func:`spawn_detached`) and the briefing cache (``run/briefings/<project digest>.json``), what
SessionStart injects: the hook reads it in a millisecond instead of importing the service; the
worker keeps it fresh. Standard library only: every hook run imports it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcp_memory.files import FILE_MODE, atomic_write, open_private, private_dir

if TYPE_CHECKING:
    from mcp_memory.service.hybrid import HybridMemory
    from mcp_memory.service.memories import MemoryService
    from mcp_memory.service.types import Remembered

MAX_JOB_BYTES = 256 * 1024
MAX_LOG_BYTES = 5 * 1024 * 1024


def spool_dir(run_dir: Path) -> Path:
    return run_dir / "spool"


def lock_path(run_dir: Path) -> Path:
    return run_dir / "hook-worker.lock"


def log_path(logs_dir: Path) -> Path:
    return logs_dir / "hooks.log"


def remember_job(
    service: MemoryService | HybridMemory, job: dict[str, Any], *, embed: bool
) -> Remembered:
    """Store a ``remember`` job: the one way the worker and the daemon (for a hook that reached
    it, :mod:`mcp_memory.server.daemon.hook_requests`) store what a hook captured; through
    :class:`HybridMemory` a team project's job goes to the team database."""
    return service.remember(
        str(job["content"]),
        project=str(job["project"]),
        type=job.get("type"),
        tags=job.get("tags") or None,
        source=str(job.get("source") or "hook"),
        session_id=job.get("session_id"),
        embed=embed,
        files=[str(f) for f in job.get("files") or () if isinstance(f, str)],
        visibility=job.get("visibility"),
    )


# -- hook side: enqueue and start a worker --------------------------------------------------------


def enqueue(run_dir: Path, job: dict[str, Any]) -> Path:
    """Write one job atomically (``.tmp`` then rename); names sort in arrival order."""
    directory = spool_dir(run_dir)
    name = f"{time.time_ns():020d}-{os.getpid()}-{job.get('kind', 'job')}.json"
    atomic_write(directory / name, json.dumps(job, ensure_ascii=False))
    return directory / name


def worker_running(run_dir: Path) -> bool:
    """True while a worker holds the lock (it will look at the spool again before it exits)."""
    fd = _open_lock(lock_path(run_dir))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing releases a lock we got
    return False


def spawn_detached(argv: list[str], log_file: Path, cwd: Path) -> int:
    """Start ``argv`` in its own session with stdio away from ours; return its pid at once.

    The child must not inherit the hook's stdout: Claude Code reads the hook's output until EOF,
    so a child holding the pipe would hold the hook up until it exits.
    """
    import subprocess  # not at import time: most hook runs never spawn

    private_dir(log_file.parent)
    with contextlib.suppress(OSError):  # keep one old log, never more than 2 x MAX_LOG_BYTES
        if log_file.stat().st_size > MAX_LOG_BYTES:
            os.replace(log_file, log_file.with_name(log_file.name + ".1"))
    with open_private(log_file, "ab") as log_handle:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log_handle,
            stderr=log_handle,
            cwd=cwd,
            start_new_session=True,
            close_fds=True,
        )
    pid = process.pid
    with warnings.catch_warnings():  # it outlives us on purpose; subprocess reaps it if we live
        warnings.simplefilter("ignore", ResourceWarning)
        del process
    return pid


# -- briefing cache ------------------------------------------------------------------------------


def briefing_path(run_dir: Path, project: str) -> Path:
    import hashlib

    digest = hashlib.sha256(project.encode("utf-8", "surrogatepass")).hexdigest()[:24]
    return run_dir / "briefings" / f"{digest}.json"


def read_briefing(run_dir: Path, project: str) -> dict[str, Any] | None:
    try:
        data = json.loads(briefing_path(run_dir, project).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("project") != project:
        return None
    return data


def write_briefing(run_dir: Path, project: str, text: str, ids: list[int | str]) -> Path:
    record = {"project": project, "text": text, "ids": ids, "built_at": time.time()}
    path = briefing_path(run_dir, project)
    atomic_write(path, json.dumps(record))
    return path


# -- the worker's side: its lock and its queue ------------------------------------------------------


@contextlib.contextmanager
def locked(run_dir: Path, wait: float) -> Iterator[bool]:
    fd = _open_lock(lock_path(run_dir))
    deadline = time.monotonic() + wait
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    yield False
                    return
                time.sleep(0.05)
        yield True
    finally:
        os.close(fd)


def _open_lock(path: Path) -> int:
    private_dir(path.parent)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), FILE_MODE)
    os.fchmod(fd, FILE_MODE)
    return fd


def pending_jobs(run_dir: Path) -> list[Path]:
    directory = spool_dir(run_dir)
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.glob("*.json") if not p.name.startswith("."))
