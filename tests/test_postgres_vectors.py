"""The PostgreSQL vector index: HNSW over the vectors' sign bits with exact rescoring, the
migration that replaces the float HNSW index of older databases with it, and ``bulk_load``
rebuilding it. Against a real PostgreSQL 18 + pgvector (tests/pg_server.py)."""

from __future__ import annotations

import numpy as np
import psycopg
from pg_server import PgServer

from mcp_memory.store.base import NewMemory
from mcp_memory.store.postgres import migrations
from mcp_memory.store.postgres.database import PgStore

DIM = 64
N = 1200  # more than the default candidate pool (400): KNN goes through the index


def fill(store: PgStore, vectors: np.ndarray) -> None:
    with store.transaction():
        for i, v in enumerate(vectors):
            text = f"memory {i}"
            store.insert(NewMemory(text, text, "p"), v)


def unit(rng: np.random.Generator, n: int) -> np.ndarray:
    x = rng.standard_normal((n, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def clustered(rng: np.random.Generator, n: int, centres: np.ndarray) -> np.ndarray:
    """Vectors around topic centres, as embeddings are (in isotropic noise a vector's sign
    bits say little about its nearest neighbours, and no real store holds that)."""
    x = centres[rng.integers(0, len(centres), n)] + 0.6 * unit(rng, n)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def indexes(url: str) -> dict[str, str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'memory_vectors'"
        ).fetchall()
    return dict(rows)


def test_knn_over_the_bit_index_finds_the_exact_neighbours(pg: PgServer) -> None:
    url = pg.fresh_url()
    store = PgStore.connect(url, user="alice@test")
    store.init_model("m", DIM, "mean")
    rng = np.random.default_rng(3)
    centres = unit(rng, 30)
    x = clustered(rng, N, centres)
    fill(store, x)
    store.build_vector_index()  # statistics: the planner sees the rows
    assert "binary_quantize(embedding)" in indexes(url)[migrations.VECTOR_INDEX]
    found = 0
    for q in clustered(rng, 10, centres):
        hits = store.knn(q, 10, projects=["p"])
        truth = {int(i) + 1 for i in np.argsort(-(x @ q))[:10]}  # ids start at 1
        assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)
        assert all(abs(s - float(x[i - 1] @ q)) < 1e-5 for i, s in hits)  # exact cosines
        found += len({i for i, _ in hits} & truth)
    assert found >= 95  # recall@10 over 10 queries
    with store.lock:
        store._pg.run("SET enable_seqscan = off")  # 1200 rows: a scan costs less
        plan = store._pg.run(
            "EXPLAIN SELECT memory_id FROM memory_vectors ORDER BY "
            f"binary_quantize(embedding)::bit({DIM}) <~> binary_quantize(%b) LIMIT 10",
            (x[0],),
        ).fetchall()
    assert migrations.VECTOR_INDEX in " ".join(r[0] for r in plan)
    store.close()


def test_bulk_load_drops_the_index_and_builds_it_again(pg: PgServer) -> None:
    url = pg.fresh_url()
    store = PgStore.connect(url, user="alice@test")
    store.init_model("m", DIM, "mean")
    with store.bulk_load():
        assert migrations.VECTOR_INDEX not in indexes(url)
        fill(store, unit(np.random.default_rng(4), 50))
    assert migrations.VECTOR_INDEX in indexes(url)
    assert len(store.knn(unit(np.random.default_rng(5), 1)[0], 5, projects=["p"])) == 5
    store.close()


def test_migration_4_replaces_the_float_hnsw_index(pg: PgServer) -> None:
    """A database made before migration 4 (float HNSW index) gets the bit index on open."""
    url = pg.fresh_url()
    store = PgStore.connect(url, user="alice@test")
    store.init_model("m", DIM, "mean")
    fill(store, unit(np.random.default_rng(6), 20))
    store.close()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP INDEX {migrations.VECTOR_INDEX}")
        conn.execute(
            "CREATE INDEX memory_vectors_hnsw ON memory_vectors "
            "USING hnsw (embedding vector_cosine_ops)"
        )
        conn.execute("DELETE FROM schema_version WHERE version >= 4")
    store = PgStore.connect(url, user="alice@test")
    assert store.schema_version == migrations.MIGRATIONS[-1][0]
    names = indexes(url)
    assert "memory_vectors_hnsw" not in names
    assert f"bit({DIM})" in names[migrations.VECTOR_INDEX]
    store.close()
