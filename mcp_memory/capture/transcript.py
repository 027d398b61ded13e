"""Session summaries from Claude Code transcripts, without an LLM.

A transcript (``transcript_path`` in every hook's input) is JSONL, one entry per line:
``{"type": "user" | "assistant" | "system" | "summary" | ..., "message": {"role", "content"},
"isMeta", "isSidechain", "cwd", "gitBranch", "timestamp", ...}``. ``message.content`` is a string
(a typed prompt) or a list of blocks: ``text``, ``tool_use`` (``id``, ``name``, ``input``) in
assistant entries, ``tool_result`` (``tool_use_id``, ``content``, ``is_error``) in user entries.

:func:`parse` reads what a summary needs: the user's requests (typed prompts, not tool results,
task notifications, slash-command plumbing, system reminders, compaction preambles or
``#remember`` notes: :mod:`mcp_memory.capture.prompts`), the files edited, the shell commands run
(routine ones left out) and the tool calls that failed, each with the first line of its error.
:func:`summarize` renders that compactly as a ``session_summary`` memory, and nothing for a
session that edited nothing, ran nothing but routine commands and hit no error. Bad lines are
skipped: a transcript being written while it is read ends in a partial line.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mcp_memory.capture.observe import EDIT_TOOLS, error_line
from mcp_memory.capture.prompts import is_note, is_system_generated
from mcp_memory.capture.shell_commands import is_routine, parts
from mcp_memory.redaction.redact import redact

MAX_REQUESTS = 8
MAX_REQUEST_CHARS = 240
MAX_FILES = 20
MAX_COMMANDS = 12
MAX_COMMAND_CHARS = 140
MAX_ERRORS = 8
MAX_ERROR_CHARS = 200
MAX_SUMMARY_CHARS = 4000


@dataclass
class Session:
    session_id: str | None = None
    cwd: str | None = None
    branch: str | None = None
    started: str | None = None
    ended: str | None = None
    requests: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    request_count: int = 0
    tool_calls: int = 0

    @property
    def empty(self) -> bool:
        return not (self.requests or self.files or self.commands or self.errors)

    @property
    def worth_keeping(self) -> bool:
        """The session did something: edited files, ran commands that are not routine, or hit
        errors. A one-shot question, a ``#remember`` prompt, a look around (reads, searches)
        leaves nothing a summary would add to what is already stored."""
        return bool(self.files or self.commands or self.errors)


def _flat(text: str, limit: int) -> str:
    """``text`` redacted whole, then on one line and cut to ``limit``: redacting after the cut
    would see a key without its BEGIN line or a credentials file without its names."""
    flat = " ".join(redact(text).text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def _block_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            str(b.get("text", ""))
            for b in content
            if isinstance(b, Mapping) and b.get("type") == "text"
        )
    return ""


def _entries(lines: Iterable[str]) -> Iterable[Mapping[str, Any]]:
    for line in lines:
        line = line.strip()
        if not line:
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, Mapping):
            yield entry


def _is_request(text: str) -> bool:
    return bool(text.strip()) and not is_system_generated(text) and not is_note(text)


def parse(lines: Iterable[str], cwd: Path | None = None) -> Session:
    """What the session did, from transcript lines (main conversation only, no sub-agents)."""
    session = Session()
    pending: dict[str, tuple[str, str]] = {}  # tool_use id -> (tool name, what it acted on)
    root = cwd
    for entry in _entries(lines):
        if entry.get("isSidechain"):
            continue
        timestamp = entry.get("timestamp")
        if isinstance(timestamp, str):
            session.started = session.started or timestamp
            session.ended = timestamp
        for key in ("sessionId", "cwd", "gitBranch"):
            value = entry.get(key)
            if isinstance(value, str) and value:
                attr = {"sessionId": "session_id", "gitBranch": "branch"}.get(key, key)
                setattr(session, attr, value)
        if root is None and session.cwd:
            root = Path(session.cwd)
        message = entry.get("message")
        if not isinstance(message, Mapping):
            continue
        content = message.get("content")
        kind = entry.get("type")
        if kind == "user":
            _user(session, entry, content, pending)
        elif kind == "assistant" and isinstance(content, list):
            for block in content:
                if isinstance(block, Mapping) and block.get("type") == "tool_use":
                    _tool_use(session, block, pending, root)
    return session


def _user(
    session: Session, entry: Mapping[str, Any], content: Any, pending: dict[str, tuple[str, str]]
) -> None:
    if isinstance(content, list):
        for block in content:
            if not isinstance(block, Mapping) or block.get("type") != "tool_result":
                continue
            tool = pending.pop(str(block.get("tool_use_id")), None)
            if block.get("is_error") and tool is not None and len(session.errors) < MAX_ERRORS:
                name, target = tool
                first = error_line(redact(_result_text(block.get("content"))).text)
                where = f" `{target}`" if target else ""
                error = f"{name}{where}: {first}" if first else f"{name}{where} failed"
                session.errors.append(_flat(error, MAX_ERROR_CHARS))
    if entry.get("isMeta") or entry.get("isCompactSummary"):
        return
    text = _block_text(content).strip()
    if not _is_request(text):
        return
    session.request_count += 1
    if len(session.requests) < MAX_REQUESTS:
        session.requests.append(_flat(text, MAX_REQUEST_CHARS))
    else:  # keep the first requests and the latest ones: the goal and where it ended
        session.requests[MAX_REQUESTS // 2 :] = [
            *session.requests[MAX_REQUESTS // 2 + 1 :],
            _flat(text, MAX_REQUEST_CHARS),
        ]


def _result_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return _block_text(content)


def _tool_use(
    session: Session,
    block: Mapping[str, Any],
    pending: dict[str, tuple[str, str]],
    root: Path | None,
) -> None:
    session.tool_calls += 1
    name = str(block.get("name") or "tool")
    tool_input = block.get("input") if isinstance(block.get("input"), Mapping) else {}
    assert isinstance(tool_input, Mapping)
    target = ""
    if name in EDIT_TOOLS:
        path = tool_input.get("file_path") or tool_input.get("notebook_path")
        if isinstance(path, str) and path:
            target = _flat(_relative(path, root), MAX_COMMAND_CHARS)
            if target not in session.files and len(session.files) < MAX_FILES:
                session.files.append(target)
    elif name == "Bash":
        command = tool_input.get("command")
        if isinstance(command, str) and command.strip():
            target = _flat(command, MAX_COMMAND_CHARS)
            routine = all(is_routine(part) for part in parts(command))  # `sleep 1; make`
            fresh = not routine and target not in session.commands
            if fresh and len(session.commands) < MAX_COMMANDS:
                session.commands.append(target)
    else:
        path = tool_input.get("file_path") or tool_input.get("path") or tool_input.get("url")
        target = _relative(path, root) if isinstance(path, str) else ""
    if isinstance(block.get("id"), str):
        pending[str(block["id"])] = (name, target)


def _relative(path: str, root: Path | None) -> str:
    if root is not None:
        try:
            return str(Path(path).relative_to(root))
        except ValueError:
            pass
    return path


def read(path: Path, cwd: Path | None = None) -> Session:
    with open(path, encoding="utf-8", errors="replace") as handle:
        return parse(handle, cwd)


def summarize(session: Session) -> str:
    """A compact, LLM-free session summary; empty when the session did nothing worth keeping
    (see :attr:`Session.worth_keeping`): summaries are episodic history, not knowledge."""
    if not session.worth_keeping:
        return ""
    day = (session.started or "")[:10]
    facts = [f"{session.request_count} request(s)", f"{session.tool_calls} tool call(s)"]
    if session.branch:
        facts.insert(0, f"branch {session.branch}")
    head = f"Session summary{' ' + day if day else ''} ({', '.join(facts)})"
    lines = [head]
    if session.requests:
        lines.append("Requests:")
        lines += [f"- {r}" for r in session.requests]
    if session.files:
        lines.append("Files touched: " + ", ".join(session.files))
    if session.commands:
        lines.append("Commands: " + "; ".join(f"`{c}`" for c in session.commands))
    if session.errors:
        lines.append("Errors:")
        lines += [f"- {e}" for e in session.errors]
    text = "\n".join(lines)
    return text if len(text) <= MAX_SUMMARY_CHARS else text[: MAX_SUMMARY_CHARS - 1] + "…"
