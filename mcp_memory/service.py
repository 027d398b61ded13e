"""The memory service: remember, recall, forget, restore, stats.

Transport-free: no MCP, no HTTP, no environment. It gets a :class:`Store`, an
:class:`Embedder` and :class:`Options`, and every transport (MCP tools, CLI, hooks) calls it.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import numpy as np

from . import boilerplate
from .classify import PROTECTED_TYPES, TYPES, classify
from .embedder import Embedder
from .errors import EmbeddingError, ValidationError
from .links import CANDIDATES, Link, Linker
from .models import SPECS
from .query import asks_when, in_windows, names_in, says_when, time_windows
from .redact import redact
from .search import Tuning, keyword_query, ranked, rrf_fuse
from .store import ACTIVE_STATES, GLOBAL, STATES, Memory, NewMemory, Store

log = logging.getLogger("mcp_memory")

SOURCES = ("tool", "hook", "user", "cli", "lifecycle", "import")
MAX_TAGS = 20
MAX_TAG_CHARS = 64
MAX_BATCH = 100
MAX_K = 100


@dataclass(frozen=True)
class Options:
    max_content_chars: int = 20_000
    near_duplicates: str = "keep"  # keep | merge
    duplicate_threshold: float = 0.95
    link_threshold: float = 0.6
    promote_after: int = 3  # strong recalls in distinct sessions/days before a memory is proven
    strong_recall: float = 0.6  # query cosine of a strong recall (the model's strong_recall)
    tuning: Tuning = Tuning()  # how recall weighs its signals (see search.py)


@dataclass(frozen=True)
class NearDuplicate:
    id: int
    similarity: float


@dataclass(frozen=True)
class Remembered:
    id: int
    status: str  # created | duplicate | merged
    project: str
    type: str
    redactions: int = 0
    near_duplicates: tuple[NearDuplicate, ...] = ()
    links: tuple[Link, ...] = ()


@dataclass(frozen=True)
class Hit:
    id: int
    content: str
    score: float
    signals: dict[str, float]  # vector_similarity, vector_rank, keyword_rank
    project: str
    type: str
    tags: tuple[str, ...]
    state: str
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class RecallFilters:
    tags: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    states: tuple[str, ...] = ACTIVE_STATES
    since: float | None = None
    until: float | None = None


@dataclass
class Stats:
    database: str
    schema_version: int
    model: str | None
    dimension: int | None
    counts: dict[str, object] = field(default_factory=dict)
    llm_usage: list[dict[str, object]] = field(default_factory=list)  # recent days, newest first


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def parse_time(value: str, name: str) -> float:
    """An ISO 8601 date or datetime (UTC if no zone) as a timestamp."""
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValidationError(
            f"{name} must be an ISO 8601 date like 2026-01-31 or 2026-01-31T09:00, not {value!r}"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def validate_text(value: object, name: str, max_chars: int, empty_hint: str) -> str:
    """A caller's text, stripped: a string of valid Unicode, no NUL, not empty, not too long."""
    if not isinstance(value, str):
        raise ValidationError(f"{name} must be a string")
    if "\x00" in value:
        raise ValidationError(f"{name} contains NUL bytes; remove them and try again")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError(
            f"{name} contains invalid Unicode (lone surrogates); send valid UTF-8 text"
        ) from None
    text = value.strip()
    if not text:
        raise ValidationError(f"{name} is empty; {empty_hint}")
    if len(text) > max_chars:
        raise ValidationError(
            f"{name} is {len(text)} characters; the limit is {max_chars} "
            "(MCP_MEMORY_MAX_CONTENT_CHARS). Split it into smaller memories"
        )
    return text


def validate_content(content: object, max_chars: int) -> str:
    return validate_text(content, "content", max_chars, "give the text to remember")


def validate_tags(tags: Sequence[str] | None) -> tuple[str, ...]:
    if not tags:
        return ()
    if isinstance(tags, str):
        tags = [tags]
    out: list[str] = []
    for tag in tags:
        if not isinstance(tag, str):
            raise ValidationError("tags must be strings")
        clean = tag.strip().lower()
        if (
            not clean
            or len(clean) > MAX_TAG_CHARS
            or any(c.isspace() for c in clean)
            or any(ord(c) < 32 for c in clean)
        ):
            raise ValidationError(
                f"tag {tag!r} is invalid: tags are 1-{MAX_TAG_CHARS} characters without spaces"
            )
        if clean not in out:
            out.append(clean)
    if len(out) > MAX_TAGS:
        raise ValidationError(f"at most {MAX_TAGS} tags per memory")
    return tuple(out)


def _choice(value: str, allowed: Sequence[str], name: str) -> str:
    if value not in allowed:
        raise ValidationError(f"{name} must be one of {', '.join(allowed)}, not {value!r}")
    return value


class MemoryService:
    def __init__(self, store: Store, embedder: Embedder, options: Options | None = None) -> None:
        self.store = store
        self.embedder = embedder
        self.options = options or Options()
        self.linker = Linker(store, embedder, self.options.link_threshold)
        # The store refuses this embedder's vectors once `reindex` switched the database away.
        store.vector_model = (embedder.model_id, embedder.dimension)

    # -- remember -----------------------------------------------------------------------

    def remember(
        self,
        content: str,
        *,
        project: str,
        tags: Sequence[str] | None = None,
        type: str | None = None,
        source: str = "tool",
        session_id: str | None = None,
        embed: bool = True,
        created_at: float | None = None,
    ) -> Remembered:
        return self.remember_many(
            [content], project=project, tags=tags, type=type, source=source,
            session_id=session_id, embed=embed, created_at=created_at,
        )[0]  # fmt: skip

    def remember_many(
        self,
        contents: Sequence[str],
        *,
        project: str,
        tags: Sequence[str] | None = None,
        type: str | None = None,
        source: str = "tool",
        session_id: str | None = None,
        embed: bool = True,
        created_at: float | None = None,
    ) -> list[Remembered]:
        """Validate, redact, embed (one batch), store in one transaction, then connect.

        Embedding happens before the write, so a failure stores nothing. ``embed=False``
        (hooks, which must never load a model) stores text only; ``maintain`` embeds and
        connects later. ``type`` None classifies each text from its tags and content.
        ``session_id`` chains the texts, in order, after the session's earlier memories
        (recall reads each in the light of its neighbours). ``created_at`` (a timestamp;
        default now) is when they were said, for imports of older conversations: recall
        prefers memories made within a date the query names.
        """
        if not contents:
            raise ValidationError("nothing to remember: give at least one text")
        if len(contents) > MAX_BATCH:
            raise ValidationError(f"at most {MAX_BATCH} memories per call")
        if created_at is not None and not (
            isinstance(created_at, int | float) and math.isfinite(created_at) and created_at >= 0
        ):
            raise ValidationError(f"created_at must be a timestamp, not {created_at!r}")
        if type is not None:
            _choice(type, TYPES, "type")
        _choice(source, SOURCES, "source")
        clean_tags = validate_tags(tags)
        prepared: list[tuple[str, int]] = []
        for content in contents:
            text = validate_content(content, self.options.max_content_chars)
            red = redact(text)
            prepared.append((red.text.strip() or "[redacted]", red.count))
        # Exact duplicates (same project, same redacted text) return the existing id.
        results: list[Remembered | None] = []
        todo: list[int] = []
        seen: dict[str, int] = {}
        for n, (text, count) in enumerate(prepared):
            chash = content_hash(text)
            existing = self.store.find_hash(project, chash)
            if existing is not None and existing.state != "deleted":
                results.append(Remembered(existing.id, "duplicate", project, existing.type, count))
            elif chash in seen:
                results.append(None)  # filled from its twin below
            else:
                seen[chash] = n
                results.append(None)
                todo.append(n)
        vectors = self._embed_documents([prepared[n][0] for n in todo]) if embed and todo else None
        if vectors is not None:
            self.ensure_model()
        created: list[tuple[int, list[tuple[int, float]]]] = []
        with self.store.transaction():
            for j, n in enumerate(todo):
                text, count = prepared[n]
                vector = None if vectors is None else vectors[j]
                # One KNN query per new memory: its linking candidates, which also hold its
                # near-duplicates (see _near_duplicates).
                candidates: list[tuple[int, float]] | None = None
                near: tuple[NearDuplicate, ...] = ()
                if vector is not None:
                    candidates = self.linker.candidates(vector, project)
                    near = self._near_duplicates(vector, project, candidates)
                if near and self.options.near_duplicates == "merge":
                    target = self.store.get(near[0].id)
                    results[n] = Remembered(target.id, "merged", project, target.type, count, near)
                    continue
                chash = content_hash(text)
                existing = self.store.find_hash(project, chash)
                if existing is not None:  # a deleted twin: bring it back instead
                    self.store.set_state(existing.id, "buffer")
                    results[n] = Remembered(existing.id, "restored", project, existing.type, count)
                    continue
                kind = type or classify(text, clean_tags)
                mid = self.store.insert(
                    NewMemory(
                        content=text, content_hash=chash, project=project, type=kind,
                        tags=clean_tags, source=source, session_id=session_id,
                        protected=kind in PROTECTED_TYPES or source == "user",
                        line_keys=boilerplate.keys(text), created_at=created_at,
                    ),
                    vector,
                )  # fmt: skip
                results[n] = Remembered(mid, "created", project, kind, count, near)
                if candidates is not None:
                    created.append((n, candidates))
        for n, candidates in created:  # after the commit: linking may embed topic texts
            r = results[n]
            assert r is not None
            results[n] = replace(r, links=tuple(self.linker.connect(r.id, candidates)))
        for n, (text, count) in enumerate(prepared):
            if results[n] is None:  # a repeat within this batch
                twin = results[seen[content_hash(text)]]
                assert twin is not None
                results[n] = Remembered(twin.id, "duplicate", project, twin.type, count)
        return [r for r in results if r is not None]

    def _embed_documents(self, texts: list[str]) -> np.ndarray:
        vectors = self.embedder.embed(texts, "document")
        if vectors.shape != (len(texts), self.embedder.dimension):
            raise EmbeddingError(
                f"embedder returned shape {vectors.shape}, expected "
                f"({len(texts)}, {self.embedder.dimension})"
            )
        return vectors

    def ensure_model(self) -> None:
        if self.store.model is None:
            spec = SPECS.get(self.embedder.model_id)
            pooling = spec.pooling if spec is not None else "unknown"
            self.store.init_model(self.embedder.model_id, self.embedder.dimension, pooling)
        self.store.check_model(self.embedder.model_id, self.embedder.dimension)

    def _near_duplicates(
        self, vector: np.ndarray, project: str, candidates: list[tuple[int, float]]
    ) -> tuple[NearDuplicate, ...]:
        """Up to 3 memories of ``project`` at least ``duplicate_threshold`` similar, best first.

        Read from the linking candidates (the nearest of the project's and the global
        memories): they hold every such memory of the project unless all of them are that
        similar, and only then does a query of the project's own follow."""
        threshold = self.options.duplicate_threshold
        hits = [(i, s) for i, s in candidates if s >= threshold]
        if hits and project != GLOBAL:
            found = self.store.get_many([i for i, _ in hits])
            hits = [(i, s) for i, s in hits if i in found and found[i].project == project]
            if len(hits) < 3 and len(candidates) >= CANDIDATES and candidates[-1][1] >= threshold:
                hits = [
                    (i, s)
                    for i, s in self.store.knn(vector, 3, projects=[project])
                    if s >= threshold
                ]
        return tuple(NearDuplicate(i, round(s, 4)) for i, s in hits[:3])

    # -- recall -------------------------------------------------------------------------

    def recall(
        self,
        query: str,
        *,
        projects: Sequence[str] | None,
        k: int = 10,
        filters: RecallFilters | None = None,
        use_vectors: bool = True,
        count_recall: bool = True,
        context: str | None = None,
    ) -> list[Hit]:
        """Hybrid search: vector KNN and BM25 keyword ranks fused by reciprocal rank.

        Each side is a little more than its raw score (see :mod:`search` for the weights and
        ``docs/benchmarks.md`` for what each adds on LoCoMo):

        - vector: cosine plus half the mean cosine of the memory's session neighbours, so a
          short answer ("Yes, last week!") rises with the question before it;
        - keyword: BM25 over the memory's text, tags and, at lower weight, its neighbours' text;
        - both: a memory labelled with a name the query mentions ("Caroline: ...") ranks
          higher (:func:`query.label_of`), and the name leaves the BM25 query;
        - fused: a memory made within a date the query names ranks higher
          (:func:`query.time_windows`), and so, for a question asking when, does a memory
          that says when (:func:`query.asks_when`).

        ``projects`` None searches every project; otherwise only those listed. ``context``
        (a session id; default: the day) scopes promotion: see :meth:`_promote`.
        """
        query = validate_text(
            query, "query", self.options.max_content_chars, "describe what to look for"
        )
        if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= MAX_K:
            raise ValidationError(f"k must be an integer from 1 to {MAX_K}, not {k!r}")
        filters = filters or RecallFilters()
        for state in filters.states:
            _choice(state, STATES, "state")
        for t in filters.types:
            _choice(t, TYPES, "type")
        pool = max(50, 5 * k)
        tune = self.options.tuning
        labelled = self.store.labels(names_in(query), projects)  # names the query mentions
        cosines: dict[int, float] = {}
        neighbours: dict[int, list[int]] = {}
        if use_vectors and self.store.model is not None:
            self.store.check_model(self.embedder.model_id, self.embedder.dimension)
            qvec = self.embedder.embed([query], "query")[0]
            knn = self.store.knn(
                qvec, tune.vector_candidates * pool, projects=projects, states=filters.states
            )
            cosines, neighbours = self._with_neighbours(qvec, dict(knn), filters.states)
        match = keyword_query(query, drop=() if tune.names_in_bm25 else labelled)
        bm25: dict[int, float] = {}
        if match:
            bm25 = dict(
                self.store.fts(
                    match,
                    tune.keyword_candidates * pool,
                    projects=projects,
                    states=filters.states,
                    context_weight=tune.context_weight,
                )
            )
        heads = self.store.heads(sorted(set(cosines) | set(bm25)))
        named = {i for i, (label, _) in heads.items() if label in labelled}
        vector_hits = ranked(_vector_scores(cosines, neighbours, named, tune))[:pool]
        boost = tune.name_bm25
        keyword_hits = ranked({i: s * (boost if i in named else 1.0) for i, s in bm25.items()})
        keyword_hits = keyword_hits[:pool]
        weights = (tune.vector_weight, tune.keyword_weight)
        fused = dict(rrf_fuse(vector_hits, keyword_hits, k=tune.rrf_k, weights=weights))
        windows = time_windows(query)
        timely = {i for i in fused if i in heads and in_windows(heads[i][1], windows)}
        fused = {i: s * (tune.time_factor if i in timely else 1.0) for i, s in fused.items()}
        telling: set[int] = set()
        if tune.when_factor != 1.0 and asks_when(query):
            telling = {i for i, text in self.store.contents(list(fused)).items() if says_when(text)}
            fused = {i: s * (tune.when_factor if i in telling else 1.0) for i, s in fused.items()}
        tag_ids = self.store.ids_with_tags(filters.tags) if filters.tags else None
        vec_rank = {i: r + 1 for r, (i, _) in enumerate(vector_hits)}
        kw_rank = {i: r + 1 for r, (i, _) in enumerate(keyword_hits)}
        order = ranked(fused)
        hits: list[Hit] = []
        step = max(20, 2 * k)  # read whole memories only for the best, a chunk at a time
        for start in range(0, len(order), step):
            chunk = order[start : start + step]
            memories = self.store.get_many([i for i, _ in chunk])
            for mid, score in chunk:
                m = memories.get(mid)
                if m is None or not self._passes(m, filters, tag_ids):
                    continue
                signals: dict[str, float] = {}
                if mid in vec_rank:
                    signals["vector_similarity"] = round(cosines[mid], 4)
                    signals["vector_rank"] = vec_rank[mid]
                if mid in kw_rank:
                    signals["keyword_rank"] = kw_rank[mid]
                if mid in named:
                    signals["name_match"] = 1
                if mid in timely:
                    signals["time_match"] = 1
                if mid in telling:
                    signals["says_when"] = 1
                hits.append(_hit(m, score, signals))
                if len(hits) == k:
                    break
            if len(hits) == k:
                break
        if count_recall and hits:
            self.store.record_recalls(h.id for h in hits)
            self._promote(hits, context)
        return hits

    def _with_neighbours(
        self, qvec: np.ndarray, cosines: dict[int, float], states: Sequence[str]
    ) -> tuple[dict[int, float], dict[int, list[int]]]:
        """The KNN candidates' cosines plus those of their session neighbours (and of the
        neighbours' neighbours, which smoothing a neighbour's score needs), and who neighbours
        whom."""
        neighbours = self.store.neighbours(list(cosines), states)
        added = {j for near in neighbours.values() for j in near} - set(cosines)
        if added:
            neighbours.update(self.store.neighbours(sorted(added), states))
        missing = {j for near in neighbours.values() for j in near} - set(cosines)
        vectors = self.store.vectors(sorted(missing))
        if vectors:
            ids = list(vectors)
            sims = np.stack([vectors[i] for i in ids]) @ qvec
            cosines = {**cosines, **{i: float(s) for i, s in zip(ids, sims, strict=True)}}
        return cosines, neighbours

    def _promote(self, hits: list[Hit], context: str | None) -> None:
        """Memories recalled strongly in several sessions become proven.

        A broad search touches many memories, so only the top three hits count, only when the
        match is strong (the vector similarity reaches the model's ``strong_recall``, or for the top hit,
        both signals agree), and at most once per memory per session (or per day without one).
        ``promote_after`` such recalls promote a buffer memory to proven.
        """
        ctx = context or datetime.now(UTC).strftime("day:%Y-%m-%d")
        strong = [
            h.id
            for n, h in enumerate(hits[:3])
            if (n == 0 and "vector_rank" in h.signals and "keyword_rank" in h.signals)
            or h.signals.get("vector_similarity", 0.0) >= self.options.strong_recall
        ]
        if not strong:
            return
        with self.store.transaction():
            for mid in strong:
                self.store.execute(
                    "INSERT OR IGNORE INTO recall_events (memory_id, context, at) VALUES (?, ?, ?)",
                    (mid, ctx, time.time()),
                )
            marks = ",".join("?" * len(strong))
            ready = self.store.execute(
                f"SELECT m.id FROM memories m WHERE m.id IN ({marks}) AND m.state = 'buffer' "
                "AND (SELECT count(*) FROM recall_events e WHERE e.memory_id = m.id) >= ?",
                (*strong, self.options.promote_after),
            )
            for (mid,) in ready:
                self.store.set_state(int(mid), "proven")
                log.info("memory %s promoted to proven after repeated strong recalls", mid)

    @staticmethod
    def _passes(m: Memory, f: RecallFilters, tag_ids: set[int] | None) -> bool:
        if tag_ids is not None and m.id not in tag_ids:
            return False
        if f.types and m.type not in f.types:
            return False
        if f.since is not None and m.created_at < f.since:
            return False
        return not (f.until is not None and m.created_at > f.until)

    # -- forget / restore / stats -------------------------------------------------------

    def forget(self, memory_id: int) -> Memory:
        """Soft delete: out of recall, restorable with :meth:`restore`."""
        self.store.get(memory_id)
        self.store.set_state(memory_id, "deleted")
        return self.store.get(memory_id)

    def restore(self, memory_id: int) -> Memory:
        m = self.store.get(memory_id)
        if m.state not in ("deleted", "expired"):
            raise ValidationError(f"memory {memory_id} is {m.state}, not deleted or expired")
        self.store.set_state(memory_id, "buffer")
        return self.store.get(memory_id)

    def stats(self) -> Stats:
        model = self.store.model
        return Stats(
            database=str(self.store.path),
            schema_version=self.store.schema_version,
            model=None if model is None else model.model_id,
            dimension=None if model is None else model.dimension,
            counts=self.store.counts(),
            llm_usage=[
                {"day": d, "provider": p, "calls": c, "input_tokens": i, "output_tokens": o}
                for d, p, c, i, o in self.store.execute(
                    "SELECT day, provider, calls, input_tokens, output_tokens FROM llm_usage "
                    "ORDER BY day DESC, provider LIMIT 14"
                )
            ],
        )


def _vector_scores(
    cosines: dict[int, float], neighbours: dict[int, list[int]], named: set[int], tune: Tuning
) -> dict[int, float]:
    """Cosine + ``neighbour_weight`` x the mean cosine of the session neighbours, +
    ``name_cosine`` for a memory whose label the query names."""
    out: dict[int, float] = {}
    for mid, cos in cosines.items():
        near = [cosines[j] for j in neighbours.get(mid, ()) if j in cosines]
        score = cos + (tune.neighbour_weight * sum(near) / len(near) if near else 0.0)
        out[mid] = score + (tune.name_cosine if mid in named else 0.0)
    return out


def _hit(m: Memory, score: float, signals: dict[str, float]) -> Hit:
    return Hit(
        id=m.id,
        content=m.content,
        score=round(score, 6) if math.isfinite(score) else 0.0,
        signals=signals,
        project="global" if m.project == GLOBAL else m.project,
        type=m.type,
        tags=m.tags,
        state=m.state,
        created_at=iso(m.created_at),
        updated_at=iso(m.updated_at),
    )


def now() -> float:
    return time.time()
