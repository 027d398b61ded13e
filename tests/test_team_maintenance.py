"""Maintenance of a team database (issue #17): one maintainer per PostgreSQL database across
machines, and hybrid use maintaining the team database too, so hook captures of a team project
(stored without a vector) get embedded and are found by meaning."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from pg_server import PgServer
from support import free_port
from test_hybrid import TEAM, hybrid_env

from mcp_memory.app import open_app, run_maintenance
from mcp_memory.config import load_settings
from mcp_memory.embedding.local import LocalEmbedder
from mcp_memory.embedding.specs import MINILM
from mcp_memory.lifecycle.aging import AgePolicy
from mcp_memory.lifecycle.maintenance import maintain
from mcp_memory.llm.extractive import substance_heuristic
from mcp_memory.projects import GLOBAL
from mcp_memory.service.memories import MemoryService
from mcp_memory.service.types import Options
from mcp_memory.store.database import Store
from mcp_memory.store.postgres.database import PgStore

CAPTURE = "The payments service talks to Stripe through a retrying webhook relay"
PARAPHRASE = "how do card charges reach the billing provider"
ROOT = str(Path(__file__).resolve().parent.parent)


def run(service: MemoryService, lock: Path) -> object:
    return maintain(
        service,
        lock_path=lock,
        policy=AgePolicy(),
        consolidator=None,
        judge=substance_heuristic,
    )


def test_one_machine_maintains_a_team_database_at_a_time(
    pg: PgServer, tmp_path: Path, minilm: LocalEmbedder
) -> None:
    """Two machines (two stores, two lock files) share one PostgreSQL: while one holds the
    database's maintenance lock the other's ``maintain`` does not run and says why; once it is
    released the other runs and embeds the capture waiting for it. SQLite needs only the file
    lock: its maintenance lock is always free."""
    url = pg.fresh_url()
    options = Options(duplicate_threshold=MINILM.duplicate_threshold)
    first = MemoryService(PgStore.connect(url, user="alice@a"), minilm, options)
    second = MemoryService(PgStore.connect(url, user="bob@b"), minilm, options)
    try:
        [stored] = second.remember_many([CAPTURE], project=TEAM, embed=False)
        with first.store.maintenance_lock() as held:
            assert held
            blocked = run(second, tmp_path / "b" / "maintain.lock")
            assert not blocked.ran
            assert "another machine" in blocked.message
            assert second.store.pending("embedded", 10) == [stored.id]
        done = run(second, tmp_path / "b" / "maintain.lock")
        assert done.ran and done.embedded == 1
        assert second.store.pending("embedded", 10) == []
        with first.store.maintenance_lock() as again:  # released by the run, on its connection
            assert again
    finally:
        first.store.close()
        second.store.close()
    local = Store.open(tmp_path / "local.db")
    try:
        with local.maintenance_lock() as held, local.maintenance_lock() as also:
            assert held and also
    finally:
        local.close()


def test_hybrid_maintain_embeds_a_team_capture_so_recall_finds_it_by_meaning(
    pg: PgServer, tmp_path: Path
) -> None:
    """A hook capture of a team project lands on the team database without a vector; the
    hybrid ``maintain`` (what the CLI and the hook worker run) embeds it there, and a recall
    with none of its words finds it. The local database is maintained as before."""
    settings = load_settings(hybrid_env(tmp_path, pg.fresh_url()))
    with open_app(settings, cwd=tmp_path) as app:
        memory = app.memory
        memory.remember(CAPTURE, project=TEAM, embed=False, source="hook")
        memory.remember("I like tabs over spaces", project=GLOBAL, embed=False, source="hook")
        report = run_maintenance(app)
        assert report.ran and report.embedded == 1  # the local capture
        assert report.team is not None
        assert report.team["ran"] and report.team["embedded"] == 1
        hits = memory.recall(PARAPHRASE, projects=[TEAM, GLOBAL]).hits
        assert hits and hits[0].content == CAPTURE
        assert str(hits[0].id).startswith("t:")


def test_hybrid_maintain_with_the_team_database_down_still_maintains_the_local_one(
    tmp_path: Path,
) -> None:
    """An unreachable team database is reported in the result, never an error that stops the
    local part."""
    dead = f"postgresql://nobody@127.0.0.1:{free_port()}/memories"
    settings = load_settings(hybrid_env(tmp_path, dead))
    with open_app(settings, cwd=tmp_path) as app:
        app.memory.remember("I like tabs over spaces", project=GLOBAL, embed=False)
        report = run_maintenance(app)
    assert report.ran and report.embedded == 1
    assert report.team is not None and not report.team["ran"]
    assert "not reachable" in str(report.team["message"])


def test_the_cli_reports_both_parts_and_exits_0_when_the_team_database_is_down(
    tmp_path: Path,
) -> None:
    """``memcycle maintain`` in hybrid use shows the local part and the team part; the team
    database being down is a line of the report, not a failure, and never shows a password."""
    dead = f"postgresql://bob:s3cret-pw@127.0.0.1:{free_port()}/memories"
    env = {**hybrid_env(tmp_path, dead), "PYTHONPATH": ROOT}
    done = subprocess.run(
        [sys.executable, "-m", "mcp_memory.cli", "maintain"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    assert "local database:" in done.stdout and "team database:" in done.stdout
    assert "was not reachable" in done.stdout
    assert "s3cret-pw" not in done.stdout + done.stderr


HOLDER = """
import sys
import time
from mcp_memory.store.postgres.database import PgStore

store = PgStore.connect(sys.argv[1], user="carol@desktop")
with store.maintenance_lock() as held:
    print("held" if held else "free", flush=True)
    sys.stdin.readline()  # until killed
"""


def test_a_machine_that_dies_mid_maintenance_leaves_the_database_free(
    pg: PgServer, tmp_path: Path, minilm: LocalEmbedder
) -> None:
    """Another process (another machine) holds the maintenance lock: this machine's run does
    not run. The holder is killed without any cleanup (SIGKILL): its session ends, the lock
    with it, and the next run goes ahead."""
    url = pg.fresh_url()
    service = MemoryService(
        PgStore.connect(url, user="bob@laptop"),
        minilm,
        Options(duplicate_threshold=MINILM.duplicate_threshold),
    )
    with subprocess.Popen(
        [sys.executable, "-c", HOLDER, url],
        env={**os.environ, "PYTHONPATH": ROOT},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as holder:
        try:
            assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
            blocked = run(service, tmp_path / "maintain.lock")
            assert not blocked.ran and "another machine" in blocked.message
            holder.kill()
            holder.wait(timeout=30)
            deadline = time.monotonic() + 30  # the server ends the dead session's locks
            while not (done := run(service, tmp_path / "maintain.lock")).ran:
                assert time.monotonic() < deadline, done.message
                time.sleep(0.2)
            assert done.ran
        finally:
            if holder.poll() is None:
                holder.kill()
            service.store.close()
