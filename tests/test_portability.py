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
