"""The stdio transport with a guard in front: every line a client sends gets an answer.

The MCP SDK's stdio transport hands a line it cannot validate to the session as an exception,
which logs it and replies nothing: a client that sent a non-JSON line, bytes that are not UTF-8,
a lone surrogate escape or a deeply nested value waits out its timeout. :func:`serve` reads
stdin itself, checks each line the way the SDK will (``jsonrpc_message_adapter``), passes the
good ones on unchanged and answers the others on stdout with a JSON-RPC error:

- ``-32700`` parse error, id null: not UTF-8, or not JSON at all;
- ``-32600`` invalid request: JSON, but not a JSON-RPC message the SDK accepts (a lone
  surrogate, nesting past the parser's depth, a missing method); the id is echoed when the line
  has a usable one, else null.

Blank lines are skipped. Like the SDK, while serving fd 0 reads the null device and fd 1 goes to
stderr, so a stray ``print`` or a child process cannot corrupt the wire; both are restored after.
"""

from __future__ import annotations

import json
import os
from typing import IO, Any

import anyio
import anyio.to_thread
import mcp_types as types
from mcp.server.mcpserver import MCPServer
from mcp.server.stdio import stdio_server

PARSE_ERROR = -32700
INVALID_REQUEST = -32600


def check(line: bytes) -> dict[str, Any] | None:
    """None when the SDK accepts ``line``; else the JSON-RPC error response to send back."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return _error(None, PARSE_ERROR, "Parse error: the line is not valid UTF-8")
    try:
        types.jsonrpc_message_adapter.validate_json(text, by_name=False)
        return None
    except ValueError:  # pydantic's ValidationError is a ValueError
        pass
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError):
        return _error(None, PARSE_ERROR, "Parse error: the line is not JSON")
    return _error(
        _usable_id(parsed),
        INVALID_REQUEST,
        "Invalid request: not a JSON-RPC 2.0 message this server accepts (check jsonrpc, "
        "method, id and params; strings must be valid Unicode, nesting shallow)",
    )


def _usable_id(parsed: object) -> str | int | None:
    if not isinstance(parsed, dict):
        return None
    rid = parsed.get("id")
    if isinstance(rid, bool) or not isinstance(rid, str | int):
        return None
    if isinstance(rid, int) and not -(2**63) <= rid < 2**63:
        return None
    if isinstance(rid, str):
        try:
            rid.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate cannot be echoed
            return None
    return rid


def _error(rid: str | int | None, code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": rid, "error": {"code": code, "message": message}}


class _Wire:
    """stdout, shared by the SDK's writer and the guard's answers: one whole line at a time."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.lock = anyio.Lock()

    async def write(self, text: str) -> int:
        data = text.encode("utf-8")
        async with self.lock:
            await anyio.to_thread.run_sync(self._put, data)
        return len(text)

    async def flush(self) -> None:
        """Each write is flushed already (the SDK calls this after every message)."""

    def _put(self, data: bytes) -> None:
        self.raw.write(data)
        self.raw.flush()


class _GuardedLines:
    """stdin as the SDK iterates it (text lines), with malformed lines answered, not passed."""

    def __init__(self, raw: IO[bytes], wire: _Wire) -> None:
        self.raw = raw
        self.wire = wire

    def __aiter__(self) -> _GuardedLines:
        return self

    async def __anext__(self) -> str:
        while True:
            line = await anyio.to_thread.run_sync(self.raw.readline, abandon_on_cancel=True)
            if not line:
                raise StopAsyncIteration
            if not line.strip():
                continue
            error = check(line)
            if error is None:
                return line.decode("utf-8")
            await self.wire.write(json.dumps(error) + "\n")


async def _serve(server: MCPServer[Any], stdin: IO[bytes], stdout: IO[bytes]) -> None:
    wire = _Wire(stdout)
    lines: Any = _GuardedLines(stdin, wire)  # duck-typed as the SDK's AsyncFile[str]
    async with stdio_server(stdin=lines, stdout=wire) as (read, write):  # type: ignore[arg-type]
        lowlevel = server._lowlevel_server
        await lowlevel.run(read, write, lowlevel.create_initialization_options())


def serve(server: MCPServer[Any]) -> None:
    """Serve ``server`` over this process's stdin and stdout, answering every line."""
    stdin_fd, stdout_fd = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDONLY)
    try:
        os.dup2(null, 0)
        os.dup2(2, 1)
        with (
            os.fdopen(stdin_fd, "rb", closefd=False) as stdin,
            os.fdopen(stdout_fd, "wb", closefd=False) as stdout,
        ):
            anyio.run(_serve, server, stdin, stdout)
    finally:
        os.dup2(stdin_fd, 0)
        os.dup2(stdout_fd, 1)
        for fd in (null, stdin_fd, stdout_fd):
            os.close(fd)
