"""Language models for the lifecycle: merge a cluster of memories, judge whether one has substance.

Every provider satisfies :class:`~mcp_memory.llm.provider.Provider`:

- :class:`GeminiProvider` (``google-genai``, JSON output under a schema),
- :class:`OpenAICompatProvider` (``POST {base_url}/chat/completions``: llama.cpp, Ollama, vLLM...),
- :class:`ExtractiveProvider` (offline, no model: the most representative member, or nothing),
- :class:`NoProvider` (``none``: merging disabled).

Texts are redacted before they leave the process. Providers never retry: a failure raises
:class:`~mcp_memory.errors.LLMError` at once, its ``usage`` set to what the failed call still
cost, and the caller decides. A provider does not judge its own answer either: the caller records
``MergeOutput.usage`` and then runs :func:`mcp_memory.lifecycle.merge_check.check_merge`, so the tokens of
a rejected answer are still counted. :class:`~mcp_memory.llm.budget.BudgetLedger` checks
:class:`~mcp_memory.llm.budget.BudgetLimits` per run and per day; persisting the day's usage
(table ``llm_usage``) is the caller's job.

This module chooses a provider (:func:`make_provider`) and holds :class:`NoProvider`. The rest
lives beside it: ``provider.py`` (the protocol, usage, prompts, answer parsing), ``http.py``
(Gemini and OpenAI-compatible servers), ``extractive.py`` (the offline merge and the substance
heuristic) and ``budget.py`` (limits and the ledger).
"""

from __future__ import annotations

from collections.abc import Sequence

from mcp_memory.errors import ConfigError, LLMError
from mcp_memory.llm.extractive import ExtractiveProvider, substance_heuristic
from mcp_memory.llm.http import DEFAULT_GEMINI_MODEL, GeminiProvider, OpenAICompatProvider
from mcp_memory.llm.provider import MergeOutput, Provider, Usage

__all__ = ["PROVIDER_KINDS", "NoProvider", "make_provider"]


class NoProvider:
    """``none``: the lifecycle runs without merging. Substance is judged by the heuristic."""

    name = "none"
    model: str | None = None
    offline = True

    def merge(self, texts: Sequence[str], *, max_output_tokens: int = 0) -> MergeOutput:
        raise LLMError(
            "merging is disabled (LLM provider 'none'); choose extractive, gemini or openai"
        )

    def judge_substance(self, text: str) -> tuple[bool, Usage]:
        return substance_heuristic(text)[0], Usage()

    def judge_conflict(self, memory: str, existing: str) -> tuple[str, str, Usage]:
        """No model, no opinion: the offline text rule (``conflicts.py``) already ran."""
        return "compatible", "no model to ask", Usage()


# --- choosing a provider --------------------------------------------------------------------------

PROVIDER_KINDS = ("auto", "gemini", "openai", "extractive", "none")


def make_provider(
    kind: str,
    *,
    model: str | None = None,
    api_key: str | None = None,
    base_url: str | None = None,
    timeout: float = 30.0,
) -> Provider:
    """The provider for ``kind``: auto is Gemini when an API key is given, else extractive."""
    if kind == "auto":
        kind = "gemini" if api_key else "extractive"
    if kind == "gemini":
        if not api_key:
            raise ConfigError(
                "LLM provider gemini needs an API key: set MCP_MEMORY_LLM_API_KEY or GEMINI_API_KEY"
            )
        return GeminiProvider(api_key, model or DEFAULT_GEMINI_MODEL, base_url, timeout)
    if kind == "openai":
        if not base_url or not model:
            raise ConfigError(
                "LLM provider openai needs MCP_MEMORY_LLM_BASE_URL (e.g. http://127.0.0.1:8080/v1) "
                "and MCP_MEMORY_LLM_MODEL"
            )
        return OpenAICompatProvider(base_url, api_key, model, timeout)
    if kind == "extractive":
        return ExtractiveProvider()
    if kind == "none":
        return NoProvider()
    raise ConfigError(
        f"unknown LLM provider {kind!r} (MCP_MEMORY_LLM_PROVIDER); "
        f"expected one of {', '.join(PROVIDER_KINDS)}"
    )
