"""The binary codes of ``memory_index`` held in RAM: the candidate stage of :meth:`Store.knn`.

Why: at 100k x 1024-d one sqlite-vec scan of the ``bit[D]`` index costs ~12 ms CPU, and the
sqlite-vec path of ``Store.knn`` needs two (``docs/benchmarks.md``, section "recall"). The same
codes in numpy arrays (D/8 bytes a row: 12.8 MB at 100k x 1024-d) are scanned in ~1.5 ms.

A query (:meth:`BitIndex.search`): the rows in scope, their Hamming distances, the sqlite-vec
path's selection (every row within ``1.25 * sqrt(D)`` bits of the k-th nearest, at most
``4 * pool``), re-ranked by ``q . sign(x)`` down to ``pool`` rows (:mod:`mcp_memory.store.bit_codes`),
then exact cosines from the float32 blobs in ``memory_vectors``. The rows about to be returned
are checked against ``memories`` (the authoritative project and state) in SQL, so RAM that is
out of date can cost a slot, never return a wrong row. Measured by ``bench/recall.py``: at 100k
x 1024-d, recall@10 0.996 against exact search with the default pool of 400 (the sqlite-vec
path needed a pool of 1600 for that: the q . sign(x) ranking is far closer to the cosine than
the Hamming distance).

Freshness. The index belongs to one connection (one :class:`~mcp_memory.store.database.Store`) and loads
on its first search. Before each search it catches up with:

- this connection's writes: an SQLite update hook records the ids of changed ``memories`` and
  ``memory_vectors`` rows, and those rows are re-read (a rollback hook has the ones re-read
  inside a transaction that then rolled back read again);
- other connections' commits, seen as a change of ``PRAGMA data_version``: the model in
  ``meta`` is compared (``reindex`` switches it: the index is rebuilt), then the index's own
  chunk tables (rowids, validity bitmap, ``state`` column, and the codes of the chunks inserts
  go to) are compared with a copy, chunk by chunk (~1 ms at 100k); the ids whose slot changed
  are re-read from ``memories`` and ``memory_vectors``.

That comparison and the fast load (~50 ms at 100k) read sqlite-vec 0.1's shadow tables
(``memory_index_chunks``, ``..._vector_chunks00``, ``..._metadatachunks01``). Their layout is
checked when the index loads (sizes, and a sample of codes against the stored vectors). If it is
not the expected one, or numpy lacks ``bitwise_count`` (numpy < 2), or the index would take more
than ``max_bytes``, ``search`` returns None and ``Store.knn`` scans sqlite-vec instead.

Not thread-safe by itself: the caller holds the store's lock.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NamedTuple

import apsw
import numpy as np

from mcp_memory.store.bit_codes import HAS_POPCOUNT, CodeTable, Unusable, quantize

log = logging.getLogger("mcp_memory")

INDEX = "memory_index"
MAX_BYTES = 256 * 2**20  # RAM the index may take before Store.knn falls back to sqlite-vec
COMPACT = 0.25  # share of dead rows at which the arrays are rebuilt without them
COMPACT_MIN = 4096  # ... once there are at least this many
CHECK_ROWS = 8  # codes compared with the stored vectors when the index loads


class Chunk(NamedTuple):
    """One row of the index's chunk table, with its ``state`` column's chunk."""

    ids: np.ndarray  # memory id in each slot (int64; meaningless where not valid)
    valid: np.ndarray  # bool per slot
    raw: tuple[bytes, bytes, bytes]  # validity bitmap, rowids, state entries, as stored


class BitIndex:
    """The RAM copy of one connection's ``memory_index`` (see the module docstring)."""

    def __init__(self, db: apsw.Connection, *, max_bytes: int = MAX_BYTES) -> None:
        self.db = db
        self.max_bytes = max_bytes
        self.disabled: str | None = None if HAS_POPCOUNT else "numpy has no bitwise_count"
        self.table: CodeTable | None = None  # None until loaded (and while there is no model)
        self.loads = 0  # full (re)loads so far (tests and the benchmark read it)
        self.model_key: tuple[str, ...] = ()
        self.chunks: dict[int, tuple[bytes, bytes, bytes]] = {}  # chunk id: Chunk.raw
        self.last_chunk = 0
        self.data_version = -1
        self.total_changes = -1
        self.hook_calls = 0
        self.dirty_meta: set[int] = set()  # memories rows changed by this connection
        self.dirty_vec: set[int] = set()  # memory_vectors rows changed by this connection
        self.reread_in_tx: set[int] = set()  # re-read inside the open transaction
        self.force_diff = False
        self._hooked = False

    def nbytes(self) -> int:
        return 0 if self.table is None else self.table.nbytes()

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return self.db.execute(sql, tuple(params)).fetchall()

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
        table = self.table
        if table is None or query.shape != (table.dimension,):
            return None  # no model yet, or a query of another model (sqlite-vec says so)
        hits: list[tuple[int, float]] = []
        for attempt in (0, 1):
            rows = table.select(query, k, projects, states, pool)
            if not len(rows):
                return []
            hits, stale = self._rescore(query, table.ids[rows], k, projects, states)
            if not stale:
                return hits
            self.dirty_vec.update(stale)  # RAM disagreed with SQL: re-read those rows
            self.sync()
            if len(hits) >= k or attempt or self.table is not table:
                break
        return hits

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
        external = version != self.data_version
        # The update hook sees every change to a rowid table; changes it did not see mean it
        # was replaced (or only virtual / WITHOUT ROWID tables changed): compare chunks.
        unseen = self.db.total_changes() != self.total_changes and self.hook_calls == 0
        if self.table is None or external or unseen or self.force_diff:
            self.force_diff = False
            with self._snapshot():
                if self.table is None or self._model_key() != self.model_key:
                    self._load()
                else:
                    self._diff()
        if self.table is not None and (self.dirty_meta or self.dirty_vec):
            self._reread()
        self.data_version = version  # read before the reads above: a commit since is seen next
        self.total_changes = self.db.total_changes()
        self.hook_calls = 0
        table = self.table
        if table is not None and table.dead > max(COMPACT_MIN, COMPACT * table.n):
            table.compact()

    @contextmanager
    def _snapshot(self) -> Iterator[None]:
        """A read transaction around several reads (the caller's when there is one)."""
        own = self.db.getautocommit()
        if own:
            self.db.execute("BEGIN")
        try:
            yield
        finally:
            if own and not self.db.getautocommit():
                self.db.execute("COMMIT")

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
        self.table = None
        self.model_key = ()
        self.chunks, self.last_chunk = {}, 0
        self.dirty_meta, self.dirty_vec, self.reread_in_tx = set(), set(), set()

    def _load(self) -> None:
        """Read every code from the index's chunks and every scope from ``memories``."""
        self._drop()
        key = self._model_key()
        if not key:
            return
        table = CodeTable(int(key[1]), self.max_bytes)
        self._install_hooks()  # first, so that no write of this connection slips between
        chunks = self._read_chunks()
        rows = sum(int(np.count_nonzero(c.valid)) for c in chunks.values())
        if table.nbytes(rows, 0) > self.max_bytes:
            raise Unusable(
                f"{rows} memories need ~{table.nbytes(rows, 0) >> 20} MiB of RAM for the bit "
                f"index, over its {self.max_bytes >> 20} MiB cap"
            )
        vectors = self._read_vectors(list(chunks))
        ids_parts, code_parts = [], []
        for chunk_id, chunk in chunks.items():
            codes = self._chunk_codes(table, chunk_id, chunk, vectors.get(chunk_id))[chunk.valid]
            padded = np.zeros((len(codes), table.words * 8), dtype=np.uint8)
            padded[:, : codes.shape[1]] = codes
            ids_parts.append(chunk.ids[chunk.valid])
            code_parts.append(padded.view(np.uint64))
        table.fill(
            np.concatenate(ids_parts) if ids_parts else np.zeros(0, dtype=np.int64),
            np.concatenate(code_parts) if code_parts else np.zeros((0, table.words), np.uint64),
        )
        for project, state, members in self._rows(
            "SELECT project, state, group_concat(id) FROM memories GROUP BY project, state"
        ):
            table.assign(str(project), str(state), np.array(str(members).split(","), np.int64))
        table.recount()
        self._check_sample(table)
        self.table, self.model_key = table, key
        self.chunks = {c: chunk.raw for c, chunk in chunks.items()}
        self.last_chunk = max(chunks, default=0)
        self.loads += 1

    def _install_hooks(self) -> None:
        if not self._hooked:
            self.db.set_update_hook(self._on_update)
            self.db.set_rollback_hook(self._on_rollback, id=self)
            self.db.set_commit_hook(self._on_commit, id=self)
            self._hooked = True

    def _on_update(self, _op: int, dbname: str, table: str, rowid: int) -> None:
        self.hook_calls += 1
        if dbname == "main" and table == "memories":
            self.dirty_meta.add(rowid)
        elif dbname == "main" and table == "memory_vectors":
            self.dirty_vec.add(rowid)

    def _on_rollback(self) -> None:
        # Rows re-read inside the transaction hold what it wrote: read them again.
        self.dirty_vec |= self.reread_in_tx
        self.reread_in_tx = set()
        self.force_diff = True  # and let the chunk comparison catch anything else

    def _on_commit(self) -> bool:
        self.reread_in_tx = set()
        return False  # go ahead with the commit

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

    @staticmethod
    def _chunk_codes(table: CodeTable, chunk_id: int, chunk: Chunk, block: bytes | None) -> Any:
        """A chunk's codes, one row per slot, as ``[size, D/8]`` uint8."""
        size = len(chunk.valid)
        if block is None or len(block) != size * table.dimension // 8:
            raise Unusable(f"unexpected layout of {INDEX} chunk {chunk_id}")
        return np.frombuffer(block, dtype=np.uint8).reshape(size, -1)

    def _check_sample(self, table: CodeTable) -> None:
        """A few codes against their stored vectors: is the chunk layout the expected one?"""
        rows = np.flatnonzero(table.group[: table.n] >= 0)
        if not len(rows):
            return
        rows = rows[np.linspace(0, len(rows) - 1, min(len(rows), CHECK_ROWS)).astype(int)]
        wanted = [int(i) for i in table.ids[rows]]
        stored: dict[int, bytes] = dict(
            self._rows(
                "SELECT memory_id, embedding FROM memory_vectors "
                f"WHERE memory_id IN ({_marks(len(wanted))})",
                wanted,
            )
        )
        for row, mid in zip(rows, wanted, strict=True):
            vector = np.frombuffer(stored.get(mid, b""), dtype=np.float32)
            if len(vector) and not (
                len(vector) == table.dimension
                and np.array_equal(quantize(vector, table.words)[0], table.codes[:, row])
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
                changed |= self._recoded(chunk_id, chunk, slots)
            self.chunks[chunk_id] = chunk.raw
        self.last_chunk = max(chunks, default=0)
        self.dirty_vec |= changed

    def _recoded(self, chunk_id: int, chunk: Chunk, slots: np.ndarray) -> set[int]:
        """Ids of a chunk whose code differs from the RAM copy (a slot reused in place)."""
        assert self.table is not None
        table = self.table
        stored = self._chunk_codes(
            table, chunk_id, chunk, self._read_vectors([chunk_id]).get(chunk_id)
        )
        ids = chunk.ids[slots]
        in_ram = np.array([table.row_of(int(i)) for i in ids], dtype=np.int64)
        have = np.flatnonzero(in_ram >= 0)
        differs = (table.code_bytes(in_ram[have]) != stored[slots[have]]).any(axis=1)
        return {int(i) for i in ids[in_ram < 0]} | {int(i) for i in ids[have[differs]]}

    def _reread(self) -> None:
        """Bring the rows of changed ids up to date from ``memories`` and ``memory_vectors``."""
        assert self.table is not None
        table = self.table
        vec, meta = self.dirty_vec, self.dirty_meta - self.dirty_vec
        self.dirty_vec, self.dirty_meta = set(), set()
        known = {i for i in meta if table.row_of(i) >= 0}
        vec |= meta - known  # not in RAM yet: it may have a vector now
        if len(vec) + len(known) > max(4096, table.live // 2):
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
            for mid in set(batch) - {int(r[0]) for r in rows}:
                table.remove(mid)
            for mid, project, state, blob in rows:
                vector = np.frombuffer(blob, dtype=np.float32)
                if len(vector) != table.dimension:
                    self.model_key = ()  # a vector of another model: reload on the next sync
                    self.force_diff = True
                    continue
                table.put(int(mid), quantize(vector, table.words)[0], str(project), str(state))
        for batch in _batches(sorted(known)):
            rows = self._rows(
                f"SELECT id, project, state FROM memories WHERE id IN ({_marks(len(batch))})",
                batch,
            )
            for mid in set(batch) - {int(r[0]) for r in rows}:
                table.remove(mid)
            for mid, project, state in rows:
                table.regroup(table.row_of(int(mid)), table.group_code(str(project), str(state)))


def _valid(validity: bytes) -> np.ndarray:
    return np.unpackbits(np.frombuffer(validity, dtype=np.uint8), bitorder="little").astype(bool)


def _slot_ids(validity: bytes, rowids: bytes) -> set[int]:
    return {int(i) for i in np.frombuffer(rowids, dtype=np.int64)[_valid(validity)]}


def _batches(ids: list[int], size: int = 4096) -> list[list[int]]:
    return [ids[a : a + size] for a in range(0, len(ids), size)]


def _marks(n: int) -> str:
    return ",".join("?" * n)
