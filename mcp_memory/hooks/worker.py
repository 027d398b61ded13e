"""The hooks' worker: a detached process that stores what hooks left in the spool.

A hook must finish in milliseconds, so it only writes a job file (:mod:`mcp_memory.capture.spool`)
and, unless a worker holds the spool's lock already, starts this module detached
(:func:`wake_worker`: ``python -m mcp_memory.hooks.worker``, its output appended to
``logs/hooks.log``). The worker is an entry point: it reads the settings and opens the App.

What it does: takes ``run/hook-worker.lock``, stores every job in name (time) order through the
service with ``embed=False``, replaces an earlier summary of the same session, refreshes the
cached briefings of the projects it touched, releases the lock, looks once more for jobs that
arrived meanwhile (a hook that saw the lock held did not start a worker), and finally runs
maintenance (``maintain`` embeds what hooks stored) when a session ended or was compacted.

At import time it loads only the standard library and the spool: hooks import it to start it.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcp_memory.capture import spool
from mcp_memory.files import private_dir

if TYPE_CHECKING:
    from mcp_memory.app import App
    from mcp_memory.config import Settings
    from mcp_memory.service.types import MemoryRef


class _Log:
    """``logging.getLogger("mcp_memory.hooks")``, imported on first use: hooks import this
    module only to start a worker, never log, and the import is not free."""

    def __getattr__(self, name: str) -> Any:
        import logging

        return getattr(logging.getLogger("mcp_memory.hooks"), name)


log = _Log()

LOCK_WAIT = 120.0  # seconds a worker waits for another one before leaving the jobs to it


# -- hook side: start a worker -----------------------------------------------------------------


def wake_worker(settings: Settings) -> int | None:
    """Start a worker unless one is draining the spool already; its pid, or None."""
    if spool.worker_running(settings.run_dir):
        return None
    private_dir(settings.home)
    return spool.spawn_detached(
        [sys.executable, "-m", "mcp_memory.hooks.worker"],
        spool.log_path(settings.logs_dir),
        settings.home,
    )


def build_briefing_text(app: App, project: str, branch: str | None) -> tuple[str, list[MemoryRef]]:
    """The project's briefing, with "relevant now" searched by branch only when the warm server
    can embed the query (a background worker need not load a model for a briefing)."""
    from mcp_memory.app import llm_waiting_note
    from mcp_memory.embedding.protocol import token_path
    from mcp_memory.embedding.warm_client import server_available
    from mcp_memory.service.briefing import BriefingContext

    context = None
    s = app.settings
    if branch and server_available(
        s.embed_host,
        s.embed_port,
        app.spec.id,
        app.embedder.dimension,
        token_file=token_path(s.run_dir, s.embed_port),
        timeout=s.embed_connect_timeout,
    ):
        context = BriefingContext(branch=branch)
    brief = app.memory.briefing(
        project,
        context,
        budget_tokens=app.settings.briefing_tokens,
        footer=llm_waiting_note(app, project),
    )
    return brief.text, brief.ids


# -- the worker ---------------------------------------------------------------------------------


class Worker:
    """Drains the spool into the database (see the module docstring)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.app: App | None = None
        self.projects: dict[str, str | None] = {}  # briefings to refresh -> branch
        self.maintain = False
        self.blocked = False  # the database could not be used; jobs stay for the next worker
        self.stored: list[MemoryRef] = []

    def open(self) -> App:
        if self.app is None:
            from mcp_memory.app import open_app

            self.app = open_app(self.settings, cwd=self.settings.home)
        return self.app

    def close(self) -> None:
        if self.app is not None:
            self.app.close()
            self.app = None

    def drain(self) -> int:
        """Store every pending job; return how many were handled."""
        from mcp_memory.errors import DatabaseUnreachableError, MCPMemoryError, StoreError

        handled = 0
        jobs = spool.pending_jobs(self.settings.run_dir)
        if not jobs:
            return 0
        try:
            self.open()
        except MCPMemoryError as exc:  # corrupted, locked, another model: not the jobs' fault
            log.warning("cannot open the database, jobs stay in the spool: %s", exc)
            self.blocked = True
            return 0
        for path in jobs:
            try:
                if path.stat().st_size > spool.MAX_JOB_BYTES:
                    raise ValueError(f"job {path.name} is larger than {spool.MAX_JOB_BYTES} bytes")
                job = json.loads(path.read_text(encoding="utf-8"))
                if not isinstance(job, dict):
                    raise ValueError("a job must be a JSON object")
                self.handle(job)
            except FileNotFoundError:
                continue  # another worker took it
            except DatabaseUnreachableError as exc:  # hybrid: a team project's, the rest go on
                log.warning("job %s waits for the team database: %s", path.name, exc)
                self.blocked = True
                continue
            except (StoreError, OSError) as exc:  # busy, locked, disk: retry on the next run
                log.warning("job %s left in the spool: %s", path.name, exc)
                self.blocked = True
                break
            except (MCPMemoryError, ValueError, KeyError, TypeError) as exc:
                log.warning("job %s rejected: %s", path.name, exc)
                failed = path.parent / "failed"
                private_dir(failed)
                with contextlib.suppress(OSError):
                    os.replace(path, failed / path.name)
                continue
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            handled += 1
        return handled

    def handle(self, job: dict[str, Any]) -> None:
        kind = job.get("kind")
        project = str(job["project"])
        branch = job.get("branch") if isinstance(job.get("branch"), str) else None
        if kind == "remember":
            # embed: a queued `remember` tool call, as if stored then; a hook's capture is
            # embedded by maintenance. A team project's memory goes to the team database.
            result = spool.remember_job(self.open().memory, job, embed=job.get("embed") is True)
            self.stored.append(result.id)
            log.info("stored memory %s (%s, %s) from a hook", result.id, result.type, result.status)
        elif kind == "session":
            self.summarize(job, project)
            self.maintain = True
        elif kind != "briefing":
            raise ValueError(f"unknown job kind {kind!r}")
        self.projects[project] = branch or self.projects.get(project)

    def summarize(self, job: dict[str, Any], project: str) -> None:
        from mcp_memory.capture import transcript

        path = Path(str(job["transcript_path"])).expanduser()
        if not path.is_file():  # not an OSError: a missing transcript will not come back
            raise ValueError(f"no transcript at {path}")
        session = transcript.read(path, Path(project))
        text = transcript.summarize(session)
        if not text:
            log.info("session %s did nothing worth a summary", job.get("session_id"))
            return
        app = self.open()
        session_id = job.get("session_id") or session.session_id
        result = app.service.remember(  # summaries stay local, also in hybrid use
            text,
            project=project,
            type="session_summary",
            tags=["session"],
            source="hook",
            session_id=session_id,
            embed=False,
        )
        self.stored.append(result.id)
        if session_id and result.status == "created":  # one summary per session: the latest
            earlier = app.store.session_memory_ids(
                session_id, type="session_summary", source="hook", exclude=int(result.id)
            )
            for old in earlier:
                app.service.forget(old)
        log.info("stored session summary %s for session %s", result.id, session_id)
        if job.get("event") == "SessionEnd" and session_id:
            from mcp_memory.capture.session_state import state_path

            with contextlib.suppress(OSError):
                state_path(self.settings.run_dir, str(session_id)).unlink()

    def refresh_briefings(self) -> None:
        if not self.projects:
            return
        from mcp_memory.errors import MCPMemoryError

        app = self.open()
        for project, branch in self.projects.items():
            try:
                text, ids = build_briefing_text(app, project, branch)
            except MCPMemoryError as exc:
                log.warning("briefing for %s not refreshed: %s", project, exc)
                continue
            spool.write_briefing(self.settings.run_dir, project, text, ids)
        self.projects = {}


def run_worker(settings: Settings, *, wait: float = LOCK_WAIT) -> Worker:
    """One worker run (the body of ``python -m mcp_memory.hooks.worker``)."""
    from mcp_memory.capture.session_state import remove_stale_states

    worker = Worker(settings)
    try:
        for _ in range(5):  # jobs that arrived while we held the lock get one more look
            with spool.locked(settings.run_dir, wait) as got:
                if not got:
                    log.info("another worker holds the spool; leaving the jobs to it")
                    break
                worker.drain()
                if not worker.blocked:
                    worker.refresh_briefings()
            if worker.blocked or not spool.pending_jobs(settings.run_dir):
                break
        if worker.maintain:
            from mcp_memory.app import run_maintenance

            report = run_maintenance(worker.open())
            log.info("maintenance after a session: %s", report.message or "done")
        remove_stale_states(settings.run_dir)
    finally:
        worker.close()
    return worker


def main() -> int:
    import logging

    from mcp_memory.config import load_settings

    # Background work: the session starting meanwhile (Claude Code, the relay, the next hook)
    # gets the cores first. A briefing refresh at full priority added ~0.3 s to Claude Code's
    # first request on 2 cores (bench/claude_start.py).
    with contextlib.suppress(OSError):
        os.nice(10)
    settings = load_settings()
    logging.basicConfig(
        level=settings.log_level if settings.log_level != "WARNING" else "INFO",
        format="%(asctime)s %(name)s worker[%(process)d]: %(message)s",
        stream=sys.stderr,  # the spawner points stderr at logs/hooks.log
    )
    try:
        run_worker(settings)
    except Exception:
        log.exception("hook worker failed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
