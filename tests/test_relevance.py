"""Relevance a caller can act on: the query-dependent keyword weight, the calibrated
relevant/not-relevant decision per hit (service/relevance.py), and the hook reader making the same
decision without numpy. Real SQLite files and the real bundled model.
"""

from __future__ import annotations

import struct

import pytest

from mcp_memory.hooks import reader as hook_recall
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
    service's for every hit."""
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
            assert {h.id: h.relevant for h in hits} == verdicts


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
