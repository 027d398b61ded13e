"""Linking by topic, not layout, for formats that live inside one line: texts that open the same
way ("chore(deps): bump ...", "Test run (CI #12): ...") are compared with their shared format
direction taken out once three of them are near (linking.FORMAT_MIN), with the real model."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcp_memory.embedding.local import LocalEmbedder
from mcp_memory.embedding.specs import MINILM
from mcp_memory.service import boilerplate, linking
from mcp_memory.service.memories import MemoryService
from mcp_memory.service.types import Options
from mcp_memory.store.database import Store

BUMPS = [
    "chore(deps): bump github.com/jackc/pgx/v5 from 5.5.1 to 5.5.4 in go.mod; go mod tidy, "
    "unit tests pass.",
    "chore(deps): bump google.golang.org/grpc from 1.61.0 to 1.62.1 in go.mod; go mod tidy, "
    "unit tests pass.",
    "chore(deps): bump github.com/nats-io/nats.go from 1.31.0 to 1.33.1 in go.mod; go mod "
    "tidy, unit tests pass.",
    "chore(deps): bump golang.org/x/crypto from 0.17.0 to 0.21.0 in go.mod; go mod tidy, unit "
    "tests pass.",
    "chore(deps): bump github.com/prometheus/client_golang from 1.18.0 to 1.19.0 in go.mod; go "
    "mod tidy, unit tests pass.",
]


def test_opening_names_the_format_a_text_opens_with() -> None:
    """The first two words of the first non-blank line, letters only, lower-cased, when that
    line is a heading or holds a label's colon; prose has no format."""
    assert boilerplate.opening("chore(deps): bump x from 1 to 2") == "chore deps"
    assert boilerplate.opening("Session summary: Files changed: a.py") == "session summary"
    assert boilerplate.opening("Test run (CI #1842): vitest 412 passed") == "test run"
    assert boilerplate.opening("Test run (local): 3 skipped") == "test run"
    assert boilerplate.opening("\n## Session summary\n**Task:** x") == "session summary"
    assert boilerplate.opening("We store every amount as an integer, never a float.") == ""
    assert boilerplate.opening("") == ""


def links_made(tmp_path: Path, minilm: LocalEmbedder, weight: float) -> list[int]:
    """How many links each of BUMPS makes as it is remembered, in order."""
    store = Store.open(tmp_path / f"w{weight}.db")
    try:
        service = MemoryService(store, minilm, Options(link_threshold=MINILM.link_threshold))
        return [len(service.remember(t, project="inventory").links) for t in BUMPS]
    finally:
        store.close()


def test_same_format_texts_about_different_things_mostly_stop_linking(
    tmp_path: Path, minilm: LocalEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Five dependency bumps of different packages: with the discount off, each links to every
    earlier one (1+2+3+4 links, on layout alone). With it, the second still links to the first
    (two texts teach no format), and from the third on, when three are near, they make at most
    one link each (measured: 0, 1, 1)."""
    monkeypatch.setattr(linking, "FORMAT_WEIGHT", 0.0)
    assert links_made(tmp_path, minilm, 0.0) == [0, 1, 2, 3, 4]
    monkeypatch.setattr(linking, "FORMAT_WEIGHT", 0.4)
    made = links_made(tmp_path, minilm, 0.4)
    assert made[:2] == [0, 1]
    assert max(made[2:]) <= 1 and sum(made[2:]) <= 2
