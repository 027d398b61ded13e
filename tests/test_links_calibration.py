"""The calibrated MiniLM link threshold holds on held-out labelled pairs.

``bench/links.py`` chose ``MINILM.link_threshold`` on the calibration half (even line numbers)
of ``bench/data/link_pairs.jsonl``. These tests replay a fixed subset of the *held-out* half,
every third odd line (44 pairs: 18 related, 13 unrelated, 13 same format), through the real
service with the bundled model, each pair in a fresh store, and pin what the benchmark
measured on it at 0.44: precision 0.89 (17 of 19 links), recall 0.94 (17 of 18), one
same-format link.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from mcp_memory.embedding.local import LocalEmbedder
from mcp_memory.embedding.specs import MINILM
from mcp_memory.service.memories import MemoryService
from mcp_memory.service.types import Options
from mcp_memory.store.database import Store

PAIRS = Path(__file__).resolve().parents[1] / "bench" / "data" / "link_pairs.jsonl"
MIN_PRECISION = 0.85
MIN_RECALL = 0.83  # measured 0.94 on this subset, minus two more missed pairs
MAX_SAME_FORMAT_LINKS = 1  # measured 1 of 13

Pair = dict[str, Any]


def load() -> list[Pair]:
    return [json.loads(raw) for raw in PAIRS.read_text(encoding="utf-8").splitlines()]


def held_out_subset() -> list[Pair]:
    held_out = [pair for n, pair in enumerate(load(), start=1) if n % 2 == 1]
    return held_out[::3]


@pytest.fixture(scope="module")
def outcomes(
    minilm: LocalEmbedder, tmp_path_factory: pytest.TempPathFactory
) -> list[tuple[Pair, bool]]:
    """(pair, whether b linked to a) for each pair of the subset, remembered a then b."""
    root = tmp_path_factory.mktemp("link-pairs")
    options = Options(
        duplicate_threshold=MINILM.duplicate_threshold, link_threshold=MINILM.link_threshold
    )
    out: list[tuple[Pair, bool]] = []
    for n, pair in enumerate(held_out_subset()):
        store = Store.open(root / f"pair{n}.db")
        try:
            service = MemoryService(store, minilm, options)
            a = service.remember(pair["a"], project="calibration")
            b = service.remember(pair["b"], project="calibration")
            assert (a.status, b.status) == ("created", "created")
            out.append((pair, [link.id for link in b.links] == [a.id]))
        finally:
            store.close()
    return out


def test_pairs_file_is_a_balanced_labelled_set() -> None:
    pairs = load()
    counts = Counter(pair["label"] for pair in pairs)
    assert len(pairs) >= 240
    assert set(counts) == {"related", "unrelated", "same_format"}
    assert 0.35 <= counts["related"] / len(pairs) <= 0.45
    assert min(counts["unrelated"], counts["same_format"]) / len(pairs) >= 0.25
    assert all(pair["a"].strip() != pair["b"].strip() and pair["note"] for pair in pairs)
    subset = Counter(pair["label"] for pair in held_out_subset())
    assert subset == {"related": 18, "unrelated": 13, "same_format": 13}


def test_links_at_the_calibrated_threshold_are_precise(outcomes: list[tuple[Pair, bool]]) -> None:
    linked = [pair["label"] for pair, link in outcomes if link]
    precision = linked.count("related") / len(linked)
    assert precision >= MIN_PRECISION, f"{linked.count('related')} of {len(linked)} links related"


def test_related_pairs_link_at_the_calibrated_threshold(outcomes: list[tuple[Pair, bool]]) -> None:
    related = [link for pair, link in outcomes if pair["label"] == "related"]
    missed = [pair["note"] for pair, link in outcomes if pair["label"] == "related" and not link]
    assert sum(related) / len(related) >= MIN_RECALL, f"missed: {missed}"


def test_same_format_different_topic_pairs_do_not_link(outcomes: list[tuple[Pair, bool]]) -> None:
    linked = [pair["note"] for pair, link in outcomes if pair["label"] == "same_format" and link]
    assert len(linked) <= MAX_SAME_FORMAT_LINKS, linked


def test_same_format_and_same_topic_pairs_still_link(outcomes: list[tuple[Pair, bool]]) -> None:
    """The boilerplate discount must not cut links between two summaries of the same work."""
    both = [
        (pair["note"], link)
        for pair, link in outcomes
        if pair["label"] == "related" and pair["note"].startswith("same format and topic")
    ]
    assert both and all(link for _, link in both), both
