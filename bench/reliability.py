"""Reliability at bigger numbers than the test suite: concurrency, crashes, backup under load,
reindex. Writes the figures into docs/reliability.md (section ``reliability``).

    .venv/bin/python bench/reliability.py                # the documented run (~5 min on 2 cores)
    .venv/bin/python bench/reliability.py --quick        # smaller, to try it
    .venv/bin/python bench/reliability.py --hostile-only # only import attacks and corruption

Every number is measured here; the same drivers (tests/storm.py) run with smaller numbers in
tests/test_concurrency.py and tests/test_crash.py.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "bench"))

import storm as st  # noqa: E402
from _report import table, write_section  # noqa: E402
from warm_helpers import serving  # noqa: E402

from mcp_memory.embedding.local import LocalEmbedder  # noqa: E402
from mcp_memory.embedding.specs import MINILM  # noqa: E402
from mcp_memory.service.memories import MemoryService, content_hash  # noqa: E402
from mcp_memory.service.portability import backup  # noqa: E402
from mcp_memory.store.database import Store  # noqa: E402
from mcp_memory.store.integrity import audit  # noqa: E402

DOC = REPO / "docs" / "reliability.md"


def concurrency(
    minilm: LocalEmbedder,
    root: Path,
    servers: int,
    each: int,
    cli: int,
    cli_each: int,
    hooks: int,
    maintains: int,
) -> list[list[object]]:
    project = root / "proj"
    (project / ".git").mkdir(parents=True)
    home = root / "home"
    with serving(minilm.engine(), run_dir=home / "run") as server:
        result = st.run_storm(
            home,
            project,
            server.port,
            servers=servers,
            each=each,
            cli=cli,
            cli_each=cli_each,
            hooks=hooks,
            maintains=maintains,
        )
    store = Store.open(home / "memory.db")
    try:
        key = str(project.resolve())
        hook_ids = [
            m.id
            for n in result.hook_notes
            if (m := store.find_hash(key, content_hash(n))) is not None
        ]
        report = audit(store, result.acknowledged)
        hooks_ok = audit(store, hook_ids, embedded=False).ok
        duplicated = sum(
            1
            for c in Counter(r[0] for r in store.execute("SELECT content FROM memories")).values()
            if c > 1
        )
        merged = len(store.query_ids("source = 'lifecycle'"))
        links = store.counts()["links"]
    finally:
        store.close()
    lost = (
        len(result.hook_notes)
        - len(hook_ids)
        + sum(len(v) for k, v in report.missing.items() if k == "not stored")
    )
    return [
        [
            "concurrent actors",
            f"{servers} MCP stdio servers, {cli} CLI writers, 1 hook stream, "
            "1 maintain loop, 1 consolidation",
        ],
        ["processes started", result.processes],
        ["acknowledged memories", f"{len(result.acknowledged)} (+{len(hook_ids)} via hooks)"],
        ["recalls", result.recalls],
        ["errors", len(result.errors)],
        ["lost / duplicated", f"{lost} / {duplicated}"],
        ["consolidation results (with lineage)", merged],
        ["links", links],
        [
            "audit (integrity, FTS, orphans, every id whole)",
            "ok" if report.ok and hooks_ok else "; ".join(report.problems()),
        ],
        ["wall time", f"{result.seconds} s"],
    ]


def crashes(root: Path, cycles: int) -> list[list[object]]:
    db = root / "crash.db"
    Store.open(db).close()
    result = st.crash_cycles(db, cycles, writers=2, seed=8, warm=1.2, max_wait=1.0)
    store = Store.open(db)
    try:
        report = audit(store, result.acknowledged, embedded=False)
        total = store.counts()["total"]
    finally:
        store.close()
    return [
        ["kill -9 cycles (2 writers each)", result.cycles],
        ["writers killed", result.killed],
        ["acknowledged memories", len(result.acknowledged)],
        ["memories in the database", total],
        ["audit", "ok" if report.ok else "; ".join(report.problems())],
        ["wall time", f"{result.seconds} s"],
    ]


WRITER = st.WRITER.replace(
    "while True:",
    "import time\nend = time.monotonic() + float(sys.argv[3])\nwhile time.monotonic() < end:",
)


def backups(minilm: LocalEmbedder, root: Path, memories: int) -> list[list[object]]:
    db = root / "backup.db"
    svc = MemoryService(Store.open(db), minilm)
    for start in range(0, memories, 100):
        svc.remember_many(
            [
                f"seed memory {n}: value {n * 13} for the backup benchmark"
                for n in range(start, min(memories, start + 100))
            ],
            project="b",
        )
    svc.store.close()
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(db), f"b{n}", "12"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        for n in range(4)
    ]
    time.sleep(2.0)
    reports = []
    try:
        for n in range(5):
            reports.append(backup(db, root / f"copy-{n}.db"))
            time.sleep(0.5)
    finally:
        written = sum(len(w.communicate(timeout=120)[0].split()) for w in writers)
    ok = True
    for r in reports:
        copy = Store.open(Path(r.destination))
        ok = ok and audit(copy, embedded=False).ok
        copy.close()
    return [
        ["database", f"{memories} memories, {reports[-1].bytes / 1e6:.1f} MB"],
        ["writers during the backups", f"4 processes, {written} memories written"],
        ["backups taken", len(reports)],
        ["seconds per backup (median)", sorted(r.seconds for r in reports)[len(reports) // 2]],
        ["every copy audits clean (integrity_check, FTS, orphans)", "yes" if ok else "NO"],
    ]


def hostile_imports(minilm: LocalEmbedder, root: Path) -> list[list[object]]:
    """Hostile export files: each must be refused whole (nothing half-stored)."""
    from mcp_memory.errors import MCPMemoryError
    from mcp_memory.service.portability import import_records

    good = {"kind": "memory", "id": 1, "content": "a good fact", "project": "i", "type": "fact"}
    attacks = {
        "created_at Infinity": [
            good,
            {**good, "id": 2, "content": "x", "created_at": float("inf")},
        ],
        "recall_count 2^63": [good, {**good, "id": 2, "content": "y", "recall_count": 2**63}],
        "link to a missing id": [
            good,
            {"kind": "link", "source": 1, "target": 99, "similarity": 0.5},
        ],
        "NUL in content": [good, {**good, "id": 2, "content": "bad\x00text"}],
        "5,000-deep tags": [good, {**good, "id": 2, "content": "z", "tags": [[]] * 1}],
    }
    deep: object = []
    for _ in range(5000):
        deep = [deep]
    attacks["5,000-deep tags"][1]["tags"] = deep  # type: ignore[index]
    rows = []
    for name, records in attacks.items():
        store = Store.open(root / f"imp-{len(rows)}.db")
        svc = MemoryService(store, minilm)
        try:
            import_records(svc, {"kind": "header"}, records)
            outcome = "stored (NOT refused)"
        except (MCPMemoryError, ValueError, TypeError, RecursionError) as exc:
            outcome = f"refused ({type(exc).__name__})"
        count = len(store.get_many(list(range(1, 5))))
        store.close()
        rows.append([name, outcome, f"{count} memories stored"])
    return rows


def corruption(minilm: LocalEmbedder, root: Path) -> list[list[object]]:
    """A page of the memories table overwritten with garbage: recovery salvages N of M."""
    import hashlib

    from test_recover import damage_page, filled, leaf_pages

    from mcp_memory.store.recover import recover

    rows = []
    for where in ("first", "middle", "last", "header"):
        db = root / f"corrupt-{where}.db"
        ids = filled(db, minilm, n=300)
        pages = leaf_pages(db, "memories")
        page = {"first": pages[0], "middle": pages[len(pages) // 2], "last": pages[-1]}.get(
            where, 1
        )
        damage_page(db, page)
        before = hashlib.sha256(db.read_bytes()).hexdigest()
        try:
            result = recover(db, root / f"recovered-{where}.db")
            kept, how, check = result.memories, result.method, result.check
        except Exception as exc:  # the header case: nothing SQLite can read
            kept, how, check = 0, f"failed: {type(exc).__name__}", "-"
        same = hashlib.sha256(db.read_bytes()).hexdigest() == before
        rows.append(
            [f"{where} page ({page})", how, f"{kept} of {len(ids)}", check, "yes" if same else "NO"]
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--hostile-only", action="store_true")
    args = parser.parse_args()
    quick = args.quick
    minilm = LocalEmbedder(MINILM, Path(tempfile.gettempdir()), threads=1)
    with tempfile.TemporaryDirectory() as tmp:
        print("hostile imports and corruption ...", file=sys.stderr)
        imports = hostile_imports(minilm, Path(tmp))
        damaged = corruption(minilm, Path(tmp))
    hostile = "\n\n".join(
        [
            "Measured by `bench/reliability.py` (`--hostile-only` runs just this part).",
            "**Hostile import files** (each must be refused whole; nothing half-stored):\n\n"
            + table(["file", "outcome", "left in the database"], imports),
            "**A damaged database** (300 memories, one 4 KiB page overwritten with random bytes; "
            "`memcycle doctor --repair` = `store.recover` into a new file):\n\n"
            + table(
                ["damage", "method", "memories salvaged", "integrity", "original unchanged"],
                damaged,
            ),
        ]
    )
    write_section("hostile", hostile, DOC)
    print(hostile)
    if args.hostile_only:
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        print("concurrency ...", file=sys.stderr)
        conc = concurrency(
            minilm,
            root / "c",
            servers=4 if quick else 8,
            each=5 if quick else 25,
            cli=2 if quick else 4,
            cli_each=3 if quick else 8,
            hooks=6 if quick else 20,
            maintains=2 if quick else 4,
        )
        print("crashes ...", file=sys.stderr)
        crash = crashes(root, 10 if quick else 100)
        print("backup ...", file=sys.stderr)
        back = backups(minilm, root, 500 if quick else 5000)
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    body = "\n\n".join(
        [
            f"Measured by `bench/reliability.py`{' --quick' if quick else ''} on {machine}.",
            "**Many sessions at once** (one database, one warm server):\n\n"
            + table(["", ""], conc),
            "**kill -9 at random moments**:\n\n" + table(["", ""], crash),
            "**Online backup while sessions write**:\n\n" + table(["", ""], back),
        ]
    )
    write_section("reliability", body, DOC)
    print(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
