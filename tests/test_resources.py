"""MCP resources for clients that show them: the briefing and the stats, read in memory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
from mcp import Client

from mcp_memory.config import Settings
from mcp_memory.server.tools import build_server


def run(settings: Settings, cwd: Path, steps: Any) -> Any:
    async def main() -> Any:
        async with Client(build_server(settings, cwd=cwd)) as client:
            return await steps(client)

    return anyio.run(main)


def test_briefing_and_stats_are_listed_and_read(settings: Settings, tmp_path: Path) -> None:
    async def steps(client: Client) -> Any:
        listed = (await client.list_resources()).resources
        empty = (await client.read_resource("memory://briefing")).contents[0].text
        await client.call_tool(
            "remember",
            {"content": "We decided to deploy on Fridays only before noon", "type": "decision"},
        )
        brief = (await client.read_resource("memory://briefing")).contents
        stats = (await client.read_resource("memory://stats")).contents
        return listed, empty, brief, stats

    listed, empty, brief, stats = run(settings, tmp_path, steps)
    by_uri = {str(r.uri): r for r in listed}
    assert set(by_uri) == {"memory://briefing", "memory://stats"}
    assert by_uri["memory://briefing"].mime_type == "text/markdown"
    assert by_uri["memory://stats"].mime_type == "application/json"
    assert by_uri["memory://briefing"].title and by_uri["memory://stats"].description
    assert empty == "Nothing remembered for this project yet."
    assert brief[0].text.startswith(f"## Memory briefing: {tmp_path.name}")
    assert (
        "Decisions and notes:\n- [1] We decided to deploy on Fridays only before noon"
        in brief[0].text
    )
    data = json.loads(stats[0].text)
    assert data["counts"]["total"] == 1 and data["counts"]["by_state"]["buffer"] == 1
    assert data["model"] == "minilm" and data["current_project"] == str(tmp_path.resolve())
