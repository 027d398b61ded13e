"""The PostgreSQL backend's own promises: several processes ("machines") writing at once lose
and duplicate nothing, the URL's password never reaches a message, and the settings choose
the backend. The shared behaviour (remember, recall, forget, links, lineage, consolidation)
runs on both backends in test_service.py, test_lifecycle.py and test_consolidate.py."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from pg_server import PgServer

from mcp_memory.app import open_store
from mcp_memory.config import load_settings
from mcp_memory.embedding.local import LocalEmbedder
from mcp_memory.embedding.specs import MINILM
from mcp_memory.errors import ConfigError, StoreError
from mcp_memory.service.memories import MemoryService
from mcp_memory.service.types import Options

WRITERS = 8
OWN = 25  # texts only one writer stores
SHARED = 25  # texts every writer stores (the same text from 8 machines at once)

WRITER = textwrap.dedent(
    """
    import sys, numpy as np
    from mcp_memory.store.base import NewMemory
    from mcp_memory.store.postgres.database import PgStore

    url, me, own, shared = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    store = PgStore.connect(url, user=f"writer{me}@machine{me}")
    rng = np.random.default_rng(me)
    texts = [f"writer {me} note {i}" for i in range(own)] + [f"shared note {i}" for i in range(shared)]
    rng.shuffle(texts)
    for text in texts:
        v = rng.normal(size=16).astype(np.float32)
        store.insert(
            NewMemory(content=text, content_hash=text, project="team", session_id=f"s{me}",
                      line_keys=("k1", "k2", "k3")),
            v / np.linalg.norm(v),
        )
    store.close()
    """
)


def test_eight_writer_processes_lose_and_duplicate_nothing(pg: PgServer, tmp_path: Path) -> None:
    """8 processes insert into one project at once, 25 texts of their own and 25 that all of
    them store: every text is stored exactly once, with its vector, and the project's sequence
    numbers are distinct."""
    from mcp_memory.store.postgres.database import PgStore

    url = pg.fresh_url()
    store = PgStore.connect(url, user="lead@test")
    store.init_model("toy", 16, "mean")
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    started = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), url, str(n), str(OWN), str(SHARED)],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(WRITERS)
    ]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    elapsed = time.perf_counter() - started
    assert [p.returncode for p in procs] == [0] * WRITERS, errors
    expected = {f"writer {n} note {i}" for n in range(WRITERS) for i in range(OWN)}
    expected |= {f"shared note {i}" for i in range(SHARED)}
    memories = store.get_many(store.memory_ids())
    texts = [m.content for m in memories.values()]
    assert len(texts) == len(set(texts)), "a text was stored twice"
    assert set(texts) == expected, "a write was lost"
    assert sorted(m.seq for m in memories.values()) == sorted({m.seq for m in memories.values()})
    counts = store.table_counts()
    assert counts["memory_vectors"] == len(expected)
    assert store.line_counts("team", ["k1"]) == {"k1": len(expected)}
    print(f"{WRITERS * (OWN + SHARED)} inserts by {WRITERS} processes in {elapsed:.2f} s")
    store.close()


def test_the_password_never_appears_in_an_error() -> None:
    """A server that cannot be reached: the message names the database with ``***``."""
    from mcp_memory.store.postgres.database import PgStore

    pytest.importorskip("psycopg")
    with pytest.raises(StoreError) as err:
        PgStore.connect("postgresql://bob:s3cr3t-pw@127.0.0.1:1/team", user="bob@test")
    assert "s3cr3t-pw" not in str(err.value)
    assert "postgresql://bob:***@127.0.0.1:1/team" in str(err.value)


def test_a_bad_database_url_setting_is_refused_without_echoing_it() -> None:
    with pytest.raises(ConfigError) as err:
        load_settings({"MCP_MEMORY_DATABASE_URL": "mysql://bob:s3cr3t-pw@host/db"})
    assert "s3cr3t-pw" not in str(err.value)
    assert "MCP_MEMORY_DATABASE_URL" in str(err.value)
    assert "s3cr3t-pw" not in repr(
        load_settings({"MCP_MEMORY_DATABASE_URL": "postgresql://bob:s3cr3t-pw@host/db"})
    )


def test_the_database_url_setting_opens_the_postgresql_store(pg: PgServer, tmp_path: Path) -> None:
    from mcp_memory.store.postgres.database import PgStore
    from mcp_memory.store.postgres.migrations import MIGRATIONS

    url = pg.fresh_url()
    settings = load_settings(
        {
            "MCP_MEMORY_HOME": str(tmp_path),
            "MCP_MEMORY_DATABASE_URL": url,
            "MCP_MEMORY_USER_ID": "carol@laptop",
        }
    )
    store = open_store(settings)
    try:
        assert isinstance(store, PgStore)
        assert store.user == "carol@laptop"
        assert store.quick_check() == "ok"
        assert store.schema_version == MIGRATIONS[-1][0]
    finally:
        store.close()
    assert not (tmp_path / "memory.db").exists()  # no SQLite file was made


def test_a_private_memory_is_never_returned_to_another_user(
    pg: PgServer, minilm: LocalEmbedder
) -> None:
    """Alice and Bob share a team database: Alice's own note (source ``user``) is private and
    only she recalls it; a team memory reaches both; each memory records its author."""
    from mcp_memory.store.postgres.database import PgStore

    url = pg.fresh_url()
    alice_store = PgStore.connect(url, user="alice@laptop")
    bob_store = PgStore.connect(url, user="bob@desktop")
    options = Options(duplicate_threshold=MINILM.duplicate_threshold)
    alice = MemoryService(alice_store, minilm, options)
    bob = MemoryService(bob_store, minilm, options)
    try:
        secret = alice.remember(
            "My salary negotiation notes: ask for the raise in March", project="p", source="user"
        ).id
        shared = alice.remember(
            "The deploy script needs the staging salary band config", project="p"
        ).id
        assert alice_store.get(secret).visibility == "private"
        assert alice_store.get(secret).author == "alice@laptop"
        assert alice_store.get(shared).visibility == "team"
        for query in ("salary negotiation raise March", "salary"):
            assert secret in [h.id for h in alice.recall(query, projects=["p"], k=10)]
            bob_hits = [h.id for h in bob.recall(query, projects=["p"], k=10)]
            assert secret not in bob_hits
            assert shared in bob_hits
    finally:
        alice_store.close()
        bob_store.close()


def test_another_users_private_memory_is_shown_nowhere(
    pg: PgServer, minilm: LocalEmbedder, tmp_path: Path
) -> None:
    """Bob, on Alice's team database, never sees her private memory: not by id, not in a
    briefing, the graph, an export, maintenance's work lists or as the duplicate of a text he
    stores himself (he gets his own team memory); Alice sees it everywhere."""
    import io
    import json

    from mcp_memory.errors import NotFoundError
    from mcp_memory.graph.page import collect
    from mcp_memory.service.briefing import build_briefing
    from mcp_memory.service.portability import export
    from mcp_memory.store.postgres.database import PgStore

    url = pg.fresh_url()
    alice_store = PgStore.connect(url, user="alice@laptop")
    bob_store = PgStore.connect(url, user="bob@desktop")
    options = Options(duplicate_threshold=MINILM.duplicate_threshold)
    alice = MemoryService(alice_store, minilm, options)
    bob = MemoryService(bob_store, minilm, options)
    text = "Decision: the payroll export runs on the first Monday, never on Fridays"
    try:
        secret = alice.remember(text, project="p", visibility="private").id
        team = alice.remember("The staging database is rebuilt nightly at 02:00", project="p").id
        assert alice_store.get(secret).visibility == "private"
        with pytest.raises(NotFoundError):
            bob_store.get(secret)
        assert set(bob_store.get_many([secret, team])) == {team}
        assert set(alice_store.get_many([secret, team])) == {secret, team}

        assert secret not in build_briefing(bob, "p").ids
        assert secret in build_briefing(alice, "p").ids
        bob_graph = json.dumps(collect(bob_store, projects=["p"]).as_json())
        assert "payroll" not in bob_graph and "staging database" in bob_graph
        assert "payroll" in json.dumps(collect(alice_store, projects=["p"]).as_json())
        out = io.StringIO()
        export(bob_store, out, vectors=True)
        assert "payroll" not in out.getvalue() and "staging database" in out.getvalue()
        assert secret not in bob_store.memory_ids()
        assert secret not in bob_store.aging_candidates(0) + bob_store.pending("connected", 99)

        # The same text stored by Bob is a team memory of his own, not Alice's private one.
        mine = bob.remember(text, project="p")
        assert mine.status == "created" and mine.id != secret
        assert bob_store.get(mine.id).author == "bob@desktop"
        again = alice.remember(text, project="p", visibility="private")
        assert (again.status, again.id) == ("duplicate", secret)
    finally:
        alice_store.close()
        bob_store.close()


def test_remember_private_from_the_cli(pg: PgServer, tmp_path: Path) -> None:
    """``memcycle remember --private`` stores a private memory on the team database."""
    url = pg.fresh_url()
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
        "MCP_MEMORY_HOME": str(tmp_path / "home"),
        "MCP_MEMORY_DATABASE_URL": url,
        "MCP_MEMORY_USER_ID": "alice@laptop",
        "MCP_MEMORY_MODEL": "minilm",
    }
    cli = [sys.executable, "-m", "mcp_memory.cli.main"]
    done = subprocess.run(
        [*cli, "remember", "--private", "--global", "my own shortcut: gco = checkout"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    store = open_store(load_settings(env))
    try:
        (mid,) = store.memory_ids()
        memory = store.get(mid)
        assert (memory.visibility, memory.author) == ("private", "alice@laptop")
    finally:
        store.close()


def test_writes_while_the_team_database_is_down_are_queued_and_flushed(
    pg: PgServer, tmp_path: Path
) -> None:
    """``memcycle remember`` with the team database unreachable queues the (redacted) memory
    in a 0600 spool file and exits 0; ``stats`` and ``doctor`` say the database is unreachable
    and how many writes wait, never printing the password. Once the database answers, the
    next command that reaches it starts the worker, which stores the queued memory (embedded,
    private as asked) and empties the queue."""
    import json
    import stat

    from support import free_port

    from mcp_memory.capture import spool
    from mcp_memory.store.postgres.database import PgStore

    up = pg.fresh_url().replace("postgres:@", "postgres:s3cr3t-pw@")
    down = f"postgresql://bob:s3cr3t-pw@127.0.0.1:{free_port()}/team"
    base = {k: v for k, v in os.environ.items() if not k.startswith("MCP_MEMORY_")}
    env = {
        **base,
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
        "MCP_MEMORY_HOME": str(tmp_path / "home"),
        "MCP_MEMORY_MODEL": "minilm",
        "MCP_MEMORY_EMBED_PORT": str(free_port()),
        "MCP_MEMORY_USER_ID": "bob@laptop",
    }
    settings = load_settings(env)

    def cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "mcp_memory.cli", *args],
            env={**env, "MCP_MEMORY_DATABASE_URL": url},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert "s3cr3t-pw" not in done.stdout + done.stderr
        return done

    secret_text = "the staging token is ghp_abcdefghijklmnopqrstuvwxyz0123456789 keep it"
    queued = cli(down, "remember", "--global", "--private", secret_text)
    assert queued.returncode == 0, queued.stderr
    assert "queued the memory locally (1 write(s) waiting)" in queued.stderr
    jobs = spool.pending_jobs(settings.run_dir)
    assert len(jobs) == 1
    assert stat.S_IMODE(jobs[0].stat().st_mode) == 0o600
    assert "ghp_abcdefghijklmnopqrstuvwxyz" not in jobs[0].read_text()  # redacted on disk

    stats = cli(down, "stats", "--json")
    assert stats.returncode == 1
    report = json.loads(stats.stdout)
    assert (report["reachable"], report["queued_writes"]) == (False, 1)
    assert report["database"].startswith("postgresql://bob:***@127.0.0.1:")
    doctor = cli(down, "doctor", "--json")
    checks = {c["name"]: c for c in json.loads(doctor.stdout)}
    assert not checks["team-database"]["ok"]
    assert "unreachable" in checks["team-database"]["detail"]
    assert "1 write(s) queued locally" in checks["team-database"]["detail"]

    back = cli(up, "remember", "--global", "The team wiki moved to docs.example.com")
    assert back.returncode == 0, back.stderr
    deadline = time.monotonic() + 90
    while spool.pending_jobs(settings.run_dir) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert spool.pending_jobs(settings.run_dir) == []
    store = PgStore.connect(up, user="bob@laptop")
    try:
        memories = list(store.get_many(store.memory_ids()).values())
        flushed = [m for m in memories if "staging token" in m.content]
        assert len(memories) == 2 and len(flushed) == 1
        assert "ghp_abcdefghijklmnopqrstuvwxyz" not in flushed[0].content
        assert (flushed[0].visibility, flushed[0].author) == ("private", "bob@laptop")
        assert flushed[0].embedded
    finally:
        store.close()
    final = json.loads(cli(up, "stats", "--json").stdout)
    assert final["queued_writes"] == 0


def test_the_remember_tool_queues_while_the_team_database_is_down(tmp_path: Path) -> None:
    """The MCP server started while the team database does not answer: ``remember`` queues
    the memory locally and says so (an error result, so the model knows it has no id yet);
    the password appears nowhere."""
    import anyio
    from mcp import Client
    from support import free_port

    from mcp_memory.capture import spool
    from mcp_memory.server.tools import build_server

    pytest.importorskip("psycopg")
    settings = load_settings(
        {
            "MCP_MEMORY_HOME": str(tmp_path / "home"),
            "MCP_MEMORY_MODEL": "minilm",
            "MCP_MEMORY_EMBED_PORT": str(free_port()),
            "MCP_MEMORY_DATABASE_URL": f"postgresql://bob:s3cr3t-pw@127.0.0.1:{free_port()}/t",
        }
    )

    async def main() -> object:
        async with Client(build_server(settings, cwd=tmp_path)) as client:
            return await client.call_tool(
                "remember", {"content": "Release notes go in CHANGES.md", "project": "global"}
            )

    result = anyio.run(main)
    assert result.is_error
    text = " ".join(c.text for c in result.content)
    assert "queued on this machine (1 write(s) waiting)" in text
    assert "s3cr3t-pw" not in text and "bob:***@127.0.0.1" in text
    (job,) = spool.pending_jobs(settings.run_dir)
    assert "CHANGES.md" in job.read_text()
