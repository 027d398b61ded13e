"""The daemon on loopback TCP where a Unix socket cannot be used (issue #16), real processes.

Pins: with Unix sockets unavailable (forced by ``MCP_MEMORY_DAEMON_TRANSPORT=tcp``, what the
daemon falls back to on a platform without ``AF_UNIX`` or when the socket cannot be bound), the
daemon listens on 127.0.0.1 on a random port that it writes, with a random token, to a 0600 file
in the 0700 run folder; relays and hooks are served through it as through the socket. Before a
client sends any text, the daemon answers a fresh challenge with HMAC(token), and the client
proves the token too. A program on the port that cannot prove the token gets the challenge and
nothing else; a port file left behind by a dead daemon is never connected to.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from test_daemon import (
    Session,
    Squatter,
    daemon_pid,
    environment,
    project,
    running,
    structured,
)
from test_daemon_hooks import prompt

from mcp_memory import daemon_link
from mcp_memory.store.database import Store

TCP = {"MCP_MEMORY_DAEMON_TRANSPORT": "tcp"}


def test_without_unix_sockets_relays_and_hooks_use_loopback_tcp_with_a_token(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    alpha, beta = project(tmp_path, "alpha"), project(tmp_path, "beta")

    async def main() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        async with Session(home, alpha, **TCP) as a, Session(home, beta, **TCP) as b:
            ra = structured(await a.call_tool("remember", {"content": "alpha deploys on fridays"}))
            rb = structured(await b.call_tool("remember", {"content": "beta uses postgres 16"}))
            return ra, rb, structured(await a.call_tool("stats", {}))

    ra, rb, stats = anyio.run(main)
    assert ra["memories"][0]["project"] == str(alpha.resolve())
    assert rb["memories"][0]["project"] == str(beta.resolve())
    assert stats["current_project"] == str(alpha.resolve())
    run = home / "run"
    assert not (run / daemon_link.SOCKET).exists()
    info = os.lstat(run / daemon_link.PORT)
    assert stat.S_IMODE(info.st_mode) == 0o600 and stat.S_IMODE(os.lstat(run).st_mode) == 0o700
    published = json.loads((run / daemon_link.PORT).read_text())
    assert isinstance(published["port"], int) and len(published["token"]) >= 32
    pid = daemon_pid(home)
    assert pid is not None and running(pid)
    status = subprocess.run(
        [sys.executable, "-m", "mcp_memory.cli", "daemon", "status", "--json"],
        env=environment(home, **TCP),
        capture_output=True,
        text=True,
        timeout=60,
    )
    answer = json.loads(status.stdout)
    assert answer["status"] == "running" and answer["pid"] == pid and answer["served"] >= 2
    context, _ = prompt(home, alpha, "#remember lint runs before the tests", **TCP)
    assert "saved 1 #remember note(s)" in context and "(ids " in context  # by the daemon
    store = Store.open(home / "memory.db")
    try:
        assert store.counts()["total"] == 3
    finally:
        store.close()


@pytest.fixture
def port_squatter(tmp_path: Path) -> Any:
    run = tmp_path / "home" / "run"
    run.mkdir(parents=True, mode=0o700)
    os.chmod(run, 0o700)
    # a loopback listener answering each line with a made-up proof
    proof = json.dumps({"proof": "00" * 32, "challenge": "11" * 16}).encode() + b"\n"
    squatter = Squatter(socket.create_server(("127.0.0.1", 0)), reply=proof)
    port = squatter.sock.getsockname()[1]
    fd = os.open(run / daemon_link.PORT, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, json.dumps({"port": port, "token": "ab" * 32}).encode())
    os.close(fd)
    yield squatter
    squatter.close()


def test_a_program_on_the_port_that_cannot_prove_the_token_gets_no_text(
    tmp_path: Path, port_squatter: Squatter
) -> None:
    run = tmp_path / "home" / "run"
    # A daemon holds the lock (a port file then names a live daemon's port): the client asks
    # the program there to prove the token; it cannot, so the client stops after its challenge.
    holder = open(run / daemon_link.LOCK, "ab")  # noqa: SIM115
    import fcntl

    fcntl.flock(holder.fileno(), fcntl.LOCK_EX)
    try:
        with pytest.raises(daemon_link.UntrustedSocket):
            daemon_link.request(run, {"relay": 1, "hook": {"op": "embed", "text": "secret"}}, 2)
    finally:
        holder.close()
    lines = port_squatter.received.splitlines()
    assert len(lines) == 1 and set(json.loads(lines[0])) == {"challenge"}
    assert b"secret" not in port_squatter.received


def test_a_port_file_left_by_a_dead_daemon_is_never_connected_to(
    tmp_path: Path, port_squatter: Squatter
) -> None:
    home = tmp_path / "home"
    cwd = project(tmp_path, "proj")
    secret = "the vault unseal key is in the red binder"

    async def main() -> dict[str, Any]:
        async with Session(home, cwd, **TCP) as client:
            return structured(await client.call_tool("remember", {"content": secret}))

    stored = anyio.run(main)
    assert port_squatter.received == b""
    published = json.loads((home / "run" / daemon_link.PORT).read_text())
    assert (
        published["port"] != port_squatter.sock.getsockname()[1]
    )  # the daemon the relay started wrote its own
    store = Store.open(home / "memory.db")
    try:
        assert store.get(stored["id"]).content == secret
    finally:
        store.close()
