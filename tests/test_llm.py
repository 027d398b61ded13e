"""LLM providers, merge checks and budgets.

Gemini is driven through the real ``google-genai`` client against a loopback stand-in
(:mod:`gemini_standin`); the OpenAI-compatible provider through real httpx against the same
stand-in. Nothing here reaches the internet.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from gemini_standin import (
    GeminiStandin,
    Reply,
    gemini_blocked,
    gemini_error,
    gemini_json,
    gemini_no_candidates,
    gemini_refusal,
    gemini_text,
    hang,
    openai_error,
    openai_json,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from support import free_port

from mcp_memory.errors import BudgetExceeded, ConfigError, LLMError, MergeRejected, NeedsModel
from mcp_memory.llm.budget import BudgetLedger, BudgetLimits, estimate_tokens
from mcp_memory.llm.extractive import (
    MAX_MERGED_CHARS,
    ExtractiveProvider,
    split_sentences,
    substance_heuristic,
)
from mcp_memory.llm.factory import NoProvider, make_provider
from mcp_memory.llm.http import GeminiProvider, OpenAICompatProvider
from mcp_memory.llm.merge_check import check_merge
from mcp_memory.llm.provider import Usage
from mcp_memory.text.facts import hard_facts, missing_facts

CLUSTER = [
    "The test database runs on Postgres 15 at port 5433.",
    "Tests need PGPORT=5433; start the database with `make test-db` first.",
    "Postgres for the tests listens on 5433, configured in tests/config.py.",
]
MERGED = (
    "The test database runs on Postgres 15 at port 5433 (PGPORT=5433, configured in "
    "tests/config.py); start it with `make test-db` first."
)


@pytest.fixture
def standin() -> Iterator[GeminiStandin]:
    with GeminiStandin() as g:
        yield g


def gemini(g: GeminiStandin, timeout: float = 10.0) -> GeminiProvider:
    return GeminiProvider(api_key="test-key-1", base_url=g.url, timeout=timeout)


# --- Gemini: good answers -------------------------------------------------------------------------


def test_gemini_merge_returns_memories_and_usage_from_usage_metadata(
    standin: GeminiStandin,
) -> None:
    standin.queue.append(gemini_json({"memories": [MERGED]}, prompt=321, output=45, thoughts=5))
    out = gemini(standin).merge(CLUSTER, max_output_tokens=400)
    assert out.memories == [MERGED]
    assert out.usage == Usage(calls=1, input_tokens=321, output_tokens=50)  # thoughts billed
    assert (out.provider, out.model) == ("gemini", "gemini-2.5-flash")
    check_merge(CLUSTER, out.memories)


def test_gemini_request_carries_key_header_json_schema_and_instruction(
    standin: GeminiStandin,
) -> None:
    standin.queue.append(gemini_json({"memories": [MERGED]}))
    gemini(standin).merge(CLUSTER, max_output_tokens=400)
    [request] = standin.requests
    assert request.path == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert request.headers["x-goog-api-key"] == "test-key-1"
    config = request.body["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseSchema"]["properties"]["memories"]["type"] == "ARRAY"
    assert config["maxOutputTokens"] == 400
    assert config["temperature"] == 0.0
    assert config["thinkingConfig"] == {"thinking_budget": 0}
    instruction = request.body["systemInstruction"]["parts"][0]["text"]
    assert "fewest self-contained statements" in instruction
    assert "Never add facts" in instruction
    prompt = request.body["contents"][0]["parts"][0]["text"]
    assert all(text in prompt for text in CLUSTER)
    assert prompt.index(CLUSTER[0]) < prompt.index(CLUSTER[2])  # oldest first


def test_secrets_are_redacted_before_they_are_sent(standin: GeminiStandin) -> None:
    aws_key = "AK" + "IA" + "QZ7RTX2LMN4PB8WY"  # built at run time: no secret in the source
    password = "pw-" + "Xq8vT2mZ"
    texts = [
        f"Deploys use the key {aws_key} from ~/.aws/credentials.",
        f"DB_PASSWORD={password} is set in .env for staging.",
        "Staging deploys read ~/.aws/credentials.",
    ]
    standin.queue.append(gemini_json({"memories": ["x"]}))
    gemini(standin).merge(texts, max_output_tokens=200)
    sent = standin.requests[0].text()
    assert aws_key not in sent and password not in sent
    assert "[REDACTED:aws_access_key_id]" in sent and "[REDACTED:password]" in sent
    assert "~/.aws/credentials" in sent  # the rest is untouched


def test_gemini_judge_substance_uses_a_keep_reason_schema(standin: GeminiStandin) -> None:
    standin.queue.append(gemini_json({"keep": False, "reason": "chit-chat"}, prompt=50, output=9))
    keep, usage = gemini(standin).judge_substance("thanks, looks good")
    assert keep is False
    assert usage == Usage(1, 50, 9)
    schema = standin.requests[0].body["generationConfig"]["responseSchema"]
    assert set(schema["properties"]) == {"keep", "reason"}


# --- Gemini: failures -----------------------------------------------------------------------------


def test_malformed_json_raises_llm_error_with_the_spent_usage(standin: GeminiStandin) -> None:
    standin.queue.append(gemini_text('{"memories": ["unterminated', prompt=200, output=30))
    with pytest.raises(LLMError, match="other than the JSON asked for") as info:
        gemini(standin).merge(CLUSTER, max_output_tokens=400)
    assert info.value.usage == Usage(1, 200, 30)


def test_answer_of_the_wrong_shape_is_rejected(standin: GeminiStandin) -> None:
    standin.queue.append(gemini_json({"summary": MERGED}))
    with pytest.raises(LLMError, match="JSON asked for"):
        gemini(standin).merge(CLUSTER, max_output_tokens=400)


def test_refusal_is_returned_and_rejected_by_check_merge(standin: GeminiStandin) -> None:
    standin.queue.append(gemini_refusal())
    out = gemini(standin).merge(CLUSTER, max_output_tokens=400)
    assert out.usage.calls == 1  # the caller can still record what it cost
    with pytest.raises(MergeRejected, match="refusal"):
        check_merge(CLUSTER, out.memories)


def test_rate_limit_fails_fast_without_retry(standin: GeminiStandin) -> None:
    standin.queue.append(gemini_error(429))
    started = time.monotonic()
    with pytest.raises(LLMError, match="rate limit") as info:
        gemini(standin).merge(CLUSTER, max_output_tokens=400)
    assert time.monotonic() - started < 2
    assert len(standin.requests) == 1  # the SDK's own retry is off
    assert "retry later" in str(info.value) and "MCP_MEMORY_LLM_MAX_CALLS_PER_RUN" in str(
        info.value
    )
    assert "RESOURCE_EXHAUSTED" in str(info.value)
    assert not isinstance(info.value, BudgetExceeded | MergeRejected)


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (500, "server error"),
        (503, "server error"),
        (400, "rejected the request"),
        (403, "API key"),
        (404, "model"),
    ],
)
def test_http_errors_map_to_llm_error(standin: GeminiStandin, status: int, message: str) -> None:
    standin.queue.append(gemini_error(status))
    with pytest.raises(LLMError, match=message) as info:
        gemini(standin).merge(CLUSTER, max_output_tokens=400)
    assert f"HTTP {status}" in str(info.value)
    assert len(standin.requests) == 1


def test_timeout_fails_after_the_client_timeout(standin: GeminiStandin) -> None:
    standin.queue.append(hang(30))
    started = time.monotonic()
    with pytest.raises(LLMError, match="did not answer within 1 s"):
        gemini(standin, timeout=1.0).merge(CLUSTER, max_output_tokens=400)
    assert time.monotonic() - started < 5


def test_connection_refused_names_the_address() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(LLMError, match="cannot reach Gemini at " + url):
        GeminiProvider(api_key="k", base_url=url, timeout=2).merge(CLUSTER, max_output_tokens=99)


def test_empty_candidates_raise_with_the_block_reason(standin: GeminiStandin) -> None:
    standin.queue.extend([gemini_no_candidates("SAFETY"), gemini_no_candidates()])
    provider = gemini(standin)
    with pytest.raises(LLMError, match=r"no candidates \(prompt blocked: SAFETY\)") as info:
        provider.merge(CLUSTER, max_output_tokens=400)
    assert info.value.usage == Usage(1, 120, 0)
    with pytest.raises(LLMError, match="no candidates$"):
        provider.merge(CLUSTER, max_output_tokens=400)


@pytest.mark.parametrize("finish", ["SAFETY", "RECITATION", "PROHIBITED_CONTENT", "OTHER"])
def test_filtered_finish_reason_raises(standin: GeminiStandin, finish: str) -> None:
    standin.queue.append(gemini_blocked(finish))
    with pytest.raises(LLMError, match=f"finishReason={finish}"):
        gemini(standin).merge(CLUSTER, max_output_tokens=400)


def test_answer_cut_off_at_max_tokens_raises(standin: GeminiStandin) -> None:
    standin.queue.append(gemini_text('{"memories": ["The test', finish="MAX_TOKENS"))
    with pytest.raises(LLMError, match="cut off at max_output_tokens=64"):
        gemini(standin).merge(CLUSTER, max_output_tokens=64)


def test_reply_that_is_not_the_api_raises(standin: GeminiStandin) -> None:
    standin.queue.append(Reply(200, b"<html>captive portal</html>"))
    with pytest.raises(LLMError, match="not its API"):
        gemini(standin).merge(CLUSTER, max_output_tokens=400)


def test_answer_that_drops_a_fact_is_rejected_naming_it(standin: GeminiStandin) -> None:
    lossy = "The test database runs on Postgres 15; start it with `make test-db` first."
    standin.queue.append(gemini_json({"memories": [lossy]}))
    out = gemini(standin).merge(CLUSTER, max_output_tokens=400)
    with pytest.raises(MergeRejected, match="dropped") as info:
        check_merge(CLUSTER, out.memories)
    assert set(info.value.dropped) == {"5433", "PGPORT", "tests/config.py"}
    assert "'5433'" in str(info.value) and "'tests/config.py'" in str(info.value)


# --- OpenAI-compatible ----------------------------------------------------------------------------


def test_openai_compat_merge_posts_a_json_schema_and_reads_usage(standin: GeminiStandin) -> None:
    standin.queue.append(openai_json({"memories": [MERGED]}, prompt=90, completion=30))
    provider = OpenAICompatProvider(standin.openai_url, "local-key", "qwen2.5-7b", timeout=5)
    out = provider.merge(CLUSTER, max_output_tokens=300)
    assert out.memories == [MERGED]
    assert out.usage == Usage(1, 90, 30)
    assert (out.provider, out.model) == ("openai", "qwen2.5-7b")
    [request] = standin.requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer local-key"
    assert request.body["model"] == "qwen2.5-7b"
    assert request.body["max_tokens"] == 300
    assert [m["role"] for m in request.body["messages"]] == ["system", "user"]
    fmt = request.body["response_format"]
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["strict"] is True
    assert fmt["json_schema"]["schema"]["required"] == ["memories"]


def test_openai_compat_failures(standin: GeminiStandin) -> None:
    standin.queue.extend(
        [
            openai_error(503),
            openai_error(429, "slow down"),
            openai_json({"memories": ["The"]}, finish="length"),
            Reply(
                200, {"choices": [{"message": {"content": "not json"}, "finish_reason": "stop"}]}
            ),
            Reply(200, {"choices": []}),
            hang(30),
        ]
    )
    provider = OpenAICompatProvider(standin.openai_url, None, "m", timeout=1.0)
    for pattern in (
        "server error \\(HTTP 503: model overloaded\\)",
        "rate limit .*slow down",
        "cut its answer off at max_tokens=100",
        "JSON asked for",
        "no choices",
        "did not answer within 1 s",
    ):
        with pytest.raises(LLMError, match=pattern):
            provider.merge(CLUSTER, max_output_tokens=100)
    assert "authorization" not in standin.requests[0].headers  # no key, no header
    dead = OpenAICompatProvider(f"http://127.0.0.1:{free_port()}/v1", None, "m", timeout=2)
    with pytest.raises(LLMError, match="cannot reach the model server"):
        dead.judge_substance("x")


# --- offline providers ----------------------------------------------------------------------------


def test_extractive_merge_never_glues_memories_that_say_different_things() -> None:
    """Four memories with different facts (a command, a log path, a linter) are not one
    statement without a model: the offline merge declines instead of concatenating them."""
    texts = [
        "Run tests with `make test`. The API listens on port 8080.",
        "- The API listens on port 8080\n- Logs go to /var/log/app.log",
        "The API listens on port 8080. Run tests with make test.",
        "Use ruff for linting. The api listens on port 8080 (API_PORT).",
    ]
    provider = ExtractiveProvider()
    with pytest.raises(NeedsModel, match="wait for an LLM: set GEMINI_API_KEY"):
        provider.merge(texts, max_output_tokens=0)
    assert provider.offline


def test_extractive_merge_never_drops_what_other_memories_say_in_words() -> None:
    """Three memories on one topic with one hard fact between them: the one holding the fact
    must not stand for the others (polling, the signing secret would be lost)."""
    texts = [
        "Decision: the billing service talks to Stripe through webhooks only, never by polling.",
        "Stripe webhooks for the billing service are verified with the signing secret first.",
        "Billing webhooks from Stripe are retried 5 times, so billing handlers are idempotent.",
    ]
    with pytest.raises(NeedsModel, match="say different things"):
        ExtractiveProvider().merge(texts, max_output_tokens=0)


def test_extractive_merge_is_the_most_representative_member() -> None:
    """Near-identical memories merge into one of them as written (the one that keeps every
    fact and overlaps the others most), at no cost."""
    texts = [
        "Decided to use uv instead of pip because installs are 10x faster.",
        "We use uv, not pip, because installs are 10x faster.",
        "Decided to use uv instead of pip because installs are 10x faster!",
    ]
    out = ExtractiveProvider().merge(texts, max_output_tokens=0)
    assert out.memories == ["Decided to use uv instead of pip because installs are 10x faster."]
    assert out.usage == Usage(0, 0, 0) and (out.provider, out.model) == ("extractive", None)
    check_merge(texts, out.memories)


def test_extractive_merge_adds_at_most_one_sentence_with_the_missing_fact() -> None:
    texts = [
        "The dev server runs on port 3000 with hot reload enabled by default.",
        "Dev server: port 3000, hot reload is enabled by default.",
        "The dev server runs on port 3000 with hot reload. Set VITE_HMR=0 to turn it off.",
    ]
    out = ExtractiveProvider().merge(texts, max_output_tokens=0)
    assert out.memories == [
        "The dev server runs on port 3000 with hot reload. Set VITE_HMR=0 to turn it off."
    ]


@pytest.mark.parametrize(
    "cluster",
    [
        CLUSTER,
        [
            "Decided to use uv instead of pip because installs are 10x faster.",
            "We use uv, not pip: installs are 10x faster. Run `uv sync --frozen` in CI.",
            "Decided to use uv instead of pip because installs are 10x faster!",
            "CI runs `uv sync --frozen` then `uv run pytest -x` on Python 3.11.2.",
        ],
        [
            "Fixed flaky test_warm_server by binding to 127.0.0.1 instead of localhost.",
            "test_warm_server was flaky; fixed by binding to 127.0.0.1 instead of localhost "
            "(IPv6 ::1 was tried first).",
            "Note: MCP_MEMORY_EMBED_PORT defaults to 52525, e.g. for the warm server.",
            "Fixed flaky test_warm_server by binding to 127.0.0.1 instead of localhost!",
        ],
    ],
)
def test_extractive_output_passes_check_merge_on_realistic_clusters(cluster: list[str]) -> None:
    """One memory that keeps every fact and is no longer than the longest member plus one of
    its sentences, or a plain "needs an LLM" (CLUSTER's three notes each add a fact)."""
    try:
        out = ExtractiveProvider().merge(cluster, max_output_tokens=0)
    except NeedsModel:
        assert cluster is CLUSTER
        return
    assert cluster is not CLUSTER
    assert len(out.memories) == 1
    assert len(out.memories[0]) <= max(MAX_MERGED_CHARS, *map(len, cluster))
    assert len(out.memories[0]) < sum(len(t) for t in cluster)
    check_merge(cluster, out.memories)


def test_split_sentences_keeps_dotted_words_abbreviations_bullets_and_code() -> None:
    text = (
        "Pin Python 3.11.2 in config.py, e.g. via pyproject. It works!\n"
        "- first item\n* second item\n  wrapped on the next line\n1. numbered item\n"
        "```bash\nmake test. Then\n```\nDone."
    )
    assert split_sentences(text) == [
        "Pin Python 3.11.2 in config.py, e.g. via pyproject.",
        "It works!",
        "first item",
        "second item wrapped on the next line",
        "numbered item",
        "```bash\nmake test. Then\n```",
        "Done.",
    ]


@pytest.mark.parametrize(
    ("text", "keep"),
    [
        ("Fixed flaky test by pinning pytest-xdist to 3.5.0 in requirements-dev.txt", True),
        ("Always use uv instead of pip", True),
        ("We decided on SQLite because it needs no server", True),
        ("Run `make bench` to refresh the numbers", True),
        ("The embed server's port is set by MCP_MEMORY_EMBED_PORT", True),
        ("ok", False),
        ("thanks, looks good", False),
        ("Done!", False),
        ("Let me check that for you.", False),
        ("Meeting at 3", False),
    ],
)
def test_substance_heuristic(text: str, keep: bool) -> None:
    verdict, reason = substance_heuristic(text)
    assert verdict is keep, reason
    assert ("score" in reason) and (">=" in reason) is keep
    assert ExtractiveProvider().judge_substance(text) == (keep, Usage())


def test_no_provider_refuses_to_merge_but_judges_by_heuristic() -> None:
    provider = make_provider("none")
    assert isinstance(provider, NoProvider) and provider.offline
    with pytest.raises(LLMError, match="merging is disabled"):
        provider.merge(CLUSTER, max_output_tokens=100)
    assert provider.judge_substance("ok") == (False, Usage())


def test_make_provider() -> None:
    assert isinstance(make_provider("auto", api_key="k"), GeminiProvider)
    assert isinstance(make_provider("auto", api_key=None), ExtractiveProvider)
    assert isinstance(make_provider("extractive", api_key="k"), ExtractiveProvider)
    gem = make_provider("gemini", api_key="k", model="gemini-2.5-pro")
    assert (gem.name, gem.model, gem.offline) == ("gemini", "gemini-2.5-pro", False)
    local = make_provider("openai", base_url="http://127.0.0.1:8080/v1", model="m")
    assert isinstance(local, OpenAICompatProvider) and local.model == "m"
    with pytest.raises(ConfigError, match="needs an API key"):
        make_provider("gemini")
    with pytest.raises(ConfigError, match="needs MCP_MEMORY_LLM_BASE_URL"):
        make_provider("openai", model="m")
    with pytest.raises(ConfigError, match="unknown LLM provider 'claude'"):
        make_provider("claude")


# --- budget ---------------------------------------------------------------------------------------


def test_budget_limits_calls_per_run() -> None:
    ledger = BudgetLedger(BudgetLimits(max_calls_per_run=2), Usage())
    for _ in range(2):
        ledger.check(100)
        ledger.record(Usage(1, 100, 20))
    with pytest.raises(BudgetExceeded, match="3 calls this run, over the limit of 2") as info:
        ledger.check(100)
    assert info.value.setting == "MCP_MEMORY_LLM_MAX_CALLS_PER_RUN"
    assert "raise MCP_MEMORY_LLM_MAX_CALLS_PER_RUN or wait for the next run" in str(info.value)
    assert ledger.run == Usage(2, 200, 40)


def test_budget_limits_tokens_per_run_with_the_output_allowance() -> None:
    ledger = BudgetLedger(BudgetLimits(max_tokens_per_run=1000), Usage())
    ledger.check(600, max_output_tokens=400)
    ledger.record(Usage(1, 500, 100))
    ledger.check(300)
    with pytest.raises(BudgetExceeded, match="MCP_MEMORY_LLM_MAX_TOKENS_PER_RUN"):
        ledger.check(300, max_output_tokens=200)


def test_budget_counts_earlier_runs_today() -> None:
    limits = BudgetLimits(max_calls_per_day=10, max_tokens_per_day=50_000)
    ledger = BudgetLedger(limits, Usage(9, 30_000, 5_000))
    ledger.check(1_000)
    ledger.record(Usage(1, 1_000, 100))
    assert ledger.day == Usage(10, 31_000, 5_100)
    with pytest.raises(BudgetExceeded, match="11 calls today") as info:
        ledger.check(10)
    assert "raise MCP_MEMORY_LLM_MAX_CALLS_PER_DAY or wait for tomorrow" in str(info.value)
    tokens = BudgetLedger(limits, Usage(0, 45_000, 4_000))
    with pytest.raises(BudgetExceeded, match="MCP_MEMORY_LLM_MAX_TOKENS_PER_DAY"):
        tokens.check(estimate_tokens("x" * 4_004))


def test_budget_none_is_unlimited_and_zero_allows_nothing() -> None:
    unlimited = BudgetLimits(None, None, None, None)
    BudgetLedger(unlimited, Usage(10**6, 10**9, 10**9)).check(10**6)
    with pytest.raises(BudgetExceeded, match="over the limit of 0"):
        BudgetLedger(BudgetLimits(max_calls_per_run=0)).check(1)


def test_estimate_tokens_is_a_quarter_of_the_characters_rounded_up() -> None:
    assert [estimate_tokens("x" * n) for n in (0, 1, 4, 5, 400)] == [0, 1, 1, 2, 100]


def test_usage_adds_up() -> None:
    assert Usage(1, 2, 3) + Usage(4, 5, 6) == Usage(5, 7, 9)


# --- merge checks ---------------------------------------------------------------------------------


def test_hard_facts_examples() -> None:
    text = (
        "Postgres 15 on port 5433 (PGPORT); Python v3.11.2; timeout 10s, 40% faster, 1,000 rows. "
        "See https://example.com/docs and src/app/llm.py, config.py, os.path.join, .env. "
        "Run `make test` with --no-cache -x; set snake_case, camelCase and GitHub. "
        "NOTE: e.g. read/write is fine, i.e. Python stays a word."
    )
    assert hard_facts(text) == {
        "15",
        "5433",
        "PGPORT",
        "v3.11.2",
        "10s",
        "40%",
        "1,000",
        "https://example.com/docs",
        "example.com",
        "src/app/llm.py",
        "llm.py",
        "config.py",
        "os.path.join",
        ".env",
        "make test",
        "--no-cache",
        "-x",
        "snake_case",
        "camelCase",
        "GitHub",
    }


def test_check_merge_rejects_empty_answers() -> None:
    with pytest.raises(MergeRejected, match="no memories"):
        check_merge(CLUSTER, [])
    with pytest.raises(MergeRejected, match="empty memory"):
        check_merge(CLUSTER, [MERGED, "  "])


@pytest.mark.parametrize(
    "answer",
    [
        "I'm sorry, but I can't help with that.",
        "I cannot merge these notes.",
        "Unable to merge: the notes conflict.",
        "As an AI language model, I won't do that.",
        "Sure. As an AI, I summarised them.",
    ],
)
def test_check_merge_rejects_refusals(answer: str) -> None:
    with pytest.raises(MergeRejected, match="refusal"):
        check_merge(["short note one", "short note two", "a third rather long note here"], [answer])


def test_a_memory_that_itself_starts_like_a_refusal_is_kept() -> None:
    inputs = ["Unable to connect to Postgres on 5433 when Docker is stopped.", "Docker must run."]
    check_merge(inputs, ["Unable to connect to Postgres on 5433 when Docker is stopped."])


def test_check_merge_rejects_an_answer_longer_than_its_inputs() -> None:
    with pytest.raises(MergeRejected, match=r"longer than its inputs \(22 chars\)"):
        check_merge(["Use uv.", "Use uv always."], ["Use uv. Use uv always. Really."])


def test_fact_matching_is_by_value_case_and_boundary() -> None:
    inputs = ["Timeout is 10s at 40% load for 1,000 rows in Config.py, see MCP_MEMORY_HOME."]
    check_merge(
        inputs, ["timeout 10 seconds, 40 percent load, 1000 rows, config.py, mcp_memory_home"]
    )
    assert missing_facts(
        inputs, ["Timeout 10 ms, 40% load, 1000 rows, myconfig.py MCP_MEMORY_HOME"]
    ) == [
        "10s",
        "Config.py",
    ]


def test_a_redacted_secret_is_not_a_required_fact() -> None:
    key = "AK" + "IA" + "QZ7RTX2LMN4PB8WY"
    inputs = [f"CI uses {key} for uploads to the artifacts bucket.", "CI uploads artifacts to S3."]
    check_merge(inputs, ["CI uses [REDACTED:aws_access_key_id] for uploads of artifacts to S3."])


# --- properties -----------------------------------------------------------------------------------

WORDS = ["the", "port", "use", "run", "tests", "we", "decided", "because", "server", "is", "on"]
FACTS = [
    "5433",
    "3.11.2",
    "10s",
    "40%",
    "config.py",
    "src/app/main.py",
    "--no-cache",
    "`make test`",
    "PGPORT",
    "snake_case",
    "camelCase",
    "https://example.com/x",
    "os.path",
]
sentence = st.lists(st.sampled_from(WORDS + FACTS), min_size=2, max_size=8).map(
    lambda words: words[0][0].upper() + " ".join(words)[1:] + "."
)


@st.composite
def clusters(draw: st.DrawFn) -> list[str]:
    pool = draw(st.lists(sentence, min_size=1, max_size=5))
    texts = st.lists(st.sampled_from(pool), min_size=1, max_size=3).map(" ".join)
    return draw(st.lists(texts, min_size=1, max_size=4))


@settings(max_examples=100, deadline=None)
@given(clusters())
def test_property_inputs_joined_always_pass(inputs: list[str]) -> None:
    check_merge(inputs, [" ".join(inputs)])
    check_merge(inputs, inputs)


@settings(max_examples=100, deadline=None)
@given(clusters())
def test_property_extractive_merge_passes_check_merge_or_declines(inputs: list[str]) -> None:
    try:
        out = ExtractiveProvider().merge(inputs, max_output_tokens=0)
    except NeedsModel:
        return
    check_merge(inputs, out.memories)
    assert len(out.memories) <= 1


@settings(max_examples=100, deadline=None)
@given(clusters(), st.data())
def test_property_removing_a_fact_is_always_caught(inputs: list[str], data: st.DataObject) -> None:
    present = [f for f in FACTS if any(f.lower() in t.lower() for t in inputs)]
    if not present:
        return
    fact = data.draw(st.sampled_from(present)).strip("`")
    joined = " ".join(inputs)
    lossy = re.sub(re.escape(fact), "", joined, flags=re.IGNORECASE)
    with pytest.raises(MergeRejected, match="dropped"):
        check_merge(inputs, [lossy])
