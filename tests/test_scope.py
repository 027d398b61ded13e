"""The scope rule and the recall filters, each decided once for every entry point."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcp_memory.errors import ValidationError
from mcp_memory.projects import GLOBAL, project_or_all, resolve, scope, search_scope
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
    known = ["ops", "/src/ingest", GLOBAL]
    assert search_scope(None, here, known) == [str(tmp_path), GLOBAL]
    assert search_scope(" Global ", here, known) == [GLOBAL]
    assert search_scope("ops", here, known, include_global=False) == ["ops"]
    assert search_scope("ingest", here, known) == ["/src/ingest", GLOBAL]
    assert search_scope(".", here, known) == [str(tmp_path), GLOBAL]
    assert search_scope(None, here, known, all_projects=True) is None
    with pytest.raises(ValidationError, match="either project or all_projects"):
        search_scope("ops", here, known, all_projects=True)
    assert project_or_all(None, here, known, all_projects=True) is None


def test_resolve_takes_a_path_dot_a_short_name_or_a_key(tmp_path: Path) -> None:
    """One resolver for every command and tool: an unknown or ambiguous name is an error that
    lists the known projects; a bare name never starts a project, a directory does."""
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    (tmp_path / "repo" / "sub").mkdir()
    repo = str(tmp_path / "repo")
    known = ["/home/u/src/ingest", "/home/u/src/webshop", "/a/api", "/b/api", GLOBAL]
    assert resolve("ingest", tmp_path, known) == "/home/u/src/ingest"
    assert resolve("/home/u/src/webshop", tmp_path, known) == "/home/u/src/webshop"
    assert resolve(".", tmp_path / "repo" / "sub", known) == repo
    assert resolve("repo/sub", tmp_path, known) == repo  # a new project, from a directory
    assert resolve("global", tmp_path, known) == GLOBAL
    with pytest.raises(ValidationError) as unknown:
        resolve("x", tmp_path, known)
    assert str(unknown.value) == (
        "no project named 'x'; known: api (/a/api), api (/b/api), "
        "ingest (/home/u/src/ingest), webshop (/home/u/src/webshop)"
    )
    with pytest.raises(ValidationError, match="'api' is ambiguous: /a/api, /b/api"):
        resolve("api", tmp_path, known)
    with pytest.raises(ValidationError, match="pass its directory"):
        resolve("newname", tmp_path, known, create=True)
    with pytest.raises(ValidationError, match="no directory"):
        resolve("./missing", tmp_path, known)


def test_recall_filters_are_built_alike_for_the_tool_and_the_cli() -> None:
    built = RecallFilters.build(tags=[" Lint ", "CI"], since="2026-01-31")
    assert built.tags == ("lint", "ci") and built.states == ACTIVE_STATES
    assert built.since == 1769817600.0 and built.until is None
    assert RecallFilters.build(states=["deleted"]).states == ("deleted",)
    with pytest.raises(ValidationError, match="until must be an ISO 8601 date"):
        RecallFilters.build(until="last tuesday")
