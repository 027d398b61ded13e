"""The hooks through the daemon's socket (issue #16), with a real daemon and hook processes.

Pins: where a daemon runs for the data home, a ``#remember`` note is stored by the daemon before
the hook answers (the context says "saved" with its id; nothing is left in the spool, the memory
already has its vector), and the prompt's query vector comes from the daemon's warm model (with
no warm server up, a prompt that shares one word with a memory still finds it by meaning); a
socket that is not private is sent nothing and the hook falls back to the spool, as it does with
no daemon; the hook imports nothing heavy on the daemon path either.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import hook_fixtures as fx
import pytest
from test_daemon import HEAVY, Session, Squatter, environment, project, squatter, structured

from mcp_memory.store.database import Store

__all__ = ["squatter"]  # the fixture, imported for the test below

STAGING = "The staging cluster is rebuilt every night at 2am from terraform"


def start_daemon(home: Path, cwd: Path) -> int:
    """A daemon started by a relay session, as Claude Code's first session starts it; the id of
    a memory that session stored."""

    async def main() -> int:
        async with Session(home, cwd) as client:
            return int(structured(await client.call_tool("remember", {"content": STAGING}))["id"])

    return anyio.run(main)


def prompt(
    home: Path, cwd: Path, text: str, *, importtime: bool = False, **env: str
) -> tuple[str, set[str]]:
    """The context the UserPromptSubmit hook adds for ``text``, and what it imported."""
    payload = {
        "session_id": "s-daemon",
        "transcript_path": str(cwd / "t.jsonl"),
        "cwd": str(cwd),
        "hook_event_name": "UserPromptSubmit",
        "prompt": text,
    }
    environ = environment(home, **env)
    if importtime:
        environ["PYTHONPROFILEIMPORTTIME"] = "1"
    done, _ = fx.run_hook("UserPromptSubmit", payload, environ)
    assert done.returncode == 0
    stderr = done.stderr.decode()
    imported = {line.split("|")[-1].strip() for line in stderr.splitlines() if "|" in line}
    out = done.stdout.decode().strip()
    if not out:
        return "", imported
    return str(json.loads(out)["hookSpecificOutput"]["additionalContext"]), imported


def spooled(home: Path) -> list[Path]:
    return sorted((home / "run" / "spool").glob("*.json"))


def test_a_note_is_stored_by_the_daemon_and_a_prompt_is_embedded_by_it(tmp_path: Path) -> None:
    home = tmp_path / "home"
    cwd = project(tmp_path, "proj")
    start_daemon(home, cwd)
    note = "the release checklist lives in docs/release.md"
    context, imported = prompt(home, cwd, f"#remember {note}", importtime=True)
    assert sorted(m for m in imported if m.split(".")[0] in HEAVY) == []
    assert "mcp_memory.hooks.daemon_calls" in imported
    assert "saved 1 #remember note(s)" in context and "stored in the background" not in context
    saved = int(context.split("(ids ")[1].split(")")[0])
    assert spooled(home) == []  # the daemon stored it: no job for a worker
    store = Store.open(home / "memory.db")
    try:
        memory = store.get(saved)
        assert (memory.content, memory.type, memory.source) == (note, "user_note", "user")
        assert saved in store.vectors([saved])  # embedded by the daemon's warm model
    finally:
        store.close()
    # The warm server is down (port 1): only the daemon can embed the prompt; the memory shares
    # one word with it, so the keyword path alone would not inject it.
    context, _ = prompt(home, cwd, "how often is staging recreated")
    assert "rebuilt every night at 2am" in context


def test_without_the_daemon_the_prompt_falls_back_to_keywords_and_the_spool(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    cwd = project(tmp_path, "proj")
    start_daemon(home, cwd)
    context, _ = prompt(home, cwd, "how often is staging recreated", MCP_MEMORY_DAEMON="false")
    assert context == ""  # no model anywhere: the one shared word is not enough
    context, _ = prompt(home, cwd, "#remember lint runs first", MCP_MEMORY_DAEMON="false")
    assert "saved 1 #remember note(s)" in context and "stored in the background" in context


def test_a_socket_others_can_use_gets_nothing_from_a_hook(
    tmp_path: Path, squatter: Squatter
) -> None:
    home = tmp_path / "home"
    cwd = project(tmp_path, "proj")
    context, _ = prompt(home, cwd, "#remember the vault unseal key is in the red binder")
    assert squatter.received == b""
    assert "stored in the background" in context  # spooled for a worker instead


@pytest.mark.parametrize("setting", [{"MCP_MEMORY_MAX_CONTENT_CHARS": "5000"}])
def test_a_hook_with_other_settings_is_not_served_by_the_daemon(
    tmp_path: Path, setting: dict[str, Any]
) -> None:
    home = tmp_path / "home"
    cwd = project(tmp_path, "proj")
    start_daemon(home, cwd)
    context, _ = prompt(home, cwd, "#remember lint runs before the tests", **setting)
    assert "stored in the background" in context
