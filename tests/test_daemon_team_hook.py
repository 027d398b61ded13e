"""The prompt hook of a team project (hybrid use) through the daemon, with a real daemon, a real
PostgreSQL team database and hook processes.

Pins: where a daemon runs, the prompt hook of a team project gets its memories from the daemon's
recall over both databases (a team memory, ``t:N``, found by meaning: it shares one word with
the prompt), and the hook process still never imports the PostgreSQL driver; with the daemon
stopped the hook reads the local file alone and says once per session that the team's memories
are not searched on each prompt.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import anyio
from pg_server import PgServer
from support import free_port
from test_daemon import Session, daemon_pid, running, structured
from test_daemon_hooks import STAGING, prompt

from mcp_memory.hooks.events import TEAM_NOTE

TEAM = "id:team-api"


def team_repo(tmp_path: Path) -> Path:
    """A repository with a committed project id: its portable key is TEAM."""
    repo = tmp_path / "api"
    (repo / ".git").mkdir(parents=True)
    (repo / ".memcycle-project").write_text("team-api\n")
    return repo


def start_daemon(home: Path, cwd: Path, project: str | None = None, **env: str) -> str:
    """A daemon started by a relay session in ``cwd``; the id of the memory it stored there
    (in ``project``, else the session's)."""
    args = {"content": STAGING, **({"project": project} if project else {})}

    async def main() -> str:
        async with Session(home, cwd, **env) as client:
            return str(structured(await client.call_tool("remember", args))["id"])

    return anyio.run(main)


def stop(pid: int) -> None:
    os.kill(pid, signal.SIGTERM)
    for _ in range(100):
        if not running(pid):
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)


def test_the_prompt_hook_of_a_team_project_recalls_through_the_daemon(
    pg: PgServer, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    repo = team_repo(tmp_path)
    team = {
        "MCP_MEMORY_DATABASE_URL": pg.fresh_url(),
        "MCP_MEMORY_TEAM_PROJECTS": TEAM,
        "MCP_MEMORY_USER_ID": "bob@laptop",
    }
    assert start_daemon(home, repo, **team) == "t:1"  # stored on the team database
    pid = daemon_pid(home)
    assert pid is not None
    try:
        # No warm server (port 1) and nothing in the local file: only the daemon's recall over
        # the team database finds it, by meaning (one shared word).
        context, imported = prompt(
            home, repo, "how often is staging recreated", importtime=True, **team
        )
        assert "psycopg" not in {m.split(".")[0] for m in imported}
        assert "[t:1]" in context and "rebuilt every night at 2am" in context
        assert TEAM_NOTE not in context  # the team was searched: nothing to excuse
        again, _ = prompt(home, repo, "how often is staging recreated", **team)
        assert again == ""  # shown once per session
    finally:
        stop(pid)
    # No daemon (and none launched by a prompt): the local reader and the once-per-session note.
    context, imported = prompt(
        home, repo, "how often is staging recreated", importtime=True, **team
    )
    assert "psycopg" not in {m.split(".")[0] for m in imported}
    assert context == TEAM_NOTE
    context, _ = prompt(home, repo, "how often is staging recreated", **team)
    assert context == ""


def test_a_team_database_down_leaves_the_local_memories_and_the_note(tmp_path: Path) -> None:
    """The daemon runs but its team database does not answer: the hook reads the local file
    itself (a global memory, embedded by the daemon, found by meaning) and says once that the
    team's memories were not searched."""
    home = tmp_path / "home"
    repo = team_repo(tmp_path)
    team = {
        "MCP_MEMORY_DATABASE_URL": f"postgresql://bob@127.0.0.1:{free_port()}/team",
        "MCP_MEMORY_TEAM_PROJECTS": TEAM,
        "MCP_MEMORY_USER_ID": "bob@laptop",
    }
    assert start_daemon(home, repo, project="global", **team) == "1"
    pid = daemon_pid(home)
    assert pid is not None
    try:
        context, imported = prompt(
            home, repo, "how often is staging recreated", importtime=True, **team
        )
        assert "psycopg" not in {m.split(".")[0] for m in imported}
        assert "- [1] " in context and "rebuilt every night at 2am" in context
        assert context.endswith(TEAM_NOTE)
    finally:
        stop(pid)
