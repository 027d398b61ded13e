"""The RAM copy of the binary index behind Store.knn (mcp_memory/bit_index.py): its results
against exact search, its scope filters, and how it keeps up with writes of its own connection
and of other connections to the same file. Real SQLite files, real sqlite-vec."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mcp_memory.projects import GLOBAL
from mcp_memory.service.linking import CANDIDATES
from mcp_memory.service.memories import MemoryService
from mcp_memory.service.types import Options
from mcp_memory.store import bit_index
from mcp_memory.store.base import NewMemory
from mcp_memory.store.bit_codes import CodeTable, quantize
from mcp_memory.store.bit_index import BitIndex
from mcp_memory.store.database import Store

DIM = 128


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def clustered(n: int, seed: int = 0, clusters: int = 40) -> np.ndarray:
    """Topic-like data: a shared direction, cluster centres and per-item noise."""
    rng = np.random.default_rng(seed)
    common = unit(rng.standard_normal(DIM))
    centres = unit(rng.standard_normal((clusters, DIM)))
    items = centres[rng.integers(0, clusters, n)] + 0.8 * unit(rng.standard_normal((n, DIM)))
    return unit(0.3 * common + unit(items))


def add(store: Store, text: str, vector: np.ndarray, project: str = "p") -> int:
    return store.insert(NewMemory(text, f"h-{text}", project), vector)


def fill(store: Store, vectors: np.ndarray, project: str = "p", start: int = 0) -> list[int]:
    with store.transaction():
        return [add(store, f"m{start + i}", v, project) for i, v in enumerate(vectors)]


def exact(vectors: np.ndarray, ids: list[int], q: np.ndarray, k: int) -> list[int]:
    order = np.argsort(-(vectors @ q), kind="stable")[:k]
    return [ids[j] for j in order]


def check_arrays(index: BitIndex) -> None:
    """The bookkeeping the index keeps up incrementally equals what it describes."""
    assert index.table is not None
    table: CodeTable = index.table
    group = table.group[: table.n]
    assert table.dead == int(np.count_nonzero(group < 0))
    live = group[group >= 0]
    counts = np.bincount(live, minlength=len(table.group_keys))
    assert table.counts.tolist() == counts.tolist()
    rows = np.flatnonzero(group >= 0)
    assert (table.pos[table.ids[rows]] == rows).all()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "memory.db"


@pytest.fixture
def pair(path: Path) -> Iterator[tuple[Store, Store]]:
    """Two connections to one database, as two processes would hold."""
    a = Store.open(path)
    a.init_model("t", DIM, "mean")
    b = Store.open(path)
    b.refresh_model()
    yield a, b
    a.close()
    b.close()


def test_large_pool_is_exact_and_default_pool_agrees_with_exact_search(path: Path) -> None:
    store = Store.open(path)
    store.init_model("t", DIM, "mean")
    x = clustered(3000)
    ids = fill(store, x)
    rng = np.random.default_rng(1)
    queries = np.concatenate(
        [
            unit(x[:20] + 0.3 * unit(rng.standard_normal((20, DIM)))),
            unit(rng.standard_normal((20, DIM))),
        ]
    )
    found = 0
    for q in queries:
        want = exact(x, ids, q, 10)
        assert [i for i, _ in store.knn(q, 10, projects=["p"], min_candidates=3000)] == want
        got = store.knn(q, 10, projects=["p"])
        sims = dict(zip(ids, (x @ q).tolist(), strict=True))
        assert [s for _, s in got] == pytest.approx([sims[i] for i, _ in got], abs=1e-5)
        assert [s for _, s in got] == sorted((s for _, s in got), reverse=True)
        found += len({i for i, _ in got} & set(want))
    assert found / (10 * len(queries)) >= 0.97  # the default pool of 400 of 3000 rows
    assert store.bit_index.table is not None and store.bit_index.loads == 1  # RAM, loaded once
    store.close()


def test_small_scopes_are_exact_and_filters_hold(path: Path) -> None:
    """Project and state filters, a scope gathered before the scan (under half the rows), and
    an empty one."""
    store = Store.open(path)
    store.init_model("t", DIM, "mean")
    x = clustered(2400, seed=2)
    ids_a = fill(store, x[:1800], "alpha")
    ids_b = fill(store, x[1800:2200], "beta", start=1800)
    ids_g = fill(store, x[2200:], "@global", start=2200)
    for i in ids_a[:300]:
        store.set_state(i, "deleted")
    q = x[1900]
    beta = store.knn(q, 10, projects=["beta"], min_candidates=50)
    assert {i for i, _ in beta} <= set(ids_b)
    both = store.knn(q, 10, projects=["beta", "@global"], min_candidates=1000)  # all 600: exact
    scope = ids_b + ids_g
    assert [i for i, _ in both] == exact(x[1800:], scope, q, 10)
    alive = store.knn(x[5], 10, projects=["alpha"], min_candidates=2000)
    assert [i for i, _ in alive] == exact(x[300:1800], ids_a[300:], x[5], 10)
    gone = store.knn(x[5], 10, projects=["alpha"], states=["deleted"], min_candidates=400)
    assert [i for i, _ in gone] == exact(x[:300], ids_a[:300], x[5], 10)
    assert store.knn(q, 10, projects=["nobody"]) == []
    assert {i for i, _ in store.knn(q, 50, projects=None)} <= set(ids_a[300:] + scope)
    check_arrays(store.bit_index)
    store.close()


def test_another_connections_writes_are_seen_without_a_reload(pair: tuple[Store, Store]) -> None:
    a, b = pair
    x = clustered(1500, seed=3)
    ids = fill(b, x)
    q = unit(x[7] + 0.01)  # nearest to x[7] until its twin comes
    assert a.knn(q, 1, projects=["p"])[0][0] == ids[7]
    assert a.bit_index.loads == 1
    twin = add(b, "twin", q)  # b commits: a sees it on its next query
    assert [i for i, _ in a.knn(q, 2, projects=["p"])] == [twin, ids[7]]
    b.set_state(twin, "deleted")
    assert a.knn(q, 1, projects=["p"])[0][0] == ids[7]
    assert a.knn(q, 1, projects=["p"], states=["deleted"])[0][0] == twin
    b.set_state(twin, "buffer")  # restored: back in scope (a stale RAM state would miss it)
    assert a.knn(q, 1, projects=["p"])[0][0] == twin
    b.purge([twin, ids[7]])
    assert {i for i, _ in a.knn(q, 20, projects=["p"])}.isdisjoint({twin, ids[7]})
    # Re-embedding: from an older chunk into the last one, and within the last chunk into
    # the very slot it left (same rowid, validity and state: only the code differs).
    for mid, vector in ((ids[100], unit(-x[100])), (ids[1400], unit(-x[1400]))):
        b.set_vector(mid, vector, "p", "buffer")
        assert a.knn(vector, 1, projects=["p"])[0] == (mid, pytest.approx(1.0, abs=1e-5))
        table = a.bit_index.table
        assert table is not None
        row = table.row_of(mid)
        assert (table.codes[:, row] == quantize(vector, table.words)[0]).all()
    # A memory stored as text only and embedded later (ids below the newest).
    later = b.insert(NewMemory("later", "h-later", "p"), None)
    add(b, "newest", unit(x[200] + 0.5))
    a.knn(q, 1, projects=["p"])
    b.set_vector(later, unit(x[300] * -1 + 0.01), "p", "buffer")
    assert a.knn(unit(x[300] * -1 + 0.01), 1, projects=["p"])[0][0] == later
    assert a.bit_index.loads == 1
    check_arrays(a.bit_index)


def test_own_writes_and_rollbacks(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bit_index, "COMPACT_MIN", 100)
    store = Store.open(path)
    store.init_model("t", DIM, "mean")
    x = clustered(800, seed=4)
    ids = fill(store, x)
    q = unit(x[3] + 0.01)
    assert store.knn(q, 1, projects=["p"])[0][0] == ids[3]
    with pytest.raises(RuntimeError), store.transaction():
        ghost = add(store, "ghost", q)
        assert store.knn(q, 1, projects=["p"])[0][0] == ghost  # seen inside the transaction
        store.set_state(ids[3], "deleted")
        assert ids[3] not in {i for i, _ in store.knn(q, 5, projects=["p"])}
        raise RuntimeError("roll back")
    assert store.knn(q, 1, projects=["p"])[0][0] == ids[3]  # both changes rolled back
    store.set_state(ids[3], "expired")
    assert store.knn(q, 1, projects=["p"])[0][0] != ids[3]
    store.purge(ids[:500])  # most rows dead: the arrays are compacted
    hits = store.knn(q, 10, projects=["p"], states=["buffer", "expired"])
    assert {i for i, _ in hits} <= set(ids[500:])
    assert store.bit_index.table is not None
    assert (store.bit_index.table.n, store.bit_index.table.dead) == (300, 0)  # compacted
    assert store.bit_index.loads == 1
    check_arrays(store.bit_index)
    store.close()


def test_model_switch_by_another_connection_rebuilds(pair: tuple[Store, Store]) -> None:
    """`reindex` drops and recreates memory_index at a new dimension and bumps the model
    generation in meta: the other connection's RAM copy is rebuilt, not patched."""
    a, b = pair
    x = clustered(600, seed=5)
    ids = fill(b, x)
    assert a.knn(x[0], 1, projects=["p"])[0][0] == ids[0]
    y = unit(np.random.default_rng(6).standard_normal((600, 64)))
    with b.transaction():
        b.execute("DROP TABLE memory_index")
        b.execute(
            "CREATE VIRTUAL TABLE memory_index USING vec0(embedding bit[64], project text, state text)"
        )
        for i, v in zip(ids, y, strict=True):
            b.execute(
                "UPDATE memory_vectors SET embedding = ? WHERE memory_id = ?", (v.tobytes(), i)
            )
            b.execute(
                "INSERT INTO memory_index (rowid, embedding, project, state) "
                "VALUES (?, vec_quantize_binary(?), 'p', 'buffer')",
                (i, v.tobytes()),
            )
        b.execute("UPDATE meta SET value = '64' WHERE key = 'dimension'")
        b.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('model_generation', '1')")
    a.refresh_model()
    assert a.knn(y[9], 1, projects=["p"])[0][0] == ids[9]
    assert a.bit_index.table is not None
    assert (a.bit_index.table.dimension, a.bit_index.loads) == (64, 2)


def test_over_the_memory_cap_knn_falls_back_to_sqlite_vec(path: Path) -> None:
    store = Store.open(path)
    store.init_model("t", DIM, "mean")
    store.bit_index = BitIndex(store.db, max_bytes=1000)
    x = clustered(500, seed=7)
    ids = fill(store, x)
    assert [i for i, _ in store.knn(x[4], 5, projects=["p"], min_candidates=500)] == exact(
        x, ids, x[4], 5
    )
    assert store.bit_index.disabled is not None and "cap" in store.bit_index.disabled
    store.close()


def test_a_layout_it_does_not_understand_disables_it(path: Path) -> None:
    """Codes in the chunk tables that do not match the stored vectors (another sqlite-vec
    layout): the index refuses to serve, and knn answers from the sqlite-vec path."""
    store = Store.open(path)
    store.init_model("t", DIM, "mean")
    x = clustered(300, seed=8)
    ids = fill(store, x)
    store.execute("UPDATE memory_index_vector_chunks00 SET vectors = zeroblob(length(vectors))")
    got = store.knn(x[11], 5, projects=["p"])  # 300 rows <= the pool: rescored whole, exact
    assert [i for i, _ in got] == exact(x, ids, x[11], 5)
    assert store.bit_index.disabled is not None and "do not match" in store.bit_index.disabled
    store.close()


class Vectors:
    """A deterministic embedder: each text's vector is given (so scores are exact)."""

    model_id = "t"
    dimension = DIM
    pooling = "unknown"

    def __init__(self, vectors: dict[str, np.ndarray]) -> None:
        self.vectors = vectors

    def embed(self, texts: Sequence[str], kind: str = "document") -> np.ndarray:
        return np.stack([self.vectors[t] for t in texts])


def test_remember_asks_one_knn_query_for_near_duplicates_and_links(path: Path) -> None:
    """The linking candidates (project + global) also give the near-duplicates (project only);
    only when all of them are near-duplicates does a query of the project's own follow."""
    rng = np.random.default_rng(9)
    base = unit(rng.standard_normal(DIM))

    def near(eps: float) -> np.ndarray:  # cosine to base about 1 / sqrt(1 + eps**2)
        return unit(base + eps * unit(rng.standard_normal(DIM)))

    texts = {
        "the deploy script needs the staging token exported first": near(0.2),
        "global note about deploy tokens and staging environments": near(0.25),
        "deploying to staging needs the token exported before the script runs": base,
    }
    store = Store.open(path)
    service = MemoryService(store, Vectors(texts), Options(duplicate_threshold=0.9))  # type: ignore[arg-type]
    first, noted = (
        service.remember(t, project=p) for t, p in zip(texts, ["p", GLOBAL], strict=False)
    )
    calls: list[tuple[int, Sequence[str] | None]] = []
    knn = store.knn

    def counted(query: np.ndarray, k: int, **kw: Any) -> list[tuple[int, float]]:
        calls.append((k, kw.get("projects")))
        return knn(query, k, **kw)

    store.knn = counted  # type: ignore[method-assign]
    third = service.remember(list(texts)[2], project="p")
    assert calls == [(CANDIDATES, ["p", GLOBAL])]
    assert [n.id for n in third.near_duplicates] == [first.id]  # the global one is not
    assert {link.id for link in third.links} == {first.id, noted.id}
    # 30 global near-copies fill all 24 candidates: the project's own query finds the twin.
    for j in range(30):
        texts[f"global copy {j}"] = near(0.01)
        service.remember(f"global copy {j}", project=GLOBAL)
    calls.clear()
    texts["one more deploy note for the staging token"] = near(0.1)
    fourth = service.remember("one more deploy note for the staging token", project="p")
    assert [k for k, _ in calls] == [CANDIDATES, 3]
    assert {n.id for n in fourth.near_duplicates} == {first.id, third.id}
    store.close()
