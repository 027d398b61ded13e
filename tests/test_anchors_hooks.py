"""Code anchors through the hooks, run as Claude Code runs them (subprocesses, JSON on stdin):
an error fix is anchored to the files edited to fix it, and a memory whose file changed since is
injected with "may be out of date" (prompt injection, cached briefing)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import hook_fixtures as fx
import pytest
from support import free_port

from mcp_memory.capture import spool
from mcp_memory.embedding.local import LocalEmbedder
from mcp_memory.service.memories import MemoryService
from mcp_memory.store.database import Store

LOGIN = "def login(user):\n    return check(user, tz='UTC')\n"


def git(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(root), *args], check=True, capture_output=True, text=True
    )
    return done.stdout.strip()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = (tmp_path / "proj").resolve()
    (root / "src").mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "dev@example.com")
    git(root, "config", "user.name", "Dev")
    (root / "src" / "login.py").write_text(LOGIN)
    git(root, "add", ".")
    git(root, "commit", "-qm", "first")
    return root


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    yield path
    fx.settle(path / "run")


@pytest.fixture
def env(home: Path) -> dict[str, str]:
    return fx.hook_env(home, free_port())


def run_ok(event: str, payload: object, env: dict[str, str]) -> str | None:
    done, _ = fx.run_hook(event, payload, env)
    assert done.returncode == 0 and done.stderr == b"", done.stderr
    return fx.parse_output(event, done.stdout)


def remember(home: Path, minilm: LocalEmbedder, text: str, project: Path) -> int:
    store = Store.open(home / "memory.db")
    try:
        return MemoryService(store, minilm).remember(text, project=str(project)).id
    finally:
        store.close()


def test_captured_error_fix_is_anchored_to_the_edited_file(
    home: Path, project: Path, env: dict[str, str]
) -> None:
    error = "FAILED tests/test_login.py::test_login - AssertionError: tz mismatch"
    assert run_ok("PostToolUseFailure", fx.bash_failure(project, "pytest -q", error), env) is None
    run_ok("PostToolUse", fx.edit(project, str(project / "src" / "login.py")), env)
    run_ok("PostToolUse", fx.bash_success(project, "pytest -q", "3 passed in 0.1s"), env)
    fx.settle(home / "run")
    store = Store.open(home / "memory.db")
    try:
        [fix] = [m for m in store.get_many(store.query_ids("type = 'error_fix'", ())).values()]
        rows = store.anchors_of([fix.id])[fix.id]
    finally:
        store.close()
    assert [(r[2], r[4]) for r in rows] == [("src/login.py", "file")]
    assert rows[0][7] == git(project, "rev-parse", "HEAD")


def test_prompt_injection_says_a_changed_memory_may_be_out_of_date(
    home: Path, project: Path, env: dict[str, str], minilm: LocalEmbedder
) -> None:
    mid = remember(
        home, minilm, "The login test is flaky: src/login.py compares timezones as UTC", project
    )
    (project / "src" / "login.py").write_text("def login(user):\n    return True\n")
    git(project, "commit", "-qam", "drop tz")
    short = git(project, "rev-parse", "--short=7", "HEAD")
    context = run_ok("UserPromptSubmit", fx.prompt(project, "Why is the login test flaky?"), env)
    assert context is not None
    line = next(ln for ln in context.splitlines() if ln.startswith(f"- [{mid}]"))
    assert "(may be out of date: src/login.py changed since " in line
    assert f"(edited in commit {short})" in line


def test_cached_briefing_gets_the_changes_since_it_was_built(
    home: Path, project: Path, env: dict[str, str], minilm: LocalEmbedder
) -> None:
    mid = remember(home, minilm, "Decision: src/login.py always compares times in UTC", project)
    other = remember(home, minilm, "Decision: the README.md is written for users", project)
    fx_text = f"## Memory briefing: proj\nDecisions and notes:\n- [{mid}] login UTC\n- [{other}] x"
    spool.write_briefing(home / "run", str(project), fx_text, [mid, other])
    (project / "src" / "login.py").unlink()
    git(project, "commit", "-qam", "remove login")
    port = env["MCP_MEMORY_EMBED_PORT"]  # a live pid in the pid file: no warm server spawned
    (home / "run" / f"embed-server-{port}.pid").write_text(json.dumps({"pid": os.getpid()}))
    context = run_ok("SessionStart", fx.session_start(project), env)
    assert context is not None and context.startswith(fx_text)
    tail = context[len(fx_text) :].splitlines()
    assert tail[1] == "Changed since this briefing was built:"
    assert tail[2].startswith(f"- [{mid}] may be out of date: src/login.py changed since ")
    assert "(deleted in commit " in tail[2] and len(tail) == 3
