"""Many real processes on one database at once, and writers killed at random moments.

Shared by ``tests/test_concurrency.py`` / ``tests/test_crash.py`` (modest numbers) and
``bench/reliability.py`` (bigger ones). Every actor is a real process a user runs:

- MCP servers: ``python -m mcp_memory.cli.main serve`` over stdio, driven by ``mcp.Client``, each
  remembering and recalling (one per Claude Code session);
- CLI writers: ``memcycle remember --json`` (one process per memory);
- hooks: ``hooks/run.py UserPromptSubmit`` with ``#remember`` prompts (the spool worker stores
  them);
- ``memcycle maintain`` (embeds, links, ages; consolidates with the extractive provider);
- ``memcycle consolidate IDS --provider extractive`` on seeded memories.

An *acknowledged* memory is one whose id was returned to its writer (for hooks, whose hook
exited 0 after queueing it). :func:`verify` then audits the database (``integrity.audit``).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

import hook_fixtures as fx  # noqa: E402

CLI = [sys.executable, "-m", "mcp_memory.cli"]
# One fact stated three ways: a cluster the offline merge can consolidate (memories that say
# different things wait for an LLM instead, see llm.extractive).
SEED = [
    "Decision: the billing service receives Stripe events through webhooks only, never by polling.",
    "The billing service receives Stripe events through webhooks only; it never polls Stripe.",
    "Billing receives Stripe events through webhooks only, never by polling the Stripe API.",
]


@dataclass
class Storm:
    acknowledged: dict[int, str] = field(default_factory=dict)  # id -> content
    hook_notes: list[str] = field(default_factory=list)  # queued by hooks, exit 0
    errors: list[str] = field(default_factory=list)
    recalls: int = 0
    processes: int = 0
    pids: list[int] = field(default_factory=list)
    seconds: float = 0.0
    consolidated: list[int] = field(default_factory=list)  # results of the consolidation
    # (actor, id, hits): recalls that missed the memory just remembered; see resolve_misses
    misses: list[tuple[str, int, list[int]]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what a miss looked like, for its error
    lock: threading.Lock = field(default_factory=threading.Lock)

    def ack(self, mid: int, content: str) -> None:
        with self.lock:
            if mid in self.acknowledged and self.acknowledged[mid] != content:
                self.errors.append(f"id {mid} returned for two texts")
            self.acknowledged[mid] = content

    def error(self, text: str) -> None:
        with self.lock:
            self.errors.append(text)


def environment(home: Path, port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCP_MEMORY_")}
    env.update(
        MCP_MEMORY_HOME=str(home),
        MCP_MEMORY_MODEL="minilm",
        MCP_MEMORY_THREADS="1",
        MCP_MEMORY_EMBED_PORT=str(port),
        MCP_MEMORY_LLM_PROVIDER="extractive",
        **extra,
    )
    return env


def text(actor: str, n: int) -> str:
    """A unique, realistic memory text (distinct enough that none is a near-duplicate).

    No topic touches :data:`SEED` (billing webhooks), so ``maintain`` can merge the seeds only
    as exactly the three of them, the same merge the explicit consolidation asks for. The topic
    and the setting's value depend on the actor's whole name (every actor name has 4
    characters: a length alone gave ``mcp0 note 2`` and ``cli0 note 2`` the same topic and
    value, near-duplicates that ``maintain`` merged between a remember and its recall).
    """
    topics = [
        "the login redirect",
        "the staging database",
        "uv lock files",
        "the CI cache",
        "the docs build",
        "the release checklist",
        "TLS certificates",
        "flaky tests",
    ]
    salt = zlib.crc32(actor.encode())
    topic = topics[(n + salt) % len(topics)]
    return f"{actor} note {n}: about {topic}, use setting value {n * 37 + salt % 997} ({actor}-{n})"


def _run(
    cmd: list[str],
    env: dict[str, str],
    cwd: Path,
    storm: Storm,
    timeout: float = 120,
    stdin: bytes | None = None,
) -> subprocess.CompletedProcess[bytes] | None:
    with storm.lock:
        storm.processes += 1
    try:
        done = subprocess.run(
            cmd, env=env, cwd=cwd, input=stdin, capture_output=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        storm.error(f"{cmd[3:5]} timed out")
        return None
    if done.returncode != 0:
        storm.error(f"{' '.join(cmd[3:5])} exit {done.returncode}: {done.stderr.decode()[-400:]}")
        return None
    return done


def mcp_sessions(env: dict[str, str], cwd: Path, storm: Storm, servers: int, each: int) -> None:
    """``servers`` MCP stdio servers at once, each remembering ``each`` memories (and
    recalling after each)."""

    async def session(n: int) -> None:
        params = StdioServerParameters(
            command=sys.executable, args=["-m", "mcp_memory.cli", "serve"], env=env, cwd=str(cwd)
        )
        with storm.lock:
            storm.processes += 1
        async with Client(params) as client:
            for i in range(each):
                content = text(f"mcp{n}", i)
                r = await client.call_tool("remember", {"content": content, "tags": [f"s{n}"]})
                if r.is_error:
                    storm.error(f"mcp{n} remember: {r.content}")
                    continue
                storm.ack(int(r.structured_content["id"]), content)
                q = await client.call_tool("recall", {"query": content, "k": 3})
                if q.is_error:
                    storm.error(f"mcp{n} recall: {q.content}")
                    continue
                storm.recalls += 1
                hits = [h["id"] for h in q.structured_content["hits"]]
                if int(r.structured_content["id"]) not in hits:
                    again = await client.call_tool(
                        "recall", {"query": content, "k": 10, "include_irrelevant": True}
                    )
                    seen = [
                        (h["id"], h.get("relevant"), h.get("signals"))
                        for h in (again.structured_content or {}).get("hits", [])
                    ]
                    with storm.lock:
                        storm.misses.append((f"mcp{n}", int(r.structured_content["id"]), hits))
                        storm.notes.append(f"mcp{n} miss {r.structured_content['id']}: {seen}")

    async def main() -> None:
        async with anyio.create_task_group() as group:
            for n in range(servers):
                group.start_soon(session, n)

    try:
        anyio.run(main)
    except BaseException as exc:  # noqa: BLE001 (reported, the test fails on it)
        storm.error(f"mcp sessions: {type(exc).__name__}: {exc}")


def cli_writer(env: dict[str, str], cwd: Path, storm: Storm, n: int, each: int) -> None:
    for i in range(each):
        content = text(f"cli{n}", i)
        done = _run([*CLI, "remember", content, "--json", "--tag", "cli"], env, cwd, storm)
        if done is not None:
            storm.ack(int(json.loads(done.stdout)["id"]), content)


def hook_writer(env: dict[str, str], cwd: Path, storm: Storm, each: int) -> None:
    for i in range(each):
        note = text("hook", i)
        payload = json.dumps(fx.prompt(cwd, f"#remember {note}")).encode()
        done = _run(
            [sys.executable, str(fx.RUNNER), "UserPromptSubmit"], env, cwd, storm, stdin=payload
        )
        if done is not None:
            with storm.lock:
                storm.hook_notes.append(note)


def maintainer(env: dict[str, str], cwd: Path, storm: Storm, runs: int) -> None:
    for _ in range(runs):
        _run([*CLI, "maintain", "--json"], env, cwd, storm)
        time.sleep(0.2)


def consolidator(env: dict[str, str], cwd: Path, storm: Storm, ids: list[int]) -> None:
    time.sleep(1.0)  # in the middle of the writes
    done = _run(
        [*CLI, "consolidate", *map(str, ids), "--provider", "extractive", "--json"], env, cwd, storm
    )
    if done is not None:
        outcomes = json.loads(done.stdout)
        # "already": maintain (extractive too) merged the same cluster first; asking again
        # answers with that merge.
        if not outcomes or outcomes[0]["status"] not in ("applied", "already"):
            storm.error(f"consolidation not applied: {outcomes}")
        else:
            storm.consolidated = outcomes[0]["results"]


def seed(env: dict[str, str], cwd: Path, storm: Storm) -> list[int]:
    ids = []
    for content in SEED:
        done = _run([*CLI, "remember", content, "--json"], env, cwd, storm)
        assert done is not None, storm.errors
        ids.append(int(json.loads(done.stdout)["id"]))
        storm.ack(ids[-1], content)
    return ids


def run_storm(
    home: Path,
    cwd: Path,
    port: int,
    *,
    servers: int = 4,
    each: int = 10,
    cli: int = 2,
    cli_each: int = 4,
    hooks: int = 8,
    maintains: int = 2,
) -> Storm:
    """Everything at once; returns what was acknowledged and every error seen."""
    env = environment(home, port)
    storm = Storm()
    ids = seed(env, cwd, storm)
    started = time.perf_counter()
    actors = [
        threading.Thread(target=mcp_sessions, args=(env, cwd, storm, servers, each)),
        *[
            threading.Thread(target=cli_writer, args=(env, cwd, storm, n, cli_each))
            for n in range(cli)
        ],
        threading.Thread(target=hook_writer, args=(env, cwd, storm, hooks)),
        threading.Thread(target=maintainer, args=(env, cwd, storm, maintains)),
        threading.Thread(target=consolidator, args=(env, cwd, storm, ids)),
    ]
    for t in actors:
        t.start()
    for t in actors:
        t.join()
    fx.settle(home / "run")
    storm.seconds = round(time.perf_counter() - started, 2)
    resolve_misses(home / "memory.db", storm)
    return storm


def resolve_misses(db: Path, storm: Storm) -> None:
    """A recall may miss the memory just remembered only because ``maintain`` merged it in
    between: it is superseded and the recall returned the merge instead. Any other miss is
    an error."""
    if not storm.misses:
        return
    from mcp_memory.store.database import Store

    store = Store.open(db)
    try:
        for actor, mid, hits in storm.misses:
            merged_into = {
                int(r[0])
                for r in store.execute("SELECT result_id FROM lineage WHERE source_id = ?", (mid,))
            }
            if store.get(mid).state != "superseded" or not merged_into & set(hits):
                storm.error(
                    f"{actor}: memory {mid} not recalled (hits {hits}; now "
                    f"{store.get(mid).state}, merged into {sorted(merged_into)}; {storm.notes})"
                )
    finally:
        store.close()


# -- crashes ---------------------------------------------------------------------------------

WRITER = """
import sys
from pathlib import Path
from mcp_memory.embedding.local import LocalEmbedder
from mcp_memory.embedding.specs import MINILM
from mcp_memory.service.memories import MemoryService
from mcp_memory.store.database import Store
from mcp_memory.lifecycle.maintenance import embed_pending, connect_pending
svc = MemoryService(Store.open(sys.argv[1]), LocalEmbedder(MINILM, Path('.'), threads=1))
tag, n = sys.argv[2], 0
ready = Path(sys.argv[1] + '.' + tag + '.ready')
while True:
    if n % 7 == 6:
        embed_pending(svc, 8)
        connect_pending(svc, 8)
        print("maintained", flush=True)
    batch = [f"{tag} crash note {n}-{j}: keep value {n * 31 + j} for the {tag} service" for j in range(1 + n % 3)]
    for r in svc.remember_many(batch, project="crash", session_id=tag, embed=n % 4 != 3):
        print(r.id, flush=True)
    if n == 0:
        ready.touch()  # imports and the model load are done: it is writing now
    if n % 5 == 4:
        svc.forget(r.id)
    n += 1
"""


@dataclass
class Crashes:
    cycles: int = 0
    killed: int = 0
    acknowledged: dict[int, str] = field(default_factory=dict)
    forgotten: int = 0
    seconds: float = 0.0


def crash_cycles(
    db: Path,
    cycles: int,
    *,
    writers: int = 2,
    seed: int = 8,
    min_wait: float = 0.05,
    max_wait: float = 1.2,
    warm: float = 1.5,
) -> Crashes:
    """Start ``writers`` writer processes, SIGKILL each at a random moment, ``cycles`` times.

    Lines a writer printed before it died are the ids it was told were stored (printed after
    the commit returned): those are acknowledged.
    """
    rng = random.Random(seed)
    result = Crashes()
    started = time.perf_counter()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCP_MEMORY_")}
    for cycle in range(cycles):
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", WRITER, str(db), f"w{cycle}-{n}"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                start_new_session=True,
            )
            for n in range(writers)
        ]
        # Kill at a random moment of the writing, counted from when every writer has finished
        # its imports and first write (~1 s on an idle machine, many more on a loaded one), so a busy machine
        # shifts the window instead of leaving no time to write.
        ready = [Path(f"{db}.w{cycle}-{n}.ready") for n in range(writers)]
        deadline = time.monotonic() + 60
        while not all(r.exists() for r in ready) and time.monotonic() < deadline:
            if any(p.poll() is not None for p in procs):
                break
            time.sleep(0.02)
        time.sleep(max(0.0, warm - 1.0) + rng.uniform(min_wait, max_wait))
        for p in procs:
            os.kill(p.pid, signal.SIGKILL)
            time.sleep(rng.uniform(0, 0.05))
        for p in procs:
            out, err = p.communicate(timeout=30)
            if p.returncode != -signal.SIGKILL:
                raise RuntimeError(
                    f"writer ended by itself ({p.returncode}): {err.decode()[-800:]}"
                )
            result.killed += 1
            for line in out.decode().splitlines():
                if line.strip().isdigit():
                    result.acknowledged[int(line)] = ""
        result.cycles += 1
    result.seconds = round(time.perf_counter() - started, 2)
    return result


def no_leftovers(pids: list[int]) -> list[int]:
    """The pids of ``pids`` still alive (not zombies)."""
    alive = []
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        stat = Path(f"/proc/{pid}/stat")
        if stat.exists() and stat.read_text().rpartition(")")[2].split()[:1] == ["Z"]:
            continue
        alive.append(pid)
    return alive


def children_of(pid: int) -> list[int]:
    """Every descendant of ``pid`` (Linux /proc)."""
    out: list[int] = []
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            if len(fields) > 1 and int(fields[1]) == parent:
                out.append(int(entry.name))
                frontier.append(int(entry.name))
    return out


def ensure(condition: Any, message: str) -> None:
    if not condition:
        raise AssertionError(message)
