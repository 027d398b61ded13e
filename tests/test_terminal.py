"""Human output at a terminal: aligned tables, dates, shares, wrapped text, progress bars only
on a TTY, and `stats` / `recall` rendered with them (their --json twins are in test_cli)."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from mcp_memory.cli import main as cli
from mcp_memory.cli.progress import Bar
from mcp_memory.cli.terminal import share_bar, table, when, wrapped
from mcp_memory.config import Settings
from mcp_memory.service.memories import MemoryService


def test_table_aligns_columns_and_numbers_right() -> None:
    text = table(["name", "n"], [["alpha", "1,200"], ["be", "7"]], right=(1,), max_width=80)
    assert text.split("\n") == [
        "name       n",
        "─────  ─────",
        "alpha  1,200",
        "be         7",
    ]


def test_table_shrinks_the_flexible_column_to_the_width() -> None:
    rows = [["1", "x" * 200]]
    text = table(["id", "text"], rows, flex=1, max_width=40)
    assert all(len(line) <= 40 for line in text.split("\n"))
    assert text.split("\n")[-1].endswith("x…")


def test_share_bar_when_and_wrapped() -> None:
    assert share_bar(1, 4, size=8) == "██░░░░░░  25%"
    assert share_bar(1, 1000, size=8).startswith("█░")  # a non-zero share is never invisible
    assert share_bar(0, 0, size=4) == "░░░░   0%"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", when("2026-01-31T09:00:00+00:00"))
    assert when(None) == "never"
    lines = wrapped("word " * 100, "   ", lines=2, limit=40).split("\n")
    assert len(lines) == 2 and all(len(x) <= 40 for x in lines) and lines[-1].endswith(" …")


def test_progress_bar_is_silent_when_stderr_is_not_a_terminal(
    capsys: pytest.CaptureFixture[str],
) -> None:
    bar = Bar("maintain: embed")  # default stream: stderr, which pytest captures (no TTY)
    bar(10, 10)
    assert capsys.readouterr().err == ""
    out = io.StringIO()  # an explicit stream always draws (the reindex tests rely on it)
    Bar("x", out)(5, 10)
    assert "5/10" in out.getvalue()


def test_stats_and_recall_render_as_tables(
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MCP_MEMORY_HOME", str(settings.home))
    monkeypatch.setenv("MCP_MEMORY_MODEL", "minilm")
    monkeypatch.setenv("MCP_MEMORY_EMBED_PORT", str(settings.embed_port))
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ops").mkdir()
    for text in ("Use make test before pushing", "CI runs make test on every push"):
        assert cli.main(["remember", text, "--project", "./ops"]) == 0
    capsys.readouterr()
    assert cli.main(["stats"]) == 0
    stats = capsys.readouterr().out
    assert "memories  2 in all, 2 embedded (0 waiting for `maintain`)" in stats
    assert re.search(r"^buffer\s+2  ████████████████████ 100%$", stats, re.M)
    assert re.search(r"^ops\s+2  █+ 100%  /\S+$", stats, re.M)  # the key, clipped to fit
    assert cli.main(["recall", "make test before pushing", "--project", "ops", "-k", "2"]) == 0
    out = capsys.readouterr().out.split("\n")
    assert out[0] == "2 memories for 'make test before pushing'"
    assert out[1].split() == ["id", "score", "created", "project", "type", "state", "matched", "by"]
    assert re.match(
        r"\[1\]\s+0\.\d{4}  \d{4}-\d\d-\d\d \d\d:\d\d  ops\s+note\s+buffer\s+"
        r"meaning 0\.\d\d · keywords #1",
        out[3],
    )
    assert out[4] == "      Use make test before pushing"
    assert all(len(line) <= 100 for line in out)


def test_maintain_reports_progress_of_each_step(service: MemoryService, tmp_path: Path) -> None:
    """maintain() calls progress(step, done, total) while it embeds and connects (the CLI
    draws a bar from it); without a callback it draws nothing."""
    from mcp_memory.lifecycle.aging import AgePolicy
    from mcp_memory.lifecycle.maintenance import maintain
    from mcp_memory.llm.extractive import substance_heuristic

    for text in ("Deploys need the VPN", "The VPN is needed for deploys", "Lunch at noon"):
        service.remember(text, project="p", embed=False)
    events: list[tuple[str, int, int]] = []
    report = maintain(
        service,
        lock_path=tmp_path / "lock",
        policy=AgePolicy(),
        consolidator=None,
        judge=substance_heuristic,
        progress=lambda *e: events.append(e),
    )
    assert report.embedded == 3
    assert events[0] == ("embed", 3, 3)
    assert [e for e in events if e[0] == "connect"][-1] == ("connect", 3, 3)
