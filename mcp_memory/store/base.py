"""What every part of :class:`~mcp_memory.store.database.Store` shares: the memory row types
(:class:`Memory`, :class:`NewMemory`, :class:`ModelInfo`) and :class:`StoreBase`,
the base class that declares the connection, lock and model each part works with.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import apsw

from mcp_memory.store.bit_index import BitIndex


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
    # Its history so far, which only an import carries over (None: now; 0: never recalled).
    updated_at: float | None = None
    last_recalled_at: float | None = None
    recall_count: int = 0
    reprieves: int = 0
    # Who may see it on a team database: "team" (everyone) or "private" (its author only).
    visibility: str = "team"
    author: str | None = None  # None: the store's user (settings.user)


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
    author: str = ""  # who stored it ("" before authors were recorded)
    visibility: str = "team"  # "team" | "private" (only its author sees it)


MEMORY_COLUMNS = (
    "id, content, content_hash, type, project, tags, source, session_id, state, protected, "
    "embedded, created_at, updated_at, last_recalled_at, recall_count, metadata, seq, age_from, "
    "reprieves, connected, author, visibility"
)


def row_to_memory(row: Sequence[Any]) -> Memory:
    (
        mid,
        content,
        chash,
        mtype,
        project,
        tags,
        source,
        session,
        state,
        protected,
        embedded,
        created,
        updated,
        recalled,
        count,
        metadata,
        seq,
        age_from,
        reprieves,
        connected,
        author,
        visibility,
    ) = row
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
        author=str(author),
        visibility=str(visibility),
    )


def placeholders(n: int) -> str:
    return ",".join("?" * n)


class StoreBase:
    """The state and helpers every part of :class:`~mcp_memory.store.database.Store` uses.

    ``Store.__init__`` sets the attributes and ``Store.transaction`` is the one write
    transaction; they are declared here so each part (a mixin) type-checks on its own.
    """

    db: apsw.Connection
    path: Path
    lock: threading.RLock
    user: str = ""  # the author of what this process stores (set by app.open_store)
    model: ModelInfo | None
    vector_model: tuple[str, int] | None
    bit_index: BitIndex

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return self.db.execute(sql, tuple(params)).fetchall()

    def _row(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.db.execute(sql, tuple(params)).fetchone()

    def visible(self, alias: str = "") -> tuple[str, tuple[Any, ...]]:
        """A condition on ``memories`` (``alias`` its table alias) that keeps what ``user`` may
        see, with its parameters: every read that hands memories to a caller ANDs it in. A
        SQLite file is one user's own, so it keeps everything (its author may have been
        recorded under another host name); the team database overrides it."""
        return "1 = 1", ()

    def transaction(self) -> AbstractContextManager[None]:
        raise NotImplementedError  # defined by Store (see store.py)
