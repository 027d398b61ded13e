"""Hook writes go through a spool: a hook drops a job file and a detached worker stores it.

Why: storing goes through :class:`~mcp_memory.service.memories.MemoryService` (validation, redaction,
deduplication, classification), and importing it costs numpy + ONNX Runtime, ~0.5 s, far over a
hook's budget. A hook instead writes one small JSON job (text already redacted, so no secret
touches the disk here) into ``$MCP_MEMORY_HOME/run/spool/`` and, unless a worker is already
draining the spool, starts the worker detached (:mod:`mcp_memory.hooks.worker`, an entry point:
it opens the App and reads the settings, which this module never does). A locked or busy
database only delays the worker; a job that cannot be stored stays in the spool for the next
worker (or moves to ``spool/failed/`` when it is invalid).

Job kinds: ``remember`` (content, project, type, tags, source, session_id), ``session`` (a
transcript to summarize, then maintenance), ``briefing`` (refresh a project's cached briefing).

This module holds the files both sides share: the job files (:func:`enqueue`,
:func:`pending_jobs`), the worker's lock ``run/hook-worker.lock`` (:func:`locked`, held by a
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
from typing import Any

MAX_JOB_BYTES = 256 * 1024
MAX_LOG_BYTES = 5 * 1024 * 1024


def spool_dir(run_dir: Path) -> Path:
    return run_dir / "spool"


def lock_path(run_dir: Path) -> Path:
    return run_dir / "hook-worker.lock"


def log_path(logs_dir: Path) -> Path:
    return logs_dir / "hooks.log"


# -- hook side: enqueue and start a worker --------------------------------------------------------


def enqueue(run_dir: Path, job: dict[str, Any]) -> Path:
    """Write one job atomically (``.tmp`` then rename); names sort in arrival order."""
    directory = spool_dir(run_dir)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    name = f"{time.time_ns():020d}-{os.getpid()}-{job.get('kind', 'job')}.json"
    temporary = directory / f".{name}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(job, handle, ensure_ascii=False)
    final = directory / name
    os.replace(temporary, final)
    return final


def worker_running(run_dir: Path) -> bool:
    """True while a worker holds the lock (it will look at the spool again before it exits)."""
    path = lock_path(run_dir)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
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

    log_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(OSError):  # keep one old log, never more than 2 x MAX_LOG_BYTES
        if log_file.stat().st_size > MAX_LOG_BYTES:
            os.replace(log_file, log_file.with_name(log_file.name + ".1"))
    with open(log_file, "ab") as log_handle:
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


def write_briefing(run_dir: Path, project: str, text: str, ids: list[int]) -> Path:
    path = briefing_path(run_dir, project)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump({"project": project, "text": text, "ids": ids, "built_at": time.time()}, handle)
    os.replace(temporary, path)
    return path


# -- the worker's side: its lock and its queue ------------------------------------------------------


@contextlib.contextmanager
def locked(run_dir: Path, wait: float) -> Iterator[bool]:
    path = lock_path(run_dir)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
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


def pending_jobs(run_dir: Path) -> list[Path]:
    directory = spool_dir(run_dir)
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.glob("*.json") if not p.name.startswith("."))
