"""``memcycle reindex --model NAME``: re-embed every memory with another model, then switch.

While it runs, nothing the sessions use changes: the new vectors go into their own table,
``reindex_vectors`` (float32 blobs, one row per memory, deleted with the memory), and the
target model is recorded in ``meta`` (``reindex_model``, ``reindex_dimension``,
``reindex_pooling``). Recall and remember keep using the old vectors and the old index.

Resumable: each batch is committed on its own, so after an interruption (Ctrl-C, a crash,
kill -9) the next run with the same model embeds only the memories that have no new vector
yet. A run for another model discards the progress of the first.

The switch is one IMMEDIATE transaction: memories stored meanwhile (with old vectors) are
embedded first, then the vec0 index is rebuilt at the new dimension from the new vectors,
``memory_vectors`` takes them, topic vectors are cleared (the linker recomputes them), the
model in ``meta`` changes and ``model_generation`` goes up. Any other process still running
with the old model notices on its next write or recall (:meth:`Store.check_model` re-reads
the model; :meth:`Store.set_vector` refuses old vectors inside its transaction) and fails
with a message saying to restart it, never writing an old-model vector into the new index.

Memories stored as text only (hooks; ``embedded = 0``) have no vector to replace: ``maintain``
embeds them with the new model after the switch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mcp_memory.embedding.protocol import Embedder
from mcp_memory.errors import ModelError, StoreError
from mcp_memory.store.database import Store

BATCH = 32
FINAL_BATCH = 8  # at most this many stragglers are embedded inside the switch transaction (it
# holds the write lock, so it must stay well under the busy timeout even for a slow model)


@dataclass
class ReindexReport:
    old_model: str
    new_model: str
    dimension: int
    total: int  # memories with a vector when the run started
    embedded: int  # embedded by this run
    resumed: int  # already done by an earlier, interrupted run
    switched: bool
    seconds: float
    generation: int = 0


Progress = Callable[[int, int], None]


def pending_target(store: Store) -> tuple[str, int] | None:
    """The model an interrupted reindex was moving to, if any."""
    return store.reindex_target()


def reindex(
    store: Store,
    embedder: Embedder,
    pooling: str,
    *,
    batch: int = BATCH,
    progress: Progress | None = None,
    max_batches: int | None = None,
) -> ReindexReport:
    """Re-embed every vector of ``store`` with ``embedder`` and switch (see the module doc).

    ``max_batches`` stops early without switching (tests interrupt with it); the next call
    resumes.
    """
    started = time.perf_counter()
    old = store.refresh_model()
    if old is None:
        raise StoreError(
            "the database has no vectors yet, so there is nothing to reindex; "
            "set MCP_MEMORY_MODEL for a new database instead"
        )
    target = (embedder.model_id, embedder.dimension)
    if target[1] <= 0 or target[1] % 8:
        raise ModelError(f"vector dimension must be a positive multiple of 8, not {target[1]}")
    resumed, total = store.begin_reindex(target[0], target[1], pooling)
    done = resumed
    embedded = batches = 0
    if progress is not None:
        progress(done, total)
    while max_batches is None or batches < max_batches:
        todo = store.reindex_remaining(max(batch, FINAL_BATCH + 1))
        if len(todo) <= (FINAL_BATCH if max_batches is None else 0):
            break
        todo = todo[:batch]
        embedded += _store_vectors(store, embedder, todo)
        batches += 1
        done = min(total, done + len(todo))
        if progress is not None:
            progress(done, total)
    else:
        return ReindexReport(
            old.model_id,
            target[0],
            target[1],
            total,
            embedded,
            resumed,
            False,
            round(time.perf_counter() - started, 3),
        )
    with store.transaction():
        stragglers = store.reindex_remaining(10 * FINAL_BATCH)
        if len(stragglers) > FINAL_BATCH:  # a burst arrived: embed outside, try again
            raise _Retry()
        embedded += _store_vectors(store, embedder, stragglers)
        generation = store.switch_to_staged(old, target[0], target[1], pooling)
    store.vector_model = target
    store.opened_model = store.model
    if progress is not None:
        progress(total, total)
    return ReindexReport(
        old.model_id,
        target[0],
        target[1],
        total,
        embedded,
        resumed,
        True,
        round(time.perf_counter() - started, 3),
        generation,
    )


class _Retry(Exception):
    pass


def _store_vectors(store: Store, embedder: Embedder, todo: list[tuple[int, str]]) -> int:
    if not todo:
        return 0
    vectors = np.ascontiguousarray(embedder.embed([c for _, c in todo], "document"), dtype="<f4")
    if vectors.shape != (len(todo), embedder.dimension) or not np.all(np.isfinite(vectors)):
        raise ModelError(
            f"{embedder.model_id} returned vectors of shape {vectors.shape} for {len(todo)} "
            f"texts; expected ({len(todo)}, {embedder.dimension}). Nothing was switched"
        )
    store.stage_vectors([(mid, vec.tobytes()) for (mid, _), vec in zip(todo, vectors, strict=True)])
    return len(todo)


def run(
    store: Store,
    embedder: Embedder,
    pooling: str,
    *,
    batch: int = BATCH,
    progress: Progress | None = None,
    attempts: int = 5,
) -> ReindexReport:
    """:func:`reindex`, trying the switch again if a burst of new memories keeps arriving."""
    for _ in range(attempts - 1):
        try:
            return reindex(store, embedder, pooling, batch=batch, progress=progress)
        except _Retry:
            continue
    try:
        return reindex(store, embedder, pooling, batch=batch, progress=progress)
    except _Retry:
        raise StoreError(
            "new memories keep arriving faster than they can be re-embedded; run reindex "
            "again when fewer sessions are writing (the progress so far is kept)"
        ) from None
