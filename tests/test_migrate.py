"""``memcycle migrate --to``: SQLite to a real PostgreSQL and back keeps every memory, vector,
anchor, link and lineage row; re-running (also after the process was killed mid-way) copies
nothing twice; a target built with another model is refused; the password is never printed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pg_server import PgServer

from mcp_memory.errors import ModelMismatchError
from mcp_memory.service.migrate import migrate
from mcp_memory.store.base import NewMemory
from mcp_memory.store.database import Store

ROOT = Path(__file__).resolve().parent.parent
DIM = 16


def _vector(n: int) -> np.ndarray:
    v = np.random.default_rng(n).normal(size=DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def _fill(store: Store, count: int) -> list[int]:
    """``count`` memories with toy vectors in two projects, a session chain, tags, one
    private memory, anchors, links and one consolidation with its lineage."""
    store.init_model("toy", DIM, "mean")
    ids = []
    with store.transaction():
        for n in range(count):
            ids.append(
                store.insert(
                    NewMemory(
                        content=f"memory number {n} about topic {n % 7}",
                        content_hash=f"h{n}",
                        project="proj-a" if n % 3 else "proj-b",
                        tags=(f"t{n % 4}",),
                        session_id="s1" if n < 5 else None,
                        state="expired" if n == 3 else "buffer",
                        metadata={"n": n},
                        created_at=1_700_000_000.0 + n,
                        recall_count=n % 5,
                        visibility="private" if n == 1 else "team",
                        author="alice@old-host" if n == 1 else None,
                    ),
                    _vector(n),
                )
            )
        store.add_anchors(ids[0], [("src/app.py", "file", "", "fp0", "c0ffee", 123, 45)])
        store.add_links(ids[0], [(ids[1], 0.9), (ids[2], 0.8)])
        store.add_links(ids[2], [(ids[4], 0.7)])
        cid = store.add_consolidation("proj-a", "offline", None, {"sources": [ids[4], ids[5]]})
        store.add_lineage(cid, ids[6], ids[4], "buffer")
        store.add_lineage(cid, ids[6], ids[5], "buffer")
    return ids


def _picture(store: Store) -> dict[str, Any]:
    """Everything a migration must keep, keyed by content (ids differ between databases)."""
    ids = store.memory_ids()
    memories = store.get_many(ids)
    text = {i: m.content for i, m in memories.items()}
    vectors = store.vectors(ids)
    anchors = store.anchors_of(ids)
    return {
        "memories": sorted(
            (
                m.content,
                m.content_hash,
                m.project,
                m.tags,
                m.state,
                m.visibility,
                m.created_at,
                m.recall_count,
                tuple(sorted(m.metadata.items())),
                m.session_id,
            )
            for m in memories.values()
        ),
        "vectors": {text[i]: v.round(6).tolist() for i, v in vectors.items()},
        "anchors": {text[i]: [r[2] for r in rows] for i, rows in anchors.items()},
        "links": sorted((text[a], text[b], round(s, 4)) for a, b, s in store.every_link()),
        "lineage": sorted((text[r], text[s], p) for _, r, s, p in store.every_lineage()),
        "chain": sorted(
            (m.content, None if m.session_id is None else m.seq)
            for m in memories.values()
            if m.session_id
        ),
    }


def test_sqlite_to_postgresql_and_back_keeps_everything(pg: PgServer, tmp_path: Path) -> None:
    from mcp_memory.store.postgres.database import PgStore

    source = Store.open(tmp_path / "memory.db")
    source.user = "alice@laptop"
    _fill(source, 40)
    team = PgStore.connect(pg.fresh_url(), user="alice@laptop")
    back = Store.open(tmp_path / "back.db")
    back.user = "alice@laptop"
    try:
        report = migrate(source, team, source_name="a", target_name="b", batch=7)
        assert (report.memories, report.already, report.vectors) == (40, 0, 40)
        assert (report.links, report.consolidations, report.lineage, report.anchors) == (3, 1, 2, 1)
        original = _picture(source)
        assert _picture(team) == original
        private = [
            m for m in team.get_many(team.memory_ids()).values() if m.visibility == "private"
        ]
        assert [m.author for m in private] == ["alice@laptop"]  # the file was hers
        assert team.model is not None and team.model.model_id == "toy"

        again = migrate(source, team, source_name="a", target_name="b")
        assert (again.memories, again.already, again.links, again.lineage) == (0, 40, 0, 0)
        assert again.consolidations == 0
        assert _picture(team) == original

        home = migrate(team, back, source_name="b", target_name="c", batch=9)
        assert (home.memories, home.vectors, home.links, home.lineage) == (40, 40, 3, 2)
        assert _picture(back) == original
        hit = back.knn(_vector(12), 1, projects=None)
        assert hit and back.get(hit[0][0]).content == "memory number 12 about topic 5"
    finally:
        source.close()
        team.close()
        back.close()


def test_a_target_of_another_model_is_refused_before_any_write(
    pg: PgServer, tmp_path: Path
) -> None:
    from mcp_memory.store.postgres.database import PgStore

    source = Store.open(tmp_path / "memory.db")
    _fill(source, 8)
    team = PgStore.connect(pg.fresh_url(), user="alice@laptop")
    team.init_model("other-model", 32, "mean")
    try:
        with pytest.raises(ModelMismatchError) as err:
            migrate(source, team, source_name="memory.db", target_name="team")
        assert "other-model (32-d" in str(err.value) and "toy (16-d" in str(err.value)
        assert "memcycle reindex" in str(err.value)
        assert team.memory_ids() == []
    finally:
        source.close()
        team.close()


def _cli_env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "MCP_MEMORY_HOME": str(tmp_path / "home"),
        "MCP_MEMORY_DB": str(tmp_path / "memory.db"),
        "MCP_MEMORY_USER_ID": "alice@laptop",
    }


def test_a_killed_migration_resumes_without_duplicates(pg: PgServer, tmp_path: Path) -> None:
    """``memcycle migrate`` killed (SIGKILL) mid-way, then run again: the target holds every
    memory exactly once, the second run counts the first run's as already there, and neither
    run prints the URL's password."""
    from mcp_memory.store.postgres.database import PgStore

    total = 3000
    source = Store.open(tmp_path / "memory.db")
    _fill(source, total)
    original = _picture(source)
    source.close()
    url = pg.fresh_url().replace("postgres:@", "postgres:s3cr3t-pw@")
    team = PgStore.connect(url, user="alice@laptop")
    command = [sys.executable, "-m", "mcp_memory.cli", "migrate", "--to", url, "--batch", "10"]
    first = subprocess.Popen(
        command, env=_cli_env(tmp_path), stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        copied = 0
        deadline = time.monotonic() + 60
        while copied < 200 and time.monotonic() < deadline and first.poll() is None:
            time.sleep(0.02)
            copied = len(team.memory_ids())
        assert first.poll() is None, "the migration ended before it could be interrupted"
        first.send_signal(signal.SIGKILL)
        _, err = first.communicate(timeout=30)
        assert "s3cr3t-pw" not in err
        before = len(team.memory_ids())
        assert 0 < before < total and before % 10 == 0  # whole batches only
        second = subprocess.run(
            [*command, "--json"],
            env=_cli_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert second.returncode == 0, second.stderr
        assert "s3cr3t-pw" not in second.stderr + second.stdout
        assert "postgres:***@" in second.stderr
        assert f'"already": {before}' in second.stderr
        assert f'"memories": {total - before}' in second.stderr
        assert len(team.memory_ids()) == total
        assert _picture(team) == original
    finally:
        if first.poll() is None:
            first.kill()
        team.close()
