"""Raw bytes into ``memcycle serve`` over stdio: every line gets a JSON-RPC answer.

The SDK's transport dropped lines it could not validate (non-JSON, not UTF-8, a lone
surrogate, deep nesting): the client waited out its timeout. Out-of-range ids and a NUL byte in a
path were unhandled exceptions ("Error executing tool", a traceback on stderr). A real server
subprocess, real bytes on its stdin, its stdout read line by line.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from test_mcp_server import server_env

from mcp_memory.config import Settings

INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "raw", "version": "0"},
    },
}


def call(rid: int, tool: str, arguments: dict[str, Any]) -> bytes:
    msg = {"jsonrpc": "2.0", "id": rid, "method": "tools/call"}
    msg["params"] = {"name": tool, "arguments": arguments}  # type: ignore[assignment]
    return json.dumps(msg).encode() + b"\n"


def run_raw(settings: Settings, lines: list[bytes], want: int, timeout: float = 60.0) -> list[Any]:
    """Send ``lines`` to a fresh server and read until ``want`` answers came (or timeout)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "mcp_memory.cli", "serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=server_env(settings),
        cwd=Path(settings.home).parent,
    )
    answers: list[Any] = []

    def read() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            answers.append(json.loads(raw))
            if len(answers) >= want:
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(INIT).encode() + b"\n")
    proc.stdin.write(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
    for line in lines:
        proc.stdin.write(line)
    proc.stdin.flush()
    deadline = time.monotonic() + timeout
    while reader.is_alive() and time.monotonic() < deadline:
        reader.join(0.2)
    proc.stdin.close()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
    assert proc.stderr is not None
    err = proc.stderr.read()
    reader.join(5)
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()
    assert b"Traceback" not in err, err.decode(errors="replace")[-3000:]
    return answers


def test_malformed_lines_each_get_a_json_rpc_error(settings: Settings) -> None:
    deep = "[" * 200 + "]" * 200
    lines = [
        b"not json at all\n",  # -> -32700, id null
        b"\xff\xfe\x00 not utf-8\n",  # -> -32700, id null
        b'{"jsonrpc":"2.0","id":"s","method":"x\xed\xa0\x80"}\n',  # UTF-8-encoded surrogate
        b'{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"recall",'
        b'"arguments":{"query":"\\ud800"}}}\n',  # an escaped lone surrogate
        (
            '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"recall",'
            '"arguments":{"query":"x","deep":' + deep + "}}}\n"
        ).encode(),
        b'{"jsonrpc":"2.0","id":4}\n',  # no method
        b"\n",  # blank: skipped, no answer
        b'{"jsonrpc":"2.0","id":5,"method":"tools/list"}\n',  # still alive afterwards
    ]
    answers = run_raw(settings, lines, want=8)
    by_id = {json.dumps(a.get("id")): a for a in answers}
    nulls = [a for a in answers if a.get("id") is None]
    assert [a["error"]["code"] for a in nulls] == [-32700, -32700, -32700], answers
    for rid in (2, 3, 4):
        got = by_id[str(rid)]
        assert "error" in got or got["result"].get("isError"), got
    assert by_id["4"]["error"]["code"] == -32600
    assert len(by_id["5"]["result"]["tools"]) == 8
    assert len(answers) == 8  # initialize + 7: the blank line is not a request


def test_out_of_range_ids_and_nul_paths_are_validation_errors(settings: Settings) -> None:
    lines = [
        call(2, "forget", {"id": 2**63}),
        call(3, "forget", {"id": 0}),
        call(4, "route", {"undo_file": "CLAUDE\x00.md"}),
        call(5, "route", {"undo_memory": 2**63}),
        call(6, "route", {"promote": 2**64}),
    ]
    answers = {a["id"]: a for a in run_raw(settings, lines, want=6)}
    for rid in (2, 3, 5, 6):
        result = answers[rid]["result"]
        assert result["isError"], result
        text = result["content"][0]["text"]
        # the tool schema bounds ids at 1 (pydantic says so), the service at 2^63 - 1
        in_range = ("memory ids run from 1 to 9223372036854775807", "greater than or equal to 1")
        assert any(words in text for words in in_range), text
    nul = answers[4]["result"]
    assert nul["isError"] and "NUL byte" in nul["content"][0]["text"]


def test_a_damaged_database_keeps_the_session_and_every_tool_says_how_to_repair(
    settings: Settings,
) -> None:
    """A damaged header must not end the stdio server at start-up (Claude Code would show the
    memory server as failed with no reason): it answers, and each tool names the repair."""
    from mcp_memory.store.database import Store

    Store.open(settings.db).close()
    data = bytearray(settings.db.read_bytes())
    data[:16] = b"not a database!!"
    settings.db.write_bytes(bytes(data))
    answers = {
        a["id"]: a
        for a in run_raw(
            settings,
            [
                json.dumps({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}).encode() + b"\n",
                call(3, "recall", {"query": "anything"}),
            ],
            want=3,
        )
    }
    assert len(answers[2]["result"]["tools"]) == 8
    result = answers[3]["result"]
    assert result["isError"]
    assert "memcycle doctor --repair" in result["content"][0]["text"]
    assert settings.db.read_bytes()[:16] == b"not a database!!"  # the original is left alone
