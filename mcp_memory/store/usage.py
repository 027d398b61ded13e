"""What LLM calls cost per day and provider (``llm_usage``), as ``stats`` shows it."""

from __future__ import annotations

from mcp_memory.store.base import StoreBase


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
