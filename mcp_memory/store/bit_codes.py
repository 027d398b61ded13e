"""Binary codes in numpy arrays, and how a query picks candidates from them (no SQL here).

A :class:`CodeTable` holds one row per embedded memory: its id, its code (sqlite-vec's
``vec_quantize_binary``: bit i of byte b is dimension 8b + i, set when the value is > 0) and a
small-int code of its (project, state) pair. :meth:`CodeTable.select` is the candidate stage of
``Store.knn`` (see :mod:`mcp_memory.store.bit_index` for the whole query and its numbers):

1. scope: a boolean per (project, state) pair turns the rows' pair codes into a mask;
2. Hamming distances to the query's code by XOR + ``np.bitwise_count``, word by word over the
   codes stored transposed (``[D/64, n]`` uint64), so that every pass runs over one contiguous
   array (~1.5 ms at 100k x 1024-d);
3. the selection the sqlite-vec path makes: the k-th smallest distance (from a histogram), then
   every row within ``1.25 * sqrt(D)`` bits of it, nearest first, at most ``4 * pool`` rows;
4. those re-ranked by ``q . sign(x)``, the float query against each row's bits (one lookup per
   byte in a per-query ``D/8 x 256`` table of partial sums), and the best ``pool`` kept. It
   estimates the cosine far better than the Hamming distance does, so fewer rows need exact
   rescoring for the same recall.

A scope no larger than the pool is returned whole (its rescoring is then exact).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

SHORTLIST_FACTOR = 4  # rows re-ranked by the q . sign(x) estimate, per row rescored exactly
MARGIN = 1.25  # x sqrt(D) bits past the k-th nearest code that a candidate may be
SUBSET = 0.5  # a scope holding less than this share of the rows is gathered before scanning
FAR = np.uint16(0xFFFF)  # the distance of a row out of scope
HAS_POPCOUNT = hasattr(np, "bitwise_count")  # numpy >= 2
# Row j: the 8 signs (+1 bit set, -1 clear) of byte value j, least significant bit first.
_SIGNS = (
    np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1, bitorder="little").astype(
        np.float32
    )
    * 2
    - 1
)


class Unusable(Exception):
    """The RAM index cannot serve this database (``Store.knn`` falls back to sqlite-vec)."""


def quantize(vectors: np.ndarray, words: int) -> np.ndarray:
    """sqlite-vec's ``vec_quantize_binary`` (bit = value > 0), as ``[n, words]`` uint64."""
    bits = np.packbits(np.atleast_2d(vectors) > 0, axis=1, bitorder="little")
    out = np.zeros((bits.shape[0], words * 8), dtype=np.uint8)
    out[:, : bits.shape[1]] = bits
    return out.view(np.uint64)


def hamming(codes: np.ndarray, qcode: np.ndarray) -> np.ndarray:
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


class CodeTable:
    """Rows of (memory id, code, scope); dead rows (group -1) stay until :meth:`compact`."""

    def __init__(self, dimension: int, max_bytes: int) -> None:
        self.dimension = dimension
        self.words = -(-dimension // 64)
        self.max_bytes = max_bytes
        self.n = 0  # rows used (live and dead)
        self.dead = 0
        self.codes = np.zeros((self.words, 0), dtype=np.uint64)  # [words, capacity]
        self.ids = np.zeros(0, dtype=np.int64)
        self.group = np.zeros(0, dtype=np.int32)  # index into group_keys; -1: dead row
        self.counts = np.zeros(0, dtype=np.int64)  # live rows of each group
        self.pos = np.zeros(0, dtype=np.int32)  # row of each memory id; -1: none
        self.group_keys: list[tuple[str, str]] = []
        self.group_of: dict[tuple[str, str], int] = {}

    @property
    def live(self) -> int:
        return self.n - self.dead

    def nbytes(self, rows: int | None = None, max_id: int | None = None) -> int:
        """RAM of the arrays (at ``rows`` capacity and ids up to ``max_id``), plus the ~24
        bytes a row of chunk snapshot that :class:`~mcp_memory.store.bit_index.BitIndex` keeps."""
        rows = self.codes.shape[1] if rows is None else rows
        max_id = len(self.pos) if max_id is None else max_id
        return rows * (self.words * 8 + 8 + 4 + 24) + max_id * 4

    def row_of(self, mid: int) -> int:
        return int(self.pos[mid]) if mid < len(self.pos) else -1

    def code_bytes(self, rows: np.ndarray) -> np.ndarray:
        """The codes of ``rows`` as ``[len(rows), D/8]`` uint8, as sqlite-vec stores them."""
        return np.ascontiguousarray(self.codes[:, rows].T).view(np.uint8)[:, : self.dimension // 8]

    # -- filling ------------------------------------------------------------------------------

    def fill(self, ids: np.ndarray, codes: np.ndarray) -> None:
        """All rows at once (``codes``: [n, words] uint64), every one dead until assigned."""
        self.codes = np.ascontiguousarray(codes.T)
        self.ids = ids.astype(np.int64, copy=True)
        self.n = self.dead = len(ids)
        self.group = np.full(self.n, -1, dtype=np.int32)
        self._index_positions()

    def assign(self, project: str, state: str, ids: np.ndarray) -> None:
        """Put the rows of ``ids`` (those present) in the (project, state) group; call
        :meth:`recount` after the last."""
        ids = ids[ids < len(self.pos)]
        rows = self.pos[ids]
        self.group[rows[rows >= 0]] = self.group_code(project, state)

    def recount(self) -> None:
        group = self.group[: self.n]
        self.dead = int(np.count_nonzero(group < 0))  # rows without a memory
        self.counts = np.bincount(group[group >= 0], minlength=len(self.group_keys)).astype(
            np.int64
        )

    def group_code(self, project: str, state: str) -> int:
        key = (project, state)
        code = self.group_of.get(key)
        if code is None:
            code = self.group_of[key] = len(self.group_keys)
            self.group_keys.append(key)
            self.counts = np.append(self.counts, 0)
        return code

    def regroup(self, row: int, code: int) -> None:
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

    def put(self, mid: int, code: np.ndarray, project: str, state: str) -> None:
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
        self.regroup(row, self.group_code(project, state))

    def remove(self, mid: int) -> None:
        row = self.row_of(mid)
        if row < 0:
            return
        self.pos[mid] = -1
        self.regroup(row, -1)
        self.ids[row] = -1

    def compact(self) -> None:
        keep = np.flatnonzero(self.group[: self.n] >= 0)
        self.codes = np.ascontiguousarray(self.codes[:, keep])
        self.ids = self.ids[keep]
        self.group = self.group[keep]
        self.n, self.dead = len(keep), 0
        self._index_positions()

    def _index_positions(self) -> None:
        top = int(self.ids[: self.n].max(initial=0)) + 1
        if self.nbytes(self.n, top) > self.max_bytes:
            raise Unusable(f"memory ids up to {top} are too sparse for the bit index")
        self.pos = np.full(max(top, 1024), -1, dtype=np.int32)
        self.pos[self.ids[: self.n]] = np.arange(self.n, dtype=np.int32)

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

    # -- selecting ----------------------------------------------------------------------------

    def select(
        self,
        q: np.ndarray,
        k: int,
        projects: Sequence[str] | None,
        states: Sequence[str],
        pool: int,
    ) -> np.ndarray:
        """Rows (array positions) to rescore exactly, at most ``pool`` (module docstring)."""
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
        dist = hamming(codes, qcode)
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
            near = near[np.argpartition(-self.estimate(q, near), pool - 1)[:pool]]
        return near

    def estimate(self, q: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """``q . sign(x)`` of each row (a clear bit counts -1), from its code."""
        nbytes = self.dimension // 8
        table = (q.astype(np.float32).reshape(nbytes, 8) @ _SIGNS.T).ravel()
        offsets = np.arange(nbytes, dtype=np.intp) * 256
        return np.take(table, self.code_bytes(rows).astype(np.intp) + offsets).sum(axis=1)
