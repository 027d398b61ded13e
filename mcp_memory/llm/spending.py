"""What LLM calls cost, kept in the database: the day's usage (table ``llm_usage``, shown by
``stats``) and a :class:`Spending` that checks each call against the budget first.

Every path that calls a paid model (consolidation, the substance check of aging, the routing
verdict) goes through one :class:`Spending` per run, so the per-run and per-day limits of
:class:`~mcp_memory.llm.budget.BudgetLimits` hold across all of them. Offline providers cost
nothing: they are recorded for ``stats`` but never counted against the budget.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from mcp_memory.errors import LLMError
from mcp_memory.llm.budget import BudgetLedger, BudgetLimits
from mcp_memory.llm.provider import Usage

if TYPE_CHECKING:
    from mcp_memory.store.database import Store


def today() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")


def day_usage(store: Store) -> Usage:
    """What paid providers have cost today, across every process."""
    return Usage(*store.paid_usage(today()))


def record_usage(store: Store, provider: str, usage: Usage) -> None:
    store.add_usage(today(), provider, usage.calls, usage.input_tokens, usage.output_tokens)


class Spending:
    """One run's calls to ``provider``: :meth:`check` before a call (``BudgetExceeded``, an
    LLMError, when it would pass a limit), :meth:`record` after it, failed calls included."""

    def __init__(self, store: Store, provider: str, limits: BudgetLimits, *, offline: bool) -> None:
        self.store = store
        self.provider = provider
        self.offline = offline
        self.ledger = BudgetLedger(limits, day_usage(store))

    def check(self, estimated_input_tokens: int, max_output_tokens: int = 0) -> None:
        if not self.offline:
            self.ledger.check(estimated_input_tokens, max_output_tokens)

    def record(self, usage: Usage) -> None:
        record_usage(self.store, self.provider, usage)
        if not self.offline:
            self.ledger.record(usage)

    def record_failure(self, error: LLMError) -> None:
        """A call that failed may still have cost tokens (a bad answer): count them."""
        spent = error.usage
        if spent is not None:
            self.record(Usage(spent.calls, spent.input_tokens, spent.output_tokens))
