"""Consolidation end to end: real store, real model, the real google-genai client against a
loopback stand-in for Gemini. Every failure leaves the store exactly as it was."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gemini_standin import (
    GeminiStandin,
    gemini_error,
    gemini_json,
    gemini_refusal,
    gemini_text,
    hang,
)

from mcp_memory.app import substance_judge
from mcp_memory.embedding.local import LocalEmbedder
from mcp_memory.embedding.specs import MINILM
from mcp_memory.errors import ValidationError
from mcp_memory.lifecycle.actions import consolidate
from mcp_memory.lifecycle.aging import AgePolicy, age
from mcp_memory.lifecycle.consolidate import Consolidator, waiting_note
from mcp_memory.llm.budget import BudgetLimits
from mcp_memory.llm.extractive import ExtractiveProvider, substance_heuristic
from mcp_memory.llm.http import GeminiProvider
from mcp_memory.projects import GLOBAL
from mcp_memory.service.memories import MemoryService
from mcp_memory.service.types import Options
from mcp_memory.store.database import Store

CLUSTER = [
    "The flaky test tests/test_sync.py::test_retry fails when Redis is slow to start",
    "tests/test_sync.py::test_retry is flaky because Redis starts slowly in CI",
    "Fix for the flaky tests/test_sync.py::test_retry: wait for Redis with `redis-cli ping` "
    "before running pytest",
]
GOOD_MERGE = (
    "tests/test_sync.py::test_retry was flaky because Redis starts slowly in CI; the fix is to "
    "wait for Redis with `redis-cli ping` before running pytest"
)


@pytest.fixture
def store(backend_store: Store) -> Store:
    """Every test here that uses a store runs on SQLite and on PostgreSQL."""
    return backend_store


@pytest.fixture
def service(store: Store, minilm: LocalEmbedder) -> MemoryService:
    return MemoryService(
        store, minilm, Options(link_threshold=MINILM.link_threshold, duplicate_threshold=0.97)
    )


@pytest.fixture
def standin() -> Iterator[GeminiStandin]:
    with GeminiStandin() as g:
        yield g


def seed_cluster(service: MemoryService, project: str = "app") -> list[int]:
    ids = [service.remember(t, project=project).id for t in CLUSTER]
    service.remember("Decision: we pin Redis to 7.2 in CI", project=project, type="decision")
    return ids


def snapshot(store: Store) -> tuple[dict[str, int], list[Any]]:
    return store.table_counts(), store.execute("SELECT id, state, type FROM memories ORDER BY id")


def gemini(standin: GeminiStandin, service: MemoryService, timeout: float = 5.0) -> Consolidator:
    provider = GeminiProvider(api_key="test-key", base_url=standin.url, timeout=timeout)
    return Consolidator(service, provider, BudgetLimits())


def test_cluster_is_listed_then_merged_with_lineage_and_undone(
    service: MemoryService, standin: GeminiStandin
) -> None:
    ids = seed_cluster(service)
    worker = gemini(standin, service)
    (cluster,) = worker.clusters("app")
    assert cluster.members == tuple(ids)
    before = snapshot(service.store)
    standin.queue.append(gemini_json({"memories": [GOOD_MERGE]}, prompt=90, output=30))
    (outcome,) = worker.run(project="app")
    assert outcome.status == "applied", outcome.reason
    (result,) = outcome.results
    merged = service.store.get(result)
    assert merged.state == "proven" and merged.content == GOOD_MERGE
    assert merged.source == "lifecycle"
    assert [service.store.get(i).state for i in ids] == ["superseded"] * 3
    lineage = service.store.execute(
        "SELECT source_id FROM lineage WHERE result_id = ? ORDER BY 1", (result,)
    )
    assert [r[0] for r in lineage] == ids
    assert standin.requests[0].headers["x-goog-api-key"] == "test-key"
    assert worker.day_usage().input_tokens == 90 and worker.day_usage().calls == 1
    (usage,) = service.stats().llm_usage  # what `stats` shows
    assert (usage["provider"], usage["calls"], usage["output_tokens"]) == ("gemini", 1, 30)
    hits = service.recall("flaky redis test", projects=["app"], k=3)
    assert hits[0].id == result and all(h.id not in ids for h in hits)
    worker.undo(outcome.consolidation_id)
    after = snapshot(service.store)
    assert [service.store.get(i).state for i in ids] == ["buffer"] * 3
    assert service.store.get(result).state == "deleted"
    assert after[1][: len(before[1])] == before[1]  # every original exactly as before


FAILURES = [
    ("malformed JSON", [gemini_text("{not json")]),
    ("refusal", [gemini_refusal()]),
    ("429", [gemini_error(429)]),
    ("500", [gemini_error(500)]),
    ("timeout", [hang(10)]),
    ("dropped facts", [gemini_json({"memories": ["A test was flaky; we fixed it."]})]),
    ("longer than input", [gemini_json({"memories": [" ".join(CLUSTER) + " Also more words."]})]),
]


@pytest.mark.parametrize(("name", "replies"), FAILURES, ids=[f[0] for f in FAILURES])
def test_every_failure_leaves_the_store_unchanged(
    service: MemoryService, standin: GeminiStandin, name: str, replies: list[Any]
) -> None:
    seed_cluster(service)
    worker = gemini(standin, service, timeout=1.0)
    before = snapshot(service.store)
    standin.queue.extend(replies)
    (outcome,) = worker.run(project="app")
    assert outcome.status == "rejected" and outcome.reason
    assert snapshot(service.store) == before, name


def test_secrets_are_redacted_before_sending(
    service: MemoryService, standin: GeminiStandin
) -> None:
    secret = "AKIA" + "Z7QW3ERT5YUI8OPL"
    ids = [service.remember(t, project="app").id for t in CLUSTER[:2]]
    ids.append(service.remember(CLUSTER[2] + f" (CI key {secret})", project="app").id)
    standin.queue.append(gemini_json({"memories": [GOOD_MERGE]}))
    gemini(standin, service).run(members=ids)
    assert standin.requests and secret not in standin.requests[0].text()


def test_dry_run_never_calls_a_paid_api(service: MemoryService, standin: GeminiStandin) -> None:
    seed_cluster(service)
    before = snapshot(service.store)
    (outcome,) = gemini(standin, service).run(project="app", dry_run=True)
    assert outcome.status == "dry_run" and "would send 3 memories" in outcome.reason
    assert standin.requests == [] and snapshot(service.store) == before


def test_budget_stops_calls(service: MemoryService, standin: GeminiStandin) -> None:
    seed_cluster(service)
    worker = Consolidator(
        service,
        GeminiProvider(api_key="k", base_url=standin.url),
        BudgetLimits(max_calls_per_day=0),
    )
    (outcome,) = worker.run(project="app")
    assert outcome.status == "rejected" and "MCP_MEMORY_LLM_MAX_CALLS_PER_DAY" in outcome.reason
    assert standin.requests == []


def test_offline_merge_keeps_protection(service: MemoryService) -> None:
    texts = [
        "Decision: deploys go out on Tuesdays only, because the on-call rota changes on Mondays",
        "Deploys are released on Tuesdays only since the on-call rota changes on Mondays",
        "We only deploy on Tuesdays; the on-call rota changes on Mondays",
    ]
    ids = [service.remember(t, project="ops").id for t in texts]
    assert service.store.get(ids[0]).protected
    worker = Consolidator(service, ExtractiveProvider(), BudgetLimits())
    (outcome,) = worker.run(members=ids)
    assert outcome.status == "applied", outcome.reason
    merged = service.store.get(outcome.results[0])
    assert merged.protected and merged.type == "decision"
    assert "Tuesdays" in merged.content and "Mondays" in merged.content


def test_asking_again_for_a_done_merge_answers_with_it(service: MemoryService) -> None:
    """A retry, or ``maintain`` merging the same cluster first, is not an error; a request
    that overlaps a merge without matching it still is, and nothing changes either way."""
    ids = seed_cluster(service)
    worker = Consolidator(service, ExtractiveProvider(), BudgetLimits())
    (first,) = worker.run(members=ids)
    assert first.status == "applied", first.reason
    before = snapshot(service.store)
    (again,) = worker.run(members=list(reversed(ids)))
    assert again.status == "already"
    assert (again.results, again.consolidation_id) == (first.results, first.consolidation_id)
    with pytest.raises(ValidationError, match="not in the buffer") as refused:
        worker.run(members=ids[:2])
    cid = first.consolidation_id
    assert f"{ids[0]} was merged into {first.results} by consolidation {cid}" in str(refused.value)
    assert f"`memcycle unconsolidate {cid}`" in str(refused.value)
    assert snapshot(service.store) == before
    worker.undo(first.consolidation_id)  # an undone merge is no answer: merge afresh
    (redo,) = worker.run(members=ids)
    assert redo.status == "applied" and redo.consolidation_id != first.consolidation_id


def test_scripted_lifecycle_over_several_projects(service: MemoryService) -> None:
    """Dozens of memories in three projects: links stay inside projects, a cluster is
    consolidated with lineage and undone, isolated noise ages out, a decision is kept."""
    projects = {
        "web": [
            "The web frontend uses React 19 with Vite and TypeScript",
            "Frontend build: Vite bundles the React 19 TypeScript app",
            "The React frontend is built with Vite; TypeScript strict mode is on",
        ],
        "api": [
            "The API returns 429 when a client exceeds 100 requests per minute",
            "API rate limit: 100 requests per minute per client, then HTTP 429",
            "Clients over 100 requests/minute get HTTP 429 from the API",
        ],
        "infra": ["Terraform state lives in the S3 bucket tf-state-prod with DynamoDB locking"],
    }
    ids: dict[str, list[int]] = {}
    for project, texts in projects.items():
        ids[project] = [service.remember(t, project=project).id for t in texts]
    decision = service.remember("Decision: no Friday deploys", project="api", type="decision").id
    noise = [
        service.remember(text, project="api").id
        for text in ("ok", "sounds good", "thanks!", "let me check", "hmm")
    ]
    filler = [
        "Logging uses structlog with JSON output",
        "The CI matrix covers Python 3.11 and 3.12",
        "Docs are built with mkdocs-material",
        "Sentry captures unhandled exceptions",
        "Feature flags come from LaunchDarkly",
        "Background jobs run on Celery with Redis",
        "The ORM is SQLAlchemy 2.0 in async mode",
        "Emails are sent through Postmark",
        "Money amounts are stored as integer cents",
        "Timezones are always UTC in the database",
        "Pagination is cursor based, never offset",
        "Uploads go to S3 with presigned URLs",
        "Search is backed by OpenSearch 2.11",
        "PDF invoices are rendered with WeasyPrint",
        "Alembic manages schema migrations",
        "Secrets come from AWS Secrets Manager",
        "The health endpoint is /healthz",
        "gRPC is used between internal services",
        "Webhooks are signed with HMAC SHA-256",
        "Images are resized by a Lambda function",
        "Translations use gettext catalogs",
        "Rate limiter state is kept in memory per pod",
        "OpenAPI spec is generated from pydantic models",
        "Dependabot opens weekly PRs",
    ]
    for text in filler:  # unrelated activity in api ages its loners
        service.remember(text, project="api")
    service.remember("The user prefers concise answers", project=GLOBAL)
    for a, b, _ in [
        (*row,) for row in service.store.execute("SELECT source_id, target_id, 0 FROM links")
    ]:
        pa, pb = service.store.get(a).project, service.store.get(b).project
        assert pa == pb or GLOBAL in (pa, pb)
    worker = Consolidator(service, ExtractiveProvider(), BudgetLimits())
    clusters = worker.clusters(None)
    assert {c.project for c in clusters} == {"web", "api"}
    assert {c.members for c in clusters} >= {tuple(ids["web"]), tuple(ids["api"])}
    (outcome,) = worker.run(members=ids["api"])
    assert outcome.status == "applied"
    # the most representative member stands for the cluster; its siblings are superseded
    states = sorted(service.store.get(i).state for i in ids["api"])
    assert states == ["proven", "superseded", "superseded"] and outcome.results[0] in ids["api"]
    worker.undo(outcome.consolidation_id)
    assert all(service.store.get(i).state == "buffer" for i in ids["api"])
    report = age(service.store, AgePolicy(age_after=20), substance_heuristic)
    assert set(noise) <= set(report.expired)
    assert decision not in report.candidates and service.store.get(decision).state == "buffer"
    assert ids["infra"][0] not in report.expired  # a loner, but its own project is quiet


def test_consolidate_cli_lists_and_merges(settings: Any, tmp_path: Path) -> None:
    import json
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("MCP_MEMORY_")}
    env.update(
        MCP_MEMORY_HOME=str(settings.home),
        MCP_MEMORY_MODEL="minilm",
        MCP_MEMORY_EMBED_PORT=str(settings.embed_port),
        MCP_MEMORY_LLM_PROVIDER="extractive",
    )

    def cli(*args: str) -> Any:
        proc = subprocess.run(
            [sys.executable, "-m", "mcp_memory.cli", *args, "--json"],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    (tmp_path / "app").mkdir()
    for text in CLUSTER:  # a new project comes from its directory; later its short name
        cli("remember", text, "--project", str(tmp_path / "app"))
    (cluster,) = cli("consolidate", "--project", "app")
    assert len(cluster["members"]) == 3
    (outcome,) = cli("consolidate", "--project", "app", "--run")
    assert outcome["status"] == "applied"
    links = cli("links", str(outcome["results"][0]))
    assert links["id"] == outcome["results"][0]
    undone = cli("consolidate", "--undo", str(outcome["consolidation_id"]))
    assert undone["restored"] == cluster["members"]


def test_the_substance_check_counts_against_the_llm_budget(
    settings: Any, store: Store, standin: GeminiStandin
) -> None:
    """Aging's LLM substance check spends from the same budget as consolidation; past it, a
    loner is kept (never expired because the LLM could not be asked)."""
    configured = dataclasses.replace(
        settings,
        llm_provider="gemini",
        llm_api_key="test-key",
        llm_base_url=standin.url,
        llm_max_calls_per_run=1,
    )
    standin.queue.append(gemini_json({"keep": False, "reason": "chit-chat"}))
    judge = substance_judge(configured, store)
    assert judge("ok thanks, looks good") == (False, "gemini judged it noise")
    keep, why = judge("sure, sounds fine")
    assert keep and "LLM budget reached" in why and "MCP_MEMORY_LLM_MAX_CALLS_PER_RUN" in why
    assert len(standin.requests) == 1
    assert store.execute("SELECT provider, calls FROM llm_usage") == [("gemini", 1)]


def test_one_consolidate_request_lists_merges_previews_and_undoes(service: MemoryService) -> None:
    """The function the MCP tool and the CLI both call: no flags lists, ``dry_run`` alone
    previews without writing, ``run`` merges, ``undo`` puts back, and undo mixed with a merge
    request is refused with one message for both entry points."""
    ids = seed_cluster(service)
    worker = Consolidator(service, ExtractiveProvider(), BudgetLimits())
    listed = consolidate(worker, project="app")
    assert listed.action == "list" and [sorted(c.members) for c in listed.clusters] == [ids]
    before = snapshot(service.store)
    preview = consolidate(worker, project="app", dry_run=True)
    assert [o.status for o in preview.outcomes] == ["dry_run"] and not preview.rejected
    assert snapshot(service.store) == before
    merged = consolidate(worker, project="app", run=True)
    (outcome,) = merged.outcomes
    assert merged.action == "run" and outcome.status == "applied", outcome.reason
    with pytest.raises(ValidationError, match="undo takes a consolidation id alone"):
        consolidate(worker, project="app", run=True, undo=outcome.consolidation_id)
    undone = consolidate(worker, project=None, undo=outcome.consolidation_id)
    assert undone.action == "undo" and undone.undone is not None
    assert undone.undone["restored"] == ids


WEBHOOK = [
    "Keep app/webhooks.py fast and push heavy work onto the Celery queue; Stripe retries after 10s",
    "app/webhooks.py must stay fast: push heavy work onto the Celery queue, Stripe retries "
    "after 10s",
    "Keep the handler in app/webhooks.py fast and push heavy work to the Celery queue "
    "(Stripe retries after 10s)",
    "Keep app/webhooks.py fast, push heavy work onto the Celery queue: Stripe retries after 10s",
]


def test_offline_merge_of_near_identical_memories_is_one_of_them(service: MemoryService) -> None:
    """Four near-identical memories merge into the most representative one, as written: never
    a four-sentence concatenation. The dry run shows that text; the run proves that member
    and supersedes its siblings, and undo puts all four back in the buffer."""
    ids = [service.remember(t, project="pay").id for t in WEBHOOK]
    worker = Consolidator(service, ExtractiveProvider(), BudgetLimits())
    before = snapshot(service.store)
    (preview,) = worker.run(members=ids, dry_run=True)
    assert preview.status == "dry_run" and len(preview.merged) == 1
    assert preview.merged[0] in WEBHOOK
    assert snapshot(service.store) == before
    (outcome,) = worker.run(members=ids)
    assert outcome.status == "applied", outcome.reason
    (rid,) = outcome.results
    assert rid in ids and outcome.merged == preview.merged
    result = service.store.get(rid)
    assert (result.state, result.content) == ("proven", preview.merged[0])
    assert sorted(service.store.get(i).state for i in ids) == ["proven"] + ["superseded"] * 3
    worker.undo(outcome.consolidation_id)
    assert [service.store.get(i).state for i in ids] == ["buffer"] * 4


API_TESTS = [
    "Run the API tests with `make test-api`; they need Postgres on port 5433",
    "The API tests in tests/api/ need Postgres 16 listening on port 5433",
    "API test fixtures load tests/api/seed.sql into Postgres on port 5433 first",
]


def test_offline_merge_of_different_facts_waits_for_an_llm(service: MemoryService) -> None:
    """Memories that say different things are not glued together without a model: the
    cluster stays in the buffer, the outcome says it needs an LLM (not a rejection), and
    ``waiting_for_llm`` counts it for doctor and the briefing."""
    texts = API_TESTS
    ids = [service.remember(t, project="api").id for t in texts]
    worker = Consolidator(service, ExtractiveProvider(), BudgetLimits())
    assert [sorted(c.members) for c in worker.clusters("api")] == [ids]
    before = snapshot(service.store)
    done = consolidate(worker, project="api", run=True)
    (outcome,) = done.outcomes
    assert outcome.status == "needs_llm" and not done.rejected
    assert "GEMINI_API_KEY" in outcome.reason and outcome.merged == []
    assert snapshot(service.store) == before
    assert worker.waiting_for_llm("api") == 1
    assert "1 cluster(s) wait for an LLM" in waiting_note(1) and waiting_note(0) == ""


def test_consolidate_cli_dry_run_shows_the_merged_text(settings: Any) -> None:
    """Through the CLI: the dry run prints the merged text whole, `show` reads the result with
    its lineage, and a cluster left for an LLM is named by the briefing and by doctor."""
    import json
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("MCP_MEMORY_")}
    env.update(
        MCP_MEMORY_HOME=str(settings.home),
        MCP_MEMORY_MODEL="minilm",
        MCP_MEMORY_EMBED_PORT=str(settings.embed_port),
        MCP_MEMORY_LLM_PROVIDER="extractive",
    )

    def cli(*args: str) -> str:
        proc = subprocess.run(
            [sys.executable, "-m", "mcp_memory.cli", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    pay = settings.home.parent / "pay"  # a new project is named by its directory
    pay.mkdir(exist_ok=True)
    for text in WEBHOOK:
        cli("remember", text, "--project", str(pay))
    shown = cli("consolidate", "--project", "pay", "--dry-run")
    assert shown.startswith("dry_run") and "would merge into:" in shown
    (merged,) = [line for line in shown.splitlines() if line.startswith("  => ")]
    assert merged[5:] in WEBHOOK
    applied = json.loads(cli("consolidate", "--project", "pay", "--run", "--json"))
    (rid,) = applied[0]["results"]
    detail = cli("show", str(rid))
    assert f"[{rid}] " in detail and "proven" in detail and merged[5:] in detail.splitlines()
    assert f"made by consolidation {applied[0]['consolidation_id']} from:" in detail
    # different facts: left for an LLM, and the briefing and doctor say so
    api = settings.home.parent / "api"
    api.mkdir(exist_ok=True)
    for text in API_TESTS:
        cli("remember", text, "--project", str(api))
    waiting = cli("consolidate", "--project", "api", "--run")
    assert waiting.startswith("needs_llm") and "GEMINI_API_KEY" in waiting
    brief = cli("briefing", "--project", "api")
    assert brief.rstrip().endswith(
        "(1 cluster(s) wait for an LLM to be consolidated "
        "(set GEMINI_API_KEY / MCP_MEMORY_LLM_PROVIDER))"
    )
    doctor = subprocess.run(
        [sys.executable, "-m", "mcp_memory.cli", "doctor", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )  # its exit code depends on this machine (network, code checks); the check is ours
    checks = {c["name"]: c for c in json.loads(doctor.stdout)}
    assert checks["consolidation"]["level"] == "warn"
    assert checks["consolidation"]["detail"].startswith("1 cluster(s) wait for an LLM")
