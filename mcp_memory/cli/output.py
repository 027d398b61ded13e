"""Output helpers shared by the ``memcycle`` commands: ``--json`` or text, and short labels."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import asdict, is_dataclass
from typing import Any


def emit(args: argparse.Namespace, data: Any, text: Callable[[Any], str]) -> None:
    """Print ``data`` as JSON with ``--json``, else as ``text(data)``."""
    if getattr(args, "json", False):
        print(json.dumps(plain(data), indent=2, ensure_ascii=False))
    else:
        print(text(data))


def plain(data: Any) -> Any:
    """``data`` as JSON-ready values (pydantic models and dataclasses included)."""
    if hasattr(data, "model_dump"):
        return data.model_dump(mode="json")
    if is_dataclass(data) and not isinstance(data, type):
        return asdict(data)
    if isinstance(data, list):
        return [plain(x) for x in data]
    if isinstance(data, dict):
        return {k: plain(v) for k, v in data.items()}
    return data


def project_label(project: str) -> str:
    from mcp_memory.projects import display_name

    return display_name(project)


def one_line(text: str, width: int = 110) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def match_reasons(signals: dict[str, float]) -> str:
    """Why a recall hit matched, for people: "meaning 0.43 · keywords #1 · date"."""
    parts = []
    if "vector_similarity" in signals:
        parts.append(f"meaning {signals['vector_similarity']:.2f}")
    if "keyword_rank" in signals:
        parts.append(f"keywords #{int(signals['keyword_rank'])}")
    if signals.get("name_match"):
        parts.append("name")
    if signals.get("time_match"):
        parts.append("date")
    return " · ".join(parts) or "-"
