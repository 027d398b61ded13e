"""What LLM calls cost per day and provider (``llm_usage``): what the budget checks each paid
call against (:mod:`mcp_memory.llm.spending`) and what ``stats`` shows."""

from __future__ import annotations

from mcp_memory.store.base import StoreBase

OFFLINE_PROVIDER = "extractive"  # recorded for ``stats``, never counted against the budget


class StoreUsage(StoreBase):
    """The ``llm_usage`` table of :class:`~mcp_memory.store.database.Store`."""

    def recent_llm_usage(self, limit: int = 14) -> list[tuple[str, str, int, int, int]]:
        """``(day, provider, calls, input tokens, output tokens)``, newest day first, at most
        ``limit`` rows."""
        with self.lock:
            rows = self._rows(
                "SELECT day, provider, calls, input_tokens, output_tokens FROM llm_usage "
                "ORDER BY day DESC, provider LIMIT ?",
                (limit,),
            )
        return [(str(d), str(p), int(c), int(i), int(o)) for d, p, c, i, o in rows]

    def paid_usage(self, day: str) -> tuple[int, int, int]:
        """``(calls, input tokens, output tokens)`` of every provider but the offline one on
        ``day`` (``YYYY-MM-DD``, UTC), summed across processes."""
        with self.lock:
            row = self._row(
                "SELECT coalesce(sum(calls), 0), coalesce(sum(input_tokens), 0), "
                "coalesce(sum(output_tokens), 0) FROM llm_usage WHERE day = ? AND provider != ?",
                (day, OFFLINE_PROVIDER),
            )
        calls, tokens_in, tokens_out = row
        return int(calls), int(tokens_in), int(tokens_out)

    def add_usage(
        self, day: str, provider: str, calls: int, input_tokens: int, output_tokens: int
    ) -> None:
        """Add one run's calls and tokens to ``provider``'s total of ``day``."""
        with self.transaction():
            self.db.execute(
                "INSERT INTO llm_usage (day, provider, calls, input_tokens, output_tokens) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (day, provider) DO UPDATE SET "
                "calls = llm_usage.calls + excluded.calls, "
                "input_tokens = llm_usage.input_tokens + excluded.input_tokens, "
                "output_tokens = llm_usage.output_tokens + excluded.output_tokens",
                (day, provider, calls, input_tokens, output_tokens),
            )
