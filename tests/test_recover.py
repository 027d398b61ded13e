"""A damaged, read-only or full database: a clear diagnosis and a safe way back (issue 14, 13).

Real database files, damaged the way a disk or a crash damages them (garbage over a page of the
memories table, over the header), then opened by the store, the CLI and the recovery.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import apsw
import pytest

from mcp_memory.config import Settings
from mcp_memory.embedding.local import LocalEmbedder
from mcp_memory.errors import (
    CorruptDatabaseError,
    DiskFullError,
    ReadOnlyDatabaseError,
)
from mcp_memory.service.memories import MemoryService
from mcp_memory.store.database import Store
from mcp_memory.store.recover import recover

ROWS = 60


def filled(path: Path, embedder: LocalEmbedder, n: int = ROWS) -> list[int]:
    store = Store.open(path)
    service = MemoryService(store, embedder)
    texts = [
        f"fact {i}: the build step {i} uses cache key k{i * 7919} and needs flag -O{i}"
        for i in range(n)
    ]
    ids = [service.remember(t, project="p").id for t in texts]
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    return ids


def leaf_pages(path: Path, table: str) -> list[int]:
    db = apsw.Connection(str(path))
    try:
        rows = db.execute(
            "SELECT pageno FROM dbstat WHERE name = ? AND pagetype = 'leaf' ORDER BY pageno",
            (table,),
        ).fetchall()
        return [int(r[0]) for r in rows]
    finally:
        db.close()


def damage_page(path: Path, pageno: int) -> None:
    size = 4096
    with path.open("r+b") as f:
        f.seek((pageno - 1) * size)
        f.write(os.urandom(size))


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCP_MEMORY_")}
    env.update(MCP_MEMORY_HOME=str(settings.home), MCP_MEMORY_MODEL="minilm")
    env["MCP_MEMORY_EMBED_PORT"] = str(settings.embed_port)
    return subprocess.run(
        [sys.executable, "-m", "mcp_memory.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
    )


def test_a_damaged_page_is_a_corrupt_database_error_and_recovery_salvages_the_rest(
    tmp_path: Path, minilm: LocalEmbedder
) -> None:
    path = tmp_path / "memory.db"
    ids = filled(path, minilm)
    pages = leaf_pages(path, "memories")
    assert len(pages) >= 3
    damage_page(path, pages[len(pages) // 2])
    before = digest(path)
    store = Store.open(path)
    with pytest.raises(CorruptDatabaseError, match="memcycle doctor --repair"):
        MemoryService(store, minilm).remember("one more fact after the damage", project="p")
    store.close()
    out = tmp_path / "recovered.db"
    result = recover(path, out)
    assert digest(path) == before  # the original is untouched
    assert result.method == "salvage" and result.check == "ok"
    assert 0 < result.memories < len(ids)
    assert result.lost.get("memories", 0) + result.memories <= len(ids)
    fresh = Store.open(out)
    kept = fresh.get_many(ids)
    service = MemoryService(fresh, minilm)
    hits = service.recall("cache key for build step", projects=["p"], k=5)
    fresh.close()
    assert len(kept) == result.memories and hits


def test_a_damaged_header_is_diagnosed_with_the_repair_not_start_fresh(tmp_path: Path) -> None:
    path = tmp_path / "memory.db"
    Store.open(path).close()
    data = bytearray(path.read_bytes())
    data[:16] = b"not a database!!"
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptDatabaseError) as err:
        Store.open(path)
    assert "memcycle doctor --repair" in str(err.value)
    assert "start fresh" not in str(err.value) and "do not delete it" in str(err.value)


def test_a_read_only_database_still_reads_and_refuses_writes_clearly(
    tmp_path: Path, minilm: LocalEmbedder
) -> None:
    """As root, file modes do not stop writes, so read-only is forced with SQLite's own open
    flag (what a read-only file system gives)."""
    path = tmp_path / "memory.db"
    ids = filled(path, minilm, n=3)
    store = Store.open(path, read_only=True)
    service = MemoryService(store, minilm)
    assert service.recall("cache key", projects=["p"], k=3, count_recall=False)
    assert sorted(store.get_many(ids)) == ids
    with pytest.raises(ReadOnlyDatabaseError, match="nothing is lost; reads still work"):
        service.remember("a new fact on a read-only disk", project="p")
    store.close()


def test_a_full_disk_says_nothing_was_written(tmp_path: Path, minilm: LocalEmbedder) -> None:
    """A full disk, emulated with SQLite's page limit (SQLITE_FULL, as from a full file system)."""
    path = tmp_path / "memory.db"
    filled(path, minilm, n=3)
    store = Store.open(path)
    pages = int(store.db.execute("PRAGMA page_count").fetchone()[0])
    store.db.execute(f"PRAGMA max_page_count = {pages}")
    service = MemoryService(store, minilm)
    with pytest.raises(DiskFullError, match="Free some disk space"):
        service.remember("x " * 3000 + "a long fact that needs new pages", project="p")
    assert len(service.recall("cache key", projects=["p"], k=3, count_recall=False)) > 0
    store.close()


def test_cli_on_a_damaged_database_prints_the_diagnosis_and_repair_makes_a_new_file(
    settings: Settings, minilm: LocalEmbedder
) -> None:
    path = Path(settings.db)
    ids = filled(path, minilm)
    damage_page(path, leaf_pages(path, "memories")[-1])
    before = digest(path)
    broken = run_cli(settings, "remember", "a fact after the damage")
    assert broken.returncode != 0 and "Traceback" not in broken.stderr
    assert "is damaged" in broken.stderr and "doctor --repair" in broken.stderr
    repaired = run_cli(settings, "doctor", "--repair")
    assert "Traceback" not in repaired.stderr, repaired.stderr
    assert digest(path) == before
    news = sorted(path.parent.glob("memory.recovered-*.db"))
    assert len(news) == 1
    assert f"of {len(ids)}" not in repaired.stdout or "memories" in repaired.stdout
    assert "MCP_MEMORY_DB" in repaired.stdout or "mv " in repaired.stdout
