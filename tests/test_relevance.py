"""Relevance a caller can act on: the query-dependent keyword weight, the calibrated
relevant/not-relevant decision per hit (service/relevance.py), and the hook reader making the same
decision without numpy. Real SQLite files and the real bundled model.
"""

from __future__ import annotations

import dataclasses
import struct
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from mcp_memory.config import Settings
from mcp_memory.hooks import reader as hook_recall
from mcp_memory.server.tools import build_server
from mcp_memory.service import relevance
from mcp_memory.service.briefing import BriefingContext, build_briefing
from mcp_memory.service.memories import MemoryService
from mcp_memory.service.query import has_identifier, spelled_words

MEMORIES = [
    "We store every amount as an integer of minor units instead of Decimal or float; Stripe "
    "speaks minor units too, and it removed rounding bugs in refunds.",
    "sqlalchemy.exc.MissingGreenlet raised in app/services/refunds.py when reading "
    "payment.customer after commit: a lazy load on an AsyncSession. Fix: selectinload.",
    "Deploys to production go through ArgoCD: merge to main, then promote the image tag in the "
    "deploy repo; never kubectl apply by hand.",
    "The test suite needs the Postgres container from docker compose on port 5433 before make test.",
]


@pytest.mark.parametrize(
    "query",
    [
        "sqlalchemy.exc.MissingGreenlet when I touch payment.customer",
        "error TS2307: Cannot find module '@/components/Button'",
        "what does scripts/reset_local.sh flush?",
        "ERR_PNPM_OUTDATED_LOCKFILE in CI",
        "client gets 409 idempotency_key_reused",
        "celery visibility_timeout on the redis broker",
    ],
)
def test_identifier_shapes_are_detected(query: str) -> None:
    assert has_identifier(query)


@pytest.mark.parametrize(
    "query",
    [
        "can I assume every amount has cents, even for yen or dinars?",
        "how do we handle graceful shutdown?",
        "What musical artists/bands has Melanie seen?",
        "How many times has Melanie gone to the beach in 2023?",
        "What areas of the U.S. has John been to?",
    ],
)
def test_plain_language_is_not_an_identifier(query: str) -> None:
    assert not has_identifier(query)


def test_probability_is_monotone_in_cosine_and_uncalibrated_models_claim_nothing() -> None:
    low = relevance.probability("minilm", relevance.features(0.1, 0.09, 0.1, None, False))
    high = relevance.probability("minilm", relevance.features(0.7, 0.4, 0.7, 1, False))
    assert low is not None and high is not None and 0.0 < low < high < 1.0
    assert relevance.is_relevant("minilm", high)
    assert not relevance.is_relevant("minilm", low)
    assert relevance.probability("no-such-model", (1.0,) * len(relevance.FEATURES)) is None
    assert relevance.is_relevant("no-such-model", None)


def test_hits_carry_a_calibrated_relevance(service: MemoryService) -> None:
    """The answer of a question in other words is marked relevant with a probability, not an
    RRF value; an off-topic question gets hits that are not relevant."""
    for text in MEMORIES:
        service.remember(text, project="p")
    hits = service.recall(
        "how do we keep money amounts from rounding wrong?", projects=["p"], count_recall=False
    )
    assert hits[0].content == MEMORIES[0]
    assert hits[0].relevant and hits[0].relevance is not None and 0 < hits[0].relevance < 1
    assert "margin" in hits[0].signals
    off = service.recall(
        "what is the recipe for a sourdough starter?", projects=["p"], count_recall=False
    )
    assert off and max(h.relevance or 0.0 for h in off) < hits[0].relevance
    assert [h.relevant for h in off] == [relevance.is_relevant("minilm", h.relevance) for h in off]


def test_briefing_lists_only_relevant_hits(service: MemoryService) -> None:
    """'Relevant now' holds the hits recall marks relevant, and nothing when none is."""
    for text in MEMORIES:
        service.remember(text, project="p")
    for prompt in ("recipe for a sourdough starter", "deploy to production with ArgoCD"):
        hits = service.recall(prompt, projects=["p", "@global"], k=8, count_recall=False)
        text = build_briefing(service, "p", BriefingContext(prompt=prompt)).text
        marked = [h for h in hits if h.relevant]
        assert ("Relevant now" in text) == bool(marked), prompt
    on = build_briefing(service, "p", BriefingContext(prompt="deploy to production with ArgoCD"))
    assert "ArgoCD" in on.text.split("Relevant now", 1)[1]


def test_hook_reader_decides_as_recall_does(service: MemoryService, minilm) -> None:  # noqa: ANN001
    """The reader's pure-Python decision over the same KNN list and keyword ranks equals the
    service's per-hit decision for every hit. The query-level gate needs token states, which
    the hook (no model, no numpy) does not have: it judges per hit only."""
    for text in MEMORIES:
        service.remember(text, project="p")
    store = service.store
    for query in ("how do we keep money amounts from rounding wrong?", "sourdough starter recipe"):
        hits = service.recall(query, projects=["p"], count_recall=False)
        qvec = minilm.embed([query], "query")[0]
        knn = store.knn(qvec, 10, projects=["p"])
        reader = hook_recall.Reader(store.path)
        try:
            keyword = reader.keyword(query, ["p"], 50)
            blob = struct.pack(f"{len(qvec)}f", *qvec)
            verdicts = hook_recall.judge("minilm", reader.knn(blob, 10, ["p"]), [], query)
        finally:
            reader.close()
        assert [i for i, _ in knn] == list(verdicts)
        if not keyword:  # without keyword hits both sides judge on the vector signals alone
            assert {h.id: relevance.is_relevant("minilm", h.relevance) for h in hits} == verdicts


def test_spelled_words_are_the_words_of_identifier_shaped_tokens() -> None:
    assert spelled_words("write a migration that adds an index on payments.merchant_id") == {
        "payments",
        "merchant_id",
    }
    assert spelled_words("once we pin 'now' to a fixed moment") == {"now"}
    assert spelled_words("run it with --dry-run") == {"dry", "run"}
    assert spelled_words("how do we handle graceful shutdown?") == frozenset()


FROZEN_CLOCK = (
    "Tests that freeze the clock with fake timers hang on awaited sleeps: the timers never "
    "fire while time stands still. Advance it with vi.advanceTimersByTimeAsync instead."
)


def test_plain_language_and_unmatched_spellings_rank_by_meaning(service: MemoryService) -> None:
    """A plain-language question, and one whose identifier-shaped token (a word in scare
    quotes) the best keyword hit does not hold, rank their hits in cosine order: the keyword
    list only adds candidates (fusion.Tuning.keyword_weight 0). A spelling the best keyword hit
    does hold keeps the keyword list's double weight."""
    for text in [*MEMORIES, FROZEN_CLOCK]:
        service.remember(text, project="p")
    for query in (
        "how do we keep money amounts from rounding wrong?",
        "some async specs never finish once we pin 'now' to a fixed moment. Why?",
    ):
        hits = service.recall(query, projects=["p"], count_recall=False)
        cosines = [h.signals["vector_similarity"] for h in hits if "vector_similarity" in h.signals]
        assert cosines == sorted(cosines, reverse=True), query
    scare = "some async specs never finish once we pin 'now' to a fixed moment. Why?"
    assert has_identifier(scare)
    assert service.recall(scare, projects=["p"], count_recall=False)[0].content == FROZEN_CLOCK
    spelled = service.recall("payment.customer MissingGreenlet", projects=["p"], count_recall=False)
    assert spelled[0].content == MEMORIES[1] and spelled[0].signals["keyword_rank"] == 1


# A small project of our own (not from bench/data/coding/), for the query-level gate.
APP = [
    "The thumbnail worker resizes uploads with libvips rather than ImageMagick: it streams the "
    "image instead of decoding it whole, so a 40 MB photo no longer pushes the pod past its "
    "512Mi limit.",
    "Invoices are numbered per tenant from a Postgres sequence created when the tenant signs up; "
    "gaps are allowed, reusing a number is not, because the tax office rejects duplicates.",
    "Run the API locally with `make dev`: it starts Postgres and MinIO in docker compose and the "
    "server with hot reload on port 8080.",
    "Feature flags are read from LaunchDarkly at startup and cached for 30 seconds; a flag "
    "missing in LaunchDarkly counts as off.",
    "Password reset links expire after 30 minutes and can be used once; the token is stored "
    "only as a SHA-256 hash.",
    "The nightly export writes one CSV per tenant to the reports bucket; tenants on the free "
    "plan are skipped.",
    "Background jobs run on Sidekiq with Redis; a job that raises is retried 25 times over "
    "about 3 weeks before it lands in the dead set.",
    "We deploy with GitHub Actions to Fly.io: a merge to main deploys staging, a tag deploys "
    "production.",
]
UNANSWERABLE = "which GDPR lawful basis do we record for marketing emails?"
PARAPHRASE = "why doesn't a huge photo upload crash the image resizing service anymore?"


@pytest.fixture
def gated(service: MemoryService) -> MemoryService:
    """``service`` with the opt-in query-level gate switched on (``Options.relevance_gate``)."""
    service.options = dataclasses.replace(service.options, relevance_gate=True)
    return service


def test_gate_is_off_by_default(service: MemoryService, settings: Settings) -> None:
    """Without the setting recall neither computes coverage nor drops a hit's relevance: the
    gate loses answers on held-out data (docs/benchmarks.md), so it is opt-in."""
    assert not settings.relevance_gate and not service.options.relevance_gate
    for text in APP:
        service.remember(text, project="p")
    hits = service.recall(UNANSWERABLE, projects=["p"], count_recall=False)
    assert hits and not any("coverage" in h.signals or "answerable" in h.signals for h in hits)
    assert [h.relevant for h in hits] == [
        relevance.is_relevant("minilm", h.relevance) for h in hits
    ]


def test_gate_abstains_on_an_unanswerable_question_and_keeps_a_paraphrase(
    gated: MemoryService,
) -> None:
    """Through MemoryService.recall with the bundled model: a question no memory answers gets
    nothing relevant although the per-hit model alone would mark a hit (the gate decides), and a
    question in other words keeps its answer relevant. The order of hits is the one recall
    ranks, gate or not (the gate only reads the hits)."""
    for text in APP:
        gated.remember(text, project="p")
    off = gated.recall(UNANSWERABLE, projects=["p"], count_recall=False)
    assert off and not any(h.relevant for h in off)
    assert any(relevance.is_relevant("minilm", h.relevance) for h in off)
    assert not relevance.passes_gate("minilm", off[0].signals["answerable"])
    assert all("coverage" in h.signals for h in off[:3])
    on = gated.recall(PARAPHRASE, projects=["p"], count_recall=False)
    assert on[0].content == APP[0] and on[0].relevant
    assert relevance.passes_gate("minilm", on[0].signals["answerable"])
    gate = relevance.GATES.pop("minilm")
    try:
        ungated = gated.recall(UNANSWERABLE, projects=["p"], count_recall=False)
    finally:
        relevance.GATES["minilm"] = gate
    assert [h.id for h in ungated] == [h.id for h in off]


def test_briefing_and_mcp_recall_use_the_gate(
    gated: MemoryService, settings: Settings, tmp_path: Path
) -> None:
    """The briefing lists nothing as relevant for the unanswerable question and the answer for
    the paraphrase; the MCP recall tool (in memory, its embedder falling back to the in-process
    model: the test's warm-server port is dead) returns no hit for the first and the answer for
    the second."""
    for text in APP:
        gated.remember(text, project="p")
    off = build_briefing(gated, "p", BriefingContext(prompt=UNANSWERABLE)).text
    on = build_briefing(gated, "p", BriefingContext(prompt=PARAPHRASE)).text
    assert "Relevant now" not in off
    assert "libvips" in on.split("Relevant now", 1)[1]

    async def main() -> tuple[Any, Any]:
        async with Client(
            build_server(dataclasses.replace(settings, relevance_gate=True), cwd=tmp_path)
        ) as client:
            for text in APP:
                await client.call_tool("remember", {"content": text})
            none = await client.call_tool("recall", {"query": UNANSWERABLE})
            some = await client.call_tool("recall", {"query": PARAPHRASE})
            return none.structured_content, some.structured_content

    none, some = anyio.run(main)
    assert none["count"] == 0
    assert "libvips" in some["hits"][0]["content"]


def test_token_states_batched_equal_one_by_one(minilm) -> None:  # noqa: ANN001
    """Late interaction's token states are the same whether texts run together (padded) or
    alone, and hold no special tokens."""
    texts = [APP[0], "short one", APP[4]]
    together = minilm.token_states(texts)
    alone = [minilm.token_states([t])[0] for t in texts]
    for (tokens, rows), (tokens1, rows1) in zip(together, alone, strict=True):
        assert tokens == tokens1 and "[CLS]" not in tokens and "[SEP]" not in tokens
        assert abs(float((rows - rows1).max())) < 1e-4
