"""Claude Code hook handlers: what each event does, behind one fail-open runner.

``hooks/run.py EVENT`` calls :func:`run`, which reads the event's JSON from stdin, handles it and
prints at most one JSON object, the documented ``{"hookSpecificOutput": {"hookEventName": ...,
"additionalContext": ...}}``, or nothing. It always returns 0: malformed input, a missing, locked
or corrupted database, a dead warm server or any bug ends the run quietly (logged to
``logs/hooks.log`` in the state folder), and an internal deadline ends it before Claude Code's own
timeout would.

Speed: a hook is a fresh interpreter on Claude Code's critical path. This module and what it
imports are the standard library and project modules that import nothing heavier
(:mod:`~mcp_memory.config`, :mod:`~mcp_memory.hooks.reader`,
:mod:`~mcp_memory.capture.session_state`, :mod:`~mcp_memory.capture.spool`,
:mod:`~mcp_memory.hooks.worker`; :mod:`~mcp_memory.capture.observe` and ``apsw`` only for the
events that use them); no numpy, no ONNX Runtime, no MCP SDK, and never a model. Writes go
to the daemon where one runs (stored before the hook answers,
:mod:`mcp_memory.hooks.daemon_calls`), else through the spool (see
:mod:`mcp_memory.capture.spool`) and the detached worker a hook starts
(:mod:`mcp_memory.hooks.worker`); redaction (~50 ms of regex compilation) is imported only by
the runs that write.

Events:

- ``SessionStart``: starts the daemon (unless ``MCP_MEMORY_DAEMON=false``) and the warm server
  when they are neither up nor starting (detached, returns at once), injects the project's cached briefing and asks the worker to refresh it. Only the
  first session of a project builds the briefing in the hook (slow, once). The briefing's ids
  start the session's one "shown" set (kept in the session state), which every injection below
  reads and extends: nothing is put in front of the model twice in a session.
- ``UserPromptSubmit``: prompts Claude Code generated itself (a background job's
  ``<task-notification>``, slash-command plumbing, system reminders) are ignored. ``#remember
  <note>`` lines become protected user notes (confirmed in the context); then up to 3 memories
  (1,200 characters) relevant to the prompt are injected (knowledge, never session summaries),
  each at most once per session: vector
  similarity with the prompt embedded by the daemon (where one runs) or the warm server, when
  it serves the database's model, else strong keyword matches only. Nothing qualifies: nothing
  is printed. A team project's (hybrid use) come from the daemon's recall over the team
  database and the local file (:func:`team_memories`); without it, the local file's and a
  once-per-session note (:func:`team_note`).
- ``PostToolUse`` / ``PostToolUseFailure``: :func:`mcp_memory.capture.observe.observe`; a failed
  command that matches an earlier ``error_fix`` memory gets that fix as context. A captured
  memory's job carries the files edited in its episode: the worker anchors the memory to them.

Every memory injected (briefing, prompt, earlier fix) whose code changed since it was stored says
so ("may be out of date: <file> changed since ...", :func:`hook_recall.stale_notes`); a cached
briefing gets a note for each memory whose code changed after the briefing was built.
- ``PreCompact`` / ``SessionEnd``: a ``session`` job when the transcript exists: the worker
  summarizes the transcript (when the session did something worth a summary), stores it, then
  runs maintenance.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import IO, Any

from mcp_memory import daemon_link, projects
from mcp_memory.capture import spool
from mcp_memory.capture.prompts import is_system_generated
from mcp_memory.capture.session_state import session_state
from mcp_memory.config import Settings, load_settings
from mcp_memory.embedding.protocol import token_path
from mcp_memory.files import open_private, private_dir
from mcp_memory.hooks import reader as hook_recall
from mcp_memory.hooks import worker

EVENTS = (
    "SessionStart",
    "UserPromptSubmit",
    "PostToolUse",
    "PostToolUseFailure",
    "PreCompact",
    "SessionEnd",
)
# Seconds a run may take before it gives up (quietly); below the installer's settings timeouts.
DEADLINES = {"SessionStart": 8.0, "UserPromptSubmit": 4.0}
DEFAULT_DEADLINE = 3.0
SERVER_TIMEOUT = 1.5  # seconds for one loopback request to the warm server
CANDIDATES = 10
MAX_SHOWN = 200  # ids remembered as shown in one session
HISTORY_TYPES = frozenset({"session_summary"})  # never injected for a prompt
_REMEMBER = r"(?im)^[ \t]*#remember\b[ \t:]*(.*)$"  # compiled (and cached) by re on use


class Deadline(Exception):
    """The run took longer than its deadline."""


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    def expire(signum: int, frame: FrameType | None) -> None:
        raise Deadline(f"hook gave up after {seconds:.1f}s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class Hook:
    """One event: its input, the settings, and the project it belongs to."""

    def __init__(self, event: str, payload: dict[str, Any], settings: Settings) -> None:
        self.event = event
        self.payload = payload
        self.settings = settings
        self.stored: list[int] = []  # memories the daemon stored for this run
        self.spooled = False  # a memory was left in the spool: a worker must store it

    @property
    def cwd(self) -> Path:
        cwd = self.payload.get("cwd")
        return Path(cwd) if isinstance(cwd, str) and cwd else Path.cwd()

    @property
    def project(self) -> str:
        team = self.settings.team_keys
        if team:  # hybrid use: a team project is named by its portable key
            return projects.routed(None, self.cwd, (), team=team)
        return projects.project_for_dir(self.cwd)

    @property
    def on_team(self) -> bool:
        """Whether hybrid use keeps this project on the team database, which the hooks'
        reader does not open (see :func:`team_memories`)."""
        return projects.is_team_key(self.project, self.settings.team_keys)

    @property
    def session_id(self) -> str:
        sid = self.payload.get("session_id")
        return sid if isinstance(sid, str) and sid else "unknown"

    def context(self, text: str) -> dict[str, Any] | None:
        if not text.strip():
            return None
        return {"hookSpecificOutput": {"hookEventName": self.event, "additionalContext": text}}


def run(event: str, stdin: IO[str], stdout: IO[str], environ: dict[str, str] | None = None) -> int:
    """Handle one hook event; print nothing or one JSON object; always return 0."""
    settings: Settings | None = None
    try:
        with deadline(DEADLINES.get(event, DEFAULT_DEADLINE)):
            raw = stdin.read()
            payload = json.loads(raw) if raw.strip() else None
            if not isinstance(payload, dict):
                raise ValueError(f"{event}: stdin is not a JSON object")
            settings = load_settings(environ)
            output = handle(Hook(event, payload, settings))
        if output is not None:
            stdout.write(json.dumps(output, ensure_ascii=False))
            stdout.flush()
    except BaseException as exc:  # fail open: never break or block the session
        _log_failure(settings, event, exc)
    return 0


def handle(hook: Hook) -> dict[str, Any] | None:
    if hook.event == "SessionStart":
        return session_start(hook)
    if hook.event == "UserPromptSubmit":
        return user_prompt_submit(hook)
    if hook.event in ("PostToolUse", "PostToolUseFailure"):
        return post_tool_use(hook)
    if hook.event in ("PreCompact", "SessionEnd"):
        session_end(hook)
        return None
    raise ValueError(f"unknown hook event {hook.event!r}")


# -- SessionStart ---------------------------------------------------------------------------------


def ensure_server(settings: Settings) -> str:
    """``running``, ``starting`` (its pid is alive: loading the model) or ``spawned``."""
    if hook_recall.server_health(settings.embed_host, settings.embed_port, 0.3) is not None:
        return "running"
    pid_file = settings.run_dir / f"embed-server-{settings.embed_port}.pid"  # = pidfile.pid_path
    try:
        pid = json.loads(pid_file.read_text(encoding="utf-8")).get("pid")
        if isinstance(pid, int) and pid > 0:
            os.kill(pid, 0)
            return "starting"
    except (OSError, ValueError, AttributeError):
        pass
    # The server itself, as embed_server.process launches it (same argv, same log), with this
    # environment: it reads the same settings. Its own lock makes a second one exit at once.
    # It runs in the data folder, which need not exist yet (logs and pid files live elsewhere).
    private_dir(settings.home)
    spool.spawn_detached(
        [sys.executable, "-m", "mcp_memory.embed_server", "--port", str(settings.embed_port)],
        settings.logs_dir / "embed-server.log",  # = embed_server.process.log_file
        settings.home,
    )
    return "spawned"


def ensure_daemon(settings: Settings) -> str:
    """Launch the daemon (detached, not waited for) so that the relay Claude Code starts next
    finds it warm: ``off`` (``MCP_MEMORY_DAEMON=false``), ``running`` (a daemon holds its lock:
    it takes it before its imports, so also while it starts), ``starting`` (a relay holds the
    start lock: it is launching one) or ``launched``. A relay that comes while the launched
    daemon starts waits for it (:func:`mcp_memory.server.daemon.launch.daemon_starting`); two
    daemons launched at once leave one, the other exits on the daemon lock."""
    if not settings.daemon:
        return "off"
    run_dir = settings.run_dir
    if daemon_link.lock_held(run_dir / daemon_link.LOCK):
        return "running"
    if daemon_link.lock_held(run_dir / daemon_link.START_LOCK):
        return "starting"
    # As server.daemon.launch launches it (same argv, log and folder), with this environment:
    # the relays of this session share its MCP_MEMORY_* settings.
    spool.spawn_detached(
        [sys.executable, "-m", "mcp_memory.server.daemon"],
        settings.logs_dir / daemon_link.LOG,
        settings.home,
    )
    return "launched"


def git_branch(root: Path) -> str | None:
    """The checked-out branch, read from ``.git/HEAD`` (a worktree's ``.git`` file points to
    its own HEAD); None when detached or not a repository."""
    git = root / ".git"
    try:
        if git.is_file():
            pointer = git.read_text(encoding="utf-8").strip()
            if not pointer.startswith("gitdir:"):
                return None
            git = (root / pointer.split(":", 1)[1].strip()).resolve()
        head = (git / "HEAD").read_text(encoding="utf-8").strip()
    except OSError:
        return None
    prefix = "ref: refs/heads/"
    return head[len(prefix) :] if head.startswith(prefix) else None


def session_start(hook: Hook) -> dict[str, Any] | None:
    settings = hook.settings
    ensure_daemon(settings)
    ensure_server(settings)
    project = hook.project
    branch = git_branch(Path(project))
    cached = spool.read_briefing(settings.run_dir, project)
    if cached is not None:
        text = str(cached.get("text") or "")
        listed = cached.get("ids")
        ids = listed if isinstance(listed, list) else []
        spool.enqueue(settings.run_dir, {"kind": "briefing", "project": project, "branch": branch})
        worker.wake_worker(settings)
    else:
        text, ids = first_briefing(settings, project, branch, team=hook.on_team)
    shown = [i for i in ids if _is_id(i)] if text.strip() else []
    mark_shown(hook, shown)
    return hook.context(briefing_with_changes(settings, text, shown))


def briefing_with_changes(settings: Settings, text: str, ids: list[int | str]) -> str:
    """The cached briefing plus a note for each memory whose code changed since the briefing
    was built (the briefing marks those it knew of; a file edited since is only seen here)."""
    if not ids:
        return text
    known = {i for i in ids if _marked(text, i)}
    notes = _stale(settings, [i for i in ids if i not in known])
    if not notes:
        return text
    lines = [f"- [{i}] {note}" for i, note in notes.items()]
    return text + "\nChanged since this briefing was built:\n" + "\n".join(lines)


def _marked(text: str, memory_id: int | str) -> bool:
    """Whether the briefing's line for ``memory_id`` says it may be out of date already."""
    start = text.find(f"- [{memory_id}] ")
    end = text.find("\n", start) if start >= 0 else -1
    line = text[start : end if end >= 0 else None] if start >= 0 else ""
    return "may be out of date" in line


def mark_shown(hook: Hook, ids: list[int | str]) -> None:
    """The briefing's memories join the session's one "shown" set, so the prompt hook does not
    inject them again. A new context (``startup``, ``clear``, ``compact``: the model no longer
    sees what was shown before) starts the set afresh; ``resume`` keeps it."""
    fresh = hook.payload.get("source") != "resume"
    with session_state(hook.settings.run_dir, hook.session_id) as state:
        before = _shown(state)
        if fresh and not before and not ids:
            return  # nothing to forget, nothing to note: no state file for an empty session
        state["injected"] = [*([] if fresh else before), *ids][-MAX_SHOWN:]


def first_briefing(
    settings: Settings, project: str, branch: str | None, *, team: bool = False
) -> tuple[str, list[Any]]:
    """No cached briefing yet: build it here (imports the service: slow, once per project),
    but only when the database holds memories for this project. A ``team`` project's (hybrid
    use) live on the team database, which only the service opens, over the network: the
    worker builds that briefing in the background (for the next session), and this one is
    told where the memories are."""
    if team:
        spool.enqueue(settings.run_dir, {"kind": "briefing", "project": project, "branch": branch})
        worker.wake_worker(settings)
        return TEAM_BRIEFING, []
    try:
        reader = hook_recall.Reader(settings.db)
    except hook_recall.Unavailable:
        return "", []
    try:
        if not reader.count_active(projects.scope(project)):
            return "", []
    finally:
        reader.close()
    from mcp_memory.app import open_app

    with open_app(settings, cwd=Path(project)) as app:
        text, ids = worker.build_briefing_text(app, project, branch)
    spool.write_briefing(settings.run_dir, project, text, ids)
    return text, ids


# -- UserPromptSubmit -----------------------------------------------------------------------------


def remember_notes(prompt: str) -> tuple[list[str], str]:
    """The ``#remember`` notes in a prompt and the prompt without them. A prompt that starts
    with ``#remember`` is one note, all of it; elsewhere a note is the rest of its line."""
    stripped = prompt.strip()
    if re.match(r"(?i)#remember\b", stripped):
        note = re.sub(r"(?i)^#remember\b[ \t:]*", "", stripped).strip()
        return ([note] if note else []), ""
    notes = [m.group(1).strip() for m in re.finditer(_REMEMBER, prompt) if m.group(1).strip()]
    return notes, re.sub(_REMEMBER, "", prompt).strip()


def user_prompt_submit(hook: Hook) -> dict[str, Any] | None:
    prompt = hook.payload.get("prompt")
    if not isinstance(prompt, str) or is_system_generated(prompt):
        return None  # a task notification or command plumbing: nothing the user asked
    notes, query = remember_notes(prompt)
    parts = []
    if notes:
        refused = [
            why
            for note in notes
            if (why := _enqueue_memory(hook, note, type="user_note", tags=("note",), source="user"))
        ]
        saved = len(notes) - len(refused)
        if hook.spooled:
            worker.wake_worker(hook.settings)
        if saved:
            how = (
                "stored in the background"
                if hook.spooled
                else "ids " + ", ".join(str(i) for i in hook.stored)
            )
            parts.append(
                f"mcp-memory: saved {saved} #remember note(s) to long-term memory as protected "
                f"user notes ({how}); there is no need to store them again."
            )
        if refused:
            parts.append(
                f"mcp-memory: {len(refused)} #remember note(s) not saved: "
                + "; ".join(refused)
                + ". Tell the user, so they can fix the note and send it again."
            )
    if len(query) >= 3 and not query.startswith("/"):
        found = team_memories(hook, query) if hook.on_team else None
        if found is not None:
            parts.append(found)
        else:
            parts.append(relevant_memories(hook, query))
            if hook.on_team:
                parts.append(team_note(hook))
    return hook.context("\n\n".join(p for p in parts if p))


TEAM_BRIEFING = (
    "mcp-memory: this project's memories are on the team database; their briefing is being "
    "prepared in the background for the next session. The briefing and recall tools read "
    "them now."
)
TEAM_NOTE = (
    "mcp-memory: this project's memories are on the team database, which is not searched on "
    "each prompt (only this machine's memories are); call the recall tool to search them."
)


def team_note(hook: Hook) -> str:
    """Once per session, for a team project (hybrid use) whose memories no daemon could recall:
    the prompt hook then reads only the local SQLite file (importing a PostgreSQL driver would
    cost 0.1-0.5 s per prompt), so it says that its silence is not "nothing stored"."""
    with session_state(hook.settings.run_dir, hook.session_id) as state:
        if state.get("team_note"):
            return ""
        state["team_note"] = True
    return TEAM_NOTE


def team_memories(hook: Hook, query: str) -> str | None:
    """A team project's memories for the prompt (hybrid use), from the daemon's recall over
    the team database and the local file (:func:`mcp_memory.hooks.daemon_calls.recall`; the
    hook never loads the PostgreSQL driver itself). None when no daemon answered or the team
    database did not answer it: the hook then reads the local file (:func:`team_note`)."""
    from mcp_memory.hooks import daemon_calls

    settings = hook.settings
    with session_state(settings.run_dir, hook.session_id) as state:
        before = _shown(state)
    try:
        model, candidates, stale = daemon_calls.recall(
            settings,
            query,
            hook.project,
            k=CANDIDATES,
            exclude=before,
            skip_types=HISTORY_TYPES,
        )
    except hook_recall.Unavailable:
        return None
    threshold = hook_recall.relevance_threshold(model)
    return _inject(hook, candidates, threshold, lambda _ids: stale)


def relevant_memories(hook: Hook, query: str) -> str:
    settings = hook.settings
    try:
        reader = hook_recall.Reader(settings.db)
    except hook_recall.Unavailable:
        return ""
    try:
        scope = projects.scope(hook.project)
        candidates = _candidates(settings, reader, query, scope)
        threshold = hook_recall.relevance_threshold(reader.model_id or "")
    finally:
        reader.close()
    # Session summaries are history, not knowledge: they match a prompt by its wording ("Fix
    # the failing ... test"), and the briefing already shows the newest ones.
    candidates = [c for c in candidates if c.type not in HISTORY_TYPES]
    if not candidates:
        return ""
    return _inject(hook, candidates, threshold, lambda ids: _stale(settings, ids))


def _inject(
    hook: Hook,
    candidates: list[hook_recall.Candidate],
    threshold: float,
    stale: Callable[[list[int | str]], dict[int | str, str]],
) -> str:
    """The candidates over ``threshold`` not yet shown this session, recorded as shown and
    rendered with their stale-code notes (``stale`` of the chosen ids); "" when none is."""
    with session_state(hook.settings.run_dir, hook.session_id) as state:
        shown = _shown(state)
        chosen = hook_recall.select(candidates, threshold, exclude=set(shown))
        if chosen:
            state["injected"] = [*shown, *(c.id for c, _ in chosen)][-MAX_SHOWN:]
    if not chosen:
        return ""
    return hook_recall.render(chosen, stale=stale([c.id for c, _ in chosen]))


def _stale(settings: Settings, ids: list[int | str]) -> dict[int | str, str]:
    """What changed in the code of these memories (see :func:`hook_recall.stale_notes`); the
    local file's only (a team memory's note comes with it from the daemon)."""
    local = [i for i in ids if isinstance(i, int)]
    if not local:
        return {}
    try:
        reader = hook_recall.Reader(settings.db)
    except hook_recall.Unavailable:
        return {}
    try:
        notes: dict[int | str, str] = {}
        notes.update(hook_recall.stale_notes(reader, local).items())
        return notes
    finally:
        reader.close()


def _shown(state: dict[str, Any]) -> list[int | str]:
    """The ids shown to the model this session: briefing, prompt injections, earlier fixes
    (a team memory's ``t:N`` too)."""
    injected = state.get("injected")
    return [i for i in injected if _is_id(i)] if isinstance(injected, list) else []


def _is_id(value: object) -> bool:
    return isinstance(value, int) or (isinstance(value, str) and value.startswith("t:"))


def _candidates(
    settings: Settings, reader: hook_recall.Reader, query: str, scope: list[str]
) -> list[hook_recall.Candidate]:
    """Vector hits when the warm server can embed for this database, plus keyword hits that
    have no vector yet; keyword hits alone when it cannot (never a model in the hook)."""
    keyword = reader.keyword(query, scope, CANDIDATES)
    if reader.model_id is None:
        return keyword
    try:
        vector = query_vector(settings, query, reader.model_id, reader.dimension)
    except hook_recall.Unavailable:
        return keyword
    hits = reader.vector(vector, scope, CANDIDATES, text=query, keyword=keyword)
    fresh = reader.unembedded([int(c.id) for c in keyword])
    return hits + [c for c in keyword if c.id in fresh]


def query_vector(settings: Settings, query: str, model_id: str, dimension: int) -> bytes:
    """The prompt's vector from the daemon's warm model, else from the warm server."""
    from mcp_memory.hooks import daemon_calls

    try:
        return daemon_calls.embed_query(settings, query, model_id=model_id, dimension=dimension)
    except hook_recall.Unavailable:
        pass
    return hook_recall.embed_query(
        settings.embed_host,
        settings.embed_port,
        query,
        model_id=model_id,
        dimension=dimension,
        timeout=SERVER_TIMEOUT,
        token_file=token_path(settings.run_dir, settings.embed_port),
    )


# -- PostToolUse / PostToolUseFailure ----------------------------------------------------------


def post_tool_use(hook: Hook) -> dict[str, Any] | None:
    tool = hook.payload.get("tool_name")
    if tool not in ("Bash", "Edit", "Write", "MultiEdit", "NotebookEdit", "ExitPlanMode"):
        return None
    from mcp_memory.capture.observe import observe

    project = hook.project
    with session_state(hook.settings.run_dir, hook.session_id) as state:
        captures = observe(hook.payload, state, Path(project))
    for capture in captures:
        _enqueue_memory(
            hook,
            capture.content,
            type=capture.type,
            tags=capture.tags,
            source="hook",
            files=capture.files,
        )
    if hook.spooled:
        worker.wake_worker(hook.settings)
    if hook.event == "PostToolUseFailure" and tool == "Bash":
        return hook.context(earlier_fixes(hook))
    return None


def earlier_fixes(hook: Hook) -> str:
    """A failed command that was fixed before, in this project: the fix, once per session.
    Keyword matching only (the command and its error line against ``error_fix`` memories),
    so a failure costs no query embedding."""
    from mcp_memory.capture.observe import bash_outcome, error_line
    from mcp_memory.capture.shell_commands import is_routine

    tool_input = hook.payload.get("tool_input")
    command = tool_input.get("command") if isinstance(tool_input, dict) else None
    outcome = bash_outcome(hook.payload)
    if not isinstance(command, str) or outcome is None or is_routine(command):
        return ""
    try:
        reader = hook_recall.Reader(hook.settings.db)
    except hook_recall.Unavailable:
        return ""
    try:
        query = f"{command} {error_line(outcome[1])}"
        found = reader.keyword(query, projects.scope(hook.project), CANDIDATES)
    finally:
        reader.close()
    fixes = [c for c in found if c.type == "error_fix"]
    if not fixes:
        return ""
    with session_state(hook.settings.run_dir, hook.session_id) as state:
        shown = _shown(state)
        chosen = hook_recall.select(fixes, 1.0, exclude=set(shown), max_items=2, max_chars=800)
        if chosen:
            state["injected"] = [*shown, *(c.id for c, _ in chosen)][-MAX_SHOWN:]
    header = "mcp-memory: this failure looks like one fixed before in this project:"
    if not chosen:
        return ""
    return hook_recall.render(chosen, header, _stale(hook.settings, [c.id for c, _ in chosen]))


def _enqueue_memory(
    hook: Hook,
    text: str,
    *,
    type: str,
    tags: tuple[str, ...],
    source: str,
    files: tuple[str, ...] = (),
) -> str | None:
    """Validate and redact here, before the text touches the disk or the socket; the service
    does both again (a no-op). Stored at once by the daemon when one answers (see
    :mod:`mcp_memory.hooks.daemon_calls`), else spooled for the worker (``hook.spooled``).
    None when the memory is stored or spooled, else why it would be refused: a hook must never
    acknowledge a note the worker then moves to ``spool/failed/``."""
    from mcp_memory.errors import ValidationError
    from mcp_memory.redaction.redact import redact
    from mcp_memory.service.validation import validate_content

    limit = hook.settings.max_content_chars
    try:
        clean = validate_content(redact(validate_content(text, limit)).text, limit)
    except ValidationError as exc:
        return str(exc)
    job = {
        "kind": "remember",
        "content": clean,
        "project": hook.project,
        "type": type,
        "tags": list(tags),
        "source": source,
        "session_id": hook.session_id,
        "files": list(files),  # edited in the episode: the memory is anchored to them
    }
    from mcp_memory.hooks import daemon_calls

    if not hook.spooled:  # once the daemon failed, this run's other memories go to the spool
        try:
            hook.stored.append(daemon_calls.remember(hook.settings, job))
            return None
        except daemon_calls.Refused as exc:
            return str(exc)
        except hook_recall.Unavailable:
            pass  # no daemon (or too slow: remember is idempotent, the worker may store it again)
    spool.enqueue(hook.settings.run_dir, job)
    hook.spooled = True
    return None


# -- PreCompact / SessionEnd --------------------------------------------------------------------


def session_end(hook: Hook) -> None:
    """Queue the summary job, only for a transcript that exists: ``claude mcp list`` fires
    SessionEnd with a transcript path that never does (nothing to summarize, nothing to fail)."""
    path = hook.payload.get("transcript_path")
    if not isinstance(path, str) or not path or not Path(path).expanduser().is_file():
        return
    project = hook.project
    spool.enqueue(
        hook.settings.run_dir,
        {
            "kind": "session",
            "transcript_path": path,
            "project": project,
            "session_id": hook.session_id,
            "event": hook.event,
            "branch": git_branch(Path(project)),
            "reason": hook.payload.get("reason") or hook.payload.get("trigger"),
        },
    )
    worker.wake_worker(hook.settings)


# -- failures -----------------------------------------------------------------------------------


def _log_failure(settings: Settings | None, event: str, exc: BaseException) -> None:
    """One line (a traceback for bugs) in logs/hooks.log; never to stdout, never raises."""
    try:
        if settings is not None:
            logs = settings.logs_dir
        else:
            from mcp_memory.config import fallback_logs_dir

            logs = fallback_logs_dir()
        expected = isinstance(exc, (Deadline, ValueError, OSError, KeyboardInterrupt))
        detail = f"{type(exc).__name__}: {exc}"
        if not expected and not isinstance(exc, hook_recall.Unavailable):
            import traceback

            detail += "\n" + "".join(traceback.format_exception(exc)).rstrip()
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        with open_private(logs / "hooks.log", "a") as handle:
            handle.write(f"{stamp} hook {event}[{os.getpid()}]: {detail}\n")
    except BaseException:
        pass
