"""Many sessions at once on one database (issue #8, part 1).

Pins: 4 MCP stdio servers (10 memories each, a recall after every one), 2 CLI writers, a hook
stream of ``#remember`` prompts, 2 ``maintain`` runs and a consolidation, all at once against
one database and one real warm server: zero errors, every acknowledged memory stored once with
its vector, index and full-text entries, no orphan rows, every link between existing memories,
``integrity_check`` ok, and no process left behind. ``bench/reliability.py`` runs bigger numbers.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest
import storm as st
from warm_helpers import serving

from mcp_memory.embedding.local import LocalEmbedder
from mcp_memory.service.memories import content_hash
from mcp_memory.store.database import Store
from mcp_memory.store.integrity import audit


@pytest.mark.slow
def test_ten_processes_at_once_lose_and_duplicate_nothing(
    tmp_path: Path, minilm: LocalEmbedder
) -> None:
    project = tmp_path / "proj"
    (project / ".git").mkdir(parents=True)
    home = tmp_path / "home"
    before = set(st.children_of(os.getpid()))
    with serving(minilm.engine(), run_dir=home / "run") as server:
        result = st.run_storm(
            home, project, server.port, servers=4, each=10, cli=2, cli_each=4, hooks=6, maintains=2
        )
    assert result.errors == []
    assert result.processes >= 10 + 8 + 6  # servers, CLI runs, hooks, maintain, consolidate
    assert len(result.acknowledged) == 3 + 4 * 10 + 2 * 4
    assert result.recalls == 40 and len(result.consolidated) >= 1

    store = Store.open(home / "memory.db")
    try:
        key = str(project.resolve())
        hook_ids = []
        for note in result.hook_notes:
            found = store.find_hash(key, content_hash(note))
            assert found is not None, f"hook note lost: {note}"
            hook_ids.append(found.id)
        assert len(hook_ids) == 6
        report = audit(store, result.acknowledged)
        assert report.ok, report.problems()
        assert audit(store, hook_ids, embedded=False).ok
        for mid, content in result.acknowledged.items():
            assert store.get(mid).content == content
        contents = Counter(r[0] for r in store.execute("SELECT content FROM memories"))
        assert max(contents.values()) == 1  # nothing stored twice
        # The rest are new consolidation results (maintain's extractive merges of other
        # clusters); a merge's result may also be the member that stands for its cluster (the
        # offline merge of near-identical memories). Every result has its lineage.
        merged = {r for r, _, _ in store.execute("SELECT result_id, source_id, 0 FROM lineage")}
        created = set(store.query_ids("source = 'lifecycle'"))
        assert set(result.consolidated) <= merged and created <= merged
        assert store.counts()["total"] == len(result.acknowledged) + len(hook_ids) + len(created)
        for mid in merged:
            assert (
                store.execute("SELECT count(*) FROM lineage WHERE result_id = ?", (mid,))[0][0] >= 2
            )
        seeds = [i for i, c in result.acknowledged.items() if c in st.SEED]
        (kept,) = result.consolidated
        assert kept in seeds and store.get(kept).state == "proven"
        assert {store.get(i).state for i in seeds if i != kept} == {"superseded"}
        assert store.counts()["links"] > 0
    finally:
        store.close()
    left = set(st.children_of(os.getpid())) - before
    assert st.no_leftovers(sorted(left)) == []
