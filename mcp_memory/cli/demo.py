"""``memcycle demo`` (``make run``): the main job on the bundled model, end to end.

Starts the warm embedding server, stores a few sample memories, recalls one, prints how to
connect Claude Code and the MCP Inspector, then serves MCP over streamable HTTP on loopback.
"""

from __future__ import annotations

import contextlib
import shlex
import time

from mcp_memory.cli.launcher import stable_command
from mcp_memory.cli.output import match_reasons, one_line
from mcp_memory.config import Settings

SAMPLES = [
    (
        "We use uv instead of pip for dependency management because lock files are reproducible.",
        "decision",
        ["tooling"],
    ),
    (
        "The integration tests need PostgreSQL 15 running on port 5433; start it with "
        "`make db-up` before `pytest -m integration`.",
        "fact",
        ["testing", "postgres"],
    ),
    (
        "Fixed: 'database is locked' errors came from two connections writing at once; "
        "the fix was BEGIN IMMEDIATE with a 10 s busy timeout.",
        "error_fix",
        ["sqlite"],
    ),
    ("The user prefers small focused commits with messages that explain why.", "preference", []),
    (
        "API handlers live in src/api/handlers; each returns a typed Response object.",
        "fact",
        ["architecture"],
    ),
]
QUERY = "why do we get database locked errors?"


def say(text: str = "") -> None:
    print(text, flush=True)


def run_demo(settings: Settings, *, serve: bool = True, port: int = 0) -> int:
    import mcp_memory.embed_server.process as process
    from mcp_memory.app import open_app

    say(f"memcycle demo  (data directory: {settings.home})")
    started = time.perf_counter()
    result = process.start(settings, wait=True)
    say(f"- warm embedding server: {result.get('message')} ({time.perf_counter() - started:.1f}s)")
    with open_app(settings) as app:
        say(f"- model: {app.spec.id} ({app.embedder.dimension}-d): {app.model_reason}")
        t0 = time.perf_counter()
        for text, kind, tags in SAMPLES:
            r = app.service.remember(text, project="demo", tags=tags, type=kind, source="cli")
            say(f"  remembered [{r.id}] {r.status:<9} {kind:<10} {text[:60]}...")
        say(f"- stored {len(SAMPLES)} memories in {1000 * (time.perf_counter() - t0):.0f} ms")
        t0 = time.perf_counter()
        hits = app.service.recall(QUERY, projects=["demo"], k=3)
        elapsed = 1000 * (time.perf_counter() - t0)
        say(f"- recall {QUERY!r} ({elapsed:.0f} ms, embedder: {app.embedder.last_source}):")
        for h in hits:
            say(f"  [{h.id}] {h.score:.2f}  {match_reasons(h.signals)}  {one_line(h.content, 70)}")
    from mcp_memory.server import http

    http_port = port or settings.http_port
    exe = shlex.join(stable_command())
    token, created = http.load_token(settings)
    secret = token if created else f"$(cat {settings.run_dir / http.TOKEN_FILE})"
    say()
    say("Connect Claude Code (stdio, recommended):")
    say(f"  claude mcp add memory --env MCP_MEMORY_HOME={settings.home} -- {exe} serve")
    say("Or over HTTP while this demo runs (bearer token and project header required):")
    for line in http.connect_lines(settings, http_port, token, created)[1:]:
        say(line)
    say("Inspect with the MCP Inspector CLI (npx fetches it first: ~20 s the first time):")
    say(
        f"  npx @modelcontextprotocol/inspector --cli http://127.0.0.1:{http_port}/mcp "
        f'--transport http --header "Authorization: Bearer {secret}" '
        f'--header "{http.PROJECT_HEADER}: $PWD" --method tools/list'
    )
    if not serve:
        return 0
    say()
    say(f"Serving MCP on http://127.0.0.1:{http_port}/mcp  (Ctrl-C to stop)")
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C ends the demo: no error for make
        http.serve(settings, "127.0.0.1", http_port, token)
    if result.get("status") == "started":  # stop what the demo started, keep what it found
        process.stop(settings)
    say("demo stopped")
    return 0
