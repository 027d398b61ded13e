"""Model migration: ``reindex`` re-embeds every memory into a new vector table, resumable, and
switches atomically (issue #8, part 6).

The second model is the tiny synthetic Qwen-shaped ONNX graph (32-d, tests/qwen_fixture.py),
so the switch changes model, dimension and pooling for real.

Pins: an interrupted run switches nothing and recall keeps working on the old vectors; the next
run resumes where it stopped (only the rest is embedded) and picks up memories stored
meanwhile; after the switch every vector is the new model's vector of its text, the index is
rebuilt at the new dimension and the database audits clean; a process still running with the
old model is refused with a message saying to restart it (text-only writes go on); kill -9
during a reindex leaves the old database intact and resumable.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from qwen_fixture import build_tiny_qwen, tiny_qwen_spec

from mcp_memory.cli.progress import Bar
from mcp_memory.embedding.local import LocalEmbedder
from mcp_memory.errors import ModelMismatchError
from mcp_memory.lifecycle.reindex import pending_target, reindex, run
from mcp_memory.service.memories import MemoryService
from mcp_memory.service.types import Options
from mcp_memory.store.database import Store
from mcp_memory.store.integrity import audit

TESTS = Path(__file__).resolve().parent
WORDS = ["cat", "dog", "bird", "fish", "tree", "house", "car", "road", "rain", "sun", "moon"]


def text(n: int) -> str:
    picks = [WORDS[(n * 7 + i * 3) % len(WORDS)] for i in range(6)]
    return f"memory {n}: the {' '.join(picks)} database vector test"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> LocalEmbedder:
    models = tmp_path_factory.mktemp("models")
    spec = tiny_qwen_spec(batch_invariant=True)
    build_tiny_qwen(models / spec.id)
    (models / spec.id / ".complete").touch()
    return LocalEmbedder(spec, models, threads=1)


@pytest.fixture
def old(tmp_path: Path, minilm: LocalEmbedder) -> MemoryService:
    svc = MemoryService(Store.open(tmp_path / "m.db"), minilm, Options(duplicate_threshold=1.01))
    svc.remember_many([text(n) for n in range(40)], project="p")
    svc.remember("text only, from a hook", project="p", embed=False)
    svc.forget(svc.remember(text(99), project="q").id)
    return svc


def test_interrupted_then_resumed_reindex_switches_once_everything_is_embedded(
    old: MemoryService, tiny: LocalEmbedder, tmp_path: Path
) -> None:
    store = old.store
    before = [h.id for h in old.recall(text(5), projects=["p"], k=5, count_recall=False)]
    total = store.counts()["vectors"]

    first = reindex(store, tiny, "last_token", batch=8, max_batches=2)
    assert not first.switched and first.embedded == 16
    assert pending_target(store) == ("tiny-qwen", 32)
    assert store.model is not None and store.model.model_id == "minilm"
    # Meanwhile sessions go on with the old model: recall is unchanged, writes land.
    assert [h.id for h in old.recall(text(5), projects=["p"], k=5, count_recall=False)] == before
    late = old.remember("a memory stored while the reindex ran", project="p").id
    store.purge([1])  # gone meanwhile: its new vector (done in the first run) goes with it

    events: list[tuple[int, int]] = []
    second = reindex(
        store, tiny, "last_token", batch=8, progress=lambda d, t: events.append((d, t))
    )
    assert second.switched and second.resumed == 15 and second.total == total  # +1 late, -1 purged
    assert second.embedded == total - 15
    assert events[0] == (15, total) and events[-1] == (total, total)
    assert pending_target(store) is None and second.generation == 1

    assert store.model is not None and (store.model.model_id, store.model.dimension) == (
        "tiny-qwen",
        32,
    )
    ids = [i for i in store.query_ids("embedded = 1")]
    vectors = store.vectors(ids)
    memories = store.get_many(ids)
    expected = tiny.embed([memories[i].content for i in ids])
    for i, vec in zip(ids, expected, strict=True):
        assert vectors[i].shape == (32,) and np.array_equal(vectors[i], vec)
    result = audit(store, [late, *ids])
    assert result.ok, result.problems()

    new = MemoryService(store, tiny, Options(duplicate_threshold=1.01))
    hits = new.recall(text(7), projects=["p"], k=3, count_recall=False)
    assert hits[0].id == store.find_hash("p", _hash(text(7))).id  # type: ignore[union-attr]
    assert new.remember("the dog and the cat", project="p").status == "created"


def _hash(t: str) -> str:
    from mcp_memory.service.memories import content_hash

    return content_hash(t)


def test_a_process_still_on_the_old_model_is_refused_not_mixed(
    old: MemoryService, tiny: LocalEmbedder, minilm: LocalEmbedder
) -> None:
    """Another process (its own connection, its own service) keeps running across the switch."""
    other = MemoryService(Store.open(old.store.path), minilm, Options(duplicate_threshold=1.01))
    try:
        other.recall(text(1), projects=["p"])  # works before
        run(old.store, tiny, "last_token", batch=16)
        with pytest.raises(ModelMismatchError, match="reindex.*restart"):
            other.recall(text(1), projects=["p"])
        with pytest.raises(ModelMismatchError, match="restart"):
            other.remember("a new memory with an old vector", project="p")
        assert other.remember("text only is fine", project="p", embed=False).status == "created"
        mid = other.store.pending("embedded", 10)[0]
        with pytest.raises(ModelMismatchError):  # maintain in the old process: refused too
            other.store.set_vector(mid, minilm.embed(["x"])[0], "p", "buffer")
        assert audit(other.store, embedded=False).ok
    finally:
        other.store.close()


def test_a_second_target_discards_the_first_ones_progress(
    old: MemoryService, tiny: LocalEmbedder, minilm: LocalEmbedder
) -> None:
    reindex(old.store, tiny, "last_token", batch=8, max_batches=1)
    again = reindex(old.store, minilm, "mean", batch=64)  # back to minilm itself: re-embed all
    assert again.resumed == 0 and again.switched
    assert audit(old.store).ok


def test_progress_bar_draws_counts_and_finishes_with_a_newline() -> None:
    import io

    out = io.StringIO()
    bar = Bar("reindex", out)
    bar(0, 50)
    bar(50, 50)
    assert "50/50" in out.getvalue() and "100%" in out.getvalue() and out.getvalue().endswith("\n")


KILLED = """
import sys, time
sys.path.insert(0, {tests!r})
from mcp_memory.embedding.local import LocalEmbedder
from mcp_memory.lifecycle.reindex import reindex
from mcp_memory.store.database import Store
from qwen_fixture import tiny_qwen_spec
from pathlib import Path

class Slow(LocalEmbedder):
    def embed(self, texts, kind="document"):
        time.sleep(0.15)
        return super().embed(texts, kind)

emb = Slow(tiny_qwen_spec(batch_invariant=True), Path({models!r}), threads=1)
store = Store.open({db!r})
reindex(store, emb, "last_token", batch=4, progress=lambda d, t: print(d, flush=True))
print("switched", flush=True)
"""


def test_kill_9_during_reindex_leaves_the_old_index_intact_and_resumable(
    old: MemoryService, tiny: LocalEmbedder
) -> None:
    store = old.store
    before = [h.id for h in old.recall(text(3), projects=["p"], k=5, count_recall=False)]
    script = textwrap.dedent(KILLED).format(
        tests=str(TESTS), models=str(tiny.models_dir), db=str(store.path)
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout is not None
    seen = []
    deadline = time.monotonic() + 60
    while len(seen) < 4 and time.monotonic() < deadline:  # a few batches committed
        seen.append(proc.stdout.readline().strip())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    proc.stdout.close()
    assert proc.stderr is not None
    proc.stderr.close()
    assert "switched" not in seen
    assert store.refresh_model() is not None and store.model.model_id == "minilm"  # type: ignore[union-attr]
    assert audit(store).ok
    assert [h.id for h in old.recall(text(3), projects=["p"], k=5, count_recall=False)] == before
    done = reindex(store, tiny, "last_token", batch=16)
    assert done.switched and done.resumed >= 8
    assert audit(store).ok
