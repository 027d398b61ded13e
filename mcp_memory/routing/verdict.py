"""The routing verdict of a configured LLM: does a memory contradict the line it would sit next
to? The offline rules (:mod:`conflicts`) decide first; the router asks this only about a memory
they would write beside a similar line, and a verdict can only hold it (see ``Router``).

Each call is checked against the LLM budget and recorded in ``llm_usage`` (:mod:`llm_spend`);
both texts are redacted in the prompt (``provider.conflict_prompt``). A failed call or a spent
budget gives no verdict, so the memory is planned as the offline rules said, and the reason is
counted in the plan (``RoutePlan.unchecked``, in its summary). Answers are cached for the life of the router, so planning and then
applying in one session asks once.
"""

from __future__ import annotations

import logging

from mcp_memory.errors import LLMError
from mcp_memory.llm.budget import estimate_tokens
from mcp_memory.llm.provider import CONFLICT_INSTRUCTION, Provider
from mcp_memory.llm.spending import Spending

log = logging.getLogger("mcp_memory")


class LLMVerdict:
    def __init__(self, provider: Provider, spending: Spending) -> None:
        self.provider = provider
        self.spending = spending
        self._answers: dict[tuple[str, str], tuple[str, str]] = {}

    def __call__(self, memory: str, existing: str) -> tuple[str, str]:
        """(verdict, reason); ("unknown", why) when the LLM could not be asked."""
        key = (memory, existing)
        if key in self._answers:
            return self._answers[key]
        try:
            self.spending.check(estimate_tokens(CONFLICT_INSTRUCTION + memory + existing), 256)
            verdict, reason, usage = self.provider.judge_conflict(memory, existing)
        except LLMError as exc:
            self.spending.record_failure(exc)
            log.warning("routing: no LLM verdict (%s); the offline rules decide", exc)
            return "unknown", str(exc)
        self.spending.record(usage)
        self._answers[key] = (verdict, f"{self.provider.name}: {reason}" if reason else "")
        return self._answers[key]
