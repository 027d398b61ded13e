"""The streamable-HTTP MCP endpoint (`memcycle serve --http`, what `make run` serves) is locked
to this user: a real server subprocess on a free loopback port, driven by the SDK's HTTP client.

Any local process can open a loopback port, so before this endpoint had a bearer token, any
process or other user on the machine could call `recall(all_projects=true)` and read every
memory; a local web page could too (the SDK allowed any `http://localhost:*` Origin). And every
session wrote into the project of the folder the server was started in.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from support import free_port

from mcp_memory.config import Settings
from mcp_memory.server.http import PROJECT_HEADER, TOKEN_FILE

SERVE = [sys.executable, "-m", "mcp_memory.cli", "serve", "--http"]


def env_for(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCP_MEMORY_")}
    env.update(
        MCP_MEMORY_HOME=str(settings.home),
        MCP_MEMORY_MODEL="minilm",
        MCP_MEMORY_EMBED_PORT=str(settings.embed_port),
    )
    return env


def wait_up(port: int, server: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while True:
        assert server.poll() is None, server.stderr.read() if server.stderr else ""
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/mcp", timeout=1).close()
        except urllib.error.HTTPError:
            return  # something answers HTTP: the server is up
        except OSError:
            assert time.monotonic() < deadline, "the HTTP server did not come up"
            time.sleep(0.1)
            continue
        return


@pytest.fixture
def endpoint(settings: Settings, tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port = free_port()
    server = subprocess.Popen(
        [*SERVE, "--port", str(port)],
        env=env_for(settings),
        cwd=tmp_path,  # the server's own folder: no session's project
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_up(port, server)
        yield f"http://127.0.0.1:{port}/mcp", server
    finally:
        server.terminate()
        server.wait(10)
        if server.stderr:
            server.stderr.close()


def call(url: str, headers: dict[str, str], tool: str, **arguments: Any) -> Any:
    async def go() -> Any:
        http = httpx2.AsyncClient(headers=headers, timeout=60)
        async with http, Client(streamable_http_client(url, http_client=http)) as client:
            return await client.call_tool(tool, arguments)

    return anyio.run(go)


def status(url: str, headers: dict[str, str]) -> int:
    """The HTTP status of an `initialize` POST with these headers."""
    body = (
        b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18",'
        b'"capabilities":{},"clientInfo":{"name":"probe","version":"0"}}}'
    )
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
            **headers,
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_unauthenticated_client_reads_nothing(
    settings: Settings, endpoint: tuple[str, subprocess.Popen[str]]
) -> None:
    """No token, a wrong token, or a token sent as a query parameter: 401, and the endpoint
    never runs a tool (today's hole: recall(all_projects=true) read every project)."""
    url, _ = endpoint
    assert status(url, {}) == 401
    assert status(url, {"Authorization": "Bearer wrong"}) == 401
    assert status(url, {"Authorization": "Basic " + "x" * 43}) == 401
    with pytest.raises(Exception):  # noqa: B017 - the client's error type depends on its version
        call(url, {}, "recall", query="anything", all_projects=True)


def test_token_file_is_private_and_unlocks_the_endpoint(
    settings: Settings, endpoint: tuple[str, subprocess.Popen[str]], tmp_path: Path
) -> None:
    url, server = endpoint
    path = settings.run_dir / TOKEN_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    token = path.read_text().strip()
    assert len(token) >= 32
    project = tmp_path / "webapp"
    project.mkdir()
    auth = {"Authorization": f"Bearer {token}", PROJECT_HEADER: str(project)}
    stored = call(url, auth, "remember", content="The web app caches sessions for 15 minutes.")
    assert not stored.is_error, stored
    found = call(url, auth, "recall", query="session cache duration", all_projects=True)
    assert [h["id"] for h in found.structured_content["hits"]] == [stored.structured_content["id"]]
    stats = call(url, auth, "stats")
    # the session's project came from its header, not from the server's folder
    assert stats.structured_content["current_project"].endswith("webapp")
    assert list(stats.structured_content["counts"]["by_project"]) == [
        stats.structured_content["current_project"]
    ]


def test_session_without_project_header_is_told_how_to_send_one(
    settings: Settings, endpoint: tuple[str, subprocess.Popen[str]]
) -> None:
    """Without X-Memcycle-Project a tool that needs the project fails with the fix, instead of
    writing into the server's own folder."""
    url, _ = endpoint
    token = (settings.run_dir / TOKEN_FILE).read_text().strip()
    result = call(url, {"Authorization": f"Bearer {token}"}, "remember", content="a fact")
    assert result.is_error
    assert PROJECT_HEADER in result.content[0].text
    relative = call(
        url, {"Authorization": f"Bearer {token}", PROJECT_HEADER: "relative/dir"}, "stats"
    )
    assert relative.is_error and "absolute" in relative.content[0].text


def test_origins_outside_the_exact_list_are_refused(
    settings: Settings, endpoint: tuple[str, subprocess.Popen[str]]
) -> None:
    """A web page on another local port (the SDK's `http://localhost:*` wildcard allowed it)
    or another site gets 403 even with the token; the endpoint's own origin and no Origin pass."""
    url, _ = endpoint
    port = url.split(":")[2].split("/")[0]
    token = (settings.run_dir / TOKEN_FILE).read_text().strip()
    auth = {"Authorization": f"Bearer {token}"}
    assert status(url, {**auth, "Origin": "http://localhost:3000"}) == 403
    assert status(url, {**auth, "Origin": "https://evil.example"}) == 403
    assert status(url, {**auth, "Origin": "null"}) == 403
    assert status(url, {**auth, "Origin": f"http://127.0.0.1:{port}"}) == 200
    assert status(url, auth) == 200
    # a rebinding name for 127.0.0.1 is not our host
    assert status(url, {**auth, "Host": "attacker.example:" + port}) == 421


def test_servers_starting_at_once_for_the_first_time_agree_on_one_token(tmp_path: Path) -> None:
    """The token file is created only if absent: of eight processes making it at once, one
    writes it and every one of them uses that token (the last writer used to win, and the
    other servers' clients got 401)."""
    code = (
        "import sys, time\n"
        "from mcp_memory.config import load_settings\n"
        "from mcp_memory.server.http import load_token\n"
        "time.sleep(max(0.0, float(sys.argv[1]) - time.time()))\n"
        "token, created = load_token(load_settings())\n"
        "print(token, created)\n"
    )
    env = {**os.environ, "MCP_MEMORY_HOME": str(tmp_path / "home")}
    start = str(time.time() + 2.0)  # all past their imports: they race on the file itself
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, start], env=env, stdout=subprocess.PIPE, text=True
        )
        for _ in range(8)
    ]
    answers = [p.communicate(timeout=60)[0].split() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert len({token for token, _ in answers}) == 1
    assert [created for _, created in answers].count("True") == 1
    path = tmp_path / "home" / "run" / TOKEN_FILE
    assert path.read_text().strip() == answers[0][0]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []
