"""Export, import and backup (issue #8, part 5).

Pins: an export carries every memory with its metadata, links and lineage, and vectors on
request; importing it into an empty database gives back the same memories, links and lineage
(an export of the copy equals the original, ids aside), with the file's vectors reused when the
model matches and every text re-embedded when it does not; a second import stores nothing new;
hand-edited or foreign files are refused with the line named; a backup taken while four
processes write is a complete, consistent, private (0600) database.
"""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mcp_memory.embedding.local import LocalEmbedder
from mcp_memory.errors import ValidationError
from mcp_memory.lifecycle.consolidate import Consolidator
from mcp_memory.llm.budget import BudgetLimits
from mcp_memory.llm.factory import make_provider
from mcp_memory.service.memories import MemoryService
from mcp_memory.service.portability import backup, export, import_records, read_export
from mcp_memory.service.types import Options
from mcp_memory.store.database import Store
from mcp_memory.store.integrity import audit

REPO = Path(__file__).resolve().parents[1]

NOTES = [
    # one fact stated three ways: a cluster the offline merge consolidates
    "Decision: the billing service receives Stripe events through webhooks only, never by polling.",
    "The billing service receives Stripe events through webhooks only; it never polls Stripe.",
    "Billing receives Stripe events through webhooks only, never by polling the Stripe API.",
    "We use uv, not pip, because its lock files are reproducible across machines.",
    "Café menu: naïve Ünïcödé text survives 👍 and so do tabs\tand newlines\nok.",
]


def service_at(path: Path, embedder: Any) -> MemoryService:
    return MemoryService(Store.open(path), embedder, Options(duplicate_threshold=1.01))


@pytest.fixture
def source(tmp_path: Path, minilm: LocalEmbedder) -> MemoryService:
    svc = service_at(tmp_path / "source.db", minilm)
    ids = [svc.remember(t, project="/work/app", tags=["billing"]).id for t in NOTES[:3]]
    svc.remember(NOTES[3], project="@global", type="decision")
    svc.remember(NOTES[4], project="/work/app", session_id="s1")
    svc.remember("hook text stored without a vector", project="/work/app", embed=False)
    gone = svc.remember("an obsolete note about the old deploy script", project="/work/app").id
    svc.forget(gone)
    (merged,) = Consolidator(svc, make_provider("extractive"), BudgetLimits()).run(members=ids)
    assert merged.status == "applied", merged.reason
    return svc


def dump(svc: MemoryService, vectors: bool = False) -> str:
    out = io.StringIO()
    export(svc.store, out, vectors=vectors)
    return out.getvalue()


def comparable(text: str) -> list[Any]:
    """The records with source ids replaced by content, so two databases can be compared."""
    records = [json.loads(line) for line in text.splitlines()[1:]]
    by_id = {r["id"]: r["content"] for r in records if r["kind"] == "memory"}
    out: list[Any] = []
    for r in records:
        r = dict(r)
        if r["kind"] == "memory":
            r.pop("id")
            r["metadata"] = {k: v for k, v in r["metadata"].items() if k != "consolidation"}
            r.pop("vector", None)
        elif r["kind"] == "link":
            r = {"link": sorted([by_id[r["source"]], by_id[r["target"]]]), "sim": r["similarity"]}
        elif r["kind"] == "lineage":
            r = {"lineage": (by_id[r["result"]], by_id[r["source"]], r["source_prev_state"])}
        else:
            r = {"consolidation": (r["project"], r["status"], r["provider"])}
        out.append(json.dumps(r, sort_keys=True))
    return sorted(out)


def test_export_has_header_memories_links_lineage(source: MemoryService) -> None:
    lines = [json.loads(x) for x in dump(source, vectors=True).splitlines()]
    header = lines[0]
    assert header["format"] == "mcp-memory-export" and header["version"] == 1
    assert header["model"] == {"id": "minilm", "dimension": 384, "pooling": "mean"}
    kinds = [r["kind"] for r in lines[1:]]
    assert kinds.count("memory") == source.store.counts()["total"]
    assert kinds.count("consolidation") == 1 and kinds.count("lineage") == 3
    assert kinds.count("link") == source.store.counts()["links"] > 0
    states = {r["state"] for r in lines if r["kind"] == "memory"}
    assert {"superseded", "proven", "deleted", "buffer"} <= states
    with_vectors = [r for r in lines if r.get("vector")]
    assert len(with_vectors) == source.store.counts()["vectors"]


def test_round_trip_same_model_reuses_vectors_and_is_exact(
    source: MemoryService, tmp_path: Path, minilm: LocalEmbedder
) -> None:
    text = dump(source, vectors=True)
    target = service_at(tmp_path / "copy.db", minilm)
    header, records = read_export(text.splitlines())
    report = import_records(target, header, records)
    counts = source.store.counts()
    assert report.memories == counts["total"] and report.duplicates == 0
    assert report.vectors_reused == counts["vectors"]
    assert report.reembedded == counts["total"] - counts["vectors"]  # the hook's text-only memory
    assert comparable(dump(target)) == comparable(text)
    for old, new in report.ids.items():
        a, b = source.store.vectors([old]), target.store.vectors([new])
        if a:
            assert np.array_equal(a[old], b[new])
    assert audit(target.store, report.ids.values()).ok, audit(target.store).problems()
    # Undo works on the imported lineage: the sources come back to the buffer.
    (cid,) = [r[0] for r in target.store.execute("SELECT id FROM consolidations")]
    undone = Consolidator(target, make_provider("extractive"), BudgetLimits()).undo(cid)
    assert len(undone["restored"]) == 3
    again = import_records(target, header, records)
    assert again.memories == 0 and again.duplicates == counts["total"]


class Shifted:
    """Another model: minilm's vectors rotated, so re-embedding is visible and exact."""

    model_id = "other-model"
    dimension = 384
    pooling = "unknown"

    def __init__(self, base: LocalEmbedder) -> None:
        self.base = base
        self.calls = 0

    def embed(self, texts: Any, kind: Any = "document") -> np.ndarray:
        self.calls += len(texts)
        return np.roll(self.base.embed(texts, kind), 1, axis=1)


def test_import_into_another_model_reembeds_every_text(
    source: MemoryService, tmp_path: Path, minilm: LocalEmbedder
) -> None:
    other = Shifted(minilm)
    target = service_at(tmp_path / "other.db", other)
    header, records = read_export(dump(source, vectors=True).splitlines())
    report = import_records(target, header, records)
    assert report.vectors_reused == 0 and report.reembedded == report.memories
    assert target.store.model is not None and target.store.model.model_id == "other-model"
    mid = report.ids[records[0]["id"]]
    expected = other.embed([records[0]["content"]])[0]
    assert np.allclose(target.store.vectors([mid])[mid], expected)
    assert audit(target.store, report.ids.values()).ok


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([], "empty"),
        (['{"kind": "memory"}'], "not an mcp-memory-export header"),
        (['{"kind":"header","format":"mcp-memory-export","version":9}'], "version 9"),
        (['{"kind":"header","format":"mcp-memory-export","version":1}', "not json"], "line 2"),
        (['{"kind":"header","format":"mcp-memory-export","version":1}', '{"kind":"x"}'], "kind"),
    ],
)
def test_foreign_files_are_refused_naming_the_problem(lines: list[str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        read_export(lines)


def test_a_tampered_record_is_refused_and_a_bad_vector_reembedded(
    tmp_path: Path, minilm: LocalEmbedder
) -> None:
    head = {
        "kind": "header",
        "format": "mcp-memory-export",
        "version": 1,
        "vectors": True,
        "model": {"id": "minilm", "dimension": 384, "pooling": "mean"},
    }
    good = {
        "kind": "memory",
        "id": 1,
        "content": "x" * 10,
        "project": "p",
        "type": "note",
        "tags": [],
        "source": "tool",
        "state": "buffer",
        "content_hash": "forged",
        "vector": "AAAA",
    }
    svc = service_at(tmp_path / "t.db", minilm)
    report = import_records(svc, head, [good])
    assert report.reembedded == 1 and report.vectors_reused == 0
    stored = svc.store.get(report.ids[1])
    assert stored.content_hash != "forged"  # recomputed
    for bad in ({"state": "gone"}, {"content": ""}, {"tags": ["a b"]}, {"created_at": -1}):
        with pytest.raises(ValidationError):
            import_records(svc, head, [{**good, "id": 2, **bad}])


def test_cli_export_import_round_trip(source: MemoryService, tmp_path: Path) -> None:
    db = source.store.path
    out = tmp_path / "memories.jsonl"
    home = tmp_path / "cli-home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCP_MEMORY_")}
    env.update(MCP_MEMORY_HOME=str(home), MCP_MEMORY_MODEL="minilm", MCP_MEMORY_EMBED_PORT="9")
    run = [sys.executable, "-m", "mcp_memory.cli"]
    done = subprocess.run(
        [*run, "export", str(out), "--vectors"],
        env={**env, "MCP_MEMORY_DB": str(db)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    done = subprocess.run(
        [*run, "import", str(out), "--json"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["memories"] == source.store.counts()["total"]
    copy = Store.open(home / "memory.db")
    try:
        assert copy.counts()["total"] == source.store.counts()["total"]
        assert audit(copy).ok
    finally:
        copy.close()


WRITER = """
import sys, time
from mcp_memory.embedding.local import LocalEmbedder
from mcp_memory.embedding.specs import MINILM
from mcp_memory.service.memories import MemoryService
from mcp_memory.store.database import Store
svc = MemoryService(Store.open(sys.argv[1]), LocalEmbedder(MINILM, __import__('pathlib').Path('.'), threads=1))
n = 0
deadline = time.monotonic() + float(sys.argv[3])
while time.monotonic() < deadline:
    r = svc.remember(f"writer {sys.argv[2]} note {n} about backups under load", project="p", embed=n % 2 == 0)
    print(r.id, flush=True)
    n += 1
"""


def test_backup_while_processes_write_is_complete_consistent_and_private(
    source: MemoryService, tmp_path: Path
) -> None:
    db = source.store.path
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(db), str(n), "6"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(4)
    ]
    try:
        time.sleep(2.0)  # the writers are loaded and writing
        copies = [backup(db, tmp_path / f"backup-{n}.db") for n in range(3)]
    finally:
        outputs = [w.communicate(timeout=60) for w in writers]
    assert all(w.returncode == 0 for w in writers), [o[1][-500:] for o in outputs]
    written = sum(len(o[0].split()) for o in outputs)
    assert written > 20
    for report in copies:
        path = Path(report.destination)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert report.integrity == "ok"
        copy = Store.open(path)
        try:
            result = audit(copy, embedded=False)
            assert result.ok, result.problems()
            assert copy.counts()["total"] == report.memories >= 7
        finally:
            copy.close()
    with pytest.raises(ValidationError, match="exists"):
        backup(db, Path(copies[0].destination))


# -- issue 14: redaction on every write path, a whole-file check, idempotent relations ------------

AWS = "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
GHP = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
HEAD = {"kind": "header", "format": "mcp-memory-export", "version": 1, "vectors": False}


def memory_record(n: int, content: str, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "memory",
        "id": n,
        "content": content,
        "project": "p",
        "type": "note",
        "tags": [],
        "source": "tool",
        "state": "buffer",
        "created_at": 1_700_000_000.0 + n,
        **extra,
    }


def test_import_redacts_text_tags_and_project_as_remember_does(
    tmp_path: Path, minilm: LocalEmbedder
) -> None:
    """Item 3 and 4: an imported text is stored as remember stores it; tags and project too."""
    raw = f"Deploy keys:\n{AWS}\nand the bot token {GHP}."
    svc = service_at(tmp_path / "t.db", minilm)
    record = memory_record(
        1, raw, tags=[f"token={GHP}", GHP, "deploy"], project=f"/work/leak-{GHP}"
    )
    report = import_records(svc, HEAD, [record])
    stored = svc.store.get(report.ids[1])
    assert "wJalrXUtnFEMI" not in stored.content and GHP not in stored.content
    assert "[REDACTED:aws_secret_access_key]" in stored.content
    assert stored.tags == ("token=[redacted:github_token]", "deploy")  # the bare token dropped
    assert GHP not in stored.project and "[REDACTED:github_token]" in stored.project
    assert report.redacted == 5  # two in the text, two tags, the project
    # The same text remembered directly is the same memory: one redaction path.
    again = svc.remember(raw, project=stored.project)
    assert again.id == stored.id and again.status == "duplicate"


def test_remember_redacts_tags_and_project(service: MemoryService) -> None:
    """Item 4: a token in a tag or project name is not stored; a tag of only a token is dropped."""
    r = service.remember(
        "The CI bot pushes release tags.", project=f"/src/{GHP}", tags=[GHP, f"key={GHP}", "ci"]
    )
    m = service.store.get(r.id)
    assert GHP not in m.project and GHP not in " ".join(m.tags)
    assert m.tags == ("key=[redacted:github_token]", "ci")
    assert r.project == m.project
    rows = service.store.execute("SELECT tag FROM memory_tags WHERE memory_id = ?", [r.id])
    assert all(GHP.lower() not in str(t).lower() for (t,) in rows)


def bad_file() -> list[str]:
    deep = "[" * 5000 + "]" * 5000
    good = [memory_record(1, "a good note about deploys"), memory_record(2, "another good note")]
    lines = [json.dumps(HEAD)] + [json.dumps(r) for r in good]
    lines += [
        json.dumps(memory_record(3, "infinite time")).replace('"created_at":', '"x":')[:-1]
        + ',"created_at":Infinity}',  # line 4
        json.dumps(memory_record(4, "huge count", recall_count=2**63)),  # line 5
        '{"kind":"memory","id":5,"content":"deep","project":"p","type":"note","metadata":'
        + deep
        + "}",  # line 6
        json.dumps({"kind": "link", "source": 1, "target": 77, "similarity": 0.9}),  # line 7
        json.dumps({"kind": "link", "source": 1, "target": 2, "similarity": "high"}),  # line 8
        json.dumps({"kind": "consolidation", "id": 1, "project": "p", "status": "merged"}),  # 9
        json.dumps(
            {
                "kind": "lineage",
                "consolidation": 9,
                "result": 1,
                "source": 2,
                "source_prev_state": "buffer",
            }
        ),  # line 10
        json.dumps(memory_record(6, "fine again")),  # line 11
    ]
    return lines


def test_a_bad_file_is_refused_whole_naming_every_bad_line(
    tmp_path: Path, minilm: LocalEmbedder
) -> None:
    """Item 10: every line is checked before anything is stored; one error names them all."""
    svc = service_at(tmp_path / "t.db", minilm)
    before = svc.store.table_counts()
    with pytest.raises(ValidationError) as caught:
        header, records = read_export(bad_file())
        import_records(svc, header, records)
    message = str(caught.value)
    for n, words in (
        (4, "created_at must be a finite timestamp"),
        (5, "recall_count"),
        (6, "nested"),
        (7, "77"),
        (8, "similarity"),
        (9, "status"),
        (10, "consolidation 9"),
    ):
        assert f"line {n}: " in message and words in message, (n, message)
    for n in (2, 3, 11):
        assert f"line {n}:" not in message
    assert svc.store.table_counts() == before


def test_records_handed_to_import_are_checked_before_anything_is_stored(
    tmp_path: Path, minilm: LocalEmbedder
) -> None:
    svc = service_at(tmp_path / "t.db", minilm)
    before = svc.store.table_counts()
    records = [
        memory_record(1, "a good note"),
        memory_record(2, "a time that never ends", created_at=float("inf")),
        {"kind": "consolidation", "id": "x", "project": "p", "status": "applied"},
        {"kind": "lineage", "consolidation": 1, "result": 1, "source": 2},
    ]
    with pytest.raises(ValidationError, match="created_at must be a finite timestamp"):
        import_records(svc, HEAD, records)
    assert svc.store.table_counts() == before
    assert svc.store.every_consolidation() == []


def test_many_bad_lines_are_summarised() -> None:
    lines = [json.dumps(HEAD)] + [
        json.dumps(memory_record(n, "x", state="gone")) for n in range(1, 31)
    ]
    with pytest.raises(ValidationError) as caught:
        read_export(lines)
    message = str(caught.value)
    assert message.count("line ") == 20 and "and 10 more" in message
    assert message.startswith("30 bad lines")


def test_reimport_adds_nothing_and_says_so(
    source: MemoryService, tmp_path: Path, minilm: LocalEmbedder
) -> None:
    """Item 10: re-importing a file adds no consolidation, lineage or link; the report is true."""
    header, records = read_export(dump(source, vectors=True).splitlines())
    target = service_at(tmp_path / "copy.db", minilm)
    first = import_records(target, header, records)
    assert first.consolidations == 1 and first.lineage == 3 and first.links > 0
    tables = target.store.table_counts()
    second = import_records(target, header, records)
    assert (second.memories, second.links, second.consolidations, second.lineage) == (0, 0, 0, 0)
    assert second.duplicates == first.memories
    assert second.links_skipped == first.links
    assert second.consolidations_skipped == 1 and second.lineage_skipped == 3
    assert len(target.store.every_consolidation()) == 1
    assert target.store.table_counts() == tables
    # Importing the source's own export back into it adds nothing either.
    self_import = import_records(source, header, records)
    assert (self_import.memories, self_import.consolidations, self_import.lineage) == (0, 0, 0)
    assert len(source.store.every_consolidation()) == 1


def test_cli_reimport_reports_what_was_added_and_skipped(
    source: MemoryService, tmp_path: Path
) -> None:
    out = tmp_path / "memories.jsonl"
    with out.open("w", encoding="utf-8") as handle:
        export(source.store, handle)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCP_MEMORY_")}
    env.update(
        MCP_MEMORY_HOME=str(tmp_path / "h"), MCP_MEMORY_MODEL="minilm", MCP_MEMORY_EMBED_PORT="9"
    )
    run = [sys.executable, "-m", "mcp_memory.cli", "import", str(out)]
    first = subprocess.run(run, env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert "1 consolidations" in first.stdout
    second = subprocess.run(run, env=env, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    assert "0 consolidations (1 already here)" in second.stdout, second.stdout
    assert "imported 0 memories" in second.stdout


def test_remember_refuses_a_time_graph_and_recall_cannot_show(service: MemoryService) -> None:
    """Item 10's range holds for remember too: an export of what remember stored imports."""
    for bad in (float("inf"), 1e300, -5.0):
        with pytest.raises(ValidationError, match="between 1970 and 2100"):
            service.remember("a note from the far future", project="p", created_at=bad)
    assert service.remember("a note from 2001", project="p", created_at=978_307_200.0).id


def test_anchors_and_visibility_travel_and_a_path_leaving_the_repository_is_refused(
    tmp_path: Path, minilm: LocalEmbedder
) -> None:
    repo = tmp_path / "repo"
    (repo / "payments").mkdir(parents=True)
    (repo / "payments" / "retry.py").write_text("def backoff(n):\n    return 2 ** n\n")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "first"], check=True)
    project = str(repo.resolve())
    svc = service_at(tmp_path / "source.db", minilm)
    anchored = svc.remember("Retries back off exponentially in payments/retry.py", project=project)
    private = svc.remember(
        "my own reminder: ask about the retry cap", project=project, source="user"
    )
    (mine,) = svc.store.anchors_of([anchored.id]).values()
    text = dump(svc)
    records = {r["content"]: r for r in map(json.loads, text.splitlines()[1:])}
    record = records["Retries back off exponentially in payments/retry.py"]
    assert [a["path"] for a in record["anchors"]] == ["payments/retry.py"]
    assert "mtime_ns" not in record["anchors"][0]  # this machine's stat stays here
    assert records["my own reminder: ask about the retry cap"]["visibility"] == "private"

    target = service_at(tmp_path / "copy.db", minilm)
    header, parsed = read_export(text.splitlines())
    report = import_records(target, header, parsed)
    assert report.anchors == len(record["anchors"])
    copied = target.store.anchors_of([report.ids[anchored.id]])[report.ids[anchored.id]]
    # path, kind, selector, fingerprint, commit and when: as anchored on the source
    assert [(r[2], r[4], r[5], r[6], r[7], r[8]) for r in copied] == [
        (r[2], r[4], r[5], r[6], r[7], r[8]) for r in mine
    ]
    assert target.store.get(report.ids[private.id]).visibility == "private"

    for bad in ("../../etc/passwd", "/etc/passwd"):
        hostile = dict(
            record, content="another text", anchors=[dict(record["anchors"][0], path=bad)]
        )
        before = target.store.counts()["total"]
        with pytest.raises(ValidationError, match="relative to the repository"):
            import_records(target, header, [hostile])
        assert target.store.counts()["total"] == before  # nothing stored half-way
