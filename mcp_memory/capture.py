"""Passive capture from tool results: keep failures with their fixes, and recorded decisions.

The PostToolUse / PostToolUseFailure hooks call :func:`observe` with the event and the session's
state; it returns the memories worth keeping (usually none) and updates the state. Pure Python
and the standard library only: it runs on every tool call Claude Code reports to the hook.

What is kept:

- a failed shell command, once the same command later succeeds *after something changed*
  (files edited, other commands run): one ``error_fix`` memory with the command, the tail of its
  error and what changed. A failure is only remembered in the session state until then; one
  that is never fixed reaches memory through the session summary instead (its errors list);
- an approved plan (ExitPlanMode), as a plain note (the lifecycle decides whether it lasts);
- a decision record written or edited (``docs/adr/...``, ``decisions/...``, ``DECISIONS.md``),
  as a ``decision``.

What is not: reads, searches, listings, ``git status``-style queries and their "failures"
(``grep`` exits 1 when nothing matches), edits with no failure pending, test runs that pass
without a prior failure, a command that passes on a re-run with nothing changed in between.

The session state (:mod:`mcp_memory.hook_state`) carries open failures from one hook run to the
next.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

MAX_OPEN_FAILURES = 8
MAX_ERROR_CHARS = 600
ERROR_TAIL_LINES = 12
MAX_CHANGES = 8
MAX_COMMAND_CHARS = 300
MAX_PLAN_CHARS = 2500
MAX_DECISION_CHARS = 1200
EDIT_TOOLS = frozenset({"Edit", "Write", "MultiEdit", "NotebookEdit"})

# Programs whose non-zero exit is routine (no match, a difference, a missing file) and whose
# output is not knowledge.
ROUTINE_PROGRAMS = frozenset(
    [
        "ls",
        "ll",
        "la",
        "cat",
        "bat",
        "less",
        "more",
        "head",
        "tail",
        "grep",
        "egrep",
        "fgrep",
        "rg",
        "ag",
        "ack",
        "find",
        "fd",
        "locate",
        "which",
        "where",
        "type",
        "command",
        "echo",
        "printf",
        "pwd",
        "cd",
        "pushd",
        "popd",
        "test",
        "[",
        "true",
        "false",
        "wc",
        "diff",
        "cmp",
        "stat",
        "file",
        "tree",
        "du",
        "df",
        "ps",
        "pgrep",
        "top",
        "htop",
        "kill",
        "sleep",
        "env",
        "printenv",
        "whoami",
        "id",
        "date",
        "uname",
        "hostname",
        "history",
        "clear",
        "man",
        "help",
        "tldr",
        "open",
        "xdg-open",
        "jq",
        "yq",
        "sort",
        "uniq",
        "cut",
        "tr",
        "tee",
        "realpath",
        "dirname",
        "basename",
        "readlink",
        "mkdir",
        "touch",
        "cp",
        "mv",
        "ln",
        "chmod",
    ]
)
ROUTINE_GIT = frozenset(
    [
        "status",
        "log",
        "diff",
        "show",
        "branch",
        "remote",
        "rev-parse",
        "ls-files",
        "blame",
        "describe",
        "shortlog",
        "reflog",
        "config",
        "stash",
        "tag",
        "fetch",
    ]
)
_ENV_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=\S*$")
_NOISE_SUFFIX = re.compile(
    r"(\s*2>&1|\s*\|\s*(tail|head|less|more|cat|tee)(\s+[-\w./]+)*|\s*;\s*echo\s+\S*\$\?\S*)+\s*$"
)
_DECISION_PATH = re.compile(
    r"(?i)(^|/)(adrs?|decisions?|architecture/decisions?)/[^/]+\.(md|markdown|rst|txt)$"
    r"|(^|/)(adr[-_ ]?\d+[^/]*|decisions?|decision[-_]log)\.(md|markdown|rst|txt)$"
)


class Capture(NamedTuple):
    """A memory to store (through the service, which redacts and deduplicates)."""

    content: str
    type: str
    tags: tuple[str, ...]


# -- commands -----------------------------------------------------------------------------------


def command_words(command: str) -> list[str]:
    """The words of the first real command: leading ``cd x &&`` and ``VAR=value`` dropped."""
    text = command.strip()
    while True:
        m = re.match(r"^cd\s+\S+\s*(&&|;)\s*", text)
        if not m:
            break
        text = text[m.end() :]
    words = text.split()
    while words and _ENV_ASSIGNMENT.match(words[0]):
        words.pop(0)
    for prefix in ("sudo", "time", "nice", "command", "exec"):
        if words and words[0] == prefix:
            words.pop(0)
    return words


def is_routine(command: str) -> bool:
    words = command_words(command)
    if not words:
        return True
    program = words[0].rsplit("/", 1)[-1]
    if program == "git":
        sub = next((w for w in words[1:] if not w.startswith("-")), "")
        return sub in ROUTINE_GIT or sub == ""
    return program in ROUTINE_PROGRAMS


def command_key(command: str) -> str:
    """The command without output plumbing (``2>&1 | tail -20``) and extra whitespace, so a
    re-run with different plumbing counts as the same command."""
    return " ".join(_NOISE_SUFFIX.sub("", " ".join(command_words(command))).split())


_RUNNERS = frozenset(
    [
        "python",
        "python3",
        "node",
        "bash",
        "sh",
        "zsh",
        "uv",
        "uvx",
        "npx",
        "npm",
        "pnpm",
        "yarn",
        "bun",
        "deno",
    ]
)


def same_run(a: str, b: str) -> bool:
    """True when two command keys run the same thing, one more narrowly: their words without
    flags agree up to the shorter one (``pytest`` / ``pytest -x tests/a.py``, ``cargo build`` /
    ``cargo build --release``), and that is more than a bare interpreter (``python``)."""

    def words(key: str) -> list[str]:
        return [w for w in key.split() if not w.startswith("-")]

    x, y = words(a), words(b)
    short, long = (x, y) if len(x) <= len(y) else (y, x)
    if not short or long[: len(short)] != short:
        return False
    return len(short) >= 2 or short[0].rsplit("/", 1)[-1] not in _RUNNERS


def _short(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


_STATUS_LINE = re.compile(r"^\s*(Exit code \d+|Command exited with non-zero status code \d+)\s*$")
_ERROR_LINE = re.compile(
    r"\b(FAILED|ERROR)\b|\b\w*(Error|Exception)\b|\b(error|fatal)(\[\w+\])?:|\bpanic"
)
_ERROR_WORDS = re.compile(
    r"(?i)\b(error|failed|failure|exception|traceback|fatal|denied|not found|cannot|can't|"
    r"no such|undefined|refused|timed out|panic)\b"
)


def _lines(text: str) -> list[str]:
    return [
        ln.rstrip() for ln in text.strip().splitlines() if ln.strip() and not _STATUS_LINE.match(ln)
    ]


def error_tail(text: str) -> str:
    """The last lines of an error output (where the actual error usually is), without the
    ``Exit code N`` status line Claude Code puts first."""
    lines = _lines(text)
    tail = "\n".join(lines[-ERROR_TAIL_LINES:])
    return tail if len(tail) <= MAX_ERROR_CHARS else "…" + tail[-(MAX_ERROR_CHARS - 1) :]


def error_line(text: str) -> str:
    """The one line that says what went wrong: the last line that reads like an error (pytest's
    ``FAILED ...``, ``ModuleNotFoundError: ...``), else the first line; decorations stripped."""
    lines = _lines(text)
    strong = [ln for ln in lines if _ERROR_LINE.search(ln)]
    weak = [ln for ln in lines if _ERROR_WORDS.search(ln)]
    line = (strong or weak or [lines[0] if lines else ""])[-1]
    return line.strip().strip("=").strip()


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(_text(v) for v in value)
    if isinstance(value, Mapping):
        if isinstance(value.get("text"), str):
            return str(value["text"])
        parts = [_text(value.get(k)) for k in ("stderr", "stdout", "output", "error", "content")]
        return "\n".join(p for p in parts if p)
    return ""


def bash_outcome(event: Mapping[str, Any]) -> tuple[bool, str] | None:
    """(failed, output) of a Bash tool call, or None when it was interrupted by the user.

    ``PostToolUseFailure`` carries an ``error`` string; ``PostToolUse`` a ``tool_response`` that
    is an object (``stdout``/``stderr``/``interrupted``, an exit code in some versions) or a
    string (``Error: Exit code 1 ...``)."""
    if event.get("hook_event_name") == "PostToolUseFailure":
        if event.get("is_interrupt"):
            return None
        return True, _text(event.get("error"))
    response = event.get("tool_response")
    if isinstance(response, Mapping):
        if response.get("interrupted"):
            return None
        for name in ("exit_code", "exitCode", "returncode", "return_code", "code"):
            code = response.get(name)
            if isinstance(code, int) and not isinstance(code, bool) and code != 0:
                return True, _text(response)
        if response.get("is_error") is True or response.get("isError") is True:
            return True, _text(response)
        return False, _text(response)
    text = _text(response)
    failed = bool(re.match(r"^\s*(Error\b|Exit code [1-9]|Command (failed|exited))", text))
    return failed, text


def _relative(path: str, cwd: Path | None) -> str:
    if cwd is not None:
        with contextlib.suppress(ValueError):
            return str(Path(path).relative_to(cwd))
    return path


# -- the filter ---------------------------------------------------------------------------------


def observe(
    event: Mapping[str, Any], state: dict[str, Any], cwd: Path | None = None
) -> list[Capture]:
    """What to keep from one PostToolUse / PostToolUseFailure event; updates ``state``."""
    tool = event.get("tool_name")
    tool_input = event.get("tool_input")
    if not isinstance(tool, str) or not isinstance(tool_input, Mapping):
        return []
    failed_event = event.get("hook_event_name") == "PostToolUseFailure"
    if tool == "Bash":
        command = tool_input.get("command")
        if not isinstance(command, str) or not command.strip():
            return []
        outcome = bash_outcome(event)
        if outcome is None or is_routine(command):
            return []
        failed, output = outcome
        if failed:
            _record_failure(state, command, output)
            return []
        return _record_success(state, command)
    if failed_event:
        return []  # a failed edit or read is Claude's own retry loop, not knowledge
    if tool in EDIT_TOOLS:
        path = tool_input.get("file_path") or tool_input.get("notebook_path")
        if not isinstance(path, str) or not path:
            return []
        _note_change(state, "edits", _relative(path, cwd))
        return _decision_record(path, tool_input, cwd)
    if tool == "ExitPlanMode":
        plan = tool_input.get("plan")
        if isinstance(plan, str) and plan.strip():
            return [Capture("Plan approved by the user:\n" + _short(plan, MAX_PLAN_CHARS), "note",
                            ("plan",))]  # fmt: skip
    return []


def _failures(state: dict[str, Any]) -> list[dict[str, Any]]:
    failures = state.get("failures")
    if not isinstance(failures, list):
        failures = state["failures"] = []
    return [f for f in failures if isinstance(f, dict)]


def _record_failure(state: dict[str, Any], command: str, output: str) -> None:
    key = command_key(command)
    failures = _failures(state)
    for failure in failures:
        if failure.get("key") == key:  # failed again: keep what changed, take the new error
            failure["error"] = error_tail(output)
            failure["command"] = _short(command, MAX_COMMAND_CHARS)
            failure["at"] = time.time()
            state["failures"] = failures
            return
    failures.append({
        "key": key, "command": _short(command, MAX_COMMAND_CHARS), "error": error_tail(output),
        "at": time.time(), "edits": [], "commands": [],
    })  # fmt: skip
    state["failures"] = failures[-MAX_OPEN_FAILURES:]


def _note_change(state: dict[str, Any], kind: str, what: str) -> None:
    failures = _failures(state)
    changed = False
    for failure in failures:
        items = failure.setdefault(kind, [])
        if isinstance(items, list) and what not in items and len(items) < MAX_CHANGES:
            items.append(what)
            changed = True
    if changed:
        state["failures"] = failures


def _record_success(state: dict[str, Any], command: str) -> list[Capture]:
    key = command_key(command)
    failures = _failures(state)
    match = next((f for f in failures if f.get("key") == key), None)
    if match is None:  # a narrower or wider run of the same tool: pytest -x vs pytest tests/a.py
        match = next((f for f in reversed(failures) if same_run(str(f.get("key", "")), key)), None)
    if match is None:
        _note_change(state, "commands", _short(command, 120))
        return []
    state["failures"] = [f for f in failures if f is not match]
    edits = [str(e) for e in match.get("edits") or []]
    commands = [str(c) for c in match.get("commands") or []]
    if not edits and not commands:
        return []  # passed on a re-run with nothing changed: flaky or transient, not a fix
    changes = []
    if edits:
        changes.append("editing " + ", ".join(edits))
    if commands:
        changes.append("running " + "; ".join(f"`{c}`" for c in commands))
    error = str(match.get("error") or "").strip()
    failed_with = f" failed with:\n{error}\n" if error else " failed.\n"
    content = (
        f"Fixed: `{match.get('command')}`{failed_with}It passed after " + " and ".join(changes)
        + (f" (then `{_short(command, 120)}`)." if key != match.get("key") else ".")
    )  # fmt: skip
    return [Capture(content, "error_fix", ("error", "fix"))]


def _decision_record(path: str, tool_input: Mapping[str, Any], cwd: Path | None) -> list[Capture]:
    if not _DECISION_PATH.search(path.replace("\\", "/")):
        return []
    text = tool_input.get("content") or tool_input.get("new_string") or tool_input.get("new_source")
    if not isinstance(text, str):
        edits = tool_input.get("edits")
        text = "\n".join(
            str(e.get("new_string", "")) for e in edits if isinstance(e, Mapping)
        ) if isinstance(edits, list) else ""  # fmt: skip
    if not text.strip():
        return []
    body = _short(text, MAX_DECISION_CHARS)
    return [
        Capture(f"Decision recorded in {_relative(path, cwd)}:\n{body}", "decision", ("decision",))
    ]
