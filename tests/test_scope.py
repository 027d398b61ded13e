"""The scope rule and the recall filters, each decided once for every entry point."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcp_memory.errors import ValidationError
from mcp_memory.projects import GLOBAL, project_or_all, scope, search_scope
from mcp_memory.service.types import RecallFilters
from mcp_memory.store.schema import ACTIVE_STATES


def test_a_project_reads_itself_plus_global_and_global_reads_itself() -> None:
    assert scope("/work/api") == ["/work/api", GLOBAL]
    assert scope("/work/api", include_global=False) == ["/work/api"]
    assert scope(GLOBAL) == [GLOBAL]


def test_search_scope_names_a_project_global_or_every_project(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    here = tmp_path / "src"
    here.mkdir()
    assert search_scope(None, here) == [str(tmp_path), GLOBAL]
    assert search_scope(" Global ", here) == [GLOBAL]
    assert search_scope("ops", here, include_global=False) == ["ops"]
    assert search_scope(None, here, all_projects=True) is None
    with pytest.raises(ValidationError, match="either project or all_projects"):
        search_scope("ops", here, all_projects=True)
    assert project_or_all(None, here, all_projects=True) is None


def test_recall_filters_are_built_alike_for_the_tool_and_the_cli() -> None:
    built = RecallFilters.build(tags=[" Lint ", "CI"], since="2026-01-31")
    assert built.tags == ("lint", "ci") and built.states == ACTIVE_STATES
    assert built.since == 1769817600.0 and built.until is None
    assert RecallFilters.build(states=["deleted"]).states == ("deleted",)
    with pytest.raises(ValidationError, match="until must be an ISO 8601 date"):
        RecallFilters.build(until="last tuesday")
