"""SQLite storage: memories, tags, links, full-text index and vectors.

Driver: ``apsw``. CPython's ``sqlite3`` cannot load extensions on many builds (this machine's
default Python, macOS system Python), and sqlite-vec is an extension. apsw is maintained in
lock-step with SQLite releases (bundling a current SQLite with FTS5), loads extensions on every
platform, and exposes SQLite's own transaction and busy-handler semantics without the implicit
transactions of the DB-API module.

Vectors: the full float32 vector of each memory lives in ``memory_vectors``; a sqlite-vec
``vec0`` table holds its binary quantization (1 bit per dimension) with ``project`` and
``state`` metadata. A KNN query scans the compact bit index for candidates, then rescores them
exactly with the full vectors (see ``docs/benchmarks.md`` for why: a float vec0 scan is ~20x
slower at 100k x 1024-d).

One connection must not be used by several threads at once: ``Store`` serialises access with
a lock, and each process opens its own ``Store``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import apsw
import numpy as np
import sqlite_vec

from . import migrations
from .bit_codes import SHORTLIST_FACTOR
from .bit_index import BitIndex
from .errors import ModelMismatchError, NotFoundError, StoreError
from .migrations import scalar
from .query import label_of
from .search import CONTEXT_WEIGHT

STATES = ("buffer", "proven", "superseded", "expired", "deleted")
ACTIVE_STATES = ("buffer", "proven")
GLOBAL = "@global"  # the project key of memories that belong to every project
BUSY_TIMEOUT_MS = 10_000
MAX_CANDIDATES = 4096  # sqlite-vec caps k here


@dataclass(frozen=True)
class ModelInfo:
    model_id: str
    dimension: int
    pooling: str


@dataclass(frozen=True)
class NewMemory:
    content: str
    content_hash: str
    project: str
    type: str = "note"
    tags: tuple[str, ...] = ()
    source: str = "tool"
    session_id: str | None = None
    protected: bool = False
    state: str = "buffer"
    metadata: dict[str, object] = field(default_factory=dict)
    line_keys: tuple[str, ...] = ()  # boilerplate statistics keys (see boilerplate.py)
    created_at: float | None = None  # when it was said (imports keep the original time); None: now


@dataclass(frozen=True)
class Memory:
    id: int
    content: str
    content_hash: str
    type: str
    project: str
    tags: tuple[str, ...]
    source: str
    session_id: str | None
    state: str
    protected: bool
    embedded: bool
    created_at: float
    updated_at: float
    last_recalled_at: float | None
    recall_count: int
    metadata: dict[str, object]
    seq: int = 0  # position in its project's sequence of memories
    age_from: int = 0  # seq from which isolation is counted (a reprieve moves it)
    reprieves: int = 0
    connected: bool = False  # linking has run for it


_MEMORY_COLUMNS = (
    "id, content, content_hash, type, project, tags, source, session_id, state, protected, "
    "embedded, created_at, updated_at, last_recalled_at, recall_count, metadata, seq, age_from, "
    "reprieves, connected"
)


def _row_to_memory(row: Sequence[Any]) -> Memory:
    (mid, content, chash, mtype, project, tags, source, session, state, protected, embedded,
     created, updated, recalled, count, metadata, seq, age_from, reprieves, connected) = row  # fmt: skip
    return Memory(
        id=int(mid),
        content=str(content),
        content_hash=str(chash),
        type=str(mtype),
        project=str(project),
        tags=tuple(str(tags).split()) if tags else (),
        source=str(source),
        session_id=None if session is None else str(session),
        state=str(state),
        protected=bool(protected),
        embedded=bool(embedded),
        created_at=float(created),
        updated_at=float(updated),
        last_recalled_at=None if recalled is None else float(recalled),
        recall_count=int(count),
        metadata=json.loads(str(metadata)),
        seq=int(seq),
        age_from=int(age_from),
        reprieves=int(reprieves),
        connected=bool(connected),
    )


def _placeholders(n: int) -> str:
    return ",".join("?" * n)


def index_sql(name: str, dimension: int) -> str:
    """The vec0 table of binary-quantized vectors (see the module docstring)."""
    return (
        f"CREATE VIRTUAL TABLE {name} USING vec0("
        f"embedding bit[{dimension}], project text, state text)"
    )


CONTEXT_CHARS = 1000  # of each neighbour's text kept in a memory's ``context``


def _context(before: str, after: str) -> str:
    """The ``context`` of a memory: its neighbours' text, each clipped, one per line."""
    return "\n".join(p[:CONTEXT_CHARS] for p in (before, after) if p)


class Store:
    """A memory database file. Open with :meth:`open`; close with :meth:`close`."""

    def __init__(self, db: apsw.Connection, path: Path) -> None:
        self.db = db
        self.path = path
        self.lock = threading.RLock()
        self._in_tx = False
        self.model: ModelInfo | None = self._read_model()
        # (model id, dimension) of the vectors this process writes and queries with, set by
        # MemoryService: a database switched to another model by `reindex` in another process
        # then refuses them (ModelMismatchError) instead of mixing vector spaces.
        self.vector_model: tuple[str, int] | None = None
        self.opened_model = self.model
        self.bit_index = BitIndex(db)  # the binary codes in RAM that knn scans (loaded lazily)

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return self.db.execute(sql, tuple(params)).fetchall()

    def _row(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.db.execute(sql, tuple(params)).fetchone()

    # -- opening ------------------------------------------------------------------------

    @classmethod
    def open(cls, path: Path | str) -> Store:
        path = Path(path)
        try:
            if str(path) != ":memory:":
                path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            db = apsw.Connection(str(path))
        except (apsw.Error, OSError) as exc:
            raise StoreError(
                f"cannot open database {path}: {exc}; check the path and permissions"
            ) from exc
        try:
            db.set_busy_timeout(BUSY_TIMEOUT_MS)
            db.enable_load_extension(True)
            db.load_extension(sqlite_vec.loadable_path())
            db.enable_load_extension(False)
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
            db.execute("PRAGMA foreign_keys = ON")
            migrations.apply(db)
        except apsw.Error as exc:
            db.close()
            if isinstance(exc, apsw.BusyError):
                raise StoreError(
                    f"cannot open database {path}: another process kept it locked for more "
                    f"than {BUSY_TIMEOUT_MS / 1000:g} s (the busy timeout). Retry in a moment; if "
                    f"it persists, find the process holding it (`fuser {path}`) and end it"
                ) from exc
            raise StoreError(
                f"cannot open database {path}: {exc}; if it is corrupted, restore a backup "
                "or move it aside to start fresh"
            ) from exc
        if str(path) != ":memory:":
            for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
                if p.exists():
                    p.chmod(0o600)
        return cls(db, path)

    def close(self) -> None:
        with self.lock:
            self.db.close()

    @property
    def schema_version(self) -> int:
        with self.lock:
            return int(scalar(self.db, "PRAGMA user_version"))

    # -- transactions -------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """An IMMEDIATE write transaction (nested calls join the outer one).

        IMMEDIATE takes the write lock up front, so the busy timeout applies instead of a
        deadlock-prone upgrade from a read lock. A lock held past the busy timeout, a full
        disk or an I/O error rolls everything back and becomes a StoreError saying what to do.
        """
        with self.lock:
            if self._in_tx:
                yield
                return
            try:
                self.db.execute("BEGIN IMMEDIATE")
            except apsw.Error as exc:
                raise self._write_error(exc) from exc
            self._in_tx = True
            try:
                self.model = self._read_model()  # `reindex` may have switched it meanwhile
                yield
                self.db.execute("COMMIT")
            except BaseException as exc:
                self._in_tx = False
                if not self.db.getautocommit():  # a failed COMMIT may have rolled back already
                    self.db.execute("ROLLBACK")
                if isinstance(exc, apsw.BusyError | apsw.FullError | apsw.IOError):
                    raise self._write_error(exc) from exc
                raise
            self._in_tx = False

    def _write_error(self, exc: apsw.Error) -> Exception:
        if isinstance(exc, apsw.BusyError):
            return StoreError(
                f"database {self.path} stayed locked by another process for more than "
                f"{BUSY_TIMEOUT_MS / 1000:g} s (the busy timeout); nothing was written. Retry in a "
                f"moment; if it persists, find the process holding it (`fuser {self.path}`) "
                "and end it"
            )
        if isinstance(exc, apsw.FullError | apsw.IOError):
            return StoreError(
                f"cannot write to {self.path}: {exc} (disk full or I/O error); nothing was "
                "written and the database is unchanged. Free disk space and retry"
            )
        return exc

    # -- model --------------------------------------------------------------------------

    def _read_model(self) -> ModelInfo | None:
        rows: dict[str, Any] = dict(self._rows("SELECT key, value FROM meta"))
        if "model_id" not in rows:
            return None
        return ModelInfo(str(rows["model_id"]), int(rows["dimension"]), str(rows["pooling"]))

    def init_model(self, model_id: str, dimension: int, pooling: str) -> ModelInfo:
        """Record the database's model and create its vector index (once)."""
        if dimension <= 0 or dimension % 8:
            raise StoreError(f"vector dimension must be a positive multiple of 8, not {dimension}")
        with self.transaction():
            existing = self._read_model()
            if existing is not None:
                self.model = existing
                return existing
            now = str(time.time())
            self.db.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?)",
                [
                    ("model_id", model_id),
                    ("dimension", str(dimension)),
                    ("pooling", pooling),
                    ("model_recorded_at", now),
                ],
            )
            self.db.execute(index_sql("memory_index", dimension))
            self.model = self.opened_model = ModelInfo(model_id, dimension, pooling)
            return self.model

    def refresh_model(self) -> ModelInfo | None:
        """Re-read the recorded model: ``mcp-memory reindex`` in another process may have
        switched it."""
        with self.lock:
            self.model = self._read_model()
            return self.model

    def check_model(self, model_id: str, dimension: int) -> None:
        if self.refresh_model() is None:
            return
        assert self.model is not None
        if self.opened_model not in (None, self.model) and self.vector_model is not None:
            self._guard_vectors()  # switched by `reindex` under this process: say so
        if (self.model.model_id, self.model.dimension) != (model_id, dimension):
            raise ModelMismatchError(
                f"database {self.path} was built with {self.model.model_id} "
                f"({self.model.dimension}-d) but {model_id} ({dimension}-d) is configured; "
                f"set MCP_MEMORY_MODEL={self.model.model_id} (and MCP_MEMORY_DIMENSION="
                f"{self.model.dimension}) or use another MCP_MEMORY_DB"
            )

    # -- writes -------------------------------------------------------------------------

    def insert(self, memory: NewMemory, vector: np.ndarray | None = None) -> int:
        """Store one memory. With a ``session_id`` it joins that session's chain: ``prev_id``
        points to the session's previous memory in the project, and each of the two carries
        the other's text in ``context`` (the lower-weighted third column of ``recall_fts``)."""
        now = time.time()
        with self.transaction():
            prev = None
            if memory.session_id is not None:
                prev = self._row(
                    "SELECT id, content, prev_id FROM memories WHERE project = ? "
                    "AND session_id = ? ORDER BY id DESC LIMIT 1",
                    (memory.project, memory.session_id),
                )
            seq = scalar(
                self.db,
                "INSERT INTO project_counters (project, seq) VALUES (?, 1) "
                "ON CONFLICT (project) DO UPDATE SET seq = seq + 1 RETURNING seq",
                (memory.project,),
            )
            mid = scalar(
                self.db,
                "INSERT INTO memories (content, content_hash, type, project, tags, source, "
                "session_id, state, protected, created_at, updated_at, metadata, seq, age_from, "
                "prev_id, context, label) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) RETURNING id",
                (
                    memory.content,
                    memory.content_hash,
                    memory.type,
                    memory.project,
                    " ".join(memory.tags),
                    memory.source,
                    memory.session_id,
                    memory.state,
                    int(memory.protected),
                    now if memory.created_at is None else memory.created_at,
                    now,
                    json.dumps(memory.metadata),
                    seq,
                    seq,
                    None if prev is None else int(prev[0]),
                    "" if prev is None else _context(str(prev[1]), ""),
                    label_of(memory.content),
                ),
            )
            if prev is not None:  # the previous memory now has this one after it
                before = (
                    None
                    if prev[2] is None
                    else self._row("SELECT content FROM memories WHERE id = ?", (prev[2],))
                )
                self.db.execute(
                    "UPDATE memories SET context = ? WHERE id = ?",
                    (_context("" if before is None else str(before[0]), memory.content), prev[0]),
                )
            self.db.executemany(
                "INSERT OR IGNORE INTO memory_tags (memory_id, tag) VALUES (?, ?)",
                [(mid, t) for t in memory.tags],
            )
            self.db.executemany(
                "INSERT INTO line_stats (project, key, memories) VALUES (?, ?, 1) "
                "ON CONFLICT (project, key) DO UPDATE SET memories = memories + 1",
                [(memory.project, k) for k in set(memory.line_keys)],
            )
            if vector is not None:
                self.set_vector(int(mid), vector, memory.project, memory.state)
        return int(mid)

    def _guard_vectors(self) -> None:
        """Refuse this process's vectors when the database's model is not theirs (call inside
        a transaction, after the model was re-read)."""
        model, mine = self.model, self.vector_model
        if model is None or mine is None or mine == (model.model_id, model.dimension):
            return
        raise ModelMismatchError(
            f"database {self.path} now uses {model.model_id} ({model.dimension}-d), switched by "
            f"`mcp-memory reindex` while this process ran with {mine[0]} ({mine[1]}-d); "
            "restart it (in Claude Code: /mcp, then reconnect the memory server)"
        )

    def set_vector(self, memory_id: int, vector: np.ndarray, project: str, state: str) -> None:
        vec = np.ascontiguousarray(vector, dtype=np.float32)
        blob = vec.tobytes()
        with self.transaction():
            if self.model is None:
                raise StoreError("the database has no model recorded; call init_model first")
            self._guard_vectors()
            if vec.shape != (self.model.dimension,) or not np.all(np.isfinite(vec)):
                raise StoreError(
                    f"refusing a vector of shape {vec.shape}; the database is "
                    f"{self.model.dimension}-d {self.model.model_id}"
                )
            self.db.execute(
                "INSERT OR REPLACE INTO memory_vectors (memory_id, embedding) VALUES (?, ?)",
                (memory_id, blob),
            )
            self.db.execute("DELETE FROM memory_index WHERE rowid = ?", (memory_id,))
            self.db.execute(
                "INSERT INTO memory_index (rowid, embedding, project, state) "
                "VALUES (?, vec_quantize_binary(?), ?, ?)",
                (memory_id, blob, project, state),
            )
            self.db.execute("UPDATE memories SET embedded = 1 WHERE id = ?", (memory_id,))

    def set_state(self, memory_id: int, state: str) -> None:
        if state not in STATES:
            raise StoreError(f"unknown state {state!r}")
        with self.transaction():
            now = time.time()
            changed = self._rows(
                "UPDATE memories SET state = ?, updated_at = ?, state_changed_at = ? "
                "WHERE id = ? RETURNING id",
                (state, now, now, memory_id),
            )
            if not changed:
                raise NotFoundError(f"no memory with id {memory_id}")
            if self.model is not None:
                self.db.execute(
                    "UPDATE memory_index SET state = ? WHERE rowid = ?", (state, memory_id)
                )

    def purge(self, ids: Sequence[int]) -> None:
        """Delete memories for good (tags, vectors, links and index rows go with them). Their
        session neighbours are chained around them and lose their text from ``context``."""
        if not ids:
            return
        marks = _placeholders(len(ids))
        with self.transaction():
            prevs: dict[int, int | None] = dict(
                self._rows(f"SELECT id, prev_id FROM memories WHERE id IN ({marks})", ids)
            )
            if self.model is not None:
                self.db.execute(f"DELETE FROM memory_index WHERE rowid IN ({marks})", tuple(ids))
            self.db.execute(f"DELETE FROM memories WHERE id IN ({marks})", tuple(ids))
            nexts = [int(r[0]) for r in self._rows(
                f"SELECT id FROM memories WHERE prev_id IN ({marks})", ids
            )]  # fmt: skip
            for mid in nexts:
                prev = self._row("SELECT prev_id FROM memories WHERE id = ?", (mid,))[0]
                while prev in prevs:  # skip over every purged memory
                    prev = prevs[prev]
                self.db.execute("UPDATE memories SET prev_id = ? WHERE id = ?", (prev, mid))
            survivors = {p for p in prevs.values() if p is not None and p not in prevs}
            self._rechain(sorted(survivors | set(nexts)))

    def _rechain(self, ids: Sequence[int]) -> None:
        """Recompute ``context`` of ``ids`` from their current session neighbours."""
        for mid in ids:
            before = self._row(
                "SELECT p.content FROM memories m JOIN memories p ON p.id = m.prev_id "
                "WHERE m.id = ?",
                (mid,),
            )
            after = self._row(
                "SELECT content FROM memories WHERE prev_id = ? ORDER BY id LIMIT 1", (mid,)
            )
            text = _context("" if before is None else before[0], "" if after is None else after[0])
            self.db.execute("UPDATE memories SET context = ? WHERE id = ?", (text, mid))

    def record_recalls(self, ids: Iterable[int]) -> None:
        now = time.time()
        with self.transaction():
            self.db.executemany(
                "UPDATE memories SET recall_count = recall_count + 1, last_recalled_at = ? "
                "WHERE id = ?",
                [(now, i) for i in ids],
            )

    # -- lifecycle: links, boilerplate, topic vectors, age ----------------------------------

    def add_links(self, source_id: int, targets: Sequence[tuple[int, float]]) -> None:
        now = time.time()
        with self.transaction():
            self.db.executemany(
                "INSERT OR IGNORE INTO links (source_id, target_id, similarity, created_at) "
                "SELECT ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM memories WHERE id = ?)",
                [(source_id, t, round(sim, 6), now, t) for t, sim in targets if t != source_id],
            )

    def remove_link(self, a: int, b: int) -> None:
        with self.transaction():
            self.db.execute(
                "DELETE FROM links WHERE (source_id = ? AND target_id = ?) "
                "OR (source_id = ? AND target_id = ?)",
                (a, b, b, a),
            )

    def links_of(self, memory_id: int) -> list[tuple[int, float]]:
        """Every memory linked to ``memory_id`` (either direction), strongest first."""
        with self.lock:
            rows = self._rows(
                "SELECT target_id, similarity FROM links WHERE source_id = ? "
                "UNION ALL SELECT source_id, similarity FROM links WHERE target_id = ? "
                "ORDER BY 2 DESC",
                (memory_id, memory_id),
            )
        return [(int(i), float(sim)) for i, sim in rows]

    def link_counts(self, ids: Sequence[int]) -> dict[int, int]:
        if not ids:
            return {}
        marks = _placeholders(len(ids))
        with self.lock:
            rows = self._rows(
                f"SELECT id, count(*) FROM (SELECT source_id AS id FROM links WHERE source_id IN "
                f"({marks}) UNION ALL SELECT target_id FROM links WHERE target_id IN ({marks})) "
                "GROUP BY id",
                (*ids, *ids),
            )
        counts = {int(i): 0 for i in ids}
        counts.update({int(i): int(n) for i, n in rows})
        return counts

    def project_links(self, project: str, states: Sequence[str]) -> list[tuple[int, int, float]]:
        """Links whose two ends are both in ``project`` and in ``states``."""
        marks = _placeholders(len(states))
        with self.lock:
            rows = self._rows(
                "SELECT l.source_id, l.target_id, l.similarity FROM links l "
                "JOIN memories a ON a.id = l.source_id JOIN memories b ON b.id = l.target_id "
                f"WHERE a.project = ? AND b.project = ? AND a.state IN ({marks}) "
                f"AND b.state IN ({marks})",
                (project, project, *states, *states),
            )
        return [(int(a), int(b), float(sim)) for a, b, sim in rows]

    def line_counts(self, project: str, keys: Sequence[str]) -> dict[str, int]:
        if not keys:
            return {}
        with self.lock:
            rows = self._rows(
                f"SELECT key, memories FROM line_stats WHERE project = ? "
                f"AND key IN ({_placeholders(len(keys))})",
                (project, *keys),
            )
        return {str(k): int(n) for k, n in rows}

    def topic_vectors(self, ids: Sequence[int]) -> dict[int, tuple[str | None, np.ndarray | None]]:
        if not ids:
            return {}
        with self.lock:
            rows = self._rows(
                "SELECT memory_id, topic_hash, topic_embedding FROM memory_vectors "
                f"WHERE memory_id IN ({_placeholders(len(ids))})",
                tuple(ids),
            )
        return {
            int(i): (h, None if b is None else np.frombuffer(b, dtype=np.float32))
            for i, h, b in rows
        }

    def set_topic_vector(self, memory_id: int, topic_hash: str, vector: np.ndarray) -> None:
        with self.transaction():
            self._guard_vectors()
            self.db.execute(
                "UPDATE memory_vectors SET topic_hash = ?, topic_embedding = ? WHERE memory_id = ?",
                (topic_hash, np.ascontiguousarray(vector, dtype=np.float32).tobytes(), memory_id),
            )

    def mark_connected(self, memory_id: int) -> None:
        with self.transaction():
            self.db.execute("UPDATE memories SET connected = 1 WHERE id = ?", (memory_id,))

    def pending(self, column: str, limit: int) -> list[int]:
        """Active memories not yet ``embedded`` or ``connected`` (oldest first)."""
        if column not in ("embedded", "connected"):
            raise StoreError(f"unknown column {column!r}")
        extra = " AND embedded = 1" if column == "connected" else ""
        with self.lock:
            rows = self._rows(
                f"SELECT id FROM memories WHERE {column} = 0{extra} "
                "AND state IN ('buffer', 'proven') ORDER BY id LIMIT ?",
                (limit,),
            )
        return [int(r[0]) for r in rows]

    def project_seq(self, project: str) -> int:
        with self.lock:
            row = self._row("SELECT seq FROM project_counters WHERE project = ?", (project,))
        return 0 if row is None else int(row[0])

    def update_memory(self, memory_id: int, **fields: Any) -> None:
        allowed = {"age_from", "reprieves", "protected", "type", "metadata", "recall_count"}
        unknown = set(fields) - allowed
        if unknown:
            raise StoreError(f"cannot update {sorted(unknown)}")
        values = [json.dumps(v) if k == "metadata" else v for k, v in fields.items()]
        assignments = ", ".join(f"{k} = ?" for k in fields)
        with self.transaction():
            self.db.execute(
                f"UPDATE memories SET {assignments}, updated_at = ? WHERE id = ?",
                (*values, time.time(), memory_id),
            )

    def query_ids(self, where: str, params: Sequence[Any] = ()) -> list[int]:
        """Ids of memories matching a WHERE clause written by this package (never user text)."""
        with self.lock:
            rows = self._rows(f"SELECT id FROM memories WHERE {where}", tuple(params))
        return [int(r[0]) for r in rows]

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Run package-written SQL (inside the caller's transaction when there is one)."""
        with self.lock:
            return self._rows(sql, params)

    # -- reads --------------------------------------------------------------------------

    def get(self, memory_id: int) -> Memory:
        found = self.get_many([memory_id])
        if not found:
            raise NotFoundError(f"no memory with id {memory_id}")
        return found[memory_id]

    def get_many(self, ids: Sequence[int]) -> dict[int, Memory]:
        if not ids:
            return {}
        with self.lock:
            rows = self._rows(
                f"SELECT {_MEMORY_COLUMNS} FROM memories WHERE id IN ({_placeholders(len(ids))})",
                tuple(ids),
            )
        return {m.id: m for m in map(_row_to_memory, rows)}

    def heads(self, ids: Sequence[int]) -> dict[int, tuple[str | None, float]]:
        """The label and ``created_at`` of each memory: what recall needs of every candidate
        (a whole :class:`Memory` only for the best)."""
        if not ids:
            return {}
        with self.lock:
            rows = self._rows(
                f"SELECT id, label, created_at FROM memories WHERE id IN ({_placeholders(len(ids))})",
                tuple(ids),
            )
        return {int(i): (label, float(at)) for i, label, at in rows}

    def contents(self, ids: Sequence[int]) -> dict[int, str]:
        """The text of each memory in ``ids``."""
        if not ids:
            return {}
        with self.lock:
            rows = self._rows(
                f"SELECT id, content FROM memories WHERE id IN ({_placeholders(len(ids))})",
                tuple(ids),
            )
        return {int(i): str(text) for i, text in rows}

    def labels(self, words: Iterable[str], projects: Sequence[str] | None) -> set[str]:
        """Which of ``words`` label at least one memory in ``projects`` (None: any project)."""
        words = sorted(set(words))
        if not words:
            return set()
        sql = f"SELECT DISTINCT label FROM memories WHERE label IN ({_placeholders(len(words))})"
        params: list[object] = list(words)
        if projects is not None:
            sql += f" AND project IN ({_placeholders(len(projects))})"
            params.extend(projects)
        with self.lock:
            return {str(r[0]) for r in self._rows(sql, params)}

    def find_hash(self, project: str, content_hash: str) -> Memory | None:
        with self.lock:
            row = self._row(
                f"SELECT {_MEMORY_COLUMNS} FROM memories WHERE project = ? AND content_hash = ?",
                (project, content_hash),
            )
        return None if row is None else _row_to_memory(row)

    def vectors(self, ids: Sequence[int]) -> dict[int, np.ndarray]:
        if not ids:
            return {}
        with self.lock:
            rows = self._rows(
                f"SELECT memory_id, embedding FROM memory_vectors "
                f"WHERE memory_id IN ({_placeholders(len(ids))})",
                tuple(ids),
            )
        return {int(i): np.frombuffer(b, dtype=np.float32) for i, b in rows}

    def knn(
        self,
        query: np.ndarray,
        k: int,
        *,
        projects: Sequence[str] | None,
        states: Sequence[str] = ACTIVE_STATES,
        oversample: int = 10,
        min_candidates: int = 400,
    ) -> list[tuple[int, float]]:
        """Nearest memories by cosine: binary-code candidates, rescored exactly.

        ``pool = max(k * oversample, min_candidates)`` memories (at most 4096) are rescored with
        their float32 vectors; a scope (projects and states) holding no more embedded memories
        than that is rescored whole, so the result is exact. Candidates come from the binary
        codes held in RAM (:mod:`mcp_memory.bit_index`): the rows within ``1.25 * sqrt(D)`` bits
        of the k-th nearest code, at most ``4 * pool``, re-ranked by ``q . sign(x)`` down to the
        pool. When that index cannot serve (see its docstring), two sqlite-vec scans of
        ``memory_index`` pick the same shortlist and all of it is rescored (:meth:`_knn_vec0`).
        Numbers in ``docs/benchmarks.md``, section "recall" (``bench/recall.py``): at 100k x
        1024-d the default pool gives recall@10 >= 0.99 against exact search in a few ms.
        """
        if self.model is None or k <= 0:
            return []
        q = np.ascontiguousarray(query, dtype=np.float32)
        pool = min(MAX_CANDIDATES, max(k * oversample, min_candidates))
        with self.lock:
            hits = self.bit_index.search(q, k, projects=projects, states=states, pool=pool)
            if hits is not None:
                return hits
            shortlist = min(MAX_CANDIDATES, SHORTLIST_FACTOR * pool)
            return self._knn_vec0(q, k, projects, states, shortlist)

    def _knn_vec0(
        self, q: np.ndarray, k: int, projects: Sequence[str] | None, states: Sequence[str],
        pool: int,
    ) -> list[tuple[int, float]]:  # fmt: skip
        """:meth:`knn` by sqlite-vec scans of ``memory_index``; ``pool`` candidates rescored.

        Two scans: one scan for the ``pool`` nearest codes would cost N x pool (sqlite-vec
        0.1.9 picks each 1,024-row chunk's top k with k linear passes), while a ``distance <=
        limit`` constraint costs what the rows that pass it cost. So the first scan finds the
        k-th nearest Hamming distance, and the second takes every code within ``1.25 *
        sqrt(D)`` bits of it, nearest first, up to the pool.
        """
        assert self.model is not None
        blob = q.tobytes()
        margin = float(np.ceil(1.25 * np.sqrt(self.model.dimension)))
        where = [f"state IN ({_placeholders(len(states))})"]
        filters: list[object] = [*states]
        if projects is not None:
            where.append(f"project IN ({_placeholders(len(projects))})")
            filters.extend(projects)
        scope = " AND ".join(where)
        scan = (
            "SELECT rowid, distance FROM memory_index WHERE embedding MATCH "
            f"vec_quantize_binary(?) AND k = ? {{}} AND {scope}"
        )
        in_scope = scalar(
            self.db,
            f"SELECT count(*) FROM (SELECT 1 FROM memories WHERE {scope} AND embedded = 1 LIMIT ?)",
            (*filters, pool + 1),
        )
        if in_scope <= pool:
            rows = self._rows(scan.format(""), (blob, pool, *filters))
        else:
            rows = self._rows(scan.format(""), (blob, min(k, pool), *filters))
            if len(rows) == min(k, pool):
                limit = float(rows[-1][1]) + margin
                rows = self._rows(scan.format("AND distance <= ?"), (blob, pool, limit, *filters))
        ids = [int(r[0]) for r in rows]
        if not ids:
            return []
        blobs = self._rows(
            f"SELECT memory_id, embedding FROM memory_vectors "
            f"WHERE memory_id IN ({_placeholders(len(ids))})",
            tuple(ids),
        )
        row_ids = np.fromiter((r[0] for r in blobs), dtype=np.int64, count=len(blobs))
        matrix = np.frombuffer(b"".join(r[1] for r in blobs), dtype=np.float32).reshape(
            len(blobs), -1
        )
        sims = matrix @ q
        top = np.argsort(-sims, kind="stable")[:k]
        return [(int(row_ids[i]), float(sims[i])) for i in top]

    def fts(
        self,
        match: str,
        k: int,
        *,
        projects: Sequence[str] | None,
        states: Sequence[str] = ACTIVE_STATES,
        context_weight: float = CONTEXT_WEIGHT,
    ) -> list[tuple[int, float]]:
        """Full-text matches ranked by BM25, best first, as ``(id, score)`` with the score
        positive (higher is better); ``match`` is an FTS5 expression.

        Ranks on ``recall_fts``: a memory's own text and tags at weight 1 and its session
        neighbours' text (``context``) at ``context_weight`` (0: not searched at all).
        """
        if context_weight <= 0:
            match = f"{{content tags}} : ({match})"
        where = [f"m.state IN ({_placeholders(len(states))})"]
        params: list[object] = [match, *states]
        if projects is not None:
            where.append(f"m.project IN ({_placeholders(len(projects))})")
            params.extend(projects)
        params.append(k)
        with self.lock:
            try:
                rows = self._rows(
                    f"SELECT m.id, bm25(recall_fts, 1.0, 1.0, {float(context_weight)}) AS rank "
                    "FROM recall_fts JOIN memories m ON m.id = recall_fts.rowid "
                    f"WHERE recall_fts MATCH ? AND {' AND '.join(where)} "
                    "ORDER BY rank LIMIT ?",
                    tuple(params),
                )
            except apsw.SQLError as exc:
                raise StoreError(f"bad full-text query {match!r}: {exc}") from exc
        return [(int(i), -float(r)) for i, r in rows]

    def neighbours(self, ids: Sequence[int], states: Sequence[str]) -> dict[int, list[int]]:
        """The session neighbours (previous and next memory, in ``states``) of each of ``ids``
        that has any."""
        if not ids:
            return {}
        marks, smarks = _placeholders(len(ids)), _placeholders(len(states))
        with self.lock:
            rows = self._rows(
                "SELECT a.id, a.prev_id FROM memories a JOIN memories b ON b.id = a.prev_id "
                f"WHERE a.id IN ({marks}) AND b.state IN ({smarks}) "
                "UNION ALL SELECT a.prev_id, a.id FROM memories a "
                f"WHERE a.prev_id IN ({marks}) AND a.state IN ({smarks})",
                (*ids, *states, *ids, *states),
            )
        out: dict[int, list[int]] = {}
        for mid, other in rows:
            out.setdefault(int(mid), []).append(int(other))
        return out

    def ids_with_tags(self, tags: Sequence[str]) -> set[int]:
        """Memories carrying every one of ``tags``."""
        with self.lock:
            rows = self._rows(
                f"SELECT memory_id FROM memory_tags WHERE tag IN ({_placeholders(len(tags))}) "
                "GROUP BY memory_id HAVING count(DISTINCT tag) = ?",
                (*tags, len(set(tags))),
            )
        return {int(r[0]) for r in rows}

    def counts(self) -> dict[str, object]:
        with self.lock:
            by_state: dict[str, int] = dict(
                self._rows("SELECT state, count(*) FROM memories GROUP BY state")
            )
            by_project: dict[str, int] = dict(
                self._rows(
                    "SELECT project, count(*) FROM memories WHERE state IN ('buffer','proven') "
                    "GROUP BY project"
                )
            )
            by_type: dict[str, int] = dict(
                self._rows(
                    "SELECT type, count(*) FROM memories WHERE state IN ('buffer','proven') "
                    "GROUP BY type"
                )
            )
            total = scalar(self.db, "SELECT count(*) FROM memories")
            vectors = scalar(self.db, "SELECT count(*) FROM memory_vectors")
            links = scalar(self.db, "SELECT count(*) FROM links")
            unembedded = scalar(self.db, "SELECT count(*) FROM memories WHERE embedded = 0")
        return {
            "total": total,
            "by_state": {s: int(by_state.get(s, 0)) for s in STATES},
            "by_project": by_project,
            "by_type": by_type,
            "vectors": vectors,
            "links": links,
            "unembedded": unembedded,
        }

    def table_counts(self) -> dict[str, int]:
        """Row counts of every table a write touches (tests use them to prove atomicity)."""
        tables = ["memories", "memory_tags", "memory_vectors", "links"]
        with self.lock:
            out = {t: int(scalar(self.db, f"SELECT count(*) FROM {t}")) for t in tables}
            out["memories_fts"] = int(scalar(self.db, "SELECT count(*) FROM memories_fts"))
            if self.model is not None:
                out["memory_index"] = int(scalar(self.db, "SELECT count(*) FROM memory_index"))
        return out
