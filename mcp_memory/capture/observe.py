"""Passive capture from tool results: keep failures with their fixes, and recorded decisions.

The PostToolUse / PostToolUseFailure hooks call :func:`observe` with the event and the session's
state; it returns the memories worth keeping (usually none) and updates the state. Pure Python
and the standard library only: it runs on every tool call Claude Code reports to the hook.
What counts as routine, inert, a lint run or an install is in :mod:`mcp_memory.capture.shell_commands`.
Precision comes first: a missed capture loses one hint, a stored routine result pollutes recall,
links and consolidation. bench/capture.py measures both on labelled episodes.

What is kept:

- a failed shell command, once it later succeeds *after something changed* (files edited,
  other commands run): one ``error_fix`` memory with the command, the tail of its error and what
  changed. "Later succeeds" is the same command, a narrower or wider run of it once something
  changed, or ``setup && command`` (the setup is the change). A ``cmd | tail`` pipeline (or
  ``cmd; echo $?``) that exits 0 while its output holds a failed test run, type check or build
  counts as failed: the common runners' real lines, bare ``pytest -q`` summaries and colour
  codes included (:func:`~mcp_memory.capture.shell_commands.shows_failure`). A failure is only
  remembered in the session state until then; one that is never fixed reaches memory through the
  session summary instead (its errors list);
- a failed package install followed by another install with the same manager that works (``pip
  install torch==2.0.1``, then ``torch==2.2.2``): the variant that worked;
- an approved plan (ExitPlanMode) of at least two lines, as a plain note (the lifecycle decides
  whether it lasts);
- a decision record written or edited (``docs/adr/...``, ``decisions/...``, ``DECISIONS.md``),
  as a ``decision``, except the directory's index and template.

What is not: reads, searches, listings, ``git status``-style queries, probes (``curl``) and their
"failures" (``grep`` exits 1 when nothing matches); edits with no failure pending; test runs
that pass without a prior failure; a command that passes on a re-run with nothing changed in
between, or with only inert commands (``pip show``, ``--version``, ``git add``) in between;
Claude's own slips (an error pointing into a file it edited earlier in the session that is not a
test's assertion: a typo, a type error in code it just wrote, a test importing what does not
exist yet) and style complaints (linters, formatters, pre-commit hooks) cleaned up by editing;
an error whose message already spells out the command that fixed it (``Hint: pip install
types-requests``); a one-line plan. Secret-bearing options in commands (``--token X``, ``login
-p X``) are masked before a command is kept anywhere; the hook then redacts the memory.

The session state (:mod:`mcp_memory.capture.session_state`) carries open failures, and the files edited in
the session, from one hook run to the next.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from mcp_memory.capture.shell_commands import (
    changes_something,
    command_key,
    install_of,
    is_inert,
    is_lint,
    is_probe,
    is_routine,
    masks_exit,
    parts,
    same_run,
    scrub,
    shows_failure,
    strip_ansi,
)

__all__ = ["EDIT_TOOLS", "Capture", "bash_outcome", "error_line", "error_tail", "observe"]

MAX_OPEN_FAILURES = 8
MAX_ERROR_CHARS = 600
ERROR_TAIL_LINES = 12
MAX_CHANGES = 8
MAX_EDITED = 64  # files edited in the session, remembered to tell Claude's own slips apart
MAX_COMMAND_CHARS = 300
MAX_PLAN_CHARS = 2500
MIN_PLAN_LINES = 2  # a one-line "plan" is a task ("Fix the typo in README"), not a plan
MAX_DECISION_CHARS = 1200
EDIT_TOOLS = frozenset({"Edit", "Write", "MultiEdit", "NotebookEdit"})

_DECISION_PATH = re.compile(
    r"(?i)(^|/)(adrs?|decisions?|architecture/decisions?)/[^/]+\.(md|markdown|rst|txt)$"
    r"|(^|/)(adr[-_ ]?\d+[^/]*|decisions?|decision[-_]log)\.(md|markdown|rst|txt)$"
)
# Files in a decision directory that hold no decision: its index and its template.
_DECISION_SCAFFOLD = (
    r"(?i)(^|/)(readme|index|toc|template|[^/]*[-_]template)\.(md|markdown|rst|txt)$"
)
# A test's verdict on behaviour: such a failure is about the code under test, even when Claude
# wrote the test itself (a regression test written to reproduce a bug).
_ASSERTION = (
    r"AssertionError|assertion `left == right` failed|expect\(received\)|\bassert\s+\S.*==|"
    r"Expected: .*\n\s*Received: "
)


class Capture(NamedTuple):
    """A memory to store (through the service, which redacts and deduplicates)."""

    content: str
    type: str
    tags: tuple[str, ...]
    files: tuple[str, ...] = ()  # files edited in the episode: the memory is anchored to them


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


# pytest's session banner: the same in every run, never the error.
_BANNER_LINE = (
    r"^(=+ test session starts =+|platform \S+ -- Python |rootdir: |configfile: |plugins: "
    r"|cachedir: |cacheprovider: |collected \d+ items?\s*$)"
)


# npm's trailer after a failed script (``npm error code 1``, ``npm error path ...``): the same
# for every failed script, so it is dropped when the output holds anything else. Other npm
# error lines (``code E401``, the lockfile message) are the error and stay.
_NPM_TRAILER = (
    r"^\s*npm (?:ERR!|error)(?:\s*$| (?:code \d+$|path |command |workspace |location |errno "
    r"|A complete log|Lifecycle script |\s+))"
)


def _lines(text: str) -> list[str]:
    lines = [
        ln.rstrip()
        for ln in strip_ansi(text).strip().splitlines()
        if ln.strip() and not _STATUS_LINE.match(ln) and not re.match(_BANNER_LINE, ln)
    ]
    useful = [ln for ln in lines if not re.match(_NPM_TRAILER, ln)]
    return useful or lines


def error_tail(text: str) -> str:
    """The last lines of an error output (where the actual error usually is), without the
    ``Exit code N`` status line Claude Code puts first. Redacted whole before it is cut: a
    tail that starts inside a key or a token would hide it from the redactor."""
    from mcp_memory.redaction.redact import redact

    lines = _lines(redact(text).text)
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
        return True, strip_ansi(_text(event.get("error")))
    response = event.get("tool_response")
    if isinstance(response, Mapping):
        if response.get("interrupted"):
            return None
        for name in ("exit_code", "exitCode", "returncode", "return_code", "code"):
            code = response.get(name)
            if isinstance(code, int) and not isinstance(code, bool) and code != 0:
                return True, strip_ansi(_text(response))
        if response.get("is_error") is True or response.get("isError") is True:
            return True, strip_ansi(_text(response))
        return False, strip_ansi(_text(response))
    text = strip_ansi(_text(response))
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
        if outcome is None:
            return []
        failed, output = outcome
        command = scrub(command)  # before it reaches the state file or a memory
        if not failed and masks_exit(command) and shows_failure(output):
            failed = True  # `pytest | tail -20` exits with tail's status; the output says
        if is_routine(command) or is_probe(command):
            if not failed and changes_something(command):
                _note_change(state, "commands", _short(command, 120))
            return []
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
        relative = _relative(path, cwd)
        _note_change(state, "edits", relative)
        _note_edited(state, relative)
        return _decision_record(path, tool_input, cwd)
    if tool == "ExitPlanMode":
        plan = tool_input.get("plan")
        if isinstance(plan, str) and len([ln for ln in plan.splitlines() if ln.strip()]) >= (
            MIN_PLAN_LINES
        ):
            return [
                Capture(
                    "Plan approved by the user:\n" + _short(plan, MAX_PLAN_CHARS), "note", ("plan",)
                )
            ]
    return []


def _failures(state: dict[str, Any]) -> list[dict[str, Any]]:
    failures = state.get("failures")
    if not isinstance(failures, list):
        failures = state["failures"] = []
    return [f for f in failures if isinstance(f, dict)]


def _note_edited(state: dict[str, Any], path: str) -> None:
    edited = state.get("edited")
    edited = [e for e in edited if isinstance(e, str)] if isinstance(edited, list) else []
    if path in edited:
        edited.remove(path)
    state["edited"] = [*edited, path][-MAX_EDITED:]


def _own_slip(state: dict[str, Any], output: str) -> bool:
    """The error points into a file Claude edited earlier in the session and is not a test's
    verdict on behaviour: a typo, a compile or type error in code it just wrote, a test it just
    wrote that imports what does not exist yet."""
    edited = state.get("edited")
    if not isinstance(edited, list) or not edited or re.search(_ASSERTION, output):
        return False
    return any(isinstance(path, str) and path in output for path in edited)


def _record_failure(state: dict[str, Any], command: str, output: str) -> None:
    key = command_key(command)
    own, lint = _own_slip(state, output), is_lint(command, output)
    failures = _failures(state)
    for failure in failures:
        if failure.get("key") == key:  # failed again: keep what changed, take the new error
            failure["error"] = error_tail(output)
            failure["command"] = _short(command, MAX_COMMAND_CHARS)
            failure["at"] = time.time()
            failure["own"] = bool(failure.get("own")) and own  # one real problem makes it real
            failure["lint"] = bool(failure.get("lint")) and lint
            state["failures"] = failures
            return
    failures.append(
        {
            "key": key,
            "command": _short(command, MAX_COMMAND_CHARS),
            "error": error_tail(output),
            "at": time.time(),
            "edits": [],
            "commands": [],
            "own": own,
            "lint": lint,
        }
    )
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


def _names_its_fix(error: str, commands: list[str]) -> bool:
    """The error message already spells out a command that fixed it (``Hint: pip install
    types-requests``, ``update your lock file with `npm install```): it will say so again."""
    for command in commands:
        for part in parts(command):
            key = command_key(part)
            if len(key.split()) >= 2 and key in error:
                return True
    return False


def _fixed(match: Mapping[str, Any], command: str, key: str, setup: list[str]) -> list[Capture]:
    """The error_fix memory for a failure ``match`` that ``command`` now passes, or nothing when
    what happened in between is not knowledge."""
    edits = [str(e) for e in match.get("edits") or []]
    commands = [str(c) for c in match.get("commands") or []] + setup
    if not edits and not commands:
        return []  # passed on a re-run with nothing changed: flaky or transient, not a fix
    if (match.get("own") or match.get("lint")) and not commands:
        return []  # Claude's own slip or a style complaint, cleaned up by editing
    error = str(match.get("error") or "").strip()
    if _names_its_fix(error, commands):
        return []
    changes = []
    if edits:
        changes.append("editing " + ", ".join(edits))
    if commands:
        changes.append("running " + "; ".join(f"`{c}`" for c in commands))
    failed_with = f" failed with:\n{error}\n" if error else " failed.\n"
    content = (
        f"Fixed: `{match.get('command')}`{failed_with}It passed after "
        + " and ".join(changes)
        + (f" (then `{_short(command, 120)}`)." if key != match.get("key") else ".")
    )
    return [Capture(content, "error_fix", ("error", "fix"), tuple(edits))]


def _record_success(state: dict[str, Any], command: str) -> list[Capture]:
    """A command passed: the memory if it fixes an open failure, else note it as a change.

    Matched in order: the same command; ``setup && X`` where ``X`` failed (the setup is what
    changed); another install by the same package manager (``pip install torch==2.2.2`` after
    ``torch==2.0.1`` failed: the variant that worked); a narrower or wider run of the same tool
    (``pytest -x`` vs ``pytest tests/a.py``), only once something changed, since a narrower run
    that passes on its own says nothing about the wider failure."""
    key = command_key(command)
    failures = _failures(state)
    match = next((f for f in failures if f.get("key") == key), None)
    setup: list[str] = []
    if match is None:
        steps = parts(command)
        for i in range(1, len(steps)):
            step_key = command_key(steps[i])
            match = next((f for f in failures if f.get("key") == step_key), None)
            if match is not None:
                done = " && ".join(s for s in steps[:i] if not is_inert(s))
                setup = [_short(done, 120)] if done else []
                break
    if match is None and (manager := install_of(command)) is not None:
        variant = next(
            (f for f in reversed(failures) if install_of(str(f.get("command", ""))) == manager),
            None,
        )
        if variant is not None:
            state["failures"] = [f for f in failures if f is not variant]
            return _instead(variant, command)
    if match is None:
        wider = [f for f in reversed(failures) if same_run(str(f.get("key", "")), key)]
        match = next((f for f in wider if f.get("edits") or f.get("commands")), None)
        if match is None and wider:
            return []  # another run of the failing tool, nothing changed: neither fix nor change
    if match is None:
        if not is_inert(command):
            _note_change(state, "commands", _short(command, 120))
        return []
    state["failures"] = [f for f in failures if f is not match]
    return _fixed(match, command, key, setup)


def _instead(failure: Mapping[str, Any], command: str) -> list[Capture]:
    error = str(failure.get("error") or "").strip()
    if _names_its_fix(error, [command]):
        return []
    failed_with = f" failed with:\n{error}\n" if error else " failed.\n"
    content = (
        f"Fixed: `{failure.get('command')}`{failed_with}`{_short(command, 200)}` worked instead."
    )
    return [Capture(content, "error_fix", ("error", "fix"))]


def _decision_record(path: str, tool_input: Mapping[str, Any], cwd: Path | None) -> list[Capture]:
    normal = path.replace("\\", "/")
    if not _DECISION_PATH.search(normal) or re.search(_DECISION_SCAFFOLD, normal):
        return []
    text = tool_input.get("content") or tool_input.get("new_string") or tool_input.get("new_source")
    if not isinstance(text, str):
        edits = tool_input.get("edits")
        text = (
            "\n".join(str(e.get("new_string", "")) for e in edits if isinstance(e, Mapping))
            if isinstance(edits, list)
            else ""
        )
    if not text.strip():
        return []
    body = _short(text, MAX_DECISION_CHARS)
    return [
        Capture(
            f"Decision recorded in {_relative(path, cwd)}:\n{body}",
            "decision",
            ("decision",),
            (_relative(path, cwd),),
        )
    ]
