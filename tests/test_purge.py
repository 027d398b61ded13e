"""Hard delete (issue 14, item 7): ``purge`` removes a memory so that no byte of its text is
left under the data directory.

Pins: after ``MemoryService.purge`` the text is in no file under the data directory (database,
``-wal``, ``-shm``), in neither full-text index's vocabulary nor their shadow tables, in no
neighbour's ``context`` and no ``line_stats`` key; its vector is gone from ``memory_vectors``,
the sqlite-vec index and the in-RAM bit index; tags, links and recall events go with it. A
merge source is purged alone and the merge's result is named (``with_lineage`` purges both).
The report lists backups it cannot reach and says it cannot know about exports. The CLI asks
before it deletes, refuses without a terminal unless ``--yes``, and is not an MCP tool.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import apsw
import pytest

from mcp_memory.embedding.local import LocalEmbedder
from mcp_memory.errors import NotFoundError
from mcp_memory.lifecycle.consolidate import Consolidator
from mcp_memory.llm.budget import BudgetLimits
from mcp_memory.llm.factory import make_provider
from mcp_memory.service.memories import MemoryService
from mcp_memory.service.portability import backup
from mcp_memory.service.types import Options
from mcp_memory.store.database import Store

SECRET = "zqxwvplumbicorntoken"  # no digits: line_stats keys keep letters as they are
TEXT = f"The staging database password is {SECRET} until the rotation on Friday."


def service_at(home: Path, embedder: LocalEmbedder) -> MemoryService:
    return MemoryService(
        Store.open(home / "memory.db"), embedder, Options(duplicate_threshold=1.01)
    )


def files_holding(home: Path, needle: str) -> list[str]:
    """Every file under ``home`` whose bytes contain ``needle`` (any case)."""
    found = []
    for path in sorted(home.rglob("*")):
        if path.is_file() and needle.encode().lower() in path.read_bytes().lower():
            found.append(str(path.relative_to(home)))
    return found


def fts_terms(db: Path, prefix: str) -> list[str]:
    """Terms starting with ``prefix`` in both full-text indexes' vocabulary (fts5vocab)."""
    con = apsw.Connection(str(db))
    try:
        terms = []
        for table in ("memories_fts", "recall_fts"):
            con.execute(f"CREATE VIRTUAL TABLE temp.v_{table} USING fts5vocab(main, {table}, row)")
            terms += [r[0] for r in con.execute(f"SELECT term FROM temp.v_{table}")]
        return [t for t in terms if t.startswith(prefix)]
    finally:
        con.close()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


def seed(svc: MemoryService) -> tuple[int, list[int]]:
    """The secret's memory between two session neighbours, tagged, linked and recalled."""
    before = svc.remember(
        "The staging database lives on db-stage behind the VPN.", project="p", session_id="s"
    ).id
    secret = svc.remember(TEXT, project="p", tags=["staging"], session_id="s").id
    after = svc.remember(
        "Rotate the staging database password every Friday.", project="p", session_id="s"
    ).id
    for _ in range(3):
        hits = svc.recall(f"staging database password {SECRET}", projects=["p"], context="c")
        assert hits and hits[0].id == secret
    return secret, [before, after]


def test_purge_leaves_no_byte_of_the_text_under_the_data_dir(
    home: Path, minilm: LocalEmbedder
) -> None:
    svc = service_at(home, minilm)
    secret, others = seed(svc)
    store = svc.store
    assert store.links_of(secret) and store.get(others[0]).recall_count >= 0
    assert store.execute("SELECT count(*) FROM recall_events WHERE memory_id = ?", [secret])[0][0]
    assert files_holding(home, SECRET)  # the text is on disk before
    assert fts_terms(store.path, SECRET[:8])

    report = svc.purge([secret])

    assert report.purged == [secret]
    with pytest.raises(NotFoundError):
        store.get(secret)
    assert store.vectors([secret]) == {}
    assert all(
        i != secret for i, _ in store.knn(minilm.embed([TEXT], "query")[0], 10, projects=None)
    )
    for table, column in (
        ("memory_tags", "memory_id"),
        ("recall_events", "memory_id"),
        ("links", "source_id"),
        ("links", "target_id"),
        ("memory_index", "rowid"),
    ):
        assert store.execute(f"SELECT count(*) FROM {table} WHERE {column} = ?", [secret]) == [(0,)]
    assert all(SECRET not in store.get(i).content for i in others)
    assert fts_terms(store.path, SECRET[:8]) == []
    assert files_holding(home, SECRET) == [], "the text is still on disk"
    assert report.wal_checkpointed
    # The neighbours are still found, and chained to each other now.
    assert svc.recall("staging database VPN", projects=["p"])[0].id == others[0]
    svc.store.close()
    assert files_holding(home, SECRET) == []


def test_purge_refuses_unknown_ids_and_deletes_nothing(home: Path, minilm: LocalEmbedder) -> None:
    svc = service_at(home, minilm)
    secret, _ = seed(svc)
    with pytest.raises(NotFoundError, match="999"):
        svc.purge([secret, 999])
    assert svc.store.get(secret).content == TEXT


def test_a_merge_source_is_purged_alone_and_its_result_named(
    home: Path, minilm: LocalEmbedder
) -> None:
    svc = service_at(home, minilm)
    ids = [
        svc.remember(t, project="p").id
        for t in (
            TEXT,
            f"Staging database: the password {SECRET} is shared with the QA team.",
            "The staging database password rotates on Fridays.",
        )
    ]
    outcome = Consolidator(svc, make_provider("extractive"), BudgetLimits()).run(members=ids)
    (result,) = [r for o in outcome for r in o.results]
    assert SECRET in svc.store.get(result).content

    # the offline merge keeps one member as the statement: purge one of the others
    first, second = [i for i in ids if i != result]
    report = svc.purge([first])
    assert report.purged == [first]
    assert result in report.lineage_kept  # named: it may hold the same text
    assert "--with-lineage" in report.lineage_note
    assert svc.store.get(result).content  # kept
    assert all(s != first for _, _, s, _ in svc.store.every_lineage())

    report = svc.purge([second], with_lineage=True)
    assert sorted(report.purged) == sorted({second, result})
    assert report.lineage_kept == []
    assert svc.store.every_lineage() == [] and svc.store.every_consolidation() == []
    assert files_holding(home, SECRET) == []


def test_purge_names_backups_it_cannot_reach_and_exports_it_cannot_know(
    home: Path, minilm: LocalEmbedder
) -> None:
    svc = service_at(home, minilm)
    secret, _ = seed(svc)
    copy = home / "backups" / "before.db"
    backup(svc.store.path, copy)
    report = svc.purge([secret], data_dir=home)
    assert report.backups == [str(copy)]
    assert "export" in report.unreachable and "backup" in report.unreachable
    assert files_holding(home, SECRET) == ["backups/before.db"]


def cli(home: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCP_MEMORY_")}
    env.update(MCP_MEMORY_HOME=str(home), MCP_MEMORY_MODEL="minilm", MCP_MEMORY_EMBED_PORT="9")
    return subprocess.run(
        [sys.executable, "-m", "mcp_memory.cli", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_purge_needs_yes_without_a_terminal_and_reports_json(
    home: Path, minilm: LocalEmbedder
) -> None:
    svc = service_at(home, minilm)
    secret, _ = seed(svc)
    svc.store.close()

    refused = cli(home, "purge", str(secret), stdin="y\n")
    assert refused.returncode == 1 and "--yes" in refused.stderr
    assert files_holding(home, SECRET)

    done = cli(home, "purge", str(secret), "--yes", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["purged"] == [secret] and report["wal_checkpointed"] is True
    assert files_holding(home, SECRET) == []

    help_text = " ".join(cli(home, "purge", "--help").stdout.split())
    assert "not an MCP tool" in help_text


def test_purge_is_not_an_mcp_tool() -> None:
    from mcp_memory.server import tools

    assert "purge" not in Path(tools.__file__).read_text()
