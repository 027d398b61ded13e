"""The MCP Inspector CLI (from npm, installed by `make test` into tests/inspector) as a real
third-party client of `memcycle serve` over stdio and over streamable HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from support import free_port

from mcp_memory.config import Settings
from mcp_memory.server.http import PROJECT_HEADER, TOKEN_FILE

INSPECTOR = Path(__file__).parent / "inspector" / "node_modules" / ".bin" / "mcp-inspector"
SERVE = [sys.executable, "-m", "mcp_memory.cli", "serve"]

pytestmark = pytest.mark.skipif(
    not INSPECTOR.exists() and os.environ.get("CI") != "true",
    reason="MCP Inspector not installed: run `make test` (npm ci --prefix tests/inspector)",
)


def env_for(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCP_MEMORY_")}
    env.update(
        MCP_MEMORY_HOME=str(settings.home),
        MCP_MEMORY_MODEL="minilm",
        MCP_MEMORY_EMBED_PORT=str(settings.embed_port),
    )
    return env


def inspector(settings: Settings, target: list[str], *args: str) -> Any:
    env = env_for(settings)
    # The Inspector starts a stdio server with a default environment (HOME, PATH, ...), not
    # its own: without -e the server used the real ~/.local/share/mcp-memory, and its daemon
    # outlived the test there.
    passed = (
        []
        if target[0].startswith("http")
        else [a for k, v in env.items() if k.startswith("MCP_MEMORY_") for a in ("-e", f"{k}={v}")]
    )
    proc = subprocess.run(
        [str(INSPECTOR), "--cli", *passed, *target, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    return json.loads(proc.stdout)


def test_tools_list_over_stdio(settings: Settings) -> None:
    listing = inspector(settings, SERVE, "--method", "tools/list")
    tools = {t["name"]: t for t in listing["tools"]}
    assert set(tools) == {
        "remember",
        "recall",
        "get",
        "forget",
        "stats",
        "consolidate",
        "briefing",
        "route",
    }
    assert tools["remember"]["inputSchema"]["properties"]["content"]
    assert tools["recall"]["annotations"]["readOnlyHint"] is True
    assert "hits" in tools["recall"]["outputSchema"]["properties"]


def test_remember_then_recall_over_stdio(settings: Settings) -> None:
    project = settings.home.parent / "inspector"  # a new project is named by its directory
    project.mkdir()
    stored = inspector(
        settings,
        SERVE,
        "--method",
        "tools/call",
        "--tool-name",
        "remember",
        "--tool-arg",
        "content=Inspector says the cache TTL is 300 seconds",
        "--tool-arg",
        f"project={project}",
    )
    mid = stored["structuredContent"]["id"]
    found = inspector(
        settings,
        SERVE,
        "--method",
        "tools/call",
        "--tool-name",
        "recall",
        "--tool-arg",
        "query=cache TTL",
        "--tool-arg",
        f"project={project}",
    )
    assert found["structuredContent"]["hits"][0]["id"] == mid


def test_tools_call_over_streamable_http(settings: Settings) -> None:
    port = free_port()
    server = subprocess.Popen(
        [*SERVE, "--http", "--port", str(port)],
        env=env_for(settings),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        url = f"http://127.0.0.1:{port}/mcp"
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1).close()
            except urllib.error.HTTPError:
                break  # something answers HTTP: the server is up
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
                continue
            break
        web = settings.home.parent / "web"  # a project is named by its directory
        web.mkdir(exist_ok=True)
        token = (settings.run_dir / TOKEN_FILE).read_text().strip()
        headers = [
            "--header",
            f"Authorization: Bearer {token}",
            "--header",
            f"{PROJECT_HEADER}: {web}",
        ]
        inspector(
            settings,
            [url],
            "--transport",
            "http",
            *headers,
            "--method",
            "tools/call",
            "--tool-name",
            "remember",
            "--tool-arg",
            "content=HTTP transport memory",
            "--tool-arg",
            f"project={web}",
        )
        found = inspector(
            settings,
            [url],
            "--transport",
            "http",
            *headers,
            "--method",
            "tools/call",
            "--tool-name",
            "recall",
            "--tool-arg",
            "query=HTTP transport",
            "--tool-arg",
            f"project={web}",
        )
        assert found["structuredContent"]["hits"][0]["content"] == "HTTP transport memory"
    finally:
        server.terminate()
        server.wait(timeout=10)
        assert server.stderr is not None
        server.stderr.close()
