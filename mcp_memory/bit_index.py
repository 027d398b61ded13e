"""The binary codes of ``memory_index`` held in RAM: the candidate stage of :meth:`Store.knn`.

Why: at 100k x 1024-d a sqlite-vec scan of the ``bit[D]`` index costs ~12 ms CPU (~20 ms on
a busy machine) before any rescoring, and ``Store.knn`` needs two of them (see
``docs/benchmarks.md``, section "recall"). The same codes in numpy arrays (D/8 bytes a row:
12.8 MB at 100k x 1024-d) are scanned in ~2 ms.

What one query does (``search``), with numbers measured by ``bench/recall.py``:

1. Scope: each row carries a small-int code of its (project, state) pair; a boolean table per
   query turns them into a mask.
2. Hamming distances to the query's code by XOR + ``np.bitwise_count``, word by word over the
   codes stored transposed (``[D/64, n]`` uint64), so every pass is one contiguous array.
3. The same selection the sqlite-vec path makes: the k-th smallest distance (from a histogram),
   then every row within ``1.25 * sqrt(D)`` bits of it, nearest first, at most ``4 * pool``
   rows.
4. Asymmetric re-ranking: each shortlisted row scored by ``q . sign(x)`` (the float query
   against the row's bits, through a per-query table of ``D/8 x 256`` partial sums), and the
   best ``pool`` kept. It estimates the cosine far better than the Hamming distance, so the
   expensive last step needs fewer rows: recall@10 0.994 with 200 rows rescored against 0.992
   with up to 800 before.
5. Exact rescoring of those rows from their float32 blobs in ``memory_vectors``; the rows about
   to be returned are checked against ``memories`` (the authoritative project and state) in
   SQL: RAM metadata that is out of date can cost a slot, never return a wrong row.

Scopes no larger than the pool skip the estimate: every row in scope is rescored, so the
result is exact.

Freshness. The index belongs to one connection (one :class:`~mcp_memory.store.Store`) and is
loaded on its first search. Before each search it catches up with:

- this connection's writes: an SQLite update hook records the ids of changed ``memories`` and
  ``memory_vectors`` rows, and those ids are re-read (a rollback hook puts back the ids re-read
  inside a transaction that then rolled back);
- other connections' commits, seen as a change of ``PRAGMA data_version``: the model in
  ``meta`` is compared (``reindex`` switches it: the index is rebuilt), then the index's own
  chunk tables (rowids, validity bitmap, the ``state`` column and the codes of the chunks new
  rows go to) are compared with the RAM copy, chunk by chunk, ~1 ms at 100k; the ids whose slot
  changed are re-read from ``memories`` and ``memory_vectors``.

That comparison and the fast load read sqlite-vec 0.1's shadow tables (``memory_index_chunks``,
``..._vector_chunks00``, ``..._metadatachunks01``). Their layout is checked when the index loads
(sizes, and a sample of codes against the stored vectors); if it is not what this module
expects, or numpy lacks ``bitwise_count`` (numpy < 2), or the index would take more than
``max_bytes``, ``search`` returns None and ``Store.knn`` uses the sqlite-vec scan instead.

Not thread-safe by itself: the caller holds the store's lock.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, NamedTuple

import apsw
import numpy as np

log = logging.getLogger("mcp_memory")

INDEX = "memory_index"
MAX_BYTES = 256 * 2**20  # RAM the index may take before Store.knn falls back to sqlite-vec
SHORTLIST_FACTOR = 4  # rows re-ranked by the asymmetric estimate, per row rescored exactly
MARGIN = 1.25  # x sqrt(D) bits past the k-th nearest code that a candidate may be
SUBSET = 0.5  # a scope holding less than this share of the rows is gathered before scanning
COMPACT = 0.25  # share of dead rows at which the arrays are rebuilt without them
COMPACT_MIN = 4096  # ... once there are at least this many
CHECK_ROWS = 8  # codes compared with the stored vectors when the index loads
FAR = np.uint16(0xFFFF)  # the distance of a row out of scope
_HAS_POPCOUNT = hasattr(np, "bitwise_count")
# Row j of _SIGNS: the 8 signs (+1 bit set, -1 not) of byte value j, least significant bit first
# (sqlite-vec's bit order: dimension 8b + i is bit i of byte b).
_SIGNS = (
    np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1, bitorder="little").astype(
        np.float32
    )
    * 2
    - 1
)


class Chunk(NamedTuple):
    """One row of the index's chunk table, with its ``state`` column's chunk."""

    ids: np.ndarray  # memory id in each slot (int64; meaningless where not valid)
    valid: np.ndarray  # bool per slot
    raw: tuple[bytes, bytes, bytes]  # validity bitmap, rowids, state entries, as stored


class Unusable(Exception):
    """The RAM index cannot serve this database (the caller falls back to sqlite-vec)."""


def quantize(vectors: np.ndarray, words: int) -> np.ndarray:
    """sqlite-vec's ``vec_quantize_binary`` (bit = value > 0), as ``[n, words]`` uint64."""
    bits = np.packbits(np.atleast_2d(vectors) > 0, axis=1, bitorder="little")
    out = np.zeros((bits.shape[0], words * 8), dtype=np.uint8)
    out[:, : bits.shape[1]] = bits
    return out.view(np.uint64)


class BitIndex:
    """The RAM copy of one connection's ``memory_index`` (see the module docstring)."""

    def __init__(self, db: apsw.Connection, *, max_bytes: int = MAX_BYTES) -> None:
        self.db = db
        self.max_bytes = max_bytes
        self.disabled: str | None = None if _HAS_POPCOUNT else "numpy has no bitwise_count"
        self.loaded = False
        self.loads = 0  # full (re)loads so far (tests and the benchmark read it)
        self._hooked = False
        self.data_version = -1
        self.total_changes = -1
        self.hook_calls = 0
        self._reset()

    # -- state ------------------------------------------------------------------------------

    def _reset(self) -> None:
        self.dimension = 0
        self.words = 0
        self.n = 0  # rows used in the arrays (live and dead)
        self.dead = 0
        self.codes = np.zeros((0, 0), dtype=np.uint64)  # [words, capacity], transposed
        self.ids = np.zeros(0, dtype=np.int64)
        self.group = np.zeros(0, dtype=np.int32)  # index into group_keys; -1: dead row
        self.counts = np.zeros(0, dtype=np.int64)  # live rows of each group
        self.pos = np.zeros(0, dtype=np.int32)  # row of each memory id; -1: none
        self.group_keys: list[tuple[str, str]] = []
        self.group_of: dict[tuple[str, str], int] = {}
        self.model_key: tuple[str, ...] = ()
        self.chunks: dict[int, tuple[bytes, bytes, bytes]] = {}  # id: (validity, rowids, state)
        self.last_chunk = 0
        self.dirty_meta: set[int] = set()  # memories rows changed by this connection
        self.dirty_vec: set[int] = set()  # memory_vectors rows changed by this connection
        self.reread_in_tx: set[int] = set()  # re-read inside the open transaction
        self.force_diff = False

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return self.db.execute(sql, tuple(params)).fetchall()

    @property
    def live(self) -> int:
        return self.n - self.dead

    def nbytes(self, rows: int | None = None, max_id: int | None = None) -> int:
        rows = self.codes.shape[1] if rows is None else rows
        max_id = len(self.pos) if max_id is None else max_id
        per_row = self.words * 8 + 8 + 4 + 3 * 8  # codes, id, group, chunk snapshot (~)
        return rows * per_row + max_id * 4

    # -- hooks: this connection's own writes --------------------------------------------------

    def _install_hooks(self) -> None:
        if self._hooked:
            return
        self.db.set_update_hook(self._on_update)
        self.db.set_rollback_hook(self._on_rollback, id=self)
        self.db.set_commit_hook(self._on_commit, id=self)
        self._hooked = True

    def _on_update(self, _op: int, dbname: str, table: str, rowid: int) -> None:
        self.hook_calls += 1
        if dbname != "main":
            return
        if table == "memories":
            self.dirty_meta.add(rowid)
        elif table == "memory_vectors":
            self.dirty_vec.add(rowid)

    def _on_rollback(self) -> None:
        # Rows re-read inside the transaction hold what it wrote: read them again.
        self.dirty_vec |= self.reread_in_tx
        self.reread_in_tx = set()
        self.force_diff = True  # and let the chunk comparison catch anything else

    def _on_commit(self) -> bool:
        self.reread_in_tx = set()
        return False  # go ahead with the commit

    # -- search -------------------------------------------------------------------------------

    def search(
        self,
        query: np.ndarray,
        k: int,
        *,
        projects: Sequence[str] | None,
        states: Sequence[str],
        pool: int,
    ) -> list[tuple[int, float]] | None:
        """The ``k`` nearest memories in scope by cosine, best first; None when the RAM index
        cannot serve (the caller then scans sqlite-vec). ``pool`` rows are rescored exactly."""
        if self.disabled is not None:
            return None
        try:
            self.sync()
        except Unusable as exc:
            self.disabled = str(exc)
            log.warning("Store.knn falls back to the sqlite-vec scan: %s", exc)
            self._drop()
            return None
        if not self.loaded:
            return None  # no model yet
        if query.shape != (self.dimension,):
            return None  # a query of another model: let the sqlite-vec path say so
        for attempt in (0, 1):
            rows = self._select(query, k, projects, states, pool)
            if not len(rows):
                return []
            hits, stale = self._rescore(query, self.ids[rows], k, projects, states)
            if not stale:
                return hits
            self.dirty_vec.update(stale)  # RAM disagreed with SQL: re-read those rows
            self.sync()
            if len(hits) >= k or attempt:
                return hits
        return hits  # pragma: no cover - the loop returns

    def _select(
        self,
        q: np.ndarray,
        k: int,
        projects: Sequence[str] | None,
        states: Sequence[str],
        pool: int,
    ) -> np.ndarray:
        """Rows (array positions) to rescore exactly."""
        allowed = np.zeros(len(self.group_keys) + 1, dtype=bool)  # the last: dead rows (-1)
        wanted_states, wanted_projects = set(states), None if projects is None else set(projects)
        for g, (project, state) in enumerate(self.group_keys):
            allowed[g] = state in wanted_states and (
                wanted_projects is None or project in wanted_projects
            )
        in_scope = int(self.counts[allowed[:-1]].sum())
        mask = None if in_scope == self.n else allowed[self.group[: self.n]]
        if in_scope <= pool:
            return np.arange(self.n) if mask is None else np.flatnonzero(mask)
        qcode = quantize(q, self.words)[0]
        rows = None  # the rows scanned, when not all
        if mask is not None and in_scope < SUBSET * self.n:
            rows = np.flatnonzero(mask)
            codes, mask = self.codes[:, rows], None
        else:
            codes = self.codes[:, : self.n]
        dist = _hamming(codes, qcode)
        if mask is not None:
            dist[~mask] = FAR
        counts = np.cumsum(np.bincount(dist, minlength=self.dimension + 1)[: self.dimension + 1])
        kth = int(np.searchsorted(counts, min(k, pool)))
        limit = kth + int(np.ceil(MARGIN * np.sqrt(self.dimension)))
        near = np.flatnonzero(dist <= limit)
        shortlist = SHORTLIST_FACTOR * pool
        if len(near) > shortlist:
            near = near[np.argpartition(dist[near], shortlist - 1)[:shortlist]]
        if rows is not None:
            near = rows[near]
        if len(near) > pool:
            near = near[np.argpartition(-self._estimate(q, near), pool - 1)[:pool]]
        return near

    def _estimate(self, q: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """``q . sign(x)`` of each row (bit clear: -1), from its code."""
        nbytes = self.dimension // 8
        table = (q.astype(np.float32).reshape(nbytes, 8) @ _SIGNS.T).ravel()
        codes = np.ascontiguousarray(self.codes[:, rows].T).view(np.uint8)[:, :nbytes]
        offsets = np.arange(nbytes, dtype=np.intp) * 256
        return np.take(table, codes.astype(np.intp) + offsets).sum(axis=1)

    def _rescore(
        self,
        q: np.ndarray,
        ids: np.ndarray,
        k: int,
        projects: Sequence[str] | None,
        states: Sequence[str],
    ) -> tuple[list[tuple[int, float]], list[int]]:
        """Exact cosines of ``ids``, best first, the k best of those SQL confirms are in
        scope: (hits, ids that RAM had wrong).

        Only the rows about to be returned are checked against ``memories`` (one small query,
        more only when one fails): checking every candidate in the vector query costs a third
        more, for rows that are almost never wrong."""
        wanted = sorted(ids.tolist())
        found = self._rows(
            "SELECT memory_id, embedding FROM memory_vectors "
            f"WHERE memory_id IN ({_marks(len(wanted))})",
            wanted,
        )
        stale = sorted(set(wanted) - {r[0] for r in found}) if len(found) < len(wanted) else []
        if not found:
            return [], stale
        row_ids = np.fromiter((r[0] for r in found), dtype=np.int64, count=len(found))
        matrix = np.frombuffer(b"".join(r[1] for r in found), dtype=np.float32).reshape(
            len(found), -1
        )
        sims = matrix @ q
        order = np.argsort(-sims, kind="stable").tolist()
        # "+": look the ids up by primary key (the planner would walk the project/state index)
        where = f"+state IN ({_marks(len(states))})"
        scope: list[object] = [*states]
        if projects is not None:
            where += f" AND +project IN ({_marks(len(projects))})"
            scope.extend(projects)
        hits: list[tuple[int, float]] = []
        while order and len(hits) < k:
            batch, order = order[: k - len(hits)], order[k - len(hits) :]
            batch_ids = [int(row_ids[i]) for i in batch]
            confirmed = {
                r[0]
                for r in self._rows(
                    f"SELECT id FROM memories WHERE id IN ({_marks(len(batch))}) AND {where}",
                    [*batch_ids, *scope],
                )
            }
            for i, mid in zip(batch, batch_ids, strict=True):
                if mid in confirmed:
                    hits.append((mid, float(sims[i])))
                else:
                    stale.append(mid)
        return hits, stale

    # -- keeping up ---------------------------------------------------------------------------

    def sync(self) -> None:
        """Load on first use; then catch up with this connection's and others' writes."""
        version = int(self._rows("PRAGMA data_version")[0][0])
        changes = self.db.total_changes()
        external = version != self.data_version
        # The update hook sees every change to a rowid table; changes it did not see mean it
        # was replaced (or only virtual / WITHOUT ROWID tables changed): compare chunks.
        unseen = changes != self.total_changes and self.hook_calls == 0
        if not self.loaded or external or unseen or self.force_diff:
            self.force_diff = False
            with self._snapshot():
                if self._model_key() != self.model_key or not self.loaded:
                    self._load()
                else:
                    self._diff()
        if self.dirty_meta or self.dirty_vec:
            self._reread()
        self.data_version = version  # read before the reads above: a commit since is seen next
        self.total_changes = self.db.total_changes()
        self.hook_calls = 0
        if self.dead > max(COMPACT_MIN, COMPACT * self.n):
            self._compact()

    def _snapshot(self) -> Any:
        """A read transaction around several reads (joins the caller's when there is one)."""
        db = self.db

        class Snapshot:
            def __enter__(self) -> None:
                self.own = db.getautocommit()
                if self.own:
                    db.execute("BEGIN")

            def __exit__(self, *exc: object) -> None:
                if self.own and not db.getautocommit():
                    db.execute("COMMIT")

        return Snapshot()

    def _model_key(self) -> tuple[str, ...]:
        meta = dict(
            self._rows(
                "SELECT key, value FROM meta WHERE key IN ('model_id', 'dimension', "
                "'model_generation')"
            )
        )
        if "model_id" not in meta:
            return ()
        return (str(meta["model_id"]), str(meta["dimension"]), str(meta.get("model_generation")))

    def _drop(self) -> None:
        if self._hooked:
            self.db.set_update_hook(None)
            self.db.set_rollback_hook(None, id=self)
            self.db.set_commit_hook(None, id=self)
            self._hooked = False
        self._reset()
        self.loaded = False

    def _load(self) -> None:
        """Read every code from the index's chunks and every scope from ``memories``."""
        self._drop()
        key = self._model_key()
        if not key:
            return
        self.model_key = key
        self.dimension = int(key[1])
        self.words = -(-self.dimension // 64)
        self._install_hooks()  # first, so no write of this connection slips between
        chunks = self._read_chunks()
        rows = sum(int(np.count_nonzero(c.valid)) for c in chunks.values())
        if self.nbytes(rows, 0) > self.max_bytes:
            raise Unusable(
                f"{rows} memories need ~{self.nbytes(rows, 0) >> 20} MiB of RAM for the bit "
                f"index, over its {self.max_bytes >> 20} MiB cap"
            )
        vectors = self._read_vectors(list(chunks))
        ids_parts, code_parts = [], []
        for chunk_id, chunk in chunks.items():
            size = len(chunk.valid)
            block = vectors.get(chunk_id)
            if block is None or len(block) != size * self.dimension // 8:
                raise Unusable(f"unexpected layout of {INDEX} chunk {chunk_id}")
            per_row = np.frombuffer(block, dtype=np.uint8).reshape(size, -1)[chunk.valid]
            padded = np.zeros((len(per_row), self.words * 8), dtype=np.uint8)
            padded[:, : per_row.shape[1]] = per_row
            ids_parts.append(chunk.ids[chunk.valid])
            code_parts.append(padded.view(np.uint64))
        ids = np.concatenate(ids_parts) if ids_parts else np.zeros(0, dtype=np.int64)
        codes = np.concatenate(code_parts) if code_parts else np.zeros((0, self.words), np.uint64)
        self.codes = np.ascontiguousarray(codes.T)
        self.ids = ids.copy()
        self.n = len(ids)
        self.group = np.full(self.n, -1, dtype=np.int32)
        self._index_positions()
        for project, state, members in self._rows(
            "SELECT project, state, group_concat(id) FROM memories GROUP BY project, state"
        ):
            member_ids = np.array(str(members).split(","), dtype=np.int64)
            member_ids = member_ids[member_ids < len(self.pos)]
            rows_of = self.pos[member_ids]
            self.group[rows_of[rows_of >= 0]] = self._group_code(str(project), str(state))
        self.dead = int(np.count_nonzero(self.group < 0))  # index rows without a memory
        live = self.group[self.group >= 0]
        self.counts = np.bincount(live, minlength=len(self.group_keys)).astype(np.int64)
        self.chunks = {c: chunk.raw for c, chunk in chunks.items()}
        self.last_chunk = max(chunks, default=0)
        self._check_sample()
        self.loaded = True
        self.loads += 1

    def _read_chunks(self) -> dict[int, Chunk]:
        try:
            rows = self._rows(
                f"SELECT c.chunk_id, c.size, c.validity, c.rowids, s.data "
                f"FROM {INDEX}_chunks c LEFT JOIN {INDEX}_metadatachunks01 s "
                "ON s.rowid = c.chunk_id"
            )
        except apsw.SQLError as exc:
            raise Unusable(f"{INDEX} is not a sqlite-vec 0.1 vec0 table: {exc}") from exc
        out = {}
        for chunk_id, size, validity, rowids, state in rows:
            if (
                int(size) <= 0
                or len(validity) * 8 != size
                or len(rowids) != size * 8
                or state is None
                or len(state) % size
            ):
                raise Unusable(f"unexpected layout of {INDEX} chunk {chunk_id}")
            raw = (bytes(validity), bytes(rowids), bytes(state))
            out[int(chunk_id)] = Chunk(np.frombuffer(raw[1], dtype=np.int64), _valid(raw[0]), raw)
        return out

    def _read_vectors(self, chunk_ids: list[int]) -> dict[int, bytes]:
        if not chunk_ids:
            return {}
        return {
            int(c): bytes(v)
            for c, v in self._rows(
                f"SELECT rowid, vectors FROM {INDEX}_vector_chunks00 "
                f"WHERE rowid IN ({_marks(len(chunk_ids))})",
                chunk_ids,
            )
        }

    def _check_sample(self) -> None:
        """A few codes against their stored vectors: is the chunk layout the expected one?"""
        if not self.n:
            return
        rows = np.array(
            sorted({int(r) for r in np.linspace(0, self.n - 1, min(self.n, CHECK_ROWS))})
        )
        rows = rows[self.group[rows] >= 0]
        if not len(rows):
            return
        wanted = [int(i) for i in self.ids[rows]]
        stored: dict[int, bytes] = dict(
            self._rows(
                "SELECT memory_id, embedding FROM memory_vectors "
                f"WHERE memory_id IN ({_marks(len(wanted))})",
                wanted,
            )
        )
        for row, mid in zip(rows, wanted, strict=True):
            blob = stored.get(mid)
            if blob is None:
                continue
            vector = np.frombuffer(blob, dtype=np.float32)
            if len(vector) != self.dimension or not np.array_equal(
                quantize(vector, self.words)[0], self.codes[:, row]
            ):
                raise Unusable(f"the codes in {INDEX} do not match the stored vectors")

    def _diff(self) -> None:
        """Another connection committed: find the ids whose index slot changed."""
        chunks = self._read_chunks()
        changed: set[int] = set()
        for chunk_id in set(self.chunks) - set(chunks):
            validity, rowids, _ = self.chunks.pop(chunk_id)
            changed.update(_slot_ids(validity, rowids))
        newest = {c for c in chunks if c >= self.last_chunk}  # inserts land in the last chunk
        for chunk_id, chunk in chunks.items():
            before = self.chunks.get(chunk_id)
            if before == chunk.raw and chunk_id not in newest:
                continue
            slots = np.flatnonzero(chunk.valid)
            if before is None:
                changed.update(int(i) for i in chunk.ids[slots])
            else:
                if before[:2] != chunk.raw[:2]:  # slots filled, emptied or given another id
                    changed.update(_slot_ids(*before[:2]) ^ _slot_ids(*chunk.raw[:2]))
                    was = np.frombuffer(before[1], dtype=np.int64)
                    moved = slots[was[slots] != chunk.ids[slots]]
                    changed.update(int(i) for i in chunk.ids[moved])
                if before[2] != chunk.raw[2]:  # states changed
                    size = len(chunk.valid)
                    old = np.frombuffer(before[2], dtype=np.uint8).reshape(size, -1)
                    new = np.frombuffer(chunk.raw[2], dtype=np.uint8).reshape(size, -1)
                    differs = np.flatnonzero((old != new).any(axis=1) & chunk.valid)
                    changed.update(int(i) for i in chunk.ids[differs])
            if chunk_id in newest and len(slots):
                changed |= self._recoded(chunk_id, chunk.ids[slots], slots, len(chunk.valid))
            self.chunks[chunk_id] = chunk.raw
        self.last_chunk = max(chunks, default=0)
        self.dirty_vec |= changed

    def _recoded(self, chunk_id: int, ids: np.ndarray, slots: np.ndarray, size: int) -> set[int]:
        """Ids in a chunk whose code differs from the RAM copy (a slot reused in place)."""
        block = self._read_vectors([chunk_id]).get(chunk_id)
        if block is None or len(block) != size * self.dimension // 8:
            raise Unusable(f"unexpected layout of {INDEX} chunk {chunk_id}")
        stored = np.frombuffer(block, dtype=np.uint8).reshape(size, -1)[slots]
        in_ram = np.full(len(ids), -1, dtype=np.int64)
        known = ids < len(self.pos)
        in_ram[known] = self.pos[ids[known]]
        out = {int(i) for i in ids[in_ram < 0]}
        have = np.flatnonzero(in_ram >= 0)
        mine = np.ascontiguousarray(self.codes[:, in_ram[have]].T).view(np.uint8)
        differs = (mine[:, : stored.shape[1]] != stored[have]).any(axis=1)
        out.update(int(i) for i in ids[have[differs]])
        return out

    def _reread(self) -> None:
        """Bring the rows of changed ids up to date from ``memories`` and ``memory_vectors``."""
        vec, meta = self.dirty_vec, self.dirty_meta - self.dirty_vec
        self.dirty_vec, self.dirty_meta = set(), set()
        known = {i for i in meta if i < len(self.pos) and self.pos[i] >= 0}
        vec |= meta - known  # not in RAM yet: it may have a vector now
        if len(vec) + len(known) > max(4096, self.live // 2):
            with self._snapshot():
                self._load()  # most of the index changed (a reindex in this process)
            return
        if not self.db.getautocommit():
            self.reread_in_tx |= vec | known
        for batch in _batches(sorted(vec)):
            rows = self._rows(
                "SELECT m.id, m.project, m.state, v.embedding FROM memories m JOIN memory_vectors "
                f"v ON v.memory_id = m.id WHERE m.id IN ({_marks(len(batch))})",
                batch,
            )
            found = {int(r[0]) for r in rows}
            for mid in set(batch) - found:
                self._remove(mid)
            for mid, project, state, blob in rows:
                vector = np.frombuffer(blob, dtype=np.float32)
                if len(vector) != self.dimension:
                    self.force_diff = True  # a vector of another model: reload on next sync
                    self.model_key = ()
                    continue
                self._put(int(mid), quantize(vector, self.words)[0], str(project), str(state))
        for batch in _batches(sorted(known)):
            rows = self._rows(
                f"SELECT id, project, state FROM memories WHERE id IN ({_marks(len(batch))})",
                batch,
            )
            found = set()
            for mid, project, state in rows:
                found.add(int(mid))
                self._regroup(int(self.pos[int(mid)]), self._group_code(str(project), str(state)))
            for mid in set(batch) - found:
                self._remove(mid)

    # -- arrays -------------------------------------------------------------------------------

    def _group_code(self, project: str, state: str) -> int:
        key = (project, state)
        code = self.group_of.get(key)
        if code is None:
            code = self.group_of[key] = len(self.group_keys)
            self.group_keys.append(key)
            self.counts = np.append(self.counts, 0)
        return code

    def _regroup(self, row: int, code: int) -> None:
        old = int(self.group[row])
        if old >= 0:
            self.counts[old] -= 1
        elif code >= 0:
            self.dead -= 1
        if code >= 0:
            self.counts[code] += 1
        elif old >= 0:
            self.dead += 1
        self.group[row] = code

    def _index_positions(self) -> None:
        top = int(self.ids[: self.n].max(initial=0)) + 1
        if self.nbytes(self.n, top) > self.max_bytes:
            raise Unusable(f"memory ids up to {top} are too sparse for the bit index")
        self.pos = np.full(max(top, 1024), -1, dtype=np.int32)
        self.pos[self.ids[: self.n]] = np.arange(self.n, dtype=np.int32)

    def _put(self, mid: int, code: np.ndarray, project: str, state: str) -> None:
        if mid >= len(self.pos):
            grown = max(mid + 1, 2 * len(self.pos))
            if self.nbytes(None, grown) > self.max_bytes:
                raise Unusable(f"memory id {mid} is too large for the bit index")
            pos = np.full(grown, -1, dtype=np.int32)
            pos[: len(self.pos)] = self.pos
            self.pos = pos
        row = int(self.pos[mid])
        if row < 0:
            if self.n == self.codes.shape[1]:
                self._grow()
            row = self.n
            self.n += 1
            self.dead += 1  # a new row starts dead (group -1) until regrouped below
            self.ids[row] = mid
            self.pos[mid] = row
        self.codes[:, row] = code
        self._regroup(row, self._group_code(project, state))

    def _remove(self, mid: int) -> None:
        if mid >= len(self.pos) or self.pos[mid] < 0:
            return
        row = int(self.pos[mid])
        self.pos[mid] = -1
        self._regroup(row, -1)
        self.ids[row] = -1

    def _grow(self) -> None:
        capacity = max(1024, 2 * self.codes.shape[1])
        if self.nbytes(capacity) > self.max_bytes:
            raise Unusable(
                f"the bit index would need over {self.max_bytes >> 20} MiB of RAM (its cap)"
            )
        codes = np.zeros((self.words, capacity), dtype=np.uint64)
        codes[:, : self.n] = self.codes[:, : self.n]
        ids = np.full(capacity, -1, dtype=np.int64)
        ids[: self.n] = self.ids[: self.n]
        group = np.full(capacity, -1, dtype=np.int32)
        group[: self.n] = self.group[: self.n]
        self.codes, self.ids, self.group = codes, ids, group

    def _compact(self) -> None:
        keep = np.flatnonzero(self.group[: self.n] >= 0)
        self.codes = np.ascontiguousarray(self.codes[:, keep])
        self.ids = self.ids[keep]
        self.group = self.group[keep]
        self.n, self.dead = len(keep), 0
        self._index_positions()


def _hamming(codes: np.ndarray, qcode: np.ndarray) -> np.ndarray:
    """Hamming distance of each column of ``codes`` ([words, n] uint64) to ``qcode``."""
    n = codes.shape[1]
    dist = np.zeros(n, dtype=np.uint16)
    xor = np.empty(n, dtype=np.uint64)
    bits = np.empty(n, dtype=np.uint8)
    for w in range(codes.shape[0]):
        np.bitwise_xor(codes[w], qcode[w], out=xor)
        np.bitwise_count(xor, out=bits)
        np.add(dist, bits, out=dist)
    return dist


def _valid(validity: bytes) -> np.ndarray:
    return np.unpackbits(np.frombuffer(validity, dtype=np.uint8), bitorder="little").astype(bool)


def _slot_ids(validity: bytes, rowids: bytes) -> set[int]:
    return {int(i) for i in np.frombuffer(rowids, dtype=np.int64)[_valid(validity)]}


def _batches(ids: list[int], size: int = 4096) -> list[list[int]]:
    return [ids[a : a + size] for a in range(0, len(ids), size)]


def _marks(n: int) -> str:
    return ",".join("?" * n)
