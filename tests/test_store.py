"""The SQLite store: migrations, pragmas, model recording, the binary index with exact
rescoring, full-text search and state changes, on real files with real sqlite-vec."""

from __future__ import annotations

import stat
from pathlib import Path

import numpy as np
import pytest

from mcp_memory.errors import ModelMismatchError, NotFoundError, StoreError
from mcp_memory.store import migrations
from mcp_memory.store.base import NewMemory
from mcp_memory.store.database import Store


def unit_rows(n: int, d: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def add(store: Store, text: str, vector: np.ndarray | None, project: str = "p") -> int:
    return store.insert(NewMemory(text, f"h-{text}", project), vector)


def test_open_applies_migrations_and_pragmas(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "sub" / "m.db")
    try:
        assert store.schema_version == migrations.latest_version() >= 1
        assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert store.model is None
        mode = stat.S_IMODE((tmp_path / "sub" / "m.db").stat().st_mode)
        assert mode == 0o600, oct(mode)
    finally:
        store.close()
    again = Store.open(tmp_path / "sub" / "m.db")  # re-opening migrates nothing twice
    assert again.schema_version == migrations.latest_version()
    again.close()


def test_garbage_file_is_a_clear_store_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="restore a backup"):
        Store.open(path)


def test_model_is_recorded_once_and_mismatch_refused(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "m.db")
    info = store.init_model("minilm", 384, "mean")
    assert (info.model_id, info.dimension) == ("minilm", 384)
    assert store.init_model("other", 1024, "last_token") == info  # first recording wins
    store.close()
    reopened = Store.open(tmp_path / "m.db")
    assert reopened.model == info
    reopened.check_model("minilm", 384)
    with pytest.raises(ModelMismatchError, match="MCP_MEMORY_MODEL=minilm"):
        reopened.check_model("qwen3-0.6b", 1024)
    reopened.close()


def test_vector_of_wrong_shape_is_refused_and_nothing_stored(store: Store) -> None:
    store.init_model("minilm", 384, "mean")
    before = store.table_counts()
    with pytest.raises(StoreError, match="384-d"):
        add(store, "x", np.ones(383, dtype=np.float32))
    with pytest.raises(StoreError):
        add(store, "y", np.full(384, np.nan, dtype=np.float32))
    assert store.table_counts() == before


def test_knn_rescoring_matches_exact_search(store: Store) -> None:
    """Binary-index candidates rescored with full vectors give the exact top-k whenever the
    candidate pool covers the data (small projects); bench/recall.py measures large ones."""
    store.init_model("t", 64, "mean")
    vectors = unit_rows(180, 64)
    ids = [add(store, f"m{i}", v) for i, v in enumerate(vectors)]
    queries = unit_rows(20, 64, seed=1)
    for q in queries:
        got = store.knn(q, 10, projects=["p"])
        exact = np.argsort(-(vectors @ q))[:10]
        assert [i for i, _ in got] == [ids[j] for j in exact]
        assert got[0][1] == pytest.approx(float(vectors[exact[0]] @ q), abs=1e-5)


def test_knn_filters_project_and_state(store: Store) -> None:
    store.init_model("t", 32, "mean")
    v = unit_rows(3, 32)
    a = add(store, "a", v[0], project="alpha")
    b = add(store, "b", v[1], project="beta")
    assert [i for i, _ in store.knn(v[1], 5, projects=["alpha"])] == [a]
    assert {i for i, _ in store.knn(v[1], 5, projects=None)} == {a, b}
    store.set_state(a, "deleted")
    assert store.knn(v[0], 5, projects=["alpha"]) == []
    assert [i for i, _ in store.knn(v[0], 5, projects=["alpha"], states=["deleted"])] == [a]


def test_fts_ranks_and_follows_updates(store: Store) -> None:
    a = add(store, "The deploy script runs migrations before restarting", None)
    add(store, "Unrelated note about lunch", None)
    hits = store.fts('"migration"', 5, projects=["p"])  # porter stemming: migrations ~ migration
    assert [i for i, _ in hits] == [a]
    store.set_state(a, "deleted")
    assert store.fts('"migration"', 5, projects=["p"]) == []
    assert store.fts('"migration"', 5, projects=["other"], states=["deleted"]) == []


def test_set_state_of_missing_memory(store: Store) -> None:
    with pytest.raises(NotFoundError):
        store.set_state(12345, "deleted")
    with pytest.raises(StoreError, match="unknown state"):
        store.set_state(1, "bogus")


def test_transaction_rolls_back_everything(store: Store) -> None:
    store.init_model("t", 32, "mean")
    before = store.table_counts()
    with pytest.raises(RuntimeError), store.transaction():
        add(store, "first", unit_rows(1, 32)[0])
        raise RuntimeError("boom")
    assert store.table_counts() == before
