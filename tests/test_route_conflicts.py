"""Routing holds contradictions: a memory that restates a line with another value.

First the offline text rule alone (``conflicts.contradiction``, no model), then the real router
with the bundled model on a temporary project whose CLAUDE.md and rules file are written by
hand: a value-changing contradiction is held, an additive memory in the same section is
written, a duplicate is skipped, and the text outside the managed blocks stays byte for byte.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from gemini_standin import GeminiStandin, gemini_error, gemini_json, gemini_text
from route_helpers import strip_blocks

from mcp_memory.embedding.local import LocalEmbedder
from mcp_memory.llm.budget import BudgetLimits
from mcp_memory.llm.http import GeminiProvider
from mcp_memory.llm.provider import conflict_prompt
from mcp_memory.llm.spending import Spending
from mcp_memory.projects import GLOBAL
from mcp_memory.routing.conflicts import contradiction
from mcp_memory.routing.router import RouteConfig, Router, Verdict, promote
from mcp_memory.routing.verdict import LLMVerdict
from mcp_memory.service.memories import MemoryService
from mcp_memory.store.database import Store

# -- the text rule, no model ---------------------------------------------------------------------

CONTRADICTIONS = [
    # (memory, existing line, kind found)
    (
        "Format Python code to a line length of 88.",
        "Format with `ruff format`; line length 100.",
        "number",
    ),
    (
        "Sessions last 24 hours.",
        "Sessions are JWTs, valid 15 minutes, refreshed by a cookie.",
        "number",
    ),
    ("Tokens are signed with HS256.", "Tokens are signed with RS256 and rotated daily.", "value"),
    ("Admin routes need the `staff` scope.", "Admin routes require the `admin` scope.", "value"),
    (
        "Merge main into the feature branch before review.",
        "Rebase on `main` before review; do not merge `main` into a feature branch.",
        "negation",
    ),
    (
        "Mock the database with SQLite in unit tests.",
        "Never mock the database; use Postgres.",
        "negation",
    ),
    (
        "Feature flags moved to Unleash; LaunchDarkly is no longer used.",
        "Feature flags live in LaunchDarkly.",
        "negation",
    ),
    ("Prefer `grep` over `rg`.", "Prefer `rg` over `grep` and `fd` over `find`.", "negation"),
    (
        "Coverage must stay above 75% on `api/`.",
        "Coverage must not drop below 85% on `api/`.",
        "number",
    ),
    ("Passwords are hashed with bcrypt.", "Passwords are hashed with argon2id.", "swap"),
    ("I use zsh as my shell.", "I use fish as my shell and Neovim as my editor.", "swap"),
    ("Give long, detailed answers.", "Keep answers short; lead with the answer.", "opposite"),
]

COMPATIBLE = [
    # additive: a new slot, a shared negation, a longer name, a memory that says it adds
    (
        "Update your local main with `git pull --rebase` rather than a merge.",
        "Rebase on `main` before review; do not merge `main` into a feature branch.",
    ),
    ("`make dev` also starts Mailpit on :8025.", "`make dev` starts Postgres and the API on :8000"),
    ("Mailpit listens on :8025 for outgoing email.", "`make dev` starts the API on :8000."),
    (
        "Use the `admin_client` fixture for admin endpoints.",
        "The `client` fixture is an httpx client; use it for endpoint tests.",
    ),
    ("Restart `make api` after editing `.env`.", "Do not edit `web/src/api/` by hand."),
    (
        "Ask before deleting files too, not only before adding dependencies.",
        "Ask before adding a new dependency.",
    ),
    (
        "Coverage for `worker/` must not drop below 70% either.",
        "Coverage must not drop below 85% on `api/`.",
    ),
    ("Password reset tokens expire after 30 minutes.", "Sessions are valid 15 minutes."),
    (
        "Freeze time with `time_machine` in Celery task tests as well.",
        "Freeze time with `time_machine`, not by patching `datetime`.",
    ),
    ("Never mock the database; use Postgres.", "Never mock the database; use Postgres."),
]


@pytest.mark.parametrize(("memory", "line", "kind"), CONTRADICTIONS)
def test_the_text_rule_finds_a_changed_value(memory: str, line: str, kind: str) -> None:
    clash = contradiction(memory, line)
    assert clash is not None and clash.kind == kind, clash
    assert clash.describe()


@pytest.mark.parametrize(("memory", "line"), COMPATIBLE)
def test_the_text_rule_leaves_additive_memories_alone(memory: str, line: str) -> None:
    assert contradiction(memory, line) is None


def test_a_clash_says_what_differs() -> None:
    clash = contradiction("Format Python code to a line length of 88.", "Line length 100.")
    assert clash is not None
    assert clash.describe() == "it says '88' where the line says '100'"


# -- the router on a hand-written project ------------------------------------------------------

CLAUDE_MD = (
    "# Kiln\n\n"
    "Kiln is a Flask app that schedules pottery classes, with a Postgres database.\n\n"
    "## Commands\n\n"
    "- `make serve` starts the app on :5000 with the debugger.\n"
    "- `make lint` runs ruff and mypy.\n\n"
    "## Conventions\n\n"
    "- Format Python with black; line length 88.\n"
    "- Never use print for logging; use the `logging` module.\n"
)
# CRLF and no final newline: the rules file a Windows editor left behind
TESTING_MD = (
    "# Testing\r\n\r\n## Database\r\n\r\n"
    "- Tests run against a real Postgres 15 started by `make test-db`.\r\n"
    "- Never mock the database."
)
FILES = {"CLAUDE.md": CLAUDE_MD, ".claude/rules/testing.md": TESTING_MD}

LINE_120 = "Python is formatted with black at a line length of 120."  # contradicts line 88
MOCK_DB = "Mock the database in unit tests to keep them fast."  # contradicts "Never mock"
# additive, in the same section, next to the logging line (cosine 0.56): still written
FSTRINGS = "Use f-strings for string formatting, except in logging calls."
DUP = "Never mock the database in tests."  # already said


@dataclass
class Project:
    root: Path
    store: Store
    service: MemoryService
    router: Router

    @property
    def scope(self) -> list[str]:
        return [str(self.root), GLOBAL]

    def proven(self, text: str) -> int:
        mid = self.service.remember(text, project=str(self.root), source="user").id
        promote(self.store, mid)
        return mid

    def read(self) -> dict[str, bytes]:
        return {rel: (self.root / rel).read_bytes() for rel in FILES}


@pytest.fixture
def project(tmp_path: Path, minilm: LocalEmbedder) -> Iterator[Project]:
    root = (tmp_path / "kiln").resolve()
    for rel, text in FILES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(text.encode("utf-8"))
    home = tmp_path / "claude_home"
    home.mkdir()
    store = Store.open(tmp_path / "memory.db")
    service = MemoryService(store, minilm)
    config = RouteConfig(claude_home=home, backup_dir=tmp_path / "backups")
    yield Project(root, store, service, Router(store, minilm, config))
    store.close()


def test_contradictions_are_held_additive_written_duplicates_skipped(project: Project) -> None:
    before = project.read()
    ids = {text: project.proven(text) for text in (LINE_120, MOCK_DB, FSTRINGS, DUP)}
    plan = project.router.apply(project.scope)
    by_id = {i.memory_id: i for i in plan.items}

    held = by_id[ids[LINE_120]]
    assert (held.action, held.section) == ("conflict", "Conventions")
    assert held.existing == "Format Python with black; line length 88."
    assert "it says '120' where the line says '88'" in held.reason
    mock = by_id[ids[MOCK_DB]]
    assert (mock.action, mock.existing) == ("conflict", "Never mock the database.")
    assert "Never mock the database" in mock.reason

    added = by_id[ids[FSTRINGS]]
    assert (added.action, added.target, added.section) == ("write", "CLAUDE.md", "Conventions")
    dup = by_id[ids[DUP]]
    assert (dup.action, dup.existing) == ("duplicate", "Never mock the database.")

    after = project.read()
    claude = after["CLAUDE.md"].decode("utf-8")
    assert f"- {FSTRINGS}" in claude and LINE_120 not in claude and MOCK_DB not in claude
    assert after[".claude/rules/testing.md"] == before[".claude/rules/testing.md"]
    assert strip_blocks(claude).encode("utf-8") == before["CLAUDE.md"]
    assert "routed_to" not in project.store.get(ids[LINE_120]).metadata

    forced = project.router.apply(project.scope, force=True)  # the held ones, written anyway
    assert {(i.memory_id, i.action, i.forced) for i in forced.items} == {
        (ids[LINE_120], "write", True),
        (ids[MOCK_DB], "write", True),
    }
    final = project.read()
    for rel, data in before.items():
        text = final[rel].decode("utf-8")
        assert strip_blocks(text).encode("utf-8") == data, rel
    assert "\n" not in final[".claude/rules/testing.md"].decode().replace("\r\n", "")


def test_a_memory_contradicting_one_written_in_the_same_run_is_held(project: Project) -> None:
    first = project.proven("Pottery classes are booked at most 14 days ahead.")
    second = project.proven("Pottery classes are booked at most 30 days ahead.")
    plan = project.router.apply(project.scope)
    by_id = {i.memory_id: i for i in plan.items}
    assert by_id[first].action == "write"
    assert by_id[second].action == "conflict"
    assert by_id[second].existing == "Pottery classes are booked at most 14 days ahead."


def test_an_llm_verdict_only_holds_more(project: Project) -> None:
    asked: list[tuple[str, str]] = []

    def compatible(memory: str, line: str) -> str:
        asked.append((memory, line))
        return "compatible"

    lenient = replace_verdict(project, compatible)
    held, added = project.proven(LINE_120), project.proven(FSTRINGS)
    far = project.proven("The studio kiln is serviced every March by an outside technician.")
    plan = {i.memory_id: i for i in lenient.plan(project.scope).items}
    assert plan[held].action == "conflict", "a 'compatible' verdict cannot release a held one"
    assert plan[added].action == "write" and plan[far].action == "write"
    assert all(memory != LINE_120 for memory, _ in asked), "held ones are not even asked"
    assert all(not memory.startswith("The studio kiln") for memory, _ in asked), (
        "a memory no line is near enough to is not asked about"
    )

    strict = replace_verdict(project, lambda memory, line: "contradicts")
    plan = {i.memory_id: i for i in strict.plan(project.scope).items}
    assert plan[added].action == "conflict"
    assert "judged conflicting by the LLM" in plan[added].reason
    assert plan[far].action == "write"


def replace_verdict(project: Project, verdict: Verdict) -> Router:
    """The same router with an LLM verdict (a stand-in: the hook's contract is what matters)."""
    return Router(project.store, project.router.embedder, project.router.config, verdict)


# -- a configured LLM: the real google-genai client against the loopback stand-in ---------------


def llm_router(project: Project, standin: GeminiStandin, limits: BudgetLimits) -> Router:
    provider = GeminiProvider(api_key="test-key", base_url=standin.url, timeout=5)
    verdict = LLMVerdict(provider, Spending(project.store, provider.name, limits, offline=False))
    return replace_verdict(project, verdict)


def usage_rows(store: Store) -> list[tuple[str, int]]:
    return [(str(p), int(c)) for p, c in store.execute("SELECT provider, calls FROM llm_usage")]


def test_a_configured_llm_holds_what_it_judges_contradicting(project: Project) -> None:
    added = project.proven(FSTRINGS)  # the offline rules write it, next to the logging line
    far = project.proven("The studio kiln is serviced every March by an outside technician.")
    with GeminiStandin() as g:
        g.queue.append(
            gemini_json({"verdict": "contradicts", "reason": "the file wants %-style logging only"})
        )
        router = llm_router(project, g, BudgetLimits())
        plan = {i.memory_id: i for i in router.plan(project.scope).items}
        again = {i.memory_id: i for i in router.plan(project.scope).items}  # cached: no 2nd call
        sent = [r.text() for r in g.requests]
    assert plan[added].action == "conflict"
    assert plan[added].existing == "Never use print for logging; use the `logging` module."
    assert "judged conflicting by the LLM (gemini: the file wants %-style logging only)" in (
        plan[added].reason
    )
    assert plan[far].action == "write" and again[added].action == "conflict"
    assert len(sent) == 1 and FSTRINGS in sent[0] and "use the `logging` module" in sent[0]
    assert usage_rows(project.store) == [("gemini", 1)]


@pytest.mark.parametrize("failure", ["429", "garbage", "budget"])
def test_without_a_usable_verdict_the_offline_rules_decide(project: Project, failure: str) -> None:
    added = project.proven(FSTRINGS)
    limits = BudgetLimits(max_calls_per_run=0) if failure == "budget" else BudgetLimits()
    with GeminiStandin() as g:
        g.queue.append(gemini_error(429) if failure == "429" else gemini_text("I think so?"))
        router = llm_router(project, g, limits)
        routed = router.plan(project.scope)
        asked = len(g.requests)
    plan = {i.memory_id: i for i in routed.items}
    assert plan[added].action == "write"
    assert routed.unchecked == 1
    why = {"429": "429", "garbage": "JSON", "budget": "MCP_MEMORY_LLM_MAX_CALLS_PER_RUN"}[failure]
    assert "1 not checked by the LLM (" in routed.summary() and why in routed.unchecked_reason
    assert asked == (0 if failure == "budget" else 1)


def test_the_conflict_prompt_is_redacted() -> None:
    token = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
    prompt = conflict_prompt(f"Deploy with the token {token}.", f"CI reads {token} from secrets.")
    assert token not in prompt and "<existing_line>" in prompt
