"""The LLM budget: :class:`BudgetLimits` per run and per day, and the :class:`BudgetLedger` that
checks a call against them. Pure: persisting the day's usage (table ``llm_usage``) is the
caller's job.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from mcp_memory.errors import BudgetExceeded
from mcp_memory.llm.provider import Usage

__all__ = ["BudgetLedger", "BudgetLimits", "estimate_tokens"]


def estimate_tokens(text: str) -> int:
    """A rough token count (4 characters a token), for budget checks before a call."""
    return math.ceil(len(text) / 4)


@dataclass(frozen=True)
class BudgetLimits:
    """LLM limits (settings ``MCP_MEMORY_LLM_MAX_*``); None means no limit, 0 allows nothing."""

    max_calls_per_run: int | None = 20
    max_tokens_per_run: int | None = 200_000
    max_calls_per_day: int | None = 200
    max_tokens_per_day: int | None = 2_000_000


_NOTHING_SPENT = Usage()


class BudgetLedger:
    """What this run and this day have spent, against :class:`BudgetLimits`. Pure: no storage.

    ``day_usage`` is what earlier runs spent today (the caller reads it from ``llm_usage``).
    Call :meth:`check` before each call and :meth:`record` after it, failed calls included.
    """

    def __init__(self, limits: BudgetLimits, day_usage: Usage = _NOTHING_SPENT) -> None:
        self.limits = limits
        self.earlier = day_usage
        self.run = Usage()

    @property
    def day(self) -> Usage:
        return self.earlier + self.run

    def check(self, estimated_input_tokens: int, max_output_tokens: int = 0) -> None:
        """Raise :class:`BudgetExceeded` if one more call of this size would pass a limit."""
        tokens = estimated_input_tokens + max_output_tokens
        day = self.day
        for spent, limit, setting, what in (
            (self.run.calls + 1, self.limits.max_calls_per_run, "CALLS_PER_RUN", "calls this run"),
            (
                self.run.tokens + tokens,
                self.limits.max_tokens_per_run,
                "TOKENS_PER_RUN",
                "tokens this run",
            ),
            (day.calls + 1, self.limits.max_calls_per_day, "CALLS_PER_DAY", "calls today"),
            (day.tokens + tokens, self.limits.max_tokens_per_day, "TOKENS_PER_DAY", "tokens today"),
        ):
            if limit is not None and spent > limit:
                name = f"MCP_MEMORY_LLM_MAX_{setting}"
                later = "the next run" if setting.endswith("RUN") else "tomorrow"
                raise BudgetExceeded(
                    f"LLM budget reached: this call would make {spent} {what}, over the limit of "
                    f"{limit} ({name}); raise {name} or wait for {later}",
                    setting=name,
                )

    def record(self, usage: Usage) -> None:
        self.run = self.run + usage
