"""Hook-time recall: the few memories relevant to a prompt, read-only, with no model and no numpy.

This module is the documented exception to "SQL only in the store": everywhere else a query is
a named method of :class:`~mcp_memory.store.database.Store`, but that class cannot be imported
here without numpy, sqlite-vec's wrapper and the rest of the store (the hook's whole time budget),
so these few read-only queries are written out below. They never write, and every name they
share with the store (states, tables, ``meta`` keys, the KNN limit) comes from the import-free
:mod:`mcp_memory.store.schema`, which the store uses too, so a rename cannot leave a copy behind;
``tests/test_hooks.py`` pins the results to the store's own (``Reader.knn`` = ``Store.knn``).

A hook is a fresh Python process on Claude Code's critical path, so this module imports only the
standard library, ``apsw``, the pure-Python :mod:`mcp_memory.service.relevance` (the calibrated
relevance decision recall makes too) and :mod:`mcp_memory.service.query`, and the name-only
:mod:`mcp_memory.store.schema` (importing :mod:`mcp_memory.store.database` would pull numpy and
sqlite-vec's Python wrapper, which imports numpy too: ~200 ms before any work). It reads the
database the service writes, with the same queries:

- keyword: the service's FTS5 query (:func:`~mcp_memory.service.fusion.keyword_query`), BM25-ranked;
- vector, only when the warm server is up and serves the database's model: one query embedding
  over loopback HTTP, then :meth:`Store.knn`'s binary-index scan and exact rescoring, done in SQL
  by sqlite-vec (``vec_distance_cosine`` on the stored float32 blobs) instead of numpy. Tests pin
  it to ``Store.knn`` (same ids, same similarities).

- anchors: the code anchors of the memories about to be injected (:meth:`Reader.anchors`, the
  rows :meth:`Store.anchors_of` returns), checked by :mod:`mcp_memory.anchors.check` (standard
  library only: a ``stat`` per file; a file is read, and git asked, only when its stat changed)
  so that a memory whose code changed is injected with "may be out of date: ...".

Opening is read-only (``SQLITE_OPEN_READONLY``): a hook never creates, migrates or checkpoints
the database, and a short busy timeout keeps a locked database from holding the prompt up.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from mcp_memory.embedding.protocol import CHALLENGE_HEADER, SERVICE, proof, read_token
from mcp_memory.projects import GLOBAL
from mcp_memory.service import relevance
from mcp_memory.store.schema import (
    ACTIVE_STATES,
    ANCHOR_COLUMNS,
    DIMENSION_KEY,
    MAX_CANDIDATES,
    MEMORIES,
    MEMORIES_FTS,
    MEMORY_ANCHORS,
    MEMORY_INDEX,
    MEMORY_VECTORS,
    META,
    MODEL_ID_KEY,
)
from mcp_memory.text.keywords import keyword_query

BUSY_TIMEOUT_MS = 250  # the hook's own (the store waits 10 s; a prompt must not)
MAX_QUERY_CHARS = 2000  # the models read at most a few hundred tokens of it anyway
NORM_TOLERANCE = 1e-3

# Cosine similarity a prompt must reach with a memory for the memory to be injected, per model.
# Calibrated by bench/hooks.py on bench/data/prompt_relevance.jsonl (the highest-recall
# threshold with precision >= 0.9; see docs/benchmarks.md, section "hooks"). Models without a
# calibration fall back to their link threshold (a memory-to-memory calibration, stricter).
# e5-small: the same rule on the even prompts by bench/models.py (docs/models.md).
RELEVANCE_THRESHOLDS = {"minilm": 0.40, "e5-small": 0.87}
# Keyword-only fallback (warm server not up): a memory qualifies when it contains at least
# KEYWORD_MIN_TERMS of the prompt's content words and they carry KEYWORD_MIN_COVERAGE of the
# prompt's total IDF weight (words absent from every memory count, with the highest weight).
KEYWORD_MIN_TERMS = 2
KEYWORD_MIN_COVERAGE = 0.5


class Unavailable(Exception):
    """The database or the warm server cannot be used right now (the hook then does less)."""


class Candidate(NamedTuple):
    """A memory that may be shown, with the signal that found it. The id is the local file's
    row id, or a team memory's ``t:N`` (from the daemon's recall: hybrid use)."""

    id: int | str
    content: str
    type: str
    project: str
    created_at: float
    similarity: float | None  # cosine to the prompt (vector mode)
    coverage: float | None  # IDF-weighted share of the prompt's words it contains (keyword)
    # The calibrated decision of :mod:`mcp_memory.service.relevance` (vector mode, calibrated
    # models): the same one the recall tool and the briefing make. None: not judged.
    relevant: bool | None = None


def vec_extension_path() -> str:
    """sqlite-vec's loadable library, found without importing its (numpy-importing) package."""
    import importlib.util

    spec = importlib.util.find_spec("sqlite_vec")
    if spec is None or not spec.submodule_search_locations:
        raise Unavailable("sqlite-vec is not installed")
    return os.path.join(list(spec.submodule_search_locations)[0], "vec0")


def _marks(values: Sequence[object]) -> str:
    """One ``?`` per value, for ``IN (...)``."""
    return ",".join("?" * len(values))


class Reader:
    """A read-only connection to the memory database, for one hook run."""

    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise Unavailable(f"no database at {path}")
        import apsw  # here, not at import time: the events that never read skip it

        try:
            self.db = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
            self.db.set_busy_timeout(BUSY_TIMEOUT_MS)
            version = self._one("PRAGMA user_version")
            meta: dict[Any, Any] = dict(self._rows(f"SELECT key, value FROM {META}"))
        except apsw.Error as exc:
            raise Unavailable(f"database {path} cannot be read: {exc}") from exc
        if not version:
            raise Unavailable(f"database {path} has no schema yet")
        self.model_id: str | None = meta.get(MODEL_ID_KEY)
        self.dimension = int(meta[DIMENSION_KEY]) if DIMENSION_KEY in meta else 0
        self._vec_loaded = False

    def close(self) -> None:
        self.db.close()

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return self.db.execute(sql, tuple(params)).fetchall()

    def _one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = self.db.execute(sql, tuple(params)).fetchone()
        return None if row is None else row[0]

    def count_active(self, projects: Sequence[str]) -> int:
        return int(
            self._one(
                f"SELECT count(*) FROM {MEMORIES} WHERE project IN ({_marks(projects)}) "
                f"AND state IN ({_marks(ACTIVE_STATES)})",
                (*projects, *ACTIVE_STATES),
            )
        )

    # -- keyword ----------------------------------------------------------------------------

    def keyword(self, text: str, projects: Sequence[str], k: int) -> list[Candidate]:
        """BM25 hits (best first) with each hit's IDF-weighted coverage of the query words."""
        import apsw  # loaded by __init__ already

        match = keyword_query(text)
        if not match:
            return []
        try:
            rows = self._rows(
                f"SELECT m.id FROM {MEMORIES_FTS} JOIN {MEMORIES} m ON m.id = {MEMORIES_FTS}.rowid "
                f"WHERE {MEMORIES_FTS} MATCH ? AND m.state IN ({_marks(ACTIVE_STATES)}) "
                f"AND m.project IN ({_marks(projects)}) ORDER BY bm25({MEMORIES_FTS}) LIMIT ?",
                (match, *ACTIVE_STATES, *projects, k),
            )
        except apsw.SQLError:  # a query FTS5 cannot parse
            return []
        ids = [int(r[0]) for r in rows]
        if not ids:
            return []
        coverage = self._coverage(match.split(" OR "), ids)
        found = self._memories(ids)
        return [
            Candidate(*found[i], similarity=None, coverage=coverage[i]) for i in ids if i in found
        ]

    def _coverage(self, terms: list[str], ids: list[int]) -> dict[int, float]:
        """Share of the query's IDF weight that each memory in ``ids`` matches, and whether it
        matches at least :data:`KEYWORD_MIN_TERMS` terms (else 0). FTS5 applies the same
        tokenizer (porter stemming) as the ranking query, one term at a time."""
        total_docs = max(1, int(self._one(f"SELECT coalesce(max(id), 0) FROM {MEMORIES}")))
        weight_sum = 0.0
        matched: dict[int, list[float]] = {i: [] for i in ids}
        for term in terms:
            df = int(
                self._one(
                    f"SELECT count(*) FROM {MEMORIES_FTS} WHERE {MEMORIES_FTS} MATCH ?", (term,)
                )
            )
            weight = math.log(1.0 + (total_docs - df + 0.5) / (df + 0.5))
            weight_sum += weight
            if df == 0:
                continue
            for (rowid,) in self.db.execute(
                f"SELECT rowid FROM {MEMORIES_FTS} WHERE {MEMORIES_FTS} MATCH ? "
                f"AND rowid IN ({_marks(ids)})",
                (term, *ids),
            ):
                matched[int(rowid)].append(weight)
        return {
            i: (sum(w) / weight_sum if weight_sum and len(w) >= KEYWORD_MIN_TERMS else 0.0)
            for i, w in matched.items()
        }

    # -- vectors ----------------------------------------------------------------------------

    def knn(
        self,
        query: bytes,
        k: int,
        projects: Sequence[str],
        *,
        oversample: int = 10,
        min_candidates: int = 200,
    ) -> list[tuple[int, float]]:
        """= :meth:`Store.knn`: bit-index candidates, rescored exactly (cosine), best first."""
        if self.model_id is None:
            return []
        if not self._vec_loaded:
            import apsw

            try:
                self.db.enable_load_extension(True)
                self.db.load_extension(vec_extension_path())
                self.db.enable_load_extension(False)
            except apsw.Error as exc:
                raise Unavailable(f"cannot load sqlite-vec: {exc}") from exc
            self._vec_loaded = True
        candidates = min(MAX_CANDIDATES, max(k * oversample, min_candidates))
        ids = [
            int(r[0])
            for r in self.db.execute(
                f"SELECT rowid FROM {MEMORY_INDEX} WHERE embedding MATCH vec_quantize_binary(?) "
                f"AND k = ? AND state IN ({_marks(ACTIVE_STATES)}) "
                f"AND project IN ({_marks(projects)})",
                (query, candidates, *ACTIVE_STATES, *projects),
            )
        ]
        if not ids:
            return []
        rows = self._rows(
            f"SELECT memory_id, 1.0 - vec_distance_cosine(embedding, ?) FROM {MEMORY_VECTORS} "
            f"WHERE memory_id IN ({_marks(ids)})",
            (query, *ids),
        )
        scored = sorted(((int(i), float(s)) for i, s in rows), key=lambda r: -r[1])
        return scored[:k]

    def vector(
        self,
        query: bytes,
        projects: Sequence[str],
        k: int,
        *,
        text: str = "",
        keyword: Sequence[Candidate] = (),
    ) -> list[Candidate]:
        """KNN hits, each judged relevant or not like recall judges it (:func:`judge`) from the
        prompt ``text`` and the ``keyword`` hits (:meth:`keyword`, best first)."""
        hits = self.knn(query, k, projects)
        found = self._memories([i for i, _ in hits])
        verdicts = judge(self.model_id or "", hits, [int(c.id) for c in keyword], text)
        return [
            Candidate(*found[i], similarity=sim, coverage=None, relevant=verdicts.get(i))
            for i, sim in hits
            if i in found
        ]

    def unembedded(self, ids: Sequence[int]) -> set[int]:
        """Those of ``ids`` without a vector yet (stored by a hook; ``maintain`` embeds them)."""
        if not ids:
            return set()
        rows = self.db.execute(
            f"SELECT id FROM {MEMORIES} WHERE embedded = 0 AND id IN ({_marks(ids)})",
            tuple(ids),
        )
        return {int(r[0]) for r in rows}

    def anchors(self, ids: Sequence[int]) -> dict[int, tuple[str, list[tuple[Any, ...]]]]:
        """= :meth:`Store.anchors_of` with each memory's project: memory id -> (project, its
        anchor rows in ``ANCHOR_COLUMNS`` order), for the memories that have anchors. Empty for
        a database whose schema predates anchors (a hook never migrates)."""
        import apsw

        if not ids:
            return {}
        cols = ", ".join(f"a.{c.strip()}" for c in ANCHOR_COLUMNS.split(","))
        try:
            rows = self._rows(
                f"SELECT {cols}, m.project FROM {MEMORY_ANCHORS} a JOIN {MEMORIES} m "
                f"ON m.id = a.memory_id WHERE a.memory_id IN ({_marks(ids)}) ORDER BY a.id",
                tuple(ids),
            )
        except apsw.SQLError:
            return {}
        out: dict[int, tuple[str, list[tuple[Any, ...]]]] = {}
        for row in rows:
            out.setdefault(int(row[1]), (str(row[-1]), []))[1].append(tuple(row[:-1]))
        return out

    def _memories(self, ids: Sequence[int]) -> dict[int, tuple[int, str, str, str, float]]:
        if not ids:
            return {}
        rows = self.db.execute(
            f"SELECT id, content, type, project, created_at FROM {MEMORIES} "
            f"WHERE id IN ({_marks(ids)})",
            tuple(ids),
        )
        return {int(r[0]): (int(r[0]), str(r[1]), str(r[2]), str(r[3]), float(r[4])) for r in rows}


def judge(
    model_id: str, knn: Sequence[tuple[int, float]], keyword_ids: Sequence[int], text: str
) -> dict[int, bool]:
    """Each KNN hit's relevance, decided as :meth:`MemoryService.recall` decides it (the same
    features and coefficients, :mod:`mcp_memory.service.relevance`); empty for a model without
    a calibration (the hook then falls back to its cosine threshold)."""
    if model_id not in relevance.CALIBRATIONS or not knn:
        return {}
    from mcp_memory.service.query import has_identifier  # its regexes: prompt hooks only

    spelled = has_identifier(text)
    ranks = {i: r for r, i in enumerate(keyword_ids, start=1)}
    top = knn[0][1]
    out: dict[int, bool] = {}
    for r, (mid, cos) in enumerate(knn):
        after = knn[r + 1][1] if r + 1 < len(knn) else None
        values = relevance.features(cos, after, top, ranks.get(mid), spelled)
        out[mid] = relevance.is_relevant(model_id, relevance.probability(model_id, values))
    return out


# -- the warm server, without numpy or http.client ---------------------------------------------
# http.client pulls in the email parser and ssl (~25 ms of imports); the warm server speaks plain
# HTTP/1.1 with Content-Length on every reply, so a socket and a dozen lines do.

MAX_REPLY_BYTES = 1 << 20


class _Connection:
    """One keep-alive HTTP/1.1 connection to the warm server."""

    def __init__(self, host: str, port: int, timeout: float) -> None:
        import socket

        self.host_header = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buffer = b""

    def close(self) -> None:
        self.sock.close()

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise OSError("the warm server closed the connection")
        self.buffer += chunk
        if len(self.buffer) > MAX_REPLY_BYTES:
            raise OSError("the warm server's reply is too large")

    def request(
        self, method: str, path: str, body: Any, headers: dict[str, str] | None = None
    ) -> dict[str, Any]:
        payload = b"" if body is None else json.dumps(body).encode("utf-8")
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host_header}\r\nAccept: application/json\r\n"
        )
        for name, value in (headers or {}).items():
            head += f"{name}: {value}\r\n"
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
        self.sock.sendall(head.encode("ascii") + b"\r\n" + payload)
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        header, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        lines = header.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        length = next(
            (
                int(v)
                for k, _, v in (ln.partition(":") for ln in lines[1:])
                if k.strip().lower() == "content-length"
            ),
            -1,
        )
        if not 0 <= length <= MAX_REPLY_BYTES:
            raise OSError("the warm server's reply has no usable Content-Length")
        while len(self.buffer) < length:
            self._fill()
        data, self.buffer = self.buffer[:length], self.buffer[length:]
        reply = json.loads(data)
        if status != 200 or not isinstance(reply, dict) or reply.get("service") != SERVICE:
            raise Unavailable(f"warm server answered {method} {path} with HTTP {status}")
        return reply


def server_health(host: str, port: int, timeout: float) -> dict[str, Any] | None:
    """Our warm server's health, or None (refused, foreign, silent past ``timeout``)."""
    try:
        conn = _Connection(host, port, timeout)
    except OSError:
        return None
    try:
        return conn.request("GET", "/health", None)
    except (OSError, ValueError, IndexError, Unavailable):
        return None
    finally:
        conn.close()


def embed_query(
    host: str,
    port: int,
    text: str,
    *,
    model_id: str,
    dimension: int,
    timeout: float,
    token_file: Path,
) -> bytes:
    """The query vector of ``text`` as float32 little-endian bytes, checked like WarmClient does:
    our server (it answers a fresh challenge under the token in ``token_file`` before the prompt
    is sent), the database's model and dimension, one unit-length finite vector."""
    import hmac

    try:
        conn = _Connection(host, port, timeout)
    except OSError as exc:
        raise Unavailable(f"warm server not reachable: {exc}") from exc
    try:
        challenge = os.urandom(16).hex()  # = secrets.token_hex(16), without its imports
        health = conn.request("GET", "/health", None, {CHALLENGE_HEADER: challenge})
        expected = proof(read_token(token_file), port, challenge)
        if not hmac.compare_digest(str(health.get("proof", "")), expected):
            raise Unavailable(f"the program on port {port} did not prove it is our warm server")
        if (health.get("model"), health.get("dimension")) != (model_id, dimension):
            raise Unavailable(
                f"warm server serves {health.get('model')}/{health.get('dimension')}, "
                f"the database uses {model_id}/{dimension}"
            )
        body = {"texts": [text[:MAX_QUERY_CHARS]], "kind": "query", "encoding": "f32-base64"}
        reply = conn.request("POST", "/embed", body)
    except (OSError, ValueError, IndexError) as exc:
        raise Unavailable(f"warm server failed: {exc}") from exc
    finally:
        conn.close()
    if reply.get("count") != 1:
        raise Unavailable("warm server replied with another count of vectors")
    return checked_vector(reply, "vectors", model_id, dimension, "warm server")


def checked_vector(
    reply: Mapping[str, Any], field: str, model_id: str, dimension: int, sender: str
) -> bytes:
    """The query vector in ``reply[field]`` (base64 float32 little-endian, as the warm server and
    the daemon send it) as native float32 bytes for SQLite, once it is for the database's model
    and dimension, finite and unit length; else Unavailable."""
    import base64
    import binascii
    from array import array

    if (reply.get("model"), reply.get("dimension")) != (model_id, dimension):
        raise Unavailable(f"{sender} replied for another model or dimension")
    try:
        raw = base64.b64decode(str(reply.get(field)), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise Unavailable(f"{sender} sent invalid base64") from exc
    if len(raw) != 4 * dimension:
        raise Unavailable(f"{sender} sent {len(raw)} bytes for a {dimension}-d vector")
    values = array("f")
    values.frombytes(raw)
    if sys.byteorder == "big":  # the wire is little-endian; SQLite blobs are native floats
        values.byteswap()
    norm = math.fsum(v * v for v in values)
    if not math.isfinite(norm) or abs(math.sqrt(norm) - 1.0) > NORM_TOLERANCE:
        raise Unavailable(f"{sender} sent a vector that is not finite and unit length")
    return values.tobytes()


def relevance_threshold(model_id: str) -> float:
    if model_id in RELEVANCE_THRESHOLDS:
        return RELEVANCE_THRESHOLDS[model_id]
    from mcp_memory.embedding.specs import SPECS  # lean: dataclasses only

    spec = SPECS.get(model_id)
    return spec.link_threshold if spec is not None else 0.6


# -- choosing and showing -----------------------------------------------------------------------

MAX_ITEMS = 3
MAX_CHARS = 1200  # of injected memory text per prompt (about 300 tokens)
MIN_ITEM_CHARS = 120  # a memory is shortened to fit the budget, but not below this


def qualifies(c: Candidate, threshold: float) -> bool:
    """Whether a candidate may be injected. The hook speaks unasked, on every prompt, so a vector
    hit must clear both the hook's own cosine floor (calibrated by bench/hooks.py for precision
    >= 0.9) and, where the model has one, recall's relevance verdict (which is tuned to keep 95%
    of answers for the recall tool, so it lets more through than an unasked injection should)."""
    if c.similarity is not None:
        return c.similarity >= threshold and c.relevant is not False
    if c.relevant is not None:
        return c.relevant
    return c.coverage is not None and c.coverage >= KEYWORD_MIN_COVERAGE


def select(
    candidates: Sequence[Candidate],
    threshold: float,
    *,
    exclude: Collection[int | str] = (),
    max_items: int = MAX_ITEMS,
    max_chars: int = MAX_CHARS,
) -> list[tuple[Candidate, str]]:
    """The qualifying candidates in order, each with its text shortened to fit ``max_chars``
    in total; at most ``max_items``; none already shown (``exclude``)."""
    chosen: list[tuple[Candidate, str]] = []
    seen: set[int | str] = set()
    left = max_chars
    for c in candidates:
        if len(chosen) == max_items or left < MIN_ITEM_CHARS:
            break
        if c.id in exclude or c.id in seen or not qualifies(c, threshold):
            continue
        flat = " ".join(c.content.split())
        text = flat if len(flat) <= left else flat[: left - 1].rstrip() + "…"
        chosen.append((c, text))
        seen.add(c.id)
        left -= len(text)
    return chosen


HEADER = "Relevant memories from earlier sessions (mcp-memory; ids work with its tools):"


def render(
    chosen: Sequence[tuple[Candidate, str]],
    header: str = HEADER,
    stale: Mapping[int | str, str] | None = None,
) -> str:
    """The additionalContext block: one line per memory, with its id for the recall tool, and
    what changed in its code when it is ``stale`` (id -> "may be out of date: ...")."""
    from datetime import UTC, datetime

    lines = [header]
    for c, text in chosen:
        day = datetime.fromtimestamp(c.created_at, UTC).strftime("%Y-%m-%d")
        where = ", global" if c.project == GLOBAL else ""
        note = f" ({stale[c.id]})" if stale and c.id in stale else ""
        lines.append(f"- [{c.id}] ({c.type}, {day}{where}) {text}{note}")
    return "\n".join(lines)


def stale_notes(reader: Reader, ids: Sequence[int]) -> dict[int, str]:
    """id -> "may be out of date: ..." for those of ``ids`` whose code changed since they were
    stored (:mod:`mcp_memory.anchors.check`: a ``stat`` per anchor; a file is read, and git
    asked, only when its stat changed). Read-only: what it decides is not saved."""
    found = reader.anchors(ids)
    if not found:
        return {}
    from mcp_memory.anchors.check import AnchorRow, Checker, describe

    checker = Checker()
    out: dict[int, str] = {}
    for mid, (project, rows) in found.items():
        if not os.path.isabs(project) or not os.path.isdir(project):
            continue
        states, _ = checker.check(Path(project), [AnchorRow(*r) for r in rows])
        note = describe(states)
        if note:
            out[mid] = note
    return out
