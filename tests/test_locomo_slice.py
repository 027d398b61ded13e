"""Retrieval quality floor: one LoCoMo conversation through the real recall path.

``bench/locomo.py`` measures all ten conversations; this replays conversation 1 (369 turns, 81
questions of categories 1-4; one of the five the settings were chosen on, and the smallest)
with the bundled model: every turn stored through ``remember_many`` per session, every question
asked through ``recall``. A change that hurts recall fails here, and so does one that quietly
turns off a part of it (the plain configuration must stay well below what ships). The floors
sit about two points under what the shipped configuration measured on this conversation (R@5
76.8, R@10 82.1, with the session step), raised each time recall improves.

The data (CC BY-NC) is not in the repository: the test skips when
``../shared/data/locomo/locomo10.json`` is not beside the clone.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from bench_modules import load_bench

from mcp_memory.embedding.local import LocalEmbedder
from mcp_memory.store.database import Store

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "locomo" / "locomo10.json"
CONVERSATION = 1
# Measured on conversation 1: shipped R@5 76.8, R@10 82.1 (72.5 / 79.1 before the session
# step, see search.Tuning.session_weight); the plain RRF of vector and BM25 (k=60, no
# neighbours, names, dates or sessions) 55.9 / 63.1. The floors sit about two points under the
# measured values: room for a near-tie to rank the other way on another CPU's float rounding,
# while turning off the session step (72.5 / 79.1) or any larger part still fails here; the gain
# must stay most of the measured 20.9 points.
MIN_R5, MIN_R10 = 75.0, 80.0
MIN_GAIN_R5 = 12.0  # shipped minus plain, R@5


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.skipif(
    not DATA.exists(), reason=f"LoCoMo data not found at {DATA} (CC BY-NC, not in the repo)"
)
def test_locomo_conversation_recall_floor(tmp_path: Path, minilm: LocalEmbedder) -> None:
    bench = load_bench("locomo")
    conv = bench.load(DATA)[CONVERSATION]
    store = Store.open(tmp_path / "memory.db")
    try:
        ids = bench.ingest(bench.make_service(store, minilm), conv)
        assert len(ids) == conv.turns
        shipped = bench.ask(bench.make_service(store, minilm), conv, ids)
        plain = bench.ask(bench.make_service(store, minilm, bench.PLAIN), conv, ids)
    finally:
        store.close()
    assert len(shipped) == len(conv.questions) == 81
    r5, r10 = bench.recall_at(shipped, 5), bench.recall_at(shipped, 10)
    print(
        f"conversation {CONVERSATION}: R@5 {r5:.1f} R@10 {r10:.1f}, plain R@5 "
        f"{bench.recall_at(plain, 5):.1f} R@10 {bench.recall_at(plain, 10):.1f}"
    )
    assert r5 >= MIN_R5 and r10 >= MIN_R10
    assert r5 - bench.recall_at(plain, 5) >= MIN_GAIN_R5
