"""The maintenance commands on a team database (PostgreSQL): the integrity audit works there;
``backup``, ``doctor --repair`` and ``reindex``, which work on a SQLite file, refuse and say
what to use instead, never a traceback nor an action on a local file that is not the memory.
Against a real PostgreSQL 18 + pgvector (tests/pg_server.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import psycopg
import pytest
from pg_server import PgServer

from mcp_memory.cli.main import main
from mcp_memory.embedding.local import LocalEmbedder
from mcp_memory.errors import StoreError
from mcp_memory.lifecycle.reindex import run as reindex
from mcp_memory.store.base import NewMemory
from mcp_memory.store.integrity import audit
from mcp_memory.store.postgres import migrations
from mcp_memory.store.postgres.database import PgStore

DIM = 16


def stored(url: str, n: int) -> tuple[PgStore, list[int]]:
    store = PgStore.connect(url, user="alice@test")
    store.init_model("m", DIM, "mean")
    rng = np.random.default_rng(1)
    ids = []
    for i in range(n):
        v = rng.standard_normal(DIM).astype(np.float32)
        text = f"the deploy script needs step {i}"
        ids.append(store.insert(NewMemory(text, text, "p"), v / np.linalg.norm(v)))
    return store, ids


def test_the_audit_passes_on_a_whole_team_database(pg: PgServer) -> None:
    store, ids = stored(pg.fresh_url(), 5)
    report = audit(store, ids)
    assert report.ok, report.problems()
    assert (report.memories, report.checked, report.integrity) == (5, 5, "ok")
    store.close()


def test_the_audit_finds_what_is_wrong_on_a_team_database(pg: PgServer) -> None:
    url = pg.fresh_url()
    store, ids = stored(url, 3)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE memory_vectors SET state = 'expired' WHERE memory_id = %s", (ids[0],))
        conn.execute("DELETE FROM memory_vectors WHERE memory_id = %s", (ids[1],))
        conn.execute(f"DROP INDEX {migrations.VECTOR_INDEX}")
    report = audit(store, [*ids, 999])
    assert not report.ok
    assert report.orphans["vector copies of state or project differ"] == 1
    assert report.orphans["embedded memories without a vector"] == 1
    assert report.missing["not stored"] == [999]
    assert report.missing["no vector"] == [ids[1]]
    assert "vector index memory_vectors_bits is missing" in report.integrity
    store.build_vector_index()
    assert "missing" not in audit(store).integrity
    store.close()


@pytest.fixture
def team(pg: PgServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The CLI's settings pointing at a fresh team database holding a few memories."""
    url = pg.fresh_url()
    stored(url, 2)[0].close()
    monkeypatch.setenv("MCP_MEMORY_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MCP_MEMORY_DATABASE_URL", url)
    monkeypatch.setenv("MCP_MEMORY_USER_ID", "alice@test")
    return url


def refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 1
    out, err = capsys.readouterr()
    assert "Traceback" not in err and out == ""
    assert "works on a SQLite file, and the memories are on the team database" in err
    return err


def test_backup_refuses_and_names_pg_dump(
    team: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = refused(["backup", str(tmp_path / "copy.db")], capsys)
    assert "pg_dump" in err and "memcycle migrate --to FILE.db" in err
    assert not (tmp_path / "copy.db").exists()
    assert not list((tmp_path / "home").rglob("*.db"))  # no local SQLite file made either


def test_doctor_repair_refuses_and_names_postgresql_tools(
    team: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = refused(["doctor", "--repair"], capsys)
    assert "pg_amcheck" in err and "REINDEX" in err
    assert not list((tmp_path / "home").rglob("*.db"))


def test_reindex_refuses_before_loading_a_model(
    team: str, capsys: pytest.CaptureFixture[str]
) -> None:
    err = refused(["reindex", "--model", "minilm"], capsys)
    assert "memcycle migrate --to FILE.db" in err and "MCP_MEMORY_DATABASE_URL unset" in err


def test_the_store_refuses_a_reindex_and_keeps_its_model(
    pg: PgServer, minilm: LocalEmbedder
) -> None:
    """Reaching the store another way (the library) gets the same refusal, nothing changed."""
    store, ids = stored(pg.fresh_url(), 2)
    try:
        with pytest.raises(StoreError, match="migrate --to FILE.db"):
            reindex(store, minilm, "mean")
        assert store.model is not None and store.model.model_id == "m"
        assert len(store.vectors(ids)) == 2
    finally:
        store.close()


def test_a_refusal_never_shows_the_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MCP_MEMORY_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MCP_MEMORY_DATABASE_URL", "postgresql://bob:s3cr3t@db.example/team")
    err = refused(["backup", str(tmp_path / "copy.db")], capsys)
    assert "s3cr3t" not in err and "bob:***@db.example" in err
