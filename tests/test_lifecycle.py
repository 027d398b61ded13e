"""The lifecycle on real SQLite with the real bundled model: boilerplate, links, clusters,
aging, promotion and briefing."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from mcp_memory.embedding.local import LocalEmbedder
from mcp_memory.embedding.specs import MINILM
from mcp_memory.lifecycle.aging import AgePolicy, age
from mcp_memory.lifecycle.clusters import clusters_around, find_clusters
from mcp_memory.lifecycle.maintenance import maintain
from mcp_memory.llm.extractive import substance_heuristic
from mcp_memory.projects import GLOBAL
from mcp_memory.service import boilerplate
from mcp_memory.service.briefing import BriefingContext, build_briefing
from mcp_memory.service.linking import MAX_NEW_LINKS
from mcp_memory.service.memories import MemoryService
from mcp_memory.service.types import Options
from mcp_memory.store.base import NewMemory
from mcp_memory.store.database import Store

SESSION_A = """Session summary
Requests: add OAuth login with GitHub to the web app
Files touched: src/auth/oauth.py, src/auth/routes.py
Commands: pytest tests/auth
Errors: none"""
SESSION_B = """Session summary
Requests: speed up the CSV export of invoices
Files touched: src/billing/export.py
Commands: python -m cProfile export.py
Errors: MemoryError on 2M rows"""
SESSION_C = """Session summary
Requests: fix GitHub OAuth login callback redirect
Files touched: src/auth/oauth.py
Commands: pytest tests/auth -k callback
Errors: redirect_uri mismatch"""


@pytest.fixture
def store(backend_store: Store) -> Store:
    """Every test here that uses a store runs on SQLite and on PostgreSQL."""
    return backend_store


@pytest.fixture
def lifecycle(store: Store, minilm: LocalEmbedder) -> MemoryService:
    return MemoryService(
        store,
        minilm,
        Options(
            duplicate_threshold=MINILM.duplicate_threshold, link_threshold=MINILM.link_threshold
        ),
    )


def test_boilerplate_detection_strips_shared_labels_only() -> None:
    counts: dict[str, int] = {}
    for text in (SESSION_A, SESSION_B):
        for key in boilerplate.keys(text):
            counts[key] = counts.get(key, 0) + 1
    topic = boilerplate.topic_text(SESSION_A, counts)
    assert "Requests:" not in topic and "Files touched:" not in topic
    assert "add OAuth login with GitHub" in topic and "src/auth/oauth.py" in topic
    # a text whose labels nobody else uses keeps them
    assert boilerplate.topic_text(SESSION_A, {}) == SESSION_A


def test_same_format_different_topic_does_not_link(lifecycle: MemoryService) -> None:
    a = lifecycle.remember(SESSION_A, project="web")
    b = lifecycle.remember(SESSION_B, project="web")
    assert b.links == ()
    store = lifecycle.store
    raw = float(store.vectors([a.id])[a.id] @ store.vectors([b.id])[b.id])
    assert raw >= lifecycle.options.link_threshold - 0.25  # the format alone makes them look alike
    c = lifecycle.remember(SESSION_C, project="web")
    assert [link.id for link in c.links] == [a.id]  # same format AND same topic: linked
    assert c.links[0].similarity >= lifecycle.options.link_threshold


RELATED = [
    "The API rate limiter uses a Redis token bucket with 100 requests per minute per key",
    "Rate limiting for the API is a token bucket stored in Redis, 100 requests/minute",
    "We raised the API rate limit token bucket in Redis to 100 requests per minute per key",
]


def test_links_stay_inside_projects(lifecycle: MemoryService) -> None:
    a = lifecycle.remember(RELATED[0], project="alpha")
    b = lifecycle.remember(RELATED[1], project="beta")
    assert b.links == ()  # same topic, other project: never linked
    c = lifecycle.remember(RELATED[2], project="alpha")
    assert [link.id for link in c.links] == [a.id]
    g = lifecycle.remember(RELATED[1] + " (applies to every service)", project=GLOBAL)
    assert {link.id for link in g.links} <= set()  # global memories link only to global ones
    d = lifecycle.remember("API rate limits: Redis token bucket, 100 req/min", project="alpha")
    assert g.id in {link.id for link in d.links}  # project memories may link to global ones
    for mid, _ in lifecycle.store.links_of(a.id):
        assert lifecycle.store.get(mid).project in ("alpha", GLOBAL)


def test_links_are_bounded_per_memory(lifecycle: MemoryService) -> None:
    checks = [
        "readiness",
        "liveness",
        "startup",
        "memory",
        "cpu",
        "disk",
        "latency",
        "error",
        "saturation",
        "replica",
        "image",
        "config",
        "secret",
        "network",
    ]
    texts = [f"The Kubernetes rollout of the api service waits for the {c} check" for c in checks]
    results = lifecycle.remember_many(texts, project="k8s")
    assert all(len(r.links) <= MAX_NEW_LINKS for r in results)
    assert max(len(r.links) for r in results) == MAX_NEW_LINKS


def add_graph(store: Store, n: int, edges: list[tuple[int, int]], project: str = "p") -> list[int]:
    ids = [store.insert(NewMemory(f"m{i}", f"h{i}-{project}", project)) for i in range(n)]
    for a, b in edges:
        store.add_links(ids[a], [(ids[b], 0.8)])
    return ids


def test_clusters_are_dense_not_chains(store: Store) -> None:
    chain = add_graph(store, 5, [(0, 1), (1, 2), (2, 3), (3, 4)], project="chain")
    assert find_clusters(store, "chain") == []
    assert clusters_around(store, chain[2]) == []
    ids = add_graph(store, 5, [(0, 1), (1, 2), (0, 2), (2, 3), (3, 4)], project="tri")
    (cluster,) = find_clusters(store, "tri")
    assert cluster.members == tuple(ids[:3]) and cluster.density == 1.0
    assert clusters_around(store, ids[0])[0].members == cluster.members
    assert clusters_around(store, ids[4]) == []


def test_superseded_members_leave_clusters(store: Store) -> None:
    ids = add_graph(store, 4, [(0, 1), (1, 2), (0, 2), (2, 3), (1, 3)])
    assert len(find_clusters(store, "p")[0].members) == 4
    store.set_state(ids[0], "superseded")
    assert find_clusters(store, "p")[0].members == tuple(ids[1:])


def heuristic(text: str) -> tuple[bool, str]:
    return substance_heuristic(text)


def test_isolated_noise_ages_out_per_project(lifecycle: MemoryService) -> None:
    policy = AgePolicy(age_after=5, max_reprieves=1, retention_days=30)
    noise = lifecycle.remember("ok sounds good", project="p").id
    valuable = lifecycle.remember(
        "Fixed flaky CI by pinning pytest-xdist to 3.5.0 in requirements-dev.txt", project="p"
    ).id
    decision = lifecycle.remember("Decision: we use Postgres, not MySQL", project="p").id
    user_note = lifecycle.remember("thanks", project="p", source="user").id
    for i in range(4):  # other projects' memories do not age this one
        lifecycle.remember(f"unrelated memory number {i} about gardening tomatoes", project="q")
    assert age(lifecycle.store, policy, heuristic).candidates == []
    topics = ["bananas", "volcanoes", "chess openings", "jazz history", "sailing knots", "tea"]
    for topic in topics:
        lifecycle.remember(f"A short isolated remark about {topic}", project="p")
    dry = age(lifecycle.store, policy, heuristic, dry_run=True)
    assert noise in dry.expired and valuable in {r["id"] for r in dry.reprieved}
    assert lifecycle.store.get(noise).state == "buffer"  # dry run changed nothing
    report = age(lifecycle.store, policy, heuristic)
    assert noise in report.expired
    assert decision not in report.candidates and user_note not in report.candidates
    assert lifecycle.store.get(noise).state == "expired"
    assert lifecycle.store.get(valuable).reprieves == 1
    assert all(h.id != noise for h in lifecycle.recall("sounds good", projects=["p"]))
    lifecycle.restore(noise)  # tombstones are restorable
    assert lifecycle.store.get(noise).state == "buffer"


def test_expired_tombstones_are_purged_after_retention(lifecycle: MemoryService) -> None:
    policy = AgePolicy(age_after=1, max_reprieves=0, retention_days=1)
    mid = lifecycle.remember("meh", project="p").id
    lifecycle.remember("A different remark about the weather in Lisbon", project="p")
    age(lifecycle.store, policy, heuristic)
    assert lifecycle.store.get(mid).state == "expired"
    assert age(lifecycle.store, policy, heuristic).purged == []
    later = time.time() + 2 * 86400
    assert mid in age(lifecycle.store, policy, heuristic, now=later).purged
    assert lifecycle.store.get_many([mid]) == {}
    assert (
        lifecycle.store.table_counts()["memory_index"]
        == lifecycle.store.table_counts()["memory_vectors"]
    )


def test_strong_recalls_in_several_sessions_promote(lifecycle: MemoryService) -> None:
    target = lifecycle.remember(
        "The staging database password rotates every 30 days", project="p"
    ).id
    others = [
        lifecycle.remember(f"Staging note {i}: the database host is db{i}.staging", project="p").id
        for i in range(6)
    ]
    for session in ("s1", "s1", "s2"):
        lifecycle.recall("staging database password rotation", projects=["p"], context=session)
    assert lifecycle.store.get(target).state == "buffer"  # two sessions so far
    lifecycle.recall("staging database password rotation", projects=["p"], context="s3")
    assert lifecycle.store.get(target).state == "proven"
    assert all(lifecycle.store.get(i).state == "buffer" for i in others)


def test_a_broad_search_does_not_promote_everything_it_touched(lifecycle: MemoryService) -> None:
    ids = [
        lifecycle.remember(
            f"Staging note {i}: the staging host is db{i}.staging.internal", project="q"
        ).id
        for i in range(10)
    ]
    for session in ("b1", "b2", "b3", "b4"):
        hits = lifecycle.recall("staging", projects=["q"], k=10, context=session)
        assert len(hits) == 10
    promoted = [i for i in ids if lifecycle.store.get(i).state == "proven"]
    assert len(promoted) <= 3  # only the top of a search counts, never all ten


def test_briefing_puts_decisions_first_within_budget(lifecycle: MemoryService) -> None:
    d = lifecycle.remember("Decision: all services log JSON to stdout", project="p").id
    for i in range(30):
        lifecycle.remember(f"Observation {i}: build step {i} took {i * 3} seconds", project="p")
    g = lifecycle.remember("The user prefers British spelling", project=GLOBAL, type="user_note").id
    brief = build_briefing(
        lifecycle, "p", BriefingContext(prompt="how long does the build take"), budget_tokens=200
    )
    assert brief.ids[0] in (d, g) and {d, g} <= set(brief.ids)
    assert brief.tokens <= 200 and "Relevant now:" in brief.text
    other = build_briefing(lifecycle, "other-project")
    assert other.ids == [g]  # another project sees the global note, none of p's memories


def test_maintain_embeds_and_connects_what_hooks_stored(
    lifecycle: MemoryService, tmp_path: Path
) -> None:
    ids = [lifecycle.remember(t, project="p", embed=False).id for t in RELATED]
    assert lifecycle.store.counts()["unembedded"] == 3
    report = maintain(
        lifecycle,
        lock_path=tmp_path / "maintain.lock",
        policy=AgePolicy(),
        consolidator=None,
        judge=heuristic,
    )
    assert (report.embedded, report.connected) == (3, 3)
    assert report.links >= 2
    assert lifecycle.store.counts()["unembedded"] == 0
    assert lifecycle.store.links_of(ids[2])
