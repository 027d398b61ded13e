"""Crash safety: writers killed with SIGKILL at random moments, many times (issue #8, part 2).

Pins: after 20 cycles of two writer processes (remember with and without vectors, session
chains, forget, embed and connect) each killed mid-flight, ``PRAGMA integrity_check`` and both
FTS5 integrity checks pass, every memory a writer printed (its id came back, so the commit
returned) is present with its content, vector, index entry and full-text entry, and no table
holds an orphan row; a new process opens the database and writes at once (no stale lock).
``bench/reliability.py`` runs more cycles.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import storm as st

from mcp_memory.embedding.local import LocalEmbedder
from mcp_memory.service.memories import MemoryService
from mcp_memory.store.database import Store
from mcp_memory.store.integrity import audit


@pytest.mark.slow
def test_twenty_kill_9_cycles_lose_no_acknowledged_memory(
    tmp_path: Path, minilm: LocalEmbedder
) -> None:
    db = tmp_path / "memory.db"
    Store.open(db).close()
    crashes = st.crash_cycles(db, 20, writers=2, seed=8, warm=1.2, max_wait=1.0)
    assert crashes.cycles == 20 and crashes.killed == 40
    assert len(crashes.acknowledged) >= 40  # most cycles got writes in before the kill
    store = Store.open(db)
    try:
        result = audit(store, crashes.acknowledged, embedded=False)
        assert result.ok, result.problems()
        embedded = store.query_ids("embedded = 1")
        assert audit(store, embedded).ok  # each embedded one has its vector and index entry
        after = MemoryService(store, minilm).remember(
            "written right after the crashes", project="crash"
        )
        assert after.status == "created" and audit(store, [after.id]).ok
    finally:
        store.close()
