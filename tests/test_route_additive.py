"""A memory that adds a detail to the line it resembles is written next to that line.

Issue #15 item 5: "The integration tests need the Postgres container from docker compose
running on port 5433 before make test" sat at cosine 0.82 with the CLAUDE.md line "Run the suite
with `make test`. Tests use a real Postgres started by docker compose.", inside the conflict
band, and was held as a possible conflict although it only adds a port and a precondition. A
real CLAUDE.md in a temporary project, the real store and the bundled model.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from route_helpers import strip_blocks

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
OTHER_TOOL = "Run the suite with `go test ./...`. Tests use a real Postgres started by docker compose."


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
