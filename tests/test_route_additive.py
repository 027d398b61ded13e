"""A memory that adds a detail to the line it resembles is written next to that line.

Issue #15 item 5: "The integration tests need the Postgres container from docker compose
running on port 5433 before make test" sat at cosine 0.82 with the CLAUDE.md line "Run the suite
with `make test`. Tests use a real Postgres started by docker compose.", inside the conflict
band, and was held as a possible conflict although it only adds a port and a precondition. A
real CLAUDE.md in a temporary project, the real store and the bundled model.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from route_helpers import strip_blocks

from mcp_memory.config import Settings
from mcp_memory.embedding.local import LocalEmbedder
from mcp_memory.projects import GLOBAL
from mcp_memory.routing.router import RouteConfig, Router, promote
from mcp_memory.routing.targets import parse
from mcp_memory.service.memories import MemoryService
from mcp_memory.store.database import Store

SUITE = "Run the suite with `make test`. Tests use a real Postgres started by docker compose."
CLAUDE_MD = (
    "# Ledger\n\n"
    "Ledger is a bookkeeping API in Go with a Postgres database.\n\n"
    "## Testing\n\n"
    f"- {SUITE}\n"
    "- Table-driven tests live next to the code in `*_test.go` files.\n"
    "- Lint with `golangci-lint run` before pushing.\n\n"
    "## Git workflow\n\n"
    "- Branch from `main`; squash-merge pull requests.\n"
)
ADDS_PORT = (
    "The integration tests need the Postgres container from docker compose running on port "
    "5433 before make test"
)
OTHER_TOOL = (
    "Run the suite with `go test ./...`. Tests use a real Postgres started by docker compose."
)


@dataclass
class Env:
    root: Path
    store: Store
    service: MemoryService
    router: Router

    def proven(self, text: str) -> int:
        mid = self.service.remember(text, project=str(self.root), source="user").id
        promote(self.store, mid)
        return mid

    @property
    def claude_md(self) -> Path:
        return self.root / "CLAUDE.md"


@pytest.fixture
def env(tmp_path: Path, minilm: LocalEmbedder) -> Iterator[Env]:
    root = (tmp_path / "ledger").resolve()
    root.mkdir()
    (root / "CLAUDE.md").write_text(CLAUDE_MD, encoding="utf-8")
    home = tmp_path / "claude_home"
    home.mkdir()
    store = Store.open(tmp_path / "memory.db")
    service = MemoryService(store, minilm)
    config = RouteConfig(claude_home=home, backup_dir=tmp_path / "backups")
    yield Env(root, store, service, Router(store, minilm, config))
    store.close()


def test_a_memory_adding_a_port_and_a_precondition_is_written_not_held(env: Env) -> None:
    """The case from the issue: in the cosine band, but it adds to the line, changes nothing."""
    mid = env.proven(ADDS_PORT)
    sig = env.router.signals([str(env.root), GLOBAL], [mid])[mid]
    t = env.router.thresholds
    assert sig.item_text == SUITE
    assert t.duplicate - t.conflict_band <= sig.item_similarity < t.duplicate, "in the band"
    (item,) = env.router.plan([str(env.root), GLOBAL]).items
    assert (item.action, item.target, item.section) == ("write", "CLAUDE.md", "Testing"), (
        item.reason
    )
    assert item.memory_id == mid


def test_it_is_written_directly_below_that_line_and_unroute_takes_it_out_exactly(
    env: Env,
) -> None:
    """Placed right after the line it extends (same section), shown in the plan's diff, and
    `unroute` (undo_memory) restores the file byte for byte."""
    mid = env.proven(ADDS_PORT)
    plan = env.router.plan([str(env.root), GLOBAL])
    (item,) = plan.items
    assert item.below and item.existing == SUITE
    assert item.reason.startswith("adds to the line"), item.reason
    assert "5433" in item.reason
    (change,) = plan.files
    assert f"- {SUITE}\n+<!-- mcp-memory:begin" in change.diff
    env.router.apply([str(env.root), GLOBAL])
    text = env.claude_md.read_text(encoding="utf-8")
    assert text == CLAUDE_MD.replace(
        f"- {SUITE}\n",
        f"- {SUITE}\n"
        f'<!-- mcp-memory:begin section="Testing" ids="{mid}" -->\n'
        f"- {ADDS_PORT}\n"
        "<!-- mcp-memory:end -->\n",
    )
    assert strip_blocks(text) == CLAUDE_MD
    testing = next(s for s in parse(text) if s.name == "Testing")
    assert testing.block is None and len(testing.blocks) == 1, "below the line, not at the end"
    meta = env.store.get(mid).metadata
    assert (meta["routed_as"], meta["routed_section"]) == ("written", "Testing")
    assert env.router.plan([str(env.root), GLOBAL]).items == [], "routed: not planned again"
    undone = env.router.undo_memory(mid)
    assert undone.restored == "line removed"
    assert env.claude_md.read_text(encoding="utf-8") == CLAUDE_MD


def test_later_memories_join_the_block_below_the_line_and_the_section_block_stays_at_the_end(
    env: Env,
) -> None:
    """A second memory extending the same line joins its block; an ordinary memory still goes
    to the section's own block at the end; undoing the file restores it exactly."""
    first = env.proven(ADDS_PORT)
    env.router.apply([str(env.root), GLOBAL])
    second = env.proven(
        "Tests use the real Postgres from docker compose; `make test ARGS=-run=TestLedger` "
        "runs one named test of the suite, and `-count=1` skips the test cache."
    )
    other = env.proven("Benchmarks run with `go test -bench=. ./internal/...` on a quiet machine.")
    plan = env.router.apply([str(env.root), GLOBAL])
    by_id = {i.memory_id: i for i in plan.items}
    assert by_id[second].action == "write" and by_id[second].below, by_id[second].reason
    assert (by_id[other].action, by_id[other].section) == ("write", "Testing")
    assert not by_id[other].below
    text = env.claude_md.read_text(encoding="utf-8")
    testing = next(s for s in parse(text) if s.name == "Testing")
    below = next(b for b in testing.blocks if b is not testing.block)
    assert below.ids == (first, second)
    assert testing.block is not None and testing.block.ids == (other,)
    assert text.index(f"- {SUITE}\n<!-- mcp-memory:begin") < text.index("Table-driven")
    assert strip_blocks(text) == CLAUDE_MD
    env.router.undo_file("CLAUDE.md", project=str(env.root))
    env.router.undo_file("CLAUDE.md", project=str(env.root))
    assert env.claude_md.read_text(encoding="utf-8") == CLAUDE_MD


def test_the_same_line_with_another_tool_is_still_held(env: Env) -> None:
    """A changed value in the same slot is a possible conflict, however close the words."""
    env.proven(OTHER_TOOL)
    (item,) = env.router.plan([str(env.root), GLOBAL]).items
    assert item.action == "conflict" and item.existing == SUITE, item.reason


def test_a_restatement_in_the_band_is_a_duplicate(env: Env) -> None:
    """Every word of the line and nothing new: already said, nothing written."""
    env.proven("Lint with `golangci-lint run` before you push.")
    (item,) = env.router.plan([str(env.root), GLOBAL]).items
    assert item.action == "duplicate", item.reason
    assert item.existing == "Lint with `golangci-lint run` before pushing."


def test_cli_plan_shows_the_line_and_unroute_takes_it_out(
    settings: Settings, env: Env, minilm: LocalEmbedder
) -> None:
    """`memcycle route` names the line the memory goes below and shows it in the diff;
    `memcycle unroute ID` restores the file exactly."""
    store = Store.open(settings.db)
    try:
        mid = MemoryService(store, minilm).remember(ADDS_PORT, project=str(env.root)).id
    finally:
        store.close()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MCP_MEMORY_")}
    environ.update(
        MCP_MEMORY_HOME=str(settings.home),
        MCP_MEMORY_MODEL="minilm",
        MCP_MEMORY_EMBED_PORT=str(settings.embed_port),
        MCP_MEMORY_CLAUDE_HOME=str(env.root.parent / "claude_home"),
    )

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "mcp_memory.cli", *args],
            cwd=env.root,
            capture_output=True,
            text=True,
            env=environ,
            timeout=120,
        )

    assert run("promote", str(mid)).returncode == 0
    plan = run("route")
    assert plan.returncode == 0, plan.stderr
    assert f"write     [{mid}] -> CLAUDE.md # Testing" in plan.stdout
    assert f"    below:    {SUITE}" in plan.stdout
    assert f" - {SUITE}\n+<!-- mcp-memory:begin" in plan.stdout
    assert run("route", "--apply").returncode == 0
    assert env.claude_md.read_text(encoding="utf-8") != CLAUDE_MD
    undone = run("unroute", str(mid))
    assert undone.returncode == 0 and "removed from CLAUDE.md" in undone.stdout, undone.stderr
    assert env.claude_md.read_text(encoding="utf-8") == CLAUDE_MD
