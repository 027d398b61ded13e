"""The LLM client layer: the language models the lifecycle and routing may ask, and what they cost.
The only domain package that talks HTTP (httpx, google-genai), and it redacts every prompt.

- ``provider``: the :class:`Provider` protocol and what providers share (:class:`Usage`, prompts,
  answer parsing)
- ``http``: :class:`GeminiProvider` and :class:`OpenAICompatProvider`, models over HTTP
- ``extractive``: working without a model: a cluster's most representative member stands for it
  (or the cluster waits for an LLM); the substance heuristic
- ``merge_check``: checks on a merged answer (empty, a refusal, dropped facts) before it may
  replace its sources, whichever provider made it
- ``budget``: :class:`BudgetLimits` per run and per day, and the ledger that enforces them
- ``spending``: the day's usage, kept in the database
- ``factory``: :func:`make_provider`: the provider the settings name, inside its budget

Public names are imported on first use (PEP 562), so ``Usage`` never imports httpx.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcp_memory.lazy import exports

if TYPE_CHECKING:
    from mcp_memory.llm.budget import BudgetLimits, estimate_tokens
    from mcp_memory.llm.extractive import substance_heuristic
    from mcp_memory.llm.factory import make_provider
    from mcp_memory.llm.provider import CONFLICT_INSTRUCTION, Provider, Usage
    from mcp_memory.llm.spending import Spending, day_usage

__all__ = [
    "CONFLICT_INSTRUCTION",
    "BudgetLimits",
    "Provider",
    "Spending",
    "Usage",
    "day_usage",
    "estimate_tokens",
    "make_provider",
    "substance_heuristic",
]

# Each public name and the module that defines it, imported on first use.
_HOMES = {
    "CONFLICT_INSTRUCTION": "provider",
    "BudgetLimits": "budget",
    "Provider": "provider",
    "Spending": "spending",
    "Usage": "provider",
    "day_usage": "spending",
    "estimate_tokens": "budget",
    "make_provider": "factory",
    "substance_heuristic": "extractive",
}


__getattr__ = exports(__name__, _HOMES)
