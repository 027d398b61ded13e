"""Claude Code hooks, run as Claude Code runs them: ``python hooks/run.py EVENT`` subprocesses with
realistic JSON on stdin, output parsed and checked against the documented shape.

Pins: relevant memories injected (keyword-only with the warm server down, by vector through a
real warm server), each once per session, nothing when nothing qualifies; ``#remember`` stored
as a protected user note with secrets and ``<private>`` text gone from every file written;
a failure and its fix captured as one memory, routine tool calls not at all; a transcript turned
into one session summary per session, then maintenance; the briefing injected at session start
and the warm server spawned detached; exit 0 and nothing harmful printed with the database
missing, locked or corrupted, the server down or hung, or garbage on stdin; the hook path
imports no numpy and no model; the lean reader agrees with the store.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import apsw
import hook_fixtures as fx
import numpy as np
import pytest
from support import free_port
from warm_helpers import TOKENS, serving, wait_healthy

from mcp_memory.capture import spool
from mcp_memory.embedding.local import LocalEmbedder
from mcp_memory.embedding.protocol import SERVICE, token_path
from mcp_memory.embedding.specs import MINILM
from mcp_memory.hooks import reader as hook_recall
from mcp_memory.hooks.events import EVENTS, remember_notes
from mcp_memory.hooks.worker import run_worker
from mcp_memory.projects import GLOBAL
from mcp_memory.service.memories import MemoryService
from mcp_memory.service.types import Options
from mcp_memory.store.base import Memory
from mcp_memory.store.database import Store

MEMORIES = [
    "The login test is flaky because of the timezone; fixed by freezing time with freezegun.",
    "Decision: the billing service talks to Stripe through webhooks only, never by polling.",
    "We use uv, not pip, because its lock files are reproducible across machines.",
    "The staging database is reset every Sunday night; do not keep test fixtures there.",
]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / ".git").mkdir(parents=True)
    (root / ".git" / "HEAD").write_text("ref: refs/heads/fix/login\n")
    (root / "src").mkdir()
    return root.resolve()


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "home"
    path.mkdir()
    yield path
    # No worker may outlive its test (they write into tmp_path).
    fx.settle(path / "run")


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def env(home: Path, port: int) -> dict[str, str]:
    return fx.hook_env(home, port)


def seed(home: Path, project: Path, minilm: LocalEmbedder) -> list[int]:
    s = Store.open(home / "memory.db")
    try:
        service = MemoryService(s, minilm, Options(duplicate_threshold=MINILM.duplicate_threshold))
        return [service.remember(m, project=str(project)).id for m in MEMORIES]
    finally:
        s.close()


def pretend_server_starting(home: Path, port: int) -> None:
    """A live pid in the pid file: SessionStart then believes a server is loading and does not
    spawn one (tests that are not about spawning must not leave servers behind)."""
    run = home / "run"
    run.mkdir(parents=True, exist_ok=True)
    (run / f"embed-server-{port}.pid").write_text(json.dumps({"pid": os.getpid()}))


def memories(home: Path, **where: Any) -> list[Memory]:
    s = Store.open(home / "memory.db")
    try:
        clause = " AND ".join(f"{k} = ?" for k in where) or "1"
        found = s.get_many(s.query_ids(clause + " ORDER BY id", tuple(where.values())))
        return list(found.values())
    finally:
        s.close()


def run_ok(event: str, payload: Any, env: dict[str, str]) -> str | None:
    done, _ = fx.run_hook(event, payload, env)
    assert done.returncode == 0 and done.stderr == b"", done.stderr
    return fx.parse_output(event, done.stdout)


# -- UserPromptSubmit -------------------------------------------------------------------------


def test_prompt_gets_relevant_memories_by_keyword_when_server_is_down(
    home: Path, project: Path, env: dict[str, str], minilm: LocalEmbedder
) -> None:
    ids = seed(home, project, minilm)
    context = run_ok("UserPromptSubmit", fx.prompt(project, "Why is the login test flaky?"), env)
    assert context is not None
    header, line = context.splitlines()
    assert (
        header == "Relevant memories from earlier sessions (mcp-memory; ids work with its tools):"
    )
    assert line.startswith(f"- [{ids[0]}] (error_fix, 20") and line.endswith(f") {MEMORIES[0]}")
    # Shown once per session; an unrelated prompt gets nothing (no output at all).
    assert (
        run_ok("UserPromptSubmit", fx.prompt(project, "Why is the login test flaky?"), env) is None
    )
    assert run_ok("UserPromptSubmit", fx.prompt(project, "Write a haiku about autumn"), env) is None


def test_prompt_gets_paraphrased_memories_through_the_warm_server(
    home: Path, project: Path, env: dict[str, str], port: int, minilm: LocalEmbedder
) -> None:
    ids = seed(home, project, minilm)
    paraphrase = "should the invoicing code poll the payment provider?"
    assert run_ok("UserPromptSubmit", fx.prompt(project, paraphrase), env) is None  # no keywords
    with serving(minilm.engine(), port, run_dir=home / "run"):
        context = run_ok("UserPromptSubmit", fx.prompt(project, paraphrase), env)
        assert context is not None and f"[{ids[1]}] (decision," in context
        assert MEMORIES[1] in context and len(context.splitlines()) == 2
        assert (
            run_ok("UserPromptSubmit", fx.prompt(project, "Write a haiku about autumn"), env)
            is None
        )


def test_hung_server_costs_at_most_its_timeout(
    home: Path, project: Path, minilm: LocalEmbedder
) -> None:
    """Something accepts connections on the port and never answers: keyword recall still runs."""
    seed(home, project, minilm)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        env = fx.hook_env(home, silent.getsockname()[1])
        done, elapsed = fx.run_hook("UserPromptSubmit", fx.prompt(project, "login test flaky"), env)
    assert done.returncode == 0 and done.stderr == b""
    assert MEMORIES[0] in (fx.parse_output("UserPromptSubmit", done.stdout) or "")
    assert elapsed < 1.5 + 5  # SERVER_TIMEOUT plus a loaded machine's interpreter start


def test_remember_note_is_protected_and_secrets_never_touch_the_disk(
    home: Path, project: Path, env: dict[str, str]
) -> None:
    note = (
        f"#remember deploys use the AWS key {fx.AWS_KEY} and the token {fx.GITHUB_TOKEN}; "
        f"<private>{fx.PRIVATE}</private> staging lives in eu-west-1"
    )
    context = run_ok("UserPromptSubmit", fx.prompt(project, note), env)
    assert context is not None and "saved 1 #remember note(s)" in context
    assert fx.AWS_KEY not in context and fx.PRIVATE not in context
    (stored,) = fx.wait_for(lambda: memories(home), 60, "the note")
    assert (stored.type, stored.source, stored.protected) == ("user_note", "user", True)
    assert stored.project == str(project) and stored.session_id == fx.SESSION
    assert "staging lives in eu-west-1" in stored.content and "[REDACTED:" in stored.content
    fx.settle(home / "run")
    for path in home.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for secret in (fx.AWS_KEY, fx.GITHUB_TOKEN, fx.PRIVATE):
                assert secret.encode() not in data, (secret, path)


def test_remember_notes_parsing() -> None:
    assert remember_notes("#remember we deploy on Fridays\nsecond line") == (
        ["we deploy on Fridays\nsecond line"],
        "",
    )
    assert remember_notes("fix the build\n#remember: CI uses Node 20\nthanks") == (
        ["CI uses Node 20"],
        "fix the build\n\nthanks",
    )
    assert remember_notes("#remembering is hard") == ([], "#remembering is hard")
    assert remember_notes("#remember") == ([], "")


# -- PostToolUse / PostToolUseFailure ---------------------------------------------------------


def test_failure_and_its_fix_become_one_memory(
    home: Path, project: Path, env: dict[str, str]
) -> None:
    for event, payload in [
        ("PostToolUse", fx.read(project, "src/client.py")),
        ("PostToolUse", fx.bash_success(project, "git status")),
        (
            "PostToolUseFailure",
            fx.bash_failure(project, "pytest -q tests/test_client.py", fx.PYTEST_ERROR),
        ),
        ("PostToolUse", fx.edit(project, "src/client.py")),
    ]:
        assert run_ok(event, payload, env) is None
    assert not (home / "memory.db").exists()  # nothing worth storing yet: no write at all
    ok = fx.bash_success(project, "pytest -q tests/test_client.py", "12 passed")
    assert run_ok("PostToolUse", ok, env) is None
    (fix,) = fx.wait_for(lambda: memories(home), 60, "the fix")
    assert (fix.type, fix.source, fix.tags) == ("error_fix", "hook", ("error", "fix"))
    assert fix.content.startswith("Fixed: `pytest -q tests/test_client.py` failed with:")
    assert "httpx.ReadTimeout" in fix.content and "editing src/client.py" in fix.content


def test_a_failure_fixed_before_gets_the_earlier_fix(
    home: Path, project: Path, env: dict[str, str], minilm: LocalEmbedder
) -> None:
    s = Store.open(home / "memory.db")
    try:
        fix = MemoryService(s, minilm).remember(
            "Fixed: `pytest -q tests/test_client.py` failed with: FAILED "
            "tests/test_client.py::test_retry_on_timeout - httpx.ReadTimeout: timed out. It "
            "passed after raising TIMEOUT to 30 in src/client.py.",
            project=str(project),
        )
    finally:
        s.close()
    failure = fx.bash_failure(project, "pytest -q tests/test_client.py", fx.PYTEST_ERROR)
    context = run_ok("PostToolUseFailure", failure, env)
    assert context is not None and context.splitlines()[0] == (
        "mcp-memory: this failure looks like one fixed before in this project:"
    )
    assert f"[{fix.id}] (error_fix," in context and "raising TIMEOUT to 30" in context
    assert run_ok("PostToolUseFailure", failure, env) is None  # once per session
    other = fx.bash_failure(project, "cargo build", "error[E0308]: mismatched types")
    assert run_ok("PostToolUseFailure", other, env) is None


def test_decision_record_is_captured(home: Path, project: Path, env: dict[str, str]) -> None:
    adr = fx.write(project, "docs/adr/0007-retry-policy.md", "# 7. Retry GETs three times")
    assert run_ok("PostToolUse", adr, env) is None
    (decision,) = fx.wait_for(lambda: memories(home), 60, "the decision")
    assert decision.type == "decision" and decision.protected


# -- PreCompact / SessionEnd -----------------------------------------------------------------


def test_session_end_stores_one_redacted_summary_then_maintains(
    home: Path,
    project: Path,
    env: dict[str, str],
    port: int,
    tmp_path: Path,
    minilm: LocalEmbedder,
) -> None:
    transcript = fx.write_transcript(tmp_path / f"{fx.SESSION}.jsonl", project)
    with serving(
        minilm.engine(), port, run_dir=home / "run"
    ):  # maintenance embeds through it (no model in the worker)
        assert run_ok("PreCompact", fx.pre_compact(project, transcript), env) is None
        (first,) = fx.wait_for(lambda: memories(home), 60, "the summary")
        fx.settle(home / "run")
        with transcript.open("a") as handle:  # the session goes on after the compaction
            handle.write(
                "\n"
                + json.dumps(
                    {
                        "type": "user",
                        "message": {
                            "role": "user",
                            "content": "Now document the retry policy in the README",
                        },
                    }
                )
                + "\n"
            )
        assert run_ok("SessionEnd", fx.session_end(project, transcript), env) is None
        fx.wait_for(lambda: len(memories(home)) == 2, 60, "the second summary")
        fx.wait_for(lambda: memories(home, state="buffer")[0].embedded, 90, "maintenance")
    active = memories(home, state="buffer")
    assert [m.id for m in memories(home, state="deleted")] == [first.id]  # one per session
    (summary,) = active
    assert (summary.type, summary.tags, summary.source) == ("session_summary", ("session",), "hook")
    assert summary.session_id == fx.SESSION and summary.embedded
    assert summary.content.startswith("Session summary 2026-11-21 (branch fix/retry-timeouts")
    assert "Files touched: src/client.py, docs/adr/0007-retry-policy.md" in summary.content
    assert "- Now document the retry policy in the README" in summary.content
    assert fx.GITHUB_TOKEN not in summary.content and fx.PRIVATE not in summary.content
    assert "[REDACTED:" in summary.content
    assert not (home / "run" / "sessions" / f"{fx.SESSION}.json").exists()


# -- SessionStart -------------------------------------------------------------------------------


def test_session_start_injects_the_briefing_from_its_cache(
    home: Path, project: Path, env: dict[str, str], port: int, minilm: LocalEmbedder
) -> None:
    ids = seed(home, project, minilm)
    pretend_server_starting(home, port)
    first = run_ok("SessionStart", fx.session_start(project), env)  # no cache yet: built here
    assert first is not None and first.startswith("## Memory briefing: proj\n")
    assert f"- [{ids[1]}] {MEMORIES[1]}" in first  # the decision is protected: listed first
    cached = spool.read_briefing(home / "run", str(project))
    assert cached is not None and cached["text"] == first
    done, elapsed = fx.run_hook("SessionStart", fx.session_start(project, "resume"), env)
    assert fx.parse_output("SessionStart", done.stdout) == first  # from the cache
    fx.settle(home / "run")
    assert not spool.pending_jobs(home / "run")


def test_session_start_spawns_the_warm_server_and_returns_at_once(
    home: Path, project: Path, env: dict[str, str], port: int
) -> None:
    done, elapsed = fx.run_hook("SessionStart", fx.session_start(project), env)
    try:
        assert done.returncode == 0 and done.stdout == b"" and done.stderr == b""
        assert elapsed < 5  # detached: the hook does not wait for the model to load
        health = wait_healthy(port, 90)
        assert health["model"] == "minilm" and health["service"] == SERVICE
    finally:
        subprocess.run(
            [sys.executable, "-m", "mcp_memory.cli", "embed-server", "stop"],
            env=env,
            capture_output=True,
            timeout=60,
            check=False,
        )


# -- failing open ---------------------------------------------------------------------------------


def payload_for(event: str, project: Path, transcript: Path) -> dict[str, Any]:
    return {
        "SessionStart": fx.session_start(project),
        "UserPromptSubmit": fx.prompt(project, "login test flaky?\n#remember keep CI green"),
        "PostToolUse": fx.bash_success(project, "pytest -q", "ok"),
        "PostToolUseFailure": fx.bash_failure(project, "pytest -q", fx.PYTEST_ERROR),
        "PreCompact": fx.pre_compact(project, transcript),
        "SessionEnd": fx.session_end(project, transcript),
    }[event]


@pytest.mark.parametrize("condition", ["missing", "locked", "corrupted"])
def test_every_hook_exits_0_whatever_the_database(
    condition: str,
    home: Path,
    project: Path,
    env: dict[str, str],
    port: int,
    tmp_path: Path,
    minilm: LocalEmbedder,
) -> None:
    transcript = fx.write_transcript(tmp_path / "t.jsonl", project)
    pretend_server_starting(home, port)
    db = home / "memory.db"
    holder = None
    if condition != "missing":
        seed(home, project, minilm)
    if condition == "corrupted":
        for extra in (db.with_name("memory.db-wal"), db.with_name("memory.db-shm")):
            extra.unlink(missing_ok=True)
        db.write_bytes(b"this is not a database " * 400)
    if condition == "locked":  # an exclusive lock: even readers get SQLITE_BUSY
        holder = apsw.Connection(str(db))
        # Read once in NORMAL mode first, so the holder keeps the shared wal-index: a connection
        # that enters WAL in EXCLUSIVE mode keeps its index in heap memory, and the others then
        # find a stale -shm (IOERR_SHORT_READ) once it lets go. That is SQLite's documented
        # behaviour for that mode (https://sqlite.org/wal.html#noshm), not a lock a user meets.
        holder.execute("SELECT count(*) FROM meta").fetchall()
        holder.execute("PRAGMA locking_mode = EXCLUSIVE")
        holder.execute("BEGIN EXCLUSIVE")
        holder.execute("UPDATE meta SET value = value")
    before = db.read_bytes() if db.exists() else None
    try:
        for event in EVENTS:
            done, elapsed = fx.run_hook(event, payload_for(event, project, transcript), env)
            assert done.returncode == 0 and done.stderr == b"", (event, done.stderr)
            context = fx.parse_output(event, done.stdout)  # empty, or the documented shape
            if event == "UserPromptSubmit":  # the note is still taken, and said so
                assert context is not None and "#remember note" in context
            assert elapsed < 10, (event, elapsed)
        if condition == "corrupted":  # the worker gave up; nobody wrote to the file
            fx.settle(home / "run")
            assert db.read_bytes() == before and spool.pending_jobs(home / "run")
    finally:
        if holder is not None:
            holder.execute("ROLLBACK")
            holder.close()
    if condition == "locked":  # the jobs were only delayed: the note arrives once it is free
        fx.wait_for(lambda: any(m.type == "user_note" for m in memories(home)), 90, "the note")


@pytest.mark.parametrize(
    "stdin",
    [
        b"",
        b"not json",
        b"[1, 2, 3]",
        b'{"prompt": 42, "cwd": 7, "session_id": []}',
        b"\xff\xfe\x00\x81 binary",
        b'{"hook_event_name": "SessionStart"',
    ],
)
def test_every_hook_exits_0_on_garbage_stdin(
    stdin: bytes, home: Path, env: dict[str, str], port: int
) -> None:
    pretend_server_starting(home, port)
    for event in (*EVENTS, "NoSuchEvent", ""):
        done, _ = fx.run_hook(event, stdin, env)
        assert (done.returncode, done.stdout, done.stderr) == (0, b"", b""), event
    log = (home / "logs" / "hooks.log").read_text()
    assert "Traceback" not in log or "ValueError" in log  # reasons are logged, not printed


# -- the hook path itself ---------------------------------------------------------------------


def test_hook_path_imports_no_numpy_no_model_no_mcp(
    home: Path, project: Path, env: dict[str, str], minilm: LocalEmbedder
) -> None:
    """A hook must start fast and never load a model: check what a real run imported."""
    seed(home, project, minilm)
    code = (
        "import io, json, sys\n"
        "from mcp_memory.hooks.events import run\n"
        "for event, payload in json.loads(sys.argv[1]):\n"
        "    run(event, io.StringIO(json.dumps(payload)), io.StringIO())\n"
        "heavy = ('numpy', 'onnxruntime', 'tokenizers', 'mcp', 'sqlite_vec', 'mcp_memory.store.database',\n"
        "         'mcp_memory.service.memories', 'mcp_memory.embedding.engine', 'http.client', 'subprocess')\n"
        "print(json.dumps(sorted(m for m in heavy if m in sys.modules)))\n"
    )
    events = [
        ("UserPromptSubmit", fx.prompt(project, "login test flaky?")),
        ("PostToolUse", fx.edit(project, "src/client.py")),
        ("PostToolUse", fx.read(project, "src/client.py")),
    ]
    done = subprocess.run(
        [sys.executable, "-c", code, json.dumps(events)],
        env=env,
        capture_output=True,
        timeout=60,
        check=True,
    )
    assert json.loads(done.stdout) == []


def test_hook_paths_agree_with_the_server_process(home: Path, port: int) -> None:
    """The hook finds the server's pid file and log where embed_server.process puts them."""
    from mcp_memory.config import load_settings
    from mcp_memory.embed_server import pidfile, process

    settings = load_settings(fx.hook_env(home, port))
    assert pidfile.pid_path(settings.run_dir, port) == settings.run_dir / f"embed-server-{port}.pid"
    assert process.log_file(settings) == settings.logs_dir / "embed-server.log"


def test_lean_reader_agrees_with_the_store(
    home: Path, project: Path, minilm: LocalEmbedder
) -> None:
    seed(home, project, minilm)
    s = Store.open(home / "memory.db")
    s2 = Store.open(home / "other.db")
    try:
        service = MemoryService(s, minilm)
        service.remember_many(
            [f"note {i} about topic {i % 7}" for i in range(60)], project=str(project)
        )
        reader = hook_recall.Reader(home / "memory.db")
        for text in ("login test timezone", "stripe webhooks", "note about topic 3"):
            q = minilm.embed([text], "query")[0]
            expected = s.knn(q, 8, projects=[str(project), GLOBAL])
            got = reader.knn(q.astype("<f4").tobytes(), 8, [str(project), GLOBAL])
            assert [i for i, _ in got] == [i for i, _ in expected]
            np.testing.assert_allclose([x for _, x in got], [x for _, x in expected], atol=1e-5)
        reader.close()
    finally:
        s.close()
        s2.close()


def test_query_embedding_is_checked_like_the_warm_client(minilm: LocalEmbedder) -> None:
    with serving(minilm.engine()) as server:
        port = server.server_address[1]
        tokens = token_path(TOKENS, port)
        raw = hook_recall.embed_query(
            "127.0.0.1",
            port,
            "flaky login test",
            model_id="minilm",
            dimension=384,
            timeout=5,
            token_file=tokens,
        )
        expected = minilm.embed(["flaky login test"], "query")[0]
        np.testing.assert_allclose(np.frombuffer(raw, "<f4"), expected, atol=1e-6)
        with pytest.raises(hook_recall.Unavailable, match="serves minilm/384"):
            hook_recall.embed_query(
                "127.0.0.1",
                port,
                "x",
                model_id="qwen3-0.6b",
                dimension=1024,
                timeout=5,
                token_file=tokens,
            )
        with pytest.raises(hook_recall.Unavailable, match="no token file"):
            hook_recall.embed_query(
                "127.0.0.1",
                port,
                "x",
                model_id="minilm",
                dimension=384,
                timeout=5,
                token_file=token_path(TOKENS, free_port()),  # not this server's token
            )
    with pytest.raises(hook_recall.Unavailable, match="not reachable"):
        hook_recall.embed_query(
            "127.0.0.1",
            free_port(),
            "x",
            model_id="minilm",
            dimension=384,
            timeout=1,
            token_file=tokens,
        )


def test_select_respects_threshold_budget_and_what_was_shown() -> None:
    def c(i: int, sim: float | None, cov: float | None = None, n: int = 500) -> Any:
        return hook_recall.Candidate(i, "x" * n, "note", "/p", 0.0, sim, cov)

    chosen = hook_recall.select(
        [c(1, 0.9), c(2, 0.2), c(3, None, 0.8), c(4, 0.7), c(5, 0.6), c(6, 0.8)],
        0.5,
        exclude={4},
    )
    assert [(x.id, len(t)) for x, t in chosen] == [(1, 500), (3, 500), (5, 200)]
    assert chosen[2][1].endswith("…")
    assert hook_recall.select([c(1, None, 0.49)], 0.5) == []


def test_worker_stores_good_jobs_and_sets_bad_ones_aside(
    home: Path, project: Path, port: int, tmp_path: Path
) -> None:
    from mcp_memory.config import load_settings

    settings = load_settings(fx.hook_env(home, port))
    run = settings.run_dir
    note = {
        "kind": "remember",
        "content": "CI runs on Node 20",
        "project": str(project),
        "type": "user_note",
        "tags": ["note"],
        "source": "user",
        "session_id": "s",
    }
    spool.enqueue(run, note)
    spool.enqueue(run, {"kind": "teleport", "project": str(project)})
    spool.enqueue(
        run,
        {
            "kind": "session",
            "project": str(project),
            "transcript_path": str(tmp_path / "gone.jsonl"),
        },
    )
    spool.enqueue(run, {**note, "type": "no-such-type"})
    worker = run_worker(settings)
    assert len(worker.stored) == 1 and not spool.pending_jobs(run)
    assert len(list((run / "spool" / "failed").glob("*.json"))) == 3
    (stored,) = memories(home)
    assert (stored.content, stored.type, stored.protected) == (
        "CI runs on Node 20",
        "user_note",
        True,
    )
    briefing = spool.read_briefing(run, str(project))
    assert briefing is not None and f"[{stored.id}] CI runs on Node 20" in briefing["text"]


# -- issue 13 ---------------------------------------------------------------------------------

PAYLOADS = Path(__file__).parent / "fixtures" / "claude_payloads"


def _real(name: str) -> dict[str, Any]:
    return dict(json.loads((PAYLOADS / f"{name}.json").read_text(encoding="utf-8")))


def test_fixture_builders_have_the_real_payloads_shapes(project: Path, tmp_path: Path) -> None:
    """Every builder in hook_fixtures has the keys (and nested tool_response keys) of the
    payload Claude Code 2.1.x really sent (tests/fixtures/claude_payloads)."""
    t = tmp_path / "t.jsonl"
    pairs = {
        "sessionstart-startup": fx.session_start(project),
        "sessionstart-compact": fx.session_start(project, "compact"),
        "userpromptsubmit": fx.prompt(project, "Fix the tests"),
        "posttooluse-bash": fx.bash_success(project, "pytest -q", "2 passed in 0.02s"),
        "posttoolusefailure-bash": fx.bash_failure(project, "pytest -x", "1 failed in 0.07s"),
        "posttooluse-edit": fx.edit(project, "src/client.py"),
        "posttooluse-read": fx.read(project, "src/client.py"),
        "posttooluse-mcp": fx.mcp_call(
            project, "mcp__memory__remember", {"content": "x"}, {"id": 2, "status": "created"}
        ),
        "precompact-manual": fx.pre_compact(project, t),
        "sessionend": fx.session_end(project, t),
    }
    for name, built in pairs.items():
        real = _real(name)
        assert set(built) == set(real), (name, set(built) ^ set(real))
        response = real.get("tool_response")
        if isinstance(response, dict):
            assert set(built["tool_response"]) >= set(response) - {"originalFile"}, name
        else:
            assert type(built.get("tool_response")) is type(response), name
    failure = pairs["posttoolusefailure-bash"]
    assert failure["error"].startswith("Exit code 1\n")
    assert pairs["precompact-manual"]["custom_instructions"] is None
    assert pairs["sessionend"]["reason"] == "other"
    assert "exit_code" not in pairs["posttooluse-bash"]["tool_response"]


def test_a_memory_in_the_briefing_is_not_injected_again_by_the_prompt(
    home: Path, project: Path, env: dict[str, str], port: int, minilm: LocalEmbedder
) -> None:
    """Issue 13 item 2: one "shown this session" set for SessionStart and UserPromptSubmit."""
    seed(home, project, minilm)
    pretend_server_starting(home, port)
    briefing = run_ok("SessionStart", fx.session_start(project), env)
    assert briefing is not None and MEMORIES[0] in briefing
    assert run_ok("UserPromptSubmit", fx.prompt(project, "Why is the login test flaky?"), env) is (
        None
    )
    # after /compact the model's context is new: the briefing is given (and marked) again
    again = run_ok("SessionStart", fx.session_start(project, "compact"), env)
    assert again is not None and MEMORIES[0] in again
    assert run_ok("UserPromptSubmit", fx.prompt(project, "Why is the login test flaky?"), env) is (
        None
    )
    fx.settle(home / "run")


def test_system_generated_prompts_are_ignored(
    home: Path, project: Path, env: dict[str, str], minilm: LocalEmbedder
) -> None:
    """Issue 13 item 4: task notifications, slash-command plumbing and system reminders get no
    memory search and no injection, even when they mention what a memory is about."""
    seed(home, project, minilm)
    notification = _real("userpromptsubmit-task-notification")
    notification["cwd"] = str(project)
    notification["prompt"] = notification["prompt"].replace(
        "Build in the background", "login test flaky timezone"
    )
    assert run_ok("UserPromptSubmit", notification, env) is None
    for text in (
        "<command-name>/login-test</command-name>\n<command-message>login test flaky</command-"
        "message>\n<command-args></command-args>",
        "<local-command-stdout>login test flaky</local-command-stdout>",
        "<local-command-caveat>Caveat: login test flaky</local-command-caveat>",
        "<system-reminder>The login test is flaky</system-reminder>",
    ):
        assert run_ok("UserPromptSubmit", fx.prompt(project, text), env) is None, text
    assert not (home / "run" / "sessions" / f"{fx.SESSION}.json").exists()
    # a real prompt still gets its memory
    context = run_ok("UserPromptSubmit", fx.prompt(project, "Why is the login test flaky?"), env)
    assert context is not None and MEMORIES[0] in context


def test_session_end_without_a_transcript_queues_nothing(
    home: Path, project: Path, env: dict[str, str]
) -> None:
    """Issue 13 item 5: `claude mcp list` fires SessionEnd with a transcript that never exists."""
    listing = _real("sessionend-mcp-list")
    listing["cwd"] = str(project)
    assert run_ok("SessionEnd", listing, env) is None
    assert run_ok("PreCompact", fx.pre_compact(project, home / "gone.jsonl"), env) is None
    assert spool.pending_jobs(home / "run") == []
    assert not (home / "run" / "spool" / "failed").exists()


def test_session_summaries_are_history_not_knowledge(
    tmp_path: Path, project: Path, minilm: LocalEmbedder
) -> None:
    """Issue 13 item 3: never promoted by recall counts, never routed, at most two in the
    briefing, newest first."""
    from mcp_memory.routing.router import RouteConfig, Router
    from mcp_memory.service.briefing import build_briefing
    from mcp_memory.service.promotion import promote_recalled

    s = Store.open(tmp_path / "m.db")
    try:
        service = MemoryService(s, minilm, Options(duplicate_threshold=MINILM.duplicate_threshold))
        p = str(project)
        facts = [service.remember(m, project=p).id for m in MEMORIES]
        summaries = [
            service.remember(
                f"Session summary 2026-11-2{n} (3 request(s)): worked on module {n}",
                project=p,
                type="session_summary",
                tags=["session"],
                source="hook",
                session_id=f"s{n}",
                created_at=1_800_000_000.0 + n,
            ).id
            for n in range(5)
        ]
        hits = [(summaries[0], {"vector_similarity": 0.99, "vector_rank": 1.0})]
        for session in ("a", "b", "c", "d"):
            assert promote_recalled(s, hits, session, strong_recall=0.5, promote_after=3) == []
        assert s.get(summaries[0]).state == "buffer"
        brief = build_briefing(service, p, budget_tokens=4000)
        shown = [i for i in brief.ids if i in summaries]
        assert shown == [summaries[4], summaries[3]], brief.text
        assert set(facts) <= set(brief.ids)
        s.set_state(summaries[1], "proven")  # however it got there, route leaves it alone
        router = Router(
            s, minilm, RouteConfig(claude_home=tmp_path / "claude", backup_dir=tmp_path / "b")
        )
        assert summaries[1] not in [item.memory_id for item in router.plan([p]).items]
    finally:
        s.close()


def test_prompt_hook_injects_knowledge_not_session_history(
    home: Path, project: Path, env: dict[str, str], minilm: LocalEmbedder
) -> None:
    """A session summary matches the next session's prompt by its wording ("Fix the failing
    ... test"), not by what it knows: the prompt hook injects knowledge only."""
    s = Store.open(home / "memory.db")
    try:
        MemoryService(s, minilm).remember(
            "Session summary 2026-12-07 (1 request(s), 4 tool call(s))\nRequests:\n- Fix the "
            "failing invoice rounding test.\nFiles touched: src/invoices.py",
            project=str(project),
            type="session_summary",
            tags=["session"],
            source="hook",
            session_id="earlier",
        )
    finally:
        s.close()
    prompt = fx.prompt(project, "Fix the failing invoice rounding test.")
    assert run_ok("UserPromptSubmit", prompt, env) is None
