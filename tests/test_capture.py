"""Capture filter, session state and transcript summaries (pure functions, no subprocess)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import hook_fixtures as fx

from mcp_memory import transcript
from mcp_memory.capture import (
    bash_outcome,
    command_key,
    error_tail,
    is_routine,
    observe,
    same_run,
)
from mcp_memory.hook_state import remove_stale_states, session_state, state_path

CWD = Path("/work/proj")


def feed(events: list[dict[str, Any]], state: dict[str, Any] | None = None) -> list[Any]:
    state = {} if state is None else state
    out = []
    for event in events:
        out += observe(event, state, CWD)
    return out


def test_failure_then_edit_then_success_is_one_error_fix_memory() -> None:
    captured = feed([
        fx.bash_failure(CWD, "python -m pytest -q tests/test_client.py 2>&1 | tail -20",
                        fx.PYTEST_ERROR),
        fx.read(CWD, "src/client.py"),
        fx.edit(CWD, "src/client.py"),
        fx.bash_success(CWD, "python -m pytest -q tests/test_client.py", "12 passed"),
    ])  # fmt: skip
    assert len(captured) == 1
    fix = captured[0]
    assert fix.type == "error_fix" and fix.tags == ("error", "fix")
    assert fix.content.startswith("Fixed: `python -m pytest -q tests/test_client.py 2>&1 | tail")
    assert "httpx.ReadTimeout: timed out" in fix.content
    assert "Exit code 1" not in fix.content.splitlines()[1]  # the tail, not the status line first
    assert fix.content.endswith("It passed after editing src/client.py.")


def test_intervening_command_counts_as_the_fix() -> None:
    captured = feed([
        fx.bash_failure(CWD, "npm test", "Error: Cannot find module 'left-pad'"),
        fx.bash_success(CWD, "npm install left-pad"),
        fx.bash_success(CWD, "npm test", "ok"),
    ])  # fmt: skip
    assert [c.type for c in captured] == ["error_fix"]
    assert "running `npm install left-pad`" in captured[0].content


def test_nothing_kept_from_routine_work() -> None:
    """Reads, listings, grep's exit 1, git queries, a green run without a prior failure, edits
    without a failure, a re-run that passes with nothing changed, interrupted commands."""
    state: dict[str, Any] = {}
    captured = feed([
        fx.read(CWD, "README.md"),
        fx.bash_success(CWD, "ls -la"),
        fx.bash_failure(CWD, "grep -rn TODO src", "Exit code 1"),
        fx.bash_failure(CWD, "git diff --exit-code", "Exit code 1\ndiff --git a/x b/x"),
        fx.bash_success(CWD, "git status"),
        fx.bash_success(CWD, "pytest -q", "3 passed"),
        fx.edit(CWD, "src/app.py"),
        fx.bash_failure(CWD, "make lint", "Exit code 2\nflake8: E501"),
        fx.bash_success(CWD, "make lint"),
        {**fx.bash_failure(CWD, "make build", "Interrupted"), "is_interrupt": True},
    ], state)  # fmt: skip
    assert captured == []
    assert state.get("failures") == []


def test_failed_edit_is_ignored_and_failed_again_keeps_changes() -> None:
    state: dict[str, Any] = {}
    failed_edit = {**fx.edit(CWD, "src/a.py"), "hook_event_name": "PostToolUseFailure",
                   "error": "String to replace not found in file."}  # fmt: skip
    assert feed([failed_edit], state) == []
    feed([fx.bash_failure(CWD, "cargo build", "error[E0425]: cannot find value `x`"),
          fx.edit(CWD, "src/main.rs"),
          fx.bash_failure(CWD, "cargo build", "error[E0308]: mismatched types")], state)  # fmt: skip
    (failure,) = state["failures"]
    assert failure["edits"] == ["src/main.rs"] and "E0308" in failure["error"]
    (fix,) = feed(
        [fx.edit(CWD, "src/lib.rs"), fx.bash_success(CWD, "cargo build --release")], state
    )
    assert "mismatched types" in fix.content and "src/main.rs, src/lib.rs" in fix.content
    assert fix.content.endswith("(then `cargo build --release`).")


def test_decisions_and_plans_are_captured() -> None:
    adr = fx.write(CWD, "docs/adr/0007-retry-policy.md", "# 7. Retry GETs three times\n\nWhy...")
    plan = {**fx.base("PostToolUse", CWD), "tool_name": "ExitPlanMode",
            "tool_input": {"plan": "1. Add retries\n2. Test them"}, "tool_response": {}}  # fmt: skip
    other = fx.write(CWD, "docs/guide.md", "# Guide")
    captured = feed([adr, plan, other])
    assert [(c.type, c.tags) for c in captured] == [
        ("decision", ("decision",)),
        ("note", ("plan",)),
    ]
    assert captured[0].content.startswith("Decision recorded in docs/adr/0007-retry-policy.md:")
    assert "Retry GETs three times" in captured[0].content
    assert captured[1].content == "Plan approved by the user:\n1. Add retries\n2. Test them"


def test_command_helpers() -> None:
    assert command_key("cd /x && FOO=1 pytest  -x 2>&1 | tail -n 30") == "pytest -x"
    assert command_key("make test; echo $?") == "make test"
    assert is_routine("cd src && rg foo") and is_routine("git log -5") and is_routine("")
    assert not is_routine("git push") and not is_routine("sudo make install")
    assert same_run("pytest", "pytest -x tests/a.py") and same_run("cargo build", "cargo build -r")
    assert not same_run("npm run build", "npm run test")
    assert not same_run("python", "python -m pytest")
    assert not same_run("python -m pytest", "python -m pip install x")
    assert bash_outcome(fx.bash_success(CWD, "x")) == (False, "")
    as_text = {**fx.base("PostToolUse", CWD), "tool_response": "Error: Exit code 1\nboom"}
    assert bash_outcome(as_text) == (True, "Error: Exit code 1\nboom")
    coded = {**fx.base("PostToolUse", CWD), "tool_response": {"stdout": "", "exit_code": 3}}
    assert bash_outcome(coded) == (True, "")
    assert error_tail("\n".join(f"line {i}" for i in range(40))).startswith("line 28")


def test_session_state_is_locked_across_concurrent_updates(tmp_path: Path) -> None:
    """Parallel tool calls run hooks at once: no update may be lost."""

    def bump(n: int) -> None:
        for _ in range(20):
            with session_state(tmp_path, "sess-1") as state:
                state["count"] = int(state.get("count", 0)) + 1

    threads = [threading.Thread(target=bump, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with session_state(tmp_path, "sess-1") as state:
        assert state["count"] == 120
    odd = state_path(tmp_path, "../../etc/passwd")
    assert odd.parent == tmp_path / "sessions" and ".." not in odd.name
    assert state_path(tmp_path, "sess-1").stat().st_mode & 0o777 == 0o600
    assert remove_stale_states(tmp_path, max_age_days=0) == 1


def test_transcript_parse_extracts_requests_files_commands_errors(tmp_path: Path) -> None:
    path = fx.write_transcript(tmp_path / "t.jsonl", CWD)
    session = transcript.read(path)
    assert session.session_id == fx.SESSION and session.branch == "fix/retry-timeouts"
    assert session.requests == [
        "The HTTP client in src/client.py should retry on timeouts; "
        "tests/test_client.py::test_retry_on_timeout fails.",
        f"Push it with the token {fx.GITHUB_TOKEN} and note that <private>{fx.PRIVATE}</private> "
        "should never be stored.",
    ]  # slash-command plumbing, caveats, tool results, compaction preambles are not requests
    assert session.files == ["src/client.py", "docs/adr/0007-retry-policy.md"]  # no sidechain
    assert session.commands == [
        "python -m pytest -q tests/test_client.py", "git push origin fix/retry-timeouts",
    ]  # fmt: skip
    assert session.errors == [
        "Bash `python -m pytest -q tests/test_client.py`: "
        "FAILED tests/test_client.py::test_retry_on_timeout - httpx.ReadTimeout: timed out",
        "Bash `git push origin fix/retry-timeouts`: remote: Permission denied",
    ]
    assert session.request_count == 2 and session.tool_calls == 8


def test_summary_is_compact_and_empty_sessions_give_none(tmp_path: Path) -> None:
    path = fx.write_transcript(tmp_path / "t.jsonl", CWD)
    text = transcript.summarize(transcript.read(path))
    assert text.splitlines()[0] == (
        "Session summary 2026-11-21 (branch fix/retry-timeouts, 2 request(s), 8 tool call(s))"
    )
    assert "Files touched: src/client.py, docs/adr/0007-retry-policy.md" in text
    assert "Commands: `python -m pytest -q tests/test_client.py`; `git push" in text
    assert len(text) <= transcript.MAX_SUMMARY_CHARS
    assert transcript.summarize(transcript.parse(['{"type": "summary"}', "garbage"])) == ""


def test_many_requests_keep_the_first_and_the_latest() -> None:
    lines = [
        f'{{"type": "user", "message": {{"role": "user", "content": "request {i}"}}}}'
        for i in range(20)
    ]
    session = transcript.parse(lines)
    assert session.request_count == 20
    assert session.requests == [f"request {i}" for i in (0, 1, 2, 3, 16, 17, 18, 19)]
