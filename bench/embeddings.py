"""Embedding speed with the bundled MiniLM: in-process engine vs the warm server.

Run: ``.venv/bin/python bench/embeddings.py`` (or ``make bench``); about 2-4 minutes on 2
cores, as each measurement has a time budget. It rewrites the "embeddings" section of
docs/benchmarks.md. Everything is measured in this one run, and compared as ratios of runs
interleaved with each other: a small machine is noisy (other processes, frequency changes),
and only side-by-side numbers are comparable.

1. Cold start: a fresh process until its first vector, in-process vs asking a warm server.
2. Batches of 1, 20 short and 20 long texts: in-process vs through a real server subprocess,
   and the protocol cost alone, against a server subprocess whose engine returns precomputed
   vectors (target: the server at most 1.05x in-process for a batch of 20).
3. 1-8 concurrent clients against the server: throughput and latency.
4. The compute bound: FLOPs per token of all-MiniLM-L6-v2 vs measured float32 matmul peak,
   and the padding that sorting by length avoids.

Every server it starts is stopped before it exits, and it checks that none is left behind.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import numpy as np
import onnxruntime
import onnxruntime as ort
import tokenizers
from _report import machine, table, write_section

from mcp_memory.config import load_settings
from mcp_memory.embed_server.app import EmbedServer, Handler
from mcp_memory.embed_server.service import EmbedService
from mcp_memory.embedding.engine import MAX_ROWS, Engine
from mcp_memory.embedding.protocol import token_path
from mcp_memory.embedding.specs import MINILM, require
from mcp_memory.embedding.warm_client import WarmClient
from mcp_memory.errors import WarmServerError

SECTION = "embeddings"

# Repetitions: at least MIN, at most MAX, else as many as fit the budget (seconds), so the
# whole run stays within a few minutes even when other work slows the machine down.
COLD_RUNS = 7
BATCH_REPS = {"1 short": (20, 60, 10.0), "20 short": (8, 30, 20.0), "20 long": (4, 8, 20.0)}
SPIN_CASES = ("1 short", "20 short")  # also measured with ONNX Runtime's spin-waiting off
PROTOCOL_REPS = 100
CONCURRENCY = (1, 2, 4, 8)
CONCURRENCY_SECONDS = 2.0  # per level and pass; levels run 1,2,4,8 then 8,4,2,1
PADDING_REPS = (2, 6, 15.0)
BOUND_REPS = (4, 10, 20.0)
TARGET_RATIO = 1.05  # server / in-process, batch of 20

# all-MiniLM-L6-v2 (BERT): layers, hidden size, feed-forward size, vocabulary.
LAYERS, HIDDEN, FFN, VOCAB = 6, 384, 1536, 30522

SENTENCES = [
    "The deploy script copies the build to the staging host with rsync over ssh.",
    "Tests must use a real SQLite file in tmp_path, never an in-memory mock.",
    "The user prefers ruff for linting and formatting, with a line length of 100.",
    "Postgres connection pooling is handled by pgbouncer in transaction mode.",
    "A flaky test in the payments module was caused by a timezone-naive datetime.",
    "The embedding server listens on loopback only and refuses foreign Host headers.",
    "We decided to keep migrations as numbered functions applied when the database opens.",
    "The CI runner has two cores and no internet access besides the package registries.",
    "Logging goes to stderr; a stdio MCP server must never print to stdout.",
    "The frontend build uses Vite, and the API client is generated from the OpenAPI schema.",
    "Retry the upload with exponential backoff, doubling up to sixty seconds.",
    "The cache key is the sha256 of the normalised content, so repeats cost nothing.",
    "Memory consolidation merges near-duplicates above a cosine of 0.95.",
    "On macOS the system Python cannot load SQLite extensions, so apsw is used instead.",
    "The release checklist: bump the version, update the changelog, tag, and push.",
    "An idle keep-alive connection is closed by the server after sixty seconds.",
    "The customer asked for CSV export with semicolons because of Excel in Germany.",
    "Feature flags live in a YAML file that the settings loader validates at startup.",
    "The nightly job reindexes search and vacuums the database on Sundays.",
    "Hooks must always exit zero so that they never break a Claude Code session.",
    "Use the staging bucket for screenshots; production credentials stay in the vault.",
    "The graph export failed because a node label contained an unescaped quote.",
    "Batching requests by length keeps padding low and throughput high.",
    "Alice owns the billing service; Bob reviews anything that touches authentication.",
]


# -- helpers ----------------------------------------------------------------------------


def median_ms(samples: Sequence[float]) -> float:
    return statistics.median(samples) * 1e3


def p95_ms(samples: Sequence[float]) -> float:
    return float(np.percentile(samples, 95)) * 1e3


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def reps_for(seconds_per_rep: float, limits: tuple[int, int, float]) -> int:
    least, most, budget = limits
    return max(least, min(most, int(budget / max(seconds_per_rep, 1e-6))))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_environment(home: Path, threads: int) -> dict[str, str]:
    """This environment without the user's MCP_MEMORY_* settings, plus the bench's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCP_MEMORY_")}
    env.update(
        MCP_MEMORY_HOME=str(home),
        MCP_MEMORY_MODEL="minilm",
        MCP_MEMORY_THREADS=str(threads),
        MCP_MEMORY_LOG_LEVEL="WARNING",
    )
    return env


# The bench's data home's run folder, where every server it starts writes its token (set in main).
RUN_DIR: list[Path] = []


def client_for(port: int) -> WarmClient:
    return WarmClient(
        "127.0.0.1",
        port,
        model_id=MINILM.id,
        dimension=MINILM.dimension,
        token_file=token_path(RUN_DIR[0], port),
    )


# -- texts ------------------------------------------------------------------------------


def token_count(engine: Engine, text: str) -> int:
    return len(engine.tokenizer.encode(text).ids)  # with [CLS] and [SEP]


def short_texts(n: int, rng: random.Random) -> list[str]:
    """One sentence each (~15-25 tokens), all different."""
    return [f"{rng.choice(SENTENCES)} (note {i})" for i in range(n)]


def text_of(engine: Engine, tokens: int, rng: random.Random, tag: int) -> str:
    """Sentences appended until the text reaches ``tokens`` tokens (within one sentence)."""
    text = f"Session {tag}:"
    while token_count(engine, text) < tokens:
        text += " " + rng.choice(SENTENCES)
    return text


# -- servers as real subprocesses -------------------------------------------------------

NO_SPIN = "session.intra_op.allow_spinning"  # ONNX Runtime session option, default "1"

# Servers run by `python -c` over the real HTTP stack (EmbedServer, EmbedService, Handler):
# "precomputed" serves fixed unit vectors, so what is left of a request is the protocol's own
# cost; "no-spin" serves the real engine with ONNX Runtime's spin-waiting turned off.
SERVER_CODE = """
import sys
from pathlib import Path
import numpy as np
import onnxruntime as ort
import os
from mcp_memory.embed_server.app import EmbedServer
from mcp_memory.embed_server.pidfile import write_token
from mcp_memory.embed_server.service import EmbedService
from mcp_memory.embedding.engine import Engine
from mcp_memory.embedding.protocol import token_path
from mcp_memory.embedding.specs import MINILM, require

class Precomputed:
    spec = MINILM
    dimension = MINILM.dimension
    vectors = np.eye(256, MINILM.dimension, dtype=np.float32)

    def embed(self, texts, kind="document"):
        return self.vectors[: len(texts)]

mode, port, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
if mode == "precomputed":
    engine = Precomputed()
else:
    paths = require(MINILM, Path("."))
    engine = Engine(MINILM, paths, threads=threads)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    engine.session = ort.InferenceSession(str(paths.model), options, providers=["CPUExecutionProvider"])
server = EmbedServer("127.0.0.1", port)
write_token(token_path(Path(os.environ["MCP_MEMORY_HOME"]) / "run", port), server.token)
server.activate(EmbedService(engine, "bench: " + mode))
server.serve_forever()
"""


def without_spinning(engine: Engine, threads: int) -> Engine:
    """A copy of ``engine`` whose ONNX session does not spin-wait between parallel sections.

    The same session options as the engine's, plus allow_spinning=0: what a one-line change
    to the engine would give.
    """
    twin = Engine(engine.spec, engine.paths, threads=threads)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    options.add_session_config_entry(NO_SPIN, "0")
    twin.session = ort.InferenceSession(
        str(engine.paths.model), options, providers=["CPUExecutionProvider"]
    )
    return twin


@contextmanager
def server_process(argv: list[str], env: dict[str, str], port: int) -> Iterator[int]:
    """Run ``argv`` (a server for ``port``) until it answers /health; always stop it."""
    with tempfile.TemporaryFile() as log_file:
        proc = subprocess.Popen(
            argv,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log_file,
        )
        try:
            client = client_for(port)
            deadline = time.monotonic() + 60
            while True:
                try:
                    client.health()
                    break
                except WarmServerError:
                    client.close()
                    if proc.poll() is not None or time.monotonic() > deadline:
                        log_file.seek(0)
                        raise RuntimeError(
                            f"server did not start: {log_file.read().decode(errors='replace')}"
                        ) from None
                    time.sleep(0.05)
            client.close()
            yield proc.pid
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
    if pid_alive(proc.pid):
        raise RuntimeError(f"server pid {proc.pid} is still running")


def warm_server(home: Path, threads: int, port: int) -> AbstractContextManager[int]:
    """``python -m embed_server`` on ``port``, with a temporary home and the bench's threads."""
    argv = [sys.executable, "-m", "mcp_memory.embed_server", "--port", str(port)]
    return server_process(argv, clean_environment(home, threads), port)


def bench_server(mode: str, home: Path, threads: int, port: int) -> AbstractContextManager[int]:
    """A SERVER_CODE server: ``mode`` is "precomputed" or "no-spin"."""
    argv = [sys.executable, "-c", SERVER_CODE, mode, str(port), str(threads)]
    return server_process(argv, clean_environment(home, threads), port)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# -- 1. cold start ----------------------------------------------------------------------

COLD_SNIPPETS = {
    "interpreter only (`python -c pass`)": "print('ok', flush=True)",
    "import `mcp_memory.embedding.warm_client` only": (
        "import mcp_memory.embedding.warm_client\nprint('ok', flush=True)"
    ),
    "warm: WarmClient -> running server": (
        "from mcp_memory.embedding.warm_client import WarmClient\n"
        "from pathlib import Path\n"
        "c = WarmClient('127.0.0.1', {port}, model_id='minilm', dimension=384,\n"
        "               token_file=Path('{run}') / 'embed-server-{port}.token')\n"
        "v = c.embed(['where does the deploy script copy the build?'])\n"
        "print(v.shape[1], flush=True)"
    ),
    "in-process: import, load model, embed": (
        "from pathlib import Path\n"
        "from mcp_memory.embedding.engine import Engine\n"
        "from mcp_memory.embedding.specs import MINILM, require\n"
        "e = Engine(MINILM, require(MINILM, Path('.')), threads={threads})\n"
        "v = e.embed(['where does the deploy script copy the build?'])\n"
        "print(v.shape[1], flush=True)"
    ),
}


def first_line_after_start(code: str, env: dict[str, str]) -> float:
    """Seconds from spawning ``python -c code`` until it prints its first line."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    elapsed = time.perf_counter() - started
    _, err = proc.communicate(timeout=60)
    if proc.returncode != 0 or not line.strip():
        raise RuntimeError(f"cold-start child failed: {err.decode(errors='replace')}")
    return elapsed


def cold_start(port: int, threads: int, home: Path) -> dict[str, list[float]]:
    env = clean_environment(home, threads)
    codes = {
        name: code.format(port=port, threads=threads, run=RUN_DIR[0])
        for name, code in COLD_SNIPPETS.items()
    }
    results: dict[str, list[float]] = {name: [] for name in codes}
    for run in range(COLD_RUNS + 1):  # run 0 warms the page cache and is dropped
        names = list(codes) if run % 2 else list(reversed(codes))
        for name in names:
            seconds = first_line_after_start(codes[name], env)
            if run:
                results[name].append(seconds)
    return results


# -- 2. in-process vs server, interleaved ----------------------------------------------


def interleaved(
    arms: dict[str, Callable[[], object]], limits: tuple[int, int, float], *, warm_up: bool = True
) -> dict[str, list[float]]:
    """Time every arm once per repetition, rotating and reversing their order, so drift and
    noise hit all arms alike. The first round (a warm-up unless ``warm_up`` is false) sizes
    the repetitions to the budget."""
    names = list(arms)
    times: dict[str, list[float]] = {name: [] for name in names}
    first = {name: timed(arms[name]) for name in names}
    if not warm_up:
        for name in names:
            times[name].append(first[name])
    reps = reps_for(sum(first.values()), limits) - (0 if warm_up else 1)
    for rep in range(1, reps + 1):
        order = names[rep % len(names) :] + names[: rep % len(names)]
        for name in reversed(order) if rep % 2 else order:
            times[name].append(timed(arms[name]))
    return times


def ratio(numerator: list[float], denominator: list[float]) -> float:
    """Median of the per-repetition ratios of two interleaved arms."""
    return statistics.median(n / d for n, d in zip(numerator, denominator, strict=True))


def round_trips(port: int, n: int) -> list[float]:
    """``GET /health`` on one kept-alive connection: the transport floor."""
    client = client_for(port)
    try:
        client.health()
        return [timed(client.health) for _ in range(n)]
    finally:
        client.close()


def protocol_cost(port: int, cases: dict[str, list[str]]) -> dict[str, list[float]]:
    """``WarmClient.embed`` against the precomputed-vector server: everything but the model."""
    client = client_for(port)
    try:
        results = {}
        for name, texts in cases.items():
            for _ in range(5):
                client.embed(texts)
            send = partial(client.embed, texts)
            results[name] = [timed(send) for _ in range(PROTOCOL_REPS)]
        return results
    finally:
        client.close()


class _NagleHandler(Handler):
    disable_nagle_algorithm = False  # the server as it was before it set TCP_NODELAY


def nagle_round_trips(engine: Engine, n: int = 20) -> list[float]:
    """``GET /health`` on an in-thread server with Nagle left on: what TCP_NODELAY fixed."""
    server = EmbedServer("127.0.0.1", 0)
    server.RequestHandlerClass = _NagleHandler
    server.activate(EmbedService(engine, "bench"))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        return round_trips(server.port, n)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


# -- 3. concurrent clients -------------------------------------------------------------


def concurrency(port: int, texts: list[str], clients: int) -> tuple[int, float, list[float]]:
    """``clients`` threads, each on its own connection, sending ``texts`` for a while.

    Returns (texts embedded, seconds, request latencies).
    """
    client = client_for(port)
    latencies: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)
    deadline = [0.0]

    def work() -> None:
        client.health()  # open and check this thread's connection before the clock starts
        mine: list[float] = []
        start.wait()
        while time.perf_counter() < deadline[0]:
            mine.append(timed(lambda: client.embed(texts)))
        client.close()
        with lock:
            latencies.extend(mine)

    workers = [threading.Thread(target=work) for _ in range(clients)]
    for worker in workers:
        worker.start()
    deadline[0] = time.perf_counter() + CONCURRENCY_SECONDS
    started = time.perf_counter()
    start.wait()
    for worker in workers:
        worker.join()
    return len(latencies) * len(texts), time.perf_counter() - started, latencies


def concurrency_sweep(port: int, texts: list[str]) -> dict[int, tuple[float, list[float]]]:
    """Levels run up then down (1,2,4,8,8,4,2,1), so slow drift cancels out."""
    totals: dict[int, list[float]] = {n: [0, 0.0] for n in CONCURRENCY}
    latencies: dict[int, list[float]] = {n: [] for n in CONCURRENCY}
    for n in (*CONCURRENCY, *reversed(CONCURRENCY)):
        count, seconds, lat = concurrency(port, texts, n)
        totals[n][0] += count
        totals[n][1] += seconds
        latencies[n] += lat
    return {n: (totals[n][0] / totals[n][1], latencies[n]) for n in CONCURRENCY}


# -- 4. compute bound ------------------------------------------------------------------


def flops_per_token(seq_len: int) -> float:
    """Forward FLOPs per token of all-MiniLM-L6-v2 at padded length ``seq_len``.

    Per layer: Q, K, V and output projections (4 d^2 multiply-adds) and the feed-forward
    (2 d f), i.e. 2 FLOPs per weight; plus attention scores Q K^T and the weighted sum A V
    (2 x seq_len x d multiply-adds). The token-embedding table is a lookup, not FLOPs;
    layer norms, softmax, GELU and pooling are O(d) per token and left out.
    """
    weights = LAYERS * (4 * HIDDEN * HIDDEN + 2 * HIDDEN * FFN)
    attention = LAYERS * 2 * seq_len * HIDDEN
    return 2.0 * (weights + attention)


# Answers each line on stdin with the best GFLOP/s of three 2048^3 float32 matmuls; first
# prints the best of a model-shaped one (4096 tokens x 384 -> 1536).
PEAK_CODE = """
import sys, time
import numpy as np

def best_rate(m, k, n, reps):
    a = np.random.default_rng(0).standard_normal((m, k), dtype=np.float32)
    b = np.random.default_rng(1).standard_normal((k, n), dtype=np.float32)
    a @ b
    best = float("inf")
    for _ in range(reps):
        started = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - started)
    return 2 * m * k * n / best / 1e9

print(best_rate(4096, 384, 1536, 12), flush=True)
for line in sys.stdin:
    print(best_rate(2048, 2048, 2048, 3), flush=True)
"""


def compute_bound(
    engine: Engine, texts: list[str], threads: int
) -> tuple[float, dict[str, list[float]], float]:
    """numpy (OpenBLAS) matmul peak with ``threads`` threads, interleaved with the engine
    embedding ``texts``, so both see the same machine.

    Returns (model-shaped GFLOP/s, {"peak": GFLOP/s, "model": seconds} per repetition, FLOPs
    the engine executes for ``texts``, padding included).
    """
    ids = [e.ids for e in engine.tokenizer.encode_batch(texts)]
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    executed = 0.0
    for chunk in engine._chunks(order, [np.asarray(i) for i in ids]):
        width = max(len(ids[i]) for i in chunk)
        executed += len(chunk) * width * flops_per_token(width)
    env = dict(os.environ)
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = str(threads)
    with subprocess.Popen(
        [sys.executable, "-c", PEAK_CODE],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stdin is not None and proc.stdout is not None
        shaped = float(proc.stdout.readline())
        rates: list[float] = []

        def peak() -> None:
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
            rates.append(float(proc.stdout.readline()))

        times = interleaved({"peak": peak, "model": partial(engine.embed, texts)}, BOUND_REPS)
        proc.stdin.close()
        proc.wait(30)
    rates = rates[1:]  # the warm-up round
    return shaped, {"peak": rates, "model": times["model"]}, executed


def padded_tokens(chunks: list[list[int]], lengths: list[int]) -> int:
    return sum(len(chunk) * max(lengths[i] for i in chunk) for chunk in chunks)


def padding(engine: Engine, texts: list[str]) -> dict[str, tuple[list[list[int]], list[float]]]:
    """ONNX time of one mixed batch under three chunkings, interleaved.

    The engine's rule (sorted by length, up to MAX_ROWS rows per run), the naive one (input
    order, MAX_ROWS rows per run), and sorted with at most 8 rows per run (less padding,
    smaller matrix products).
    """
    ids = [np.asarray(e.ids, dtype=np.int64) for e in engine.tokenizer.encode_batch(texts)]
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    chunkings = {
        f"input order, {MAX_ROWS} rows per run (naive)": [
            list(range(start, min(start + MAX_ROWS, len(ids))))
            for start in range(0, len(ids), MAX_ROWS)
        ],
        f"sorted by length, up to {MAX_ROWS} rows (the engine)": engine._chunks(order, ids),
        "sorted by length, up to 8 rows": [order[i : i + 8] for i in range(0, len(order), 8)],
    }

    def run(chunks: list[list[int]]) -> None:
        for chunk in chunks:
            engine._run([ids[i] for i in chunk])

    runs: dict[str, Callable[[], object]] = {
        name: partial(run, chunks) for name, chunks in chunkings.items()
    }
    times = interleaved(runs, PADDING_REPS, warm_up=False)  # the engine is warm by now
    return {name: (chunkings[name], times[name]) for name in runs}


# -- the run ---------------------------------------------------------------------------


def main() -> int:
    began = time.perf_counter()
    load_before = os.getloadavg()
    info = machine(
        onnxruntime=onnxruntime.__version__, numpy=np.__version__, tokenizers=tokenizers.__version__
    )
    with tempfile.TemporaryDirectory(prefix="bench-embed-") as home_text:
        home = Path(home_text)
        RUN_DIR.append(home / "run")
        threads = load_settings(clean_environment(home, 0)).intra_threads
        print(f"machine: {info}; engine threads: {threads}", flush=True)
        engine = Engine(MINILM, require(MINILM, home), threads=threads)
        rng = random.Random(7)
        short = short_texts(20, rng)
        long = [text_of(engine, 200, rng, i) for i in range(20)]
        mixed = [text_of(engine, rng.choice([8, 16, 32, 64, 128, 250]), rng, i) for i in range(40)]
        cases = {"1 short": short[:1], "20 short": short, "20 long": long}
        lengths = {name: [token_count(engine, t) for t in texts] for name, texts in cases.items()}

        quiet = without_spinning(engine, threads)
        port, quiet_port = free_port(), free_port()
        with (
            warm_server(home, threads, port),
            bench_server("no-spin", home, threads, quiet_port),
        ):
            client, quiet_client = client_for(port), client_for(quiet_port)
            for texts in cases.values():  # the same vectors (or within float noise) everywhere
                for vectors in (client.embed(texts), quiet_client.embed(texts)):
                    cos = np.sum(vectors * engine.embed(texts), axis=1)
                    assert float(cos.min()) > 0.9999, cos.min()

            print("1. cold start ...", flush=True)
            cold = cold_start(port, threads, home)

            print("2. in-process vs server ...", flush=True)
            batch: dict[str, dict[str, list[float]]] = {}
            for name, texts in cases.items():
                arms: dict[str, Callable[[], object]] = {
                    "local": partial(engine.embed, texts),
                    "server": partial(client.embed, texts),
                }
                if name in SPIN_CASES:
                    arms["local, no spin"] = partial(quiet.embed, texts)
                    arms["server, no spin"] = partial(quiet_client.embed, texts)
                batch[name] = interleaved(arms, BATCH_REPS[name])
                print(
                    f"   {name}: "
                    + ", ".join(f"{arm} {median_ms(xs):.1f} ms" for arm, xs in batch[name].items()),
                    flush=True,
                )
            client.close()
            quiet_client.close()
            rtt = round_trips(port, 200)

            print("3. concurrent clients ...", flush=True)
            conc = concurrency_sweep(port, short)

        print("   protocol cost (precomputed vectors) ...", flush=True)
        protocol_port = free_port()
        with bench_server("precomputed", home, 1, protocol_port):
            protocol = protocol_cost(protocol_port, cases)
        nagle = nagle_round_trips(engine)

        print("4. compute bound and padding ...", flush=True)
        bound = compute_bound(engine, long, threads)
        pad = padding(engine, mixed)
        mixed_lengths = [token_count(engine, t) for t in mixed]
    load_after = os.getloadavg()

    doc = render(
        info=info,
        threads=threads,
        lengths=lengths,
        cold=cold,
        batch=batch,
        protocol=protocol,
        rtt=rtt,
        nagle=nagle,
        conc=conc,
        bound=bound,
        pad=pad,
        mixed_lengths=mixed_lengths,
        load=(load_before[0], load_after[0]),
        seconds=time.perf_counter() - began,
    )
    path = write_section(SECTION, doc)
    print(doc)
    print(f"wrote section {SECTION!r} of {path}")
    return 0


# -- the report ------------------------------------------------------------------------


def render(
    *,
    info: dict[str, str],
    threads: int,
    lengths: dict[str, list[int]],
    cold: dict[str, list[float]],
    batch: dict[str, dict[str, list[float]]],
    protocol: dict[str, list[float]],
    rtt: list[float],
    nagle: list[float],
    conc: dict[int, tuple[float, list[float]]],
    bound: tuple[float, dict[str, list[float]], float],
    pad: dict[str, tuple[list[list[int]], list[float]]],
    mixed_lengths: list[int],
    load: tuple[float, float],
    seconds: float,
) -> str:
    out: list[str] = []
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    out.append("## Embeddings: in-process engine vs warm server (bundled MiniLM)\n")
    out.append(
        f"Written by `bench/embeddings.py` on {now} in {seconds:.0f} s. Machine: "
        f"{info['cores']} cores ({info['cpu']}), {info['os']}, Python {info['python']}, "
        f"onnxruntime {info['onnxruntime']}, numpy {info['numpy']}, tokenizers "
        f"{info['tokenizers']}; {threads} ONNX intra-op threads on both sides. Load average "
        f"{load[0]:.1f} at the start and {load[1]:.1f} at the end: other work shared the "
        "cores, so read the ratios (arms measured side by side, interleaved), not absolute "
        "times across runs or across sections.\n"
    )

    # 1. cold start
    names = list(cold)
    import_name, warm_name, local_name = names[1], names[2], names[3]
    out.append(f"### 1. Cold start: process start to first vector ({COLD_RUNS} runs each)\n")
    rows: list[list[object]] = [
        [name, f"{median_ms(xs):.0f}", f"{p95_ms(xs):.0f}", f"{min(xs) * 1e3:.0f}"]
        for name, xs in cold.items()
    ]
    out.append(table(["fresh `python -c` process", "median ms", "p95 ms", "min ms"], rows))
    cold_ratio = statistics.median(cold[local_name]) / statistics.median(cold[warm_name])
    out.append(
        f"\nIn-process / warm: **{cold_ratio:.1f}x**. Most of the warm path is starting Python "
        f"and importing the client ({median_ms(cold[import_name]):.0f} ms, numpy included).\n"
    )

    # 2. batches
    out.append("### 2. In-process `Engine.embed` vs `WarmClient.embed` to the server\n")
    out.append(
        "One process, all arms interleaved. *Protocol cost* is `WarmClient.embed` against a "
        "server subprocess running the same HTTP code over an engine that returns "
        "precomputed vectors: JSON, base64, validation and the loopback round trip, without "
        "the model whose noise would drown it.\n"
    )
    rows = []
    verdicts = []
    for name, arms in batch.items():
        local, server = arms["local"], arms["server"]
        cost = median_ms(protocol[name])
        estimate = 1 + cost / median_ms(local)
        measured = ratio(server, local)
        rows.append(
            [
                f"{name} ({statistics.mean(lengths[name]):.0f} tokens avg)",
                len(local),
                f"{median_ms(local):.1f} / {p95_ms(local):.1f}",
                f"{median_ms(server):.1f} / {p95_ms(server):.1f}",
                f"{measured:.3f}x",
                f"{cost:.2f} / {p95_ms(protocol[name]):.2f}",
                f"**{estimate:.3f}x**",
            ]
        )
        if name.startswith("20"):
            verdicts.append((name, measured, cost, estimate))
    out.append(
        table(
            [
                "batch",
                "reps",
                "in-process ms median / p95",
                "server ms median / p95",
                "server / in-process, measured",
                "protocol cost ms median / p95",
                "1 + protocol / in-process",
            ],
            rows,
        )
    )
    out.append(
        f"\nTransport floor: `GET /health` on a kept-alive connection takes "
        f"{median_ms(rtt):.2f} ms median ({p95_ms(rtt):.2f} ms p95). With Nagle left on, as "
        f"the server was before it set TCP_NODELAY, the same round trip takes "
        f"{median_ms(nagle):.1f} ms median: a reply is two writes (headers, body), the body "
        "waits for the ACK of the headers, and the client delays that ACK.\n"
    )
    met_protocol = all(estimate <= TARGET_RATIO for *_, estimate in verdicts)
    met_measured = all(measured <= TARGET_RATIO for _, measured, _, _ in verdicts)
    verdict_text = "; ".join(
        f"{name}: {cost:.2f} ms of protocol = {estimate:.3f}x, measured end to end {measured:.3f}x"
        for name, measured, cost, estimate in verdicts
    )
    out.append(
        f"Target, the server at most {TARGET_RATIO:.2f}x in-process for a batch of 20: "
        f"protocol cost **{'met' if met_protocol else 'missed'}**, end to end "
        f"**{'met' if met_measured else 'missed'}** ({verdict_text}).\n"
    )

    out.append(
        "**ONNX Runtime spin-waiting.** By default ORT's intra-op threads spin between "
        "parallel sections instead of sleeping. On 2 shared cores a spinning thread takes a "
        "core from whoever needs it next: the other process, the HTTP thread, the other "
        "tenants. The same batches with `session.intra_op.allow_spinning=0` on both sides "
        "(a copy of the engine with that one option added; a server subprocess likewise), in "
        "the same interleaved loop:\n"
    )
    rows = []
    for name in SPIN_CASES:
        arms = batch[name]
        rows.append(
            [
                name,
                f"{median_ms(arms['local']):.1f}",
                f"{median_ms(arms['local, no spin']):.1f}",
                f"**{ratio(arms['local'], arms['local, no spin']):.2f}x**",
                f"{ratio(arms['server'], arms['local']):.3f}x",
                f"{ratio(arms['server, no spin'], arms['local, no spin']):.3f}x",
            ]
        )
    out.append(
        table(
            [
                "batch",
                "in-process ms, spinning (as shipped)",
                "in-process ms, no spin",
                "spinning / no spin",
                "server / in-process, spinning",
                "server / in-process, no spin",
            ],
            rows,
        )
    )

    # 3. concurrency
    out.append(
        f"\n### 3. Concurrent clients against one server (batches of 20 short texts; "
        f"threads, each on its own connection; {2 * CONCURRENCY_SECONDS:.0f} s per level, "
        "run up then down)\n"
    )
    one = conc[CONCURRENCY[0]][0]
    rows = [
        [
            n,
            len(lat),
            f"{rate:,.0f}",
            f"{rate / one:.2f}x",
            f"{median_ms(lat):.0f}",
            f"{p95_ms(lat):.0f}",
        ]
        for n, (rate, lat) in conc.items()
    ]
    out.append(
        table(
            ["clients", "requests", "texts/s", "vs 1 client", "latency median ms", "p95 ms"],
            rows,
        )
    )

    # 4. compute bound
    shaped, paired_bound, executed = bound
    peaks, model_times = paired_bound["peak"], paired_bound["model"]
    long_tokens = sum(lengths["20 long"])
    seq = max(lengths["20 long"])
    weights = LAYERS * (4 * HIDDEN * HIDDEN + 2 * HIDDEN * FFN)
    peak = statistics.median(peaks)
    utilisation = statistics.median(
        executed / t / (g * 1e9) for g, t in zip(peaks, model_times, strict=True)
    )
    bound_tokens = peak * 1e9 * long_tokens / executed
    achieved = long_tokens / statistics.median(model_times)
    out.append(
        f"\n### 4. Compute bound ({len(peaks)} interleaved pairs of a matmul and the batch)\n"
    )
    out.append(
        table(
            ["quantity", "value"],
            [
                [
                    "encoder weights per token: 6 x (4·384² + 2·384·1536)",
                    f"{weights / 1e6:.2f} M (+ {VOCAB * HIDDEN / 1e6:.1f} M in the embedding "
                    "table, a lookup)",
                ],
                [
                    f"FLOPs per token at length {seq}",
                    f"{flops_per_token(seq) / 1e6:.1f} M (2 per weight, + 4·{seq}·384 per "
                    "layer for attention)",
                ],
                [
                    f"numpy float32 matmul 2048³, {threads} threads (median of best-of-3)",
                    f"{peak:.1f} GFLOP/s",
                ],
                [
                    "numpy float32 matmul, model-shaped 4096x384 @ 384x1536",
                    f"{shaped:.1f} GFLOP/s",
                ],
                [
                    f"bound for 20 long texts ({long_tokens:,} tokens, "
                    f"{executed / 1e9:.1f} GFLOP as padded)",
                    f"{bound_tokens:,.0f} tokens/s",
                ],
                [
                    "achieved in-process, median",
                    f"{achieved:,.0f} tokens/s; **{100 * utilisation:.0f}%** of the matmul "
                    "peak (median of per-pair ratios)",
                ],
            ],
        )
    )
    real = sum(mixed_lengths)
    out.append(
        f"\nPadding on a mixed batch of 40 texts ({min(mixed_lengths)}-{max(mixed_lengths)} "
        f"tokens, {real:,} real tokens); ONNX runs only, chunkings interleaved:\n"
    )
    rows = []
    pad_names = list(pad)
    naive_times = pad[pad_names[0]][1]
    for name, (chunks, times) in pad.items():
        padded = padded_tokens(chunks, mixed_lengths)
        rows.append(
            [
                name,
                ", ".join(str(len(c)) for c in chunks),
                f"{padded:,}",
                f"{100 * (padded - real) / padded:.0f}%",
                f"{median_ms(times):.0f}",
                f"{ratio(naive_times, times):.2f}x",
            ]
        )
    out.append(
        table(
            ["chunking", "rows per run", "padded tokens", "padding", "median ms", "speed-up"],
            rows,
        )
    )
    naive_pad, engine_pad = (padded_tokens(pad[n][0], mixed_lengths) for n in pad_names[:2])
    engine_speedup = ratio(naive_times, pad[pad_names[1]][1])

    # what this means
    short = next(v for v in verdicts if v[0] == "20 short")
    spin_gain = {
        name: ratio(batch[name]["local"], batch[name]["local, no spin"]) for name in SPIN_CASES
    }
    spin_server = {
        name: (
            ratio(batch[name]["server"], batch[name]["local"]),
            ratio(batch[name]["server, no spin"], batch[name]["local, no spin"]),
        )
        for name in SPIN_CASES
    }
    spin_text = (
        "- Spin-waiting: with ORT's `allow_spinning=0` on both sides, server / in-process is "
        + " and ".join(
            f"{off:.3f}x instead of {on:.3f}x ({n})" for n, (on, off) in spin_server.items()
        )
        + ", and in-process batches run "
        + " and ".join(f"{g:.2f}x ({n})" for n, g in spin_gain.items())
        + " as fast as with spinning. "
        + (
            "When other work shares the cores, a thread that spins after its run holds a core "
            "that the next thread, often in the other process, is waiting for; the part of "
            "the end-to-end gap that neither the protocol cost nor spinning explains is, most "
            "likely, that "
            "wait for a core at each of the two cross-process wake-ups per request."
            if max(on for on, _ in spin_server.values()) > TARGET_RATIO
            else "Spinning does not hurt here; the machine had cores to spare."
        )
    )
    best = max(conc, key=lambda n: conc[n][0])
    gain = conc[best][0] / one
    if gain >= 1.15:
        concurrency_text = (
            f"- Concurrent clients overlap what one request leaves idle (tokenising, pooling, "
            f"HTTP, ORT's imperfect use of {threads} threads): throughput peaks at "
            f"{conc[best][0]:,.0f} texts/s with {best} clients ({gain:.2f}x one client), "
            "while latency grows with the queue."
        )
    else:
        concurrency_text = (
            f"- One client already keeps the {info['cores']} cores busy: more clients add "
            f"waiting, not speed (best {gain:.2f}x one client, with {best}), and latency "
            "grows with the queue."
        )
    out.append("\n### What this means\n")
    out.append(
        "\n".join(
            [
                f"- A process that finds the warm server has its first vector {cold_ratio:.1f}x "
                f"sooner than one that loads the model ({median_ms(cold[warm_name]):.0f} vs "
                f"{median_ms(cold[local_name]):.0f} ms median); what is left is mostly Python "
                "starting and importing numpy.",
                f"- The protocol costs {short[2]:.2f} ms for a batch of 20 short texts "
                f"({short[3]:.3f}x the in-process time; {short[1]:.3f}x measured end to end "
                f"in this run): the {TARGET_RATIO:.2f}x target is "
                f"{'met' if met_protocol else 'missed'} by the server itself. It holds "
                "because the server sets TCP_NODELAY; without it every request stalls on a "
                f"delayed ACK ({median_ms(nagle):.0f} ms per round trip above).",
                spin_text,
                concurrency_text,
                f"- The model runs at {100 * utilisation:.0f}% of numpy's float32 matmul peak "
                "on these cores, so no server change makes long batches much faster; only "
                "less work does. Sorting by length cuts the padded tokens of a mixed batch "
                f"from {naive_pad:,} to {engine_pad:,} ({engine_speedup:.2f}x faster).",
            ]
        )
    )
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.exit(main())
