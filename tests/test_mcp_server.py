"""The MCP server through real clients: in memory, and a subprocess over stdio."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters

from mcp_memory.config import Settings
from mcp_memory.daemon_link import LOCK
from mcp_memory.files import pid_alive
from mcp_memory.server.tools import build_server
from mcp_memory.service.classify import TYPES
from mcp_memory.store.database import Store
from mcp_memory.store.schema import STATES

TOOLS = {"remember", "recall", "get", "forget", "stats", "consolidate", "briefing", "route"}


def call(settings: Settings, steps: Any, cwd: Path | None = None) -> Any:
    """Run ``steps(client)`` against an in-memory client of a fresh server."""

    async def main() -> Any:
        async with Client(build_server(settings, cwd=cwd)) as client:
            return await steps(client)

    return anyio.run(main)


def structured(result: Any) -> dict[str, Any]:
    assert not result.is_error, result.content
    return result.structured_content


def error_text(result: Any) -> str:
    assert result.is_error, result.structured_content
    return " ".join(c.text for c in result.content)


def test_tools_listed_with_schemas_and_hints(settings: Settings) -> None:
    async def steps(client: Client) -> Any:
        return (await client.list_tools()).tools

    tools = {t.name: t for t in call(settings, steps)}
    assert set(tools) == TOOLS
    assert tools["recall"].annotations.read_only_hint is True
    assert tools["stats"].annotations.read_only_hint is True
    assert tools["remember"].annotations.read_only_hint is False
    assert tools["forget"].annotations.destructive_hint is True
    recall = tools["recall"]
    assert recall.input_schema["required"] == ["query"]
    assert recall.input_schema["additionalProperties"] is False
    assert "hits" in recall.output_schema["properties"]
    assert "Use when" in recall.description and "Not for" in recall.description


def test_every_parameter_is_described_bounded_and_enumerated(settings: Settings) -> None:
    """Tool schemas tell the model what each parameter is, its bounds and its values; the
    descriptions are clean text (the docstrings' indentation is gone)."""

    async def steps(client: Client) -> Any:
        return (await client.list_tools()).tools

    tools = {t.name: t for t in call(settings, steps)}
    for tool in tools.values():
        assert tool.description and not any(
            line.startswith(" ") for line in tool.description.splitlines()
        ), tool.name
        for name, schema in tool.input_schema["properties"].items():
            assert schema.get("description"), (tool.name, name)

    def arm(schema: dict[str, Any]) -> dict[str, Any]:  # the non-null arm of an Optional
        return next((a for a in schema.get("anyOf", [schema]) if a.get("type") != "null"), schema)

    recall = tools["recall"].input_schema["properties"]
    assert (recall["k"]["minimum"], recall["k"]["maximum"]) == (1, 50)
    assert recall["query"]["maxLength"] == 4000
    assert tuple(arm(recall["types"])["items"]["enum"]) == TYPES
    assert tuple(arm(recall["states"])["items"]["enum"]) == STATES
    remember = tools["remember"].input_schema["properties"]
    assert tuple(arm(remember["type"])["enum"]) == TYPES
    brief = arm(tools["briefing"].input_schema["properties"]["max_tokens"])
    assert (brief["minimum"], brief["maximum"]) == (50, 8000)
    for name in ("consolidate", "route"):
        assert arm(tools[name].input_schema["properties"]["ids"])["maxItems"] == 100
    assert tools["get"].input_schema["required"] == ["id"]
    assert tools["get"].annotations.read_only_hint is True
    assert {"content", "links", "merged_from", "merged_into"} <= set(
        tools["get"].output_schema["properties"]
    )


def test_recall_sends_its_payload_once(settings: Settings, tmp_path: Path) -> None:
    """The hits come back as structured content with a one-line summary as text, not the
    whole JSON a second time (Claude Code hands the model the structured content)."""
    texts = [
        "The billing service retries webhooks 5 times with exponential backoff, from 2s",
        "Stripe webhooks are verified with STRIPE_WEBHOOK_SECRET before they are parsed",
        "Webhook handlers return 200 within 10s; slow work goes to the Celery queue",
    ]

    async def steps(client: Client) -> Any:
        structured(await client.call_tool("remember", {"content": texts}))
        return await client.call_tool("recall", {"query": "webhook retries", "k": 3})

    result = call(settings, steps, cwd=tmp_path)
    hits = structured(result)["hits"]
    assert len(hits) == 3
    (text,) = result.content
    assert text.text.startswith("3 memories for 'webhook retries': [")
    assert all(f"[{h['id']}]" in text.text for h in hits)
    wire = json.dumps(result.model_dump(mode="json", by_alias=True, exclude_none=True))
    payload = json.dumps(result.structured_content)
    assert len(text.text) < 300 and len(wire) < len(payload) + 500


def test_get_returns_a_memory_whole_with_links_and_lineage(settings: Settings) -> None:
    long_text = "Webhook handlers must answer within 10s. " + "Detail " * 120
    cluster = [
        "Keep app/webhooks.py fast and push heavy work onto the Celery queue (10s limit)",
        "app/webhooks.py must stay fast: push heavy work onto the Celery queue, 10s limit",
        "Keep app/webhooks.py fast, push heavy work onto the Celery queue: the 10s limit",
    ]

    async def steps(client: Client) -> Any:
        long_id = structured(await client.call_tool("remember", {"content": long_text}))["id"]
        whole = structured(await client.call_tool("get", {"id": long_id}))
        ids = [
            m["id"]
            for m in structured(
                await client.call_tool("remember", {"content": cluster, "project": "global"})
            )["memories"]
        ]
        merged = structured(
            await client.call_tool("consolidate", {"ids": ids, "project": "global"})
        )["outcomes"][0]
        details = [structured(await client.call_tool("get", {"id": i})) for i in ids]
        return long_id, whole, ids, merged, details

    long_id, whole, ids, merged, details = call(settings, steps)
    assert whole["id"] == long_id and whole["content"] == long_text.strip()
    assert whole["state"] == "buffer" and whole["merged_from"] is None
    assert merged["status"] == "applied", merged
    (result,) = merged["results"]
    by_id = dict(zip(ids, details, strict=True))
    kept = by_id[result]
    assert kept["state"] == "proven"
    assert kept["merged_from"]["consolidation_id"] == merged["consolidation_id"]
    assert sorted(m["id"] for m in kept["merged_from"]["memories"]) == sorted(
        i for i in ids if i != result
    )
    for i in ids:
        if i != result:
            assert by_id[i]["state"] == "superseded"
            assert [m["id"] for m in by_id[i]["merged_into"]["memories"]] == [result]
            assert {link["id"] for link in by_id[i]["links"]} & set(ids)


def test_remember_then_recall_in_memory(settings: Settings, tmp_path: Path) -> None:
    async def steps(client: Client) -> Any:
        r = structured(
            await client.call_tool(
                "remember",
                {
                    "content": "The billing service retries webhooks 5 times with exponential backoff",
                    "tags": ["billing"],
                    "type": "fact",
                },
            )
        )
        g = structured(
            await client.call_tool(
                "remember", {"content": "The user likes terse answers", "project": "global"}
            )
        )
        hits = structured(await client.call_tool("recall", {"query": "webhook retries"}))
        stats = structured(await client.call_tool("stats", {}))
        return r, g, hits, stats

    r, g, hits, stats = call(settings, steps, cwd=tmp_path)
    assert r["status"] == "created" and r["memories"][0]["type"] == "fact"
    assert hits["hits"][0]["id"] == r["id"]
    assert hits["projects"] == [str(tmp_path.resolve()), "global"]
    assert stats["counts"]["total"] == 2 and stats["model"] == "minilm"
    assert stats["counts"]["by_project"]["@global"] == 1


def test_forget_and_restore_through_tools(settings: Settings) -> None:
    async def steps(client: Client) -> Any:
        mid = structured(await client.call_tool("remember", {"content": "obsolete fact"}))["id"]
        f = structured(await client.call_tool("forget", {"id": mid}))
        gone = structured(await client.call_tool("recall", {"query": "obsolete fact"}))
        r = structured(await client.call_tool("forget", {"id": mid, "restore": True}))
        back = structured(await client.call_tool("recall", {"query": "obsolete fact"}))
        missing = await client.call_tool("forget", {"id": 99999})
        return mid, f, gone, r, back, missing

    mid, f, gone, r, back, missing = call(settings, steps)
    assert f["state"] == "deleted" and gone["count"] == 0
    assert r["state"] == "buffer" and back["hits"][0]["id"] == mid
    assert "no memory with id 99999" in error_text(missing)


BAD_CALLS = [
    ("remember", {"content": ""}, "empty"),
    ("remember", {"content": "   "}, "empty"),
    ("remember", {"content": "x" * 20_001}, "limit is 20000"),
    ("remember", {"content": "a\x00b"}, "NUL"),
    ("remember", {"content": "ok", "tags": ["two words"]}, "without spaces"),
    ("remember", {"content": "ok", "type": "bogus"}, "type"),
    ("remember", {"content": "ok", "colour": "red"}, "colour"),
    ("recall", {"query": "x", "k": 0}, "greater than or equal to 1"),
    ("recall", {"query": "x", "k": 51}, "less than or equal to 50"),
    ("recall", {"query": "x" * 4001}, "at most 4000 characters"),
    ("recall", {"query": "x", "ids": [1]}, "ids"),
    ("briefing", {"max_tokens": 49}, "greater than or equal to 50"),
    ("briefing", {"max_tokens": 8001}, "less than or equal to 8000"),
    ("consolidate", {"ids": list(range(1, 102))}, "at most 100 items"),
    ("get", {"id": 0}, "greater than or equal to 1"),
    ("get", {"id": 99999}, "no memory with id 99999"),
    ("recall", {"query": "x", "since": "last tuesday"}, "ISO 8601"),
    ("recall", {"query": "x", "states": ["nope"]}, "Input should be 'buffer'"),
    ("recall", {"query": "x", "types": ["nope"]}, "Input should be 'note'"),
    ("recall", {"query": "x", "tgas": ["typo"]}, "tgas"),
    ("recall", {"query": ""}, "empty"),
    ("recall", {"query": "x", "project": "p", "all_projects": True}, "either project"),
]


def test_bad_input_is_a_tool_error_and_stores_nothing(settings: Settings) -> None:
    async def steps(client: Client) -> Any:
        structured(await client.call_tool("remember", {"content": "seed memory"}))
        return [(await client.call_tool(tool, args), msg) for tool, args, msg in BAD_CALLS]

    for result, message in call(settings, steps):
        assert message in error_text(result)
    store = Store.open(settings.db)
    counts = store.table_counts()
    store.close()
    assert counts["memories"] == counts["memory_vectors"] == counts["memories_fts"] == 1


def test_lone_surrogate_is_rejected(settings: Settings) -> None:
    """JSON allows an escaped lone surrogate; the server must refuse it, not crash."""

    async def steps(client: Client) -> Any:
        return await client.call_tool("remember", {"content": "bad \ud800 text"})

    assert "surrogate" in error_text(call(settings, steps))


def server_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCP_MEMORY_")}
    env.update(
        MCP_MEMORY_HOME=str(settings.home),
        MCP_MEMORY_MODEL="minilm",
        MCP_MEMORY_EMBED_PORT=str(settings.embed_port),
    )
    return env


def test_stdio_subprocess_handshake_is_fast_and_tools_work(
    settings: Settings, tmp_path: Path
) -> None:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "mcp_memory.cli", "serve"],
        env=server_env(settings),
    )

    async def main() -> Any:
        started = time.perf_counter()
        async with Client(params) as client:
            handshake = time.perf_counter() - started
            tools = {t.name for t in (await client.list_tools()).tools}
            r = structured(
                await client.call_tool(
                    "remember", {"content": "stdio works", "project": str(tmp_path)}
                )
            )
            hits = structured(
                await client.call_tool("recall", {"query": "stdio", "project": tmp_path.name})
            )
        return handshake, tools, r, hits

    handshake, tools, r, hits = anyio.run(main)
    assert tools == TOOLS
    assert hits["hits"][0]["id"] == r["id"]
    # The handshake must not wait for the model: a model load alone takes ~0.5-1 s here,
    # interpreter start and imports about as much. Generous bound, but it fails if the
    # server loads the model (or worse, downloads) before answering.
    assert handshake < 5.0, handshake


def test_stdio_server_writes_only_protocol_to_stdout(settings: Settings) -> None:
    """Pipe a raw initialize + tools/call and check every stdout line is JSON-RPC."""

    messages = [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "raw", "version": "0"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {
                "name": "remember",
                "arguments": {"content": "raw stdio memory", "project": "global"},
            },
        },
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "mcp_memory.cli", "serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=server_env(settings),
    )
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    replies = []
    try:
        for message in messages:
            proc.stdin.write(json.dumps(message) + "\n")
            proc.stdin.flush()
            if "id" in message:  # wait for its reply; every stdout line must be JSON-RPC
                while True:
                    line = proc.stdout.readline()
                    assert line, proc.stderr.read()
                    reply = json.loads(line)  # a stray print would fail here
                    assert reply["jsonrpc"] == "2.0"
                    replies.append(reply)
                    if reply.get("id") == message["id"]:
                        break
        proc.stdin.close()
        assert proc.wait(timeout=30) == 0
        assert proc.stdout.read().strip() == ""  # nothing after the protocol ends either
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    result = replies[-1]["result"]
    assert result["structuredContent"]["status"] == "created", result


SIGNALS = pytest.mark.parametrize(
    "signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"]
)
# How serve's parent left SIGINT and SIGTERM: as they were, or ignored, as a shell without job
# control starts a background job (``cmd &`` in a script). Python then installs no
# KeyboardInterrupt handler: the relay ignored SIGINT for good.
IGNORE_THEN_EXEC = (
    "import os, signal, sys; "
    "signal.signal(signal.SIGINT, signal.SIG_IGN); signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])"
)


def start_serve(settings: Settings, inherited: str, mode: str = "relay") -> subprocess.Popen[str]:
    """``memcycle serve`` with pipes: a relay to the daemon, or (``in-process``) the in-process
    server; its signals as its parent left them (``default``), or ignored."""
    env = server_env(settings)
    if mode == "in-process":
        env["MCP_MEMORY_DAEMON"] = "0"
    argv = ["-m", "mcp_memory.cli", "serve"]
    if inherited == "ignored":
        argv = ["-c", IGNORE_THEN_EXEC, *argv]
    return subprocess.Popen(
        [sys.executable, *argv],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def seconds_to_exit(proc: subprocess.Popen[str], signum: int) -> float:
    """Send ``signum`` and time the exit; fails (with serve's stderr) after 10 s."""
    started = time.perf_counter()
    proc.send_signal(signum)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate(timeout=10)  # what serve said (fell back? waiting?)
        pytest.fail(f"serve still running 10 s after the signal; its stderr: {err[-2000:]}")
    return time.perf_counter() - started


def close(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


@SIGNALS
@pytest.mark.parametrize(
    ("inherited", "mode"),
    [("default", "relay"), ("ignored", "relay"), ("ignored", "in-process")],
    ids=["relay", "relay-ignoring", "in-process-ignoring"],
)
def test_stdio_server_exits_promptly_on_a_signal(
    settings: Settings, signum: int, inherited: str, mode: str
) -> None:
    """Claude Code stops its MCP servers with SIGINT (then SIGTERM) while their stdin stays
    open: the server must exit within a second, not wait for stdin to close, even when its
    parent started it with those signals ignored. The daemon a relay started stays for other
    sessions."""
    proc = start_serve(settings, inherited, mode)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        hello = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "raw", "version": "0"},
            },
        }
        proc.stdin.write(json.dumps(hello) + "\n")
        proc.stdin.flush()
        assert json.loads(proc.stdout.readline())["id"] == 1  # serving, stdin still open
        elapsed = seconds_to_exit(proc, signum)
    finally:
        close(proc)
    assert elapsed < 1.0, elapsed
    if mode == "relay":
        daemon = json.loads((settings.run_dir / "daemon.pid").read_text())["pid"]
        assert pid_alive(daemon)


@SIGNALS
def test_relay_exits_promptly_on_a_signal_while_it_starts_the_daemon(
    settings: Settings, signum: int
) -> None:
    """A signal while the relay waits for the daemon it launched to listen ends it too, though
    its parent ignored the signal; the daemon starts anyway, for the next session."""
    proc = start_serve(settings, "ignored")
    pid_file = settings.run_dir / "daemon.pid"
    try:
        deadline = time.monotonic() + 30
        # The daemon's first step is its lock; it listens a second or more later (imports,
        # the store): meanwhile the relay polls for it under the start lock.
        while not (settings.run_dir / LOCK).exists():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.005)
        elapsed = seconds_to_exit(proc, signum)
    finally:
        close(proc)
    assert elapsed < 1.0, elapsed
    while not pid_file.exists():  # then the teardown stops it
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert pid_alive(json.loads(pid_file.read_text())["pid"])


@pytest.fixture(autouse=True)
def _no_stray_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("MCP_MEMORY_"):
            monkeypatch.delenv(key)
