"""The memory service with the real bundled model: remember, duplicates, hybrid recall,
filters, projects, forget/restore, and bad input that stores nothing."""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import pytest

from mcp_memory.embedding.local import LocalEmbedder
from mcp_memory.embedding.protocol import Kind
from mcp_memory.errors import EmbeddingError, ModelMismatchError, ValidationError
from mcp_memory.projects import GLOBAL
from mcp_memory.service.memories import MemoryService
from mcp_memory.service.types import Options, RecallFilters
from mcp_memory.store.database import Store


@pytest.fixture
def store(backend_store: Store) -> Store:
    """Every test here runs on SQLite and on PostgreSQL."""
    return backend_store


FACTS = [
    "We deploy with GitHub Actions; the workflow lives in .github/workflows/deploy.yml",
    "SQLite 'database is locked' errors were fixed by BEGIN IMMEDIATE and a busy timeout",
    "The user prefers pytest fixtures over unittest setUp methods",
    "Frontend is React 19 with Vite; run `npm run dev` on port 5173",
]


def test_remember_then_recall_finds_it_with_both_signals(service: MemoryService) -> None:
    ids = [service.remember(f, project="app").id for f in FACTS]
    hits = service.recall("why was the database locked?", projects=["app"], k=3)
    assert hits[0].id == ids[1]
    assert {"vector_similarity", "vector_rank", "keyword_rank"} <= set(hits[0].signals)
    assert hits[0].project == "app" and hits[0].created_at.endswith("+00:00")
    assert hits[0].score > hits[-1].score
    assert service.store.get(ids[1]).recall_count == 1


def test_semantic_match_without_shared_words(service: MemoryService) -> None:
    ids = [service.remember(f, project="app").id for f in FACTS]
    hits = service.recall("concurrency problems with the db", projects=["app"], k=2)
    assert hits[0].id == ids[1]
    # no word in common: no keyword_rank (margin: over the next vector candidate); no coverage
    # or answerable: the query-level relevance gate is opt-in (Options.relevance_gate)
    assert set(hits[0].signals) == {"vector_similarity", "vector_rank", "margin"}


def test_exact_duplicate_returns_existing_id(service: MemoryService) -> None:
    first = service.remember(FACTS[0], project="app")
    again = service.remember("  " + FACTS[0] + "\n", project="app")
    assert (again.id, again.status) == (first.id, "duplicate")
    elsewhere = service.remember(FACTS[0], project="other")  # other project: its own memory
    assert elsewhere.id != first.id and elsewhere.status == "created"
    assert service.store.counts()["total"] == 2


def test_batch_with_repeats_stores_each_text_once(service: MemoryService) -> None:
    results = service.remember_many([FACTS[0], FACTS[1], FACTS[0]], project="app")
    assert [r.status for r in results] == ["created", "created", "duplicate"]
    assert results[2].id == results[0].id
    assert service.store.table_counts()["memory_vectors"] == 2


def test_near_duplicate_reported_or_merged(store: Store, minilm: LocalEmbedder) -> None:
    keep = MemoryService(store, minilm, Options(duplicate_threshold=0.9))
    a = keep.remember("The staging database runs PostgreSQL 15 on port 5433", project="app")
    b = keep.remember("The staging database runs PostgreSQL 15 on port 5433.", project="app")
    assert b.status == "created"
    assert [n.id for n in b.near_duplicates] == [a.id]
    assert b.near_duplicates[0].similarity >= 0.9
    merge = MemoryService(store, minilm, Options(duplicate_threshold=0.9, near_duplicates="merge"))
    c = merge.remember("the staging database runs postgresql 15 on port 5433!", project="app")
    assert c.status == "merged" and c.id in (a.id, b.id)
    assert store.counts()["total"] == 2


def test_projects_are_isolated_and_global_is_shared(service: MemoryService) -> None:
    a = service.remember("Project alpha uses Django 5 with Celery workers", project="alpha").id
    b = service.remember("Project beta uses Django 5 with Celery workers too", project="beta").id
    g = service.remember("The user writes commit messages in imperative mood", project=GLOBAL).id
    alpha = {h.id for h in service.recall("Django Celery", projects=["alpha", GLOBAL], k=10)}
    assert a in alpha and b not in alpha
    commits = service.recall("commit message style", projects=["beta", GLOBAL], k=10)
    assert commits[0].id == g and commits[0].project == "global"
    everywhere = {h.id for h in service.recall("Django", projects=None, k=10)}
    assert {a, b} <= everywhere


def test_filters_tags_types_and_time(service: MemoryService) -> None:
    t0 = time.time()
    a = service.remember("Use ruff for linting", project="app", tags=["Tooling", "lint"]).id
    b = service.remember("Use mypy for type checks", project="app", tags=["tooling"]).id
    c = service.remember("We chose Postgres over MySQL", project="app", type="decision").id
    tooling = {
        h.id
        for h in service.recall("tools", projects=["app"], filters=RecallFilters(tags=("tooling",)))
    }
    assert tooling == {a, b}
    both = service.recall(
        "tools", projects=["app"], filters=RecallFilters(tags=("tooling", "lint"))
    )
    assert [h.id for h in both] == [a]
    decisions = service.recall(
        "database choice", projects=["app"], filters=RecallFilters(types=("decision",))
    )
    assert [h.id for h in decisions] == [c]
    assert service.store.get(c).protected
    future = service.recall("ruff", projects=["app"], filters=RecallFilters(since=t0 + 3600))
    assert future == []
    past = service.recall("ruff", projects=["app"], filters=RecallFilters(until=t0 - 3600))
    assert past == []


def test_forget_and_restore(service: MemoryService) -> None:
    mid = service.remember(FACTS[2], project="app").id
    service.forget(mid)
    assert all(h.id != mid for h in service.recall("pytest fixtures", projects=["app"]))
    deleted = RecallFilters(states=("deleted",))
    assert [h.id for h in service.recall("pytest fixtures", projects=["app"], filters=deleted)] == [
        mid
    ]
    service.restore(mid)
    assert service.recall("pytest fixtures", projects=["app"])[0].id == mid
    with pytest.raises(ValidationError, match="not deleted"):
        service.restore(mid)


def test_forgotten_text_remembered_again_is_restored(service: MemoryService) -> None:
    mid = service.remember(FACTS[2], project="app").id
    service.forget(mid)
    again = service.remember(FACTS[2], project="app")
    assert (again.id, again.status) == (mid, "restored")
    assert service.store.get(mid).state == "buffer"


BAD_CONTENT = [
    ("", "empty"),
    ("   \n\t ", "empty"),
    ("x" * 20_001, "limit is 20000"),
    ("nul \x00 byte", "NUL"),
    ("lone \ud800 surrogate", "surrogate"),
]


@pytest.mark.parametrize(("content", "message"), BAD_CONTENT)
def test_bad_content_is_rejected_and_nothing_stored(
    service: MemoryService, content: str, message: str
) -> None:
    service.remember("an existing memory", project="app")
    before = service.store.table_counts()
    with pytest.raises(ValidationError, match=message):
        service.remember(content, project="app")
    with pytest.raises(ValidationError, match=message):  # one bad text spoils the whole batch
        service.remember_many(["a good text", content], project="app")
    assert service.store.table_counts() == before


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"type": "nonsense"}, "type must be one of"),
        ({"tags": ["has space"]}, "without spaces"),
        ({"tags": ["t"] * 0 + [f"t{i}" for i in range(21)]}, "at most 20 tags"),
    ],
)
def test_bad_options_are_rejected(service: MemoryService, kwargs: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        service.remember("text", project="app", **kwargs)
    assert service.store.counts()["total"] == 0


@pytest.mark.parametrize("k", [0, -1, 101, True])
def test_k_out_of_range(service: MemoryService, k: int) -> None:
    with pytest.raises(ValidationError, match="k must be"):
        service.recall("anything", projects=None, k=k)


def test_bad_queries(service: MemoryService) -> None:
    for query, message in [("", "empty"), ("a\x00b", "NUL"), ("\udfff", "surrogate")]:
        with pytest.raises(ValidationError, match=message):
            service.recall(query, projects=None)
    with pytest.raises(ValidationError, match="state must be"):
        service.recall("x", projects=None, filters=RecallFilters(states=("nope",)))


def test_fts_syntax_in_queries_is_plain_text(service: MemoryService) -> None:
    mid = service.remember('He said "NEAR(a b)" AND OR * ^col: -x', project="app").id
    for query in ['"NEAR(a b)"', "AND OR *", "col:", "-x", '"', "(((", "NOT"]:
        service.recall(query, projects=["app"])  # never a syntax error
    assert service.recall('NEAR(a b)"', projects=["app"])[0].id == mid


class BrokenEmbedder:
    """Fails the way a dead model does: an EmbeddingError on every call."""

    model_id = "minilm"
    dimension = 384
    pooling = "mean"

    def embed(self, texts: Sequence[str], kind: Kind = "document") -> np.ndarray:
        raise EmbeddingError("model crashed")


def test_embedding_failure_stores_nothing(store: Store) -> None:
    service = MemoryService(store, BrokenEmbedder())
    with pytest.raises(EmbeddingError):
        service.remember("text that cannot be embedded", project="app")
    assert store.table_counts()["memories"] == 0


def test_other_model_on_existing_database_is_refused(service: MemoryService, store: Store) -> None:
    service.remember(FACTS[0], project="app")

    class Other(BrokenEmbedder):
        model_id = "qwen3-0.6b"
        dimension = 1024
        pooling = "last_token"

        def embed(self, texts: Sequence[str], kind: Kind = "document") -> np.ndarray:
            return np.eye(len(texts), 1024, dtype=np.float32)

    other = MemoryService(store, Other())
    with pytest.raises(ModelMismatchError):
        other.remember("new text", project="app")
    with pytest.raises(ModelMismatchError):
        other.recall("anything", projects=None)
    assert store.counts()["total"] == 1


def test_keyword_only_recall_needs_no_model(store: Store) -> None:
    """Hooks recall without loading a model: text stored unembedded, keyword search only."""
    service = MemoryService(store, BrokenEmbedder())
    mid = service.remember(
        "Remember to rotate the staging TLS certificate", project="app", embed=False
    ).id
    assert store.get(mid).embedded is False
    hits = service.recall("TLS certificate", projects=["app"], use_vectors=False)
    assert [h.id for h in hits] == [mid] and set(hits[0].signals) == {"keyword_rank"}


EXPLICIT = [
    ("We use uv, not pip, because installs are 10x faster.", "decision"),  # the README's example
    ("We chose Postgres over MySQL for the JSONB support.", "decision"),
    ("Always run `make lint` before pushing.", "convention"),
    ("Don't use print for logging in library code; use the module logger.", "convention"),
    ("Commit messages must follow Conventional Commits.", "convention"),
    ("Prefer pathlib over os.path in new code.", "preference"),
    ("I prefer short answers without a summary at the end.", "preference"),
    ("The API listens on port 8080 in development.", "note"),
]


def test_explicit_decisions_conventions_and_preferences_are_protected(
    service: MemoryService,
) -> None:
    """What a user states on purpose (a choice and its reason, a standing rule, a liking) is
    typed so, and protected: aging never expires it however isolated it stays."""
    from mcp_memory.lifecycle.aging import AgePolicy, age

    ids = {text: service.remember(text, project="app").id for text, _ in EXPLICIT}
    for text, kind in EXPLICIT:
        memory = service.store.get(ids[text])
        assert (memory.type, memory.protected) == (kind, kind != "note"), text
    for n in range(12):  # unrelated newer memories age the loners
        service.remember(f"Filler fact number {n}: the office plant {n} is watered", project="app")
    report = age(service.store, AgePolicy(age_after=5), lambda _: (False, "noise"))
    fact = ids["The API listens on port 8080 in development."]
    assert fact in report.expired
    assert not set(report.expired) & {ids[t] for t, k in EXPLICIT if k != "note"}
