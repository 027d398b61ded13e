"""The recall path of :class:`~mcp_memory.service.memories.MemoryService`: hybrid search (vector KNN and
BM25 fused by reciprocal rank, see :mod:`mcp_memory.service.fusion` for the weights), the filters, the
hits it returns, and the count of strong recalls that promotes a memory recalled in several
sessions (:mod:`mcp_memory.service.promotion`).

A mixin, like the parts of :class:`~mcp_memory.store.database.Store`: ``MemoryService`` holds the store,
embedder and options this path uses, and callers keep calling ``service.recall``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np

from mcp_memory.anchors.anchoring import Anchoring
from mcp_memory.anchors.check import describe
from mcp_memory.embedding.protocol import Embedder, TokenEmbedder
from mcp_memory.errors import ValidationError
from mcp_memory.projects import GLOBAL
from mcp_memory.service import coverage, relevance
from mcp_memory.service.classify import TYPES
from mcp_memory.service.fusion import Tuning, ranked, rrf_fuse
from mcp_memory.service.promotion import promote_recalled
from mcp_memory.service.query import (
    asks_when,
    has_identifier,
    in_windows,
    names_in,
    says_when,
    spelled_words,
    time_windows,
)
from mcp_memory.service.types import Hit, Options, RecallFilters
from mcp_memory.service.validation import MAX_K, choice, validate_text
from mcp_memory.store.base import Memory
from mcp_memory.store.database import Store
from mcp_memory.store.schema import STATES
from mcp_memory.text.form import query_form
from mcp_memory.text.keywords import STOPWORDS, WORD, keyword_query

log = logging.getLogger("mcp_memory")

QUOTE_MIN_WORDS = 4
# A hit whose code changed since it was stored (mcp_memory/anchors) keeps this share of its score:
# enough to let an equally good fresh memory pass it, not enough to hide it (it says what changed).
STALE_FACTOR = 0.85


def content_words(text: str) -> set[str]:
    return {w for w in WORD.findall(text.lower()) if w not in STOPWORDS}


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


class RecallMixin:
    """Recall for :class:`~mcp_memory.service.memories.MemoryService`, which sets these attributes."""

    store: Store
    embedder: Embedder
    options: Options
    anchoring: Anchoring

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
          that says when (:func:`query.asks_when`);
        - session: a memory adds a share of the best fused score among the other candidates
          from its session (:func:`_session_lift`): what one session says hangs together.

        ``projects`` None searches every project; otherwise only those listed. ``context``
        (a session id; default: the day) scopes promotion: see
        :func:`~mcp_memory.service.promotion.promote_recalled`.
        """
        query = validate_text(
            query, "query", self.options.max_content_chars, "describe what to look for"
        )
        if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= MAX_K:
            raise ValidationError(f"k must be an integer from 1 to {MAX_K}, not {k!r}")
        filters = filters or RecallFilters()
        for state in filters.states:
            choice(state, STATES, "state")
        for t in filters.types:
            choice(t, TYPES, "type")
        pool = max(50, 5 * k)
        tune = self.options.tuning
        labelled = self.store.labels(names_in(query), projects)  # names the query mentions
        cosines: dict[int, float] = {}
        neighbours: dict[int, list[int]] = {}
        knn: list[tuple[int, float]] = []
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
        named = {i for i, (label, _, _) in heads.items() if label in labelled}
        vector_hits = ranked(_vector_scores(cosines, neighbours, named, tune))[:pool]
        boost = tune.name_bm25
        keyword_hits = ranked({i: s * (boost if i in named else 1.0) for i, s in bm25.items()})
        keyword_hits = keyword_hits[:pool]
        # Exact spellings (identifiers, error texts, a name that labels memories, or a query
        # whose every content word the best keyword hit holds: it quotes that memory) make
        # shared words strong evidence; a plain-language question is judged by meaning.
        best = self._best_keyword_words(keyword_hits)
        words = content_words(query)
        quotes = len(words) >= QUOTE_MIN_WORDS and words <= best
        spelled = bool(labelled) or bool(spelled_words(query) & best) or quotes
        weights = (
            tune.vector_weight,
            tune.identifier_keyword_weight if spelled else tune.keyword_weight,
        )
        fused = dict(rrf_fuse(vector_hits, keyword_hits, k=tune.rrf_k, weights=weights))
        windows = time_windows(query)
        timely = {i for i in fused if i in heads and in_windows(heads[i][1], windows)}
        fused = {i: s * (tune.time_factor if i in timely else 1.0) for i, s in fused.items()}
        telling: set[int] = set()
        if tune.when_factor != 1.0 and asks_when(query):
            telling = {i for i, text in self.store.contents(list(fused)).items() if says_when(text)}
            fused = {i: s * (tune.when_factor if i in telling else 1.0) for i, s in fused.items()}
        if tune.session_weight:
            factor = {
                i: (tune.time_factor if i in timely else 1.0)
                * (tune.when_factor if i in telling else 1.0)
                for i in fused
            }
            sessions = {i: heads[i][2] for i in fused if i in heads}
            fused = _session_lift(fused, sessions, factor, tune.session_weight)
        tag_ids = self.store.ids_with_tags(filters.tags) if filters.tags else None
        judge = _Judge(self.embedder.model_id, knn, has_identifier(query))
        vec_rank = {i: r + 1 for r, (i, _) in enumerate(vector_hits)}
        kw_rank = {i: r + 1 for r, (i, _) in enumerate(keyword_hits)}
        order = ranked(fused)
        hits: list[Hit] = []
        homes: dict[int, str] = {}  # hit id -> its project key, where its anchors live
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
                    signals.update(judge.signals(mid, cosines[mid]))
                if mid in kw_rank:
                    signals["keyword_rank"] = kw_rank[mid]
                if mid in named:
                    signals["name_match"] = 1
                if mid in timely:
                    signals["time_match"] = 1
                if mid in telling:
                    signals["says_when"] = 1
                p = judge.probability(mid, cosines.get(mid), kw_rank.get(mid))
                hits.append(_hit(m, score, signals, p, relevance.is_relevant(judge.model_id, p)))
                homes[mid] = m.project
                if len(hits) == k:
                    break
            if len(hits) == k:
                break
        hits = self._gated(query, hits, judge)
        hits = self.with_anchors(hits, homes)
        if count_recall and hits:
            self.store.record_recalls(int(h.id) for h in hits)
            promote_recalled(
                self.store,
                [(int(h.id), h.signals) for h in hits],
                context,
                strong_recall=self.options.strong_recall,
                promote_after=self.options.promote_after,
            )
        return hits

    def _gated(self, query: str, hits: list[Hit], judge: _Judge) -> list[Hit]:
        """``hits`` after the query-level decision whether anything answers the query
        (:func:`relevance.answerable`): each of the first :data:`coverage.HITS` hits gets its
        late-interaction ``coverage`` signal, every hit the query's ``answerable`` probability,
        and when it is below the model's gate cut no hit stays relevant. The order is untouched.
        Skipped (hits as they are) unless the gate is switched on (``Options.relevance_gate``),
        for a model without a gate, or when the embedder cannot give token states in-process
        (:class:`TokenEmbedder`)."""
        model_id = self.embedder.model_id
        if (
            not self.options.relevance_gate
            or model_id not in relevance.GATES
            or not hits
            or judge.top is None
            or not isinstance(self.embedder, TokenEmbedder)
        ):
            return hits
        found = coverage.coverages(self.embedder, query, [h.content for h in hits])
        if found is None:
            return hits
        form = query_form(query, spelled=judge.spelled)
        p = relevance.answerable(model_id, relevance.gate_features(judge.top, max(found), form))
        gate = relevance.passes_gate(model_id, p)
        out = []
        for n, h in enumerate(hits):
            signals = dict(h.signals)
            if n < len(found):
                signals["coverage"] = round(found[n], 4)
            if p is not None:
                signals["answerable"] = round(p, 4)
            out.append(replace(h, signals=signals, relevant=h.relevant and gate))
        return out

    def with_anchors(self, hits: list[Hit], homes: dict[int, str]) -> list[Hit]:
        """``hits`` with their anchors checked: each says which files changed since it was
        stored, and a stale one is demoted (``STALE_FACTOR``), the order re-sorted."""
        states = self.anchoring.states(homes)
        if not states:
            return hits
        out = []
        for h in hits:
            found = states.get(int(h.id))
            if not found:
                out.append(h)
                continue
            stale = describe(found)
            score = round(h.score * STALE_FACTOR, 6) if stale else h.score
            out.append(replace(h, anchors=tuple(found), stale=stale, score=score))
        return sorted(out, key=lambda h: -h.score)

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

    def _best_keyword_words(self, keyword_hits: list[tuple[int, float]]) -> set[str]:
        """The content words of the best keyword hit (none without one). A query's spelling
        counts as evidence only when this hit holds a word of it: an identifier-shaped token
        that the best keyword match does not contain (a word in scare quotes, 'now') says
        nothing about which memory is meant, and the query is judged by meaning. The rule
        changes no query of the coding set's calibration half; it was written after a
        held-out paraphrase ("...once we pin 'now' to a fixed moment") lost its answer from
        the top 10 to the keyword list's x2 (docs/benchmarks.md, section "coding")."""
        if not keyword_hits:
            return set()
        best = keyword_hits[0][0]
        return content_words(self.store.contents([best]).get(best, ""))

    @staticmethod
    def _passes(m: Memory, f: RecallFilters, tag_ids: set[int] | None) -> bool:
        if tag_ids is not None and m.id not in tag_ids:
            return False
        if f.types and m.type not in f.types:
            return False
        if f.since is not None and m.created_at < f.since:
            return False
        return not (f.until is not None and m.created_at > f.until)


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


def _session_lift(
    fused: dict[int, float],
    sessions: dict[int, str | None],
    factor: dict[int, float],
    weight: float,
) -> dict[int, float]:
    """Each memory's fused score plus ``weight`` x the best fused score of the other candidates
    from its session, the addition scaled by the memory's own date and 'when' factors (so they
    multiply the whole). Memories without a session, or alone in theirs, keep their score."""
    best: dict[str, list[tuple[float, int]]] = {}  # session -> its two best (score, id)
    for mid, score in fused.items():
        session = sessions.get(mid)
        if session is not None:
            top = best.setdefault(session, [])
            top.append((score, mid))
            top.sort(reverse=True)
            del top[2:]
    out = dict(fused)
    for mid, score in fused.items():
        session = sessions.get(mid)
        if session is None:
            continue
        other = next((s for s, j in best[session] if j != mid), None)
        if other is not None:
            out[mid] = score + weight * factor[mid] * other
    return out


class _Judge:
    """The relevance of one recall's hits (:mod:`relevance`): each hit's cosine against the next
    vector candidate's and the best one's (the KNN list, in its order), its keyword rank, and
    whether the query spells an identifier."""

    def __init__(self, model_id: str, knn: Sequence[tuple[int, float]], spelled: bool) -> None:
        self.model_id = model_id
        self.spelled = spelled
        self.top = knn[0][1] if knn else None
        self.next = {i: knn[r + 1][1] for r, (i, _) in enumerate(knn[:-1])}

    def signals(self, mid: int, cosine: float) -> dict[str, float]:
        """The margin over the next vector candidate, for the hit's ``signals``."""
        return {"margin": round(cosine - self.next[mid], 4)} if mid in self.next else {}

    def probability(self, mid: int, cosine: float | None, keyword_rank: int | None) -> float | None:
        values = relevance.features(
            cosine, self.next.get(mid), self.top, keyword_rank, self.spelled
        )
        p = relevance.probability(self.model_id, values)
        return None if p is None else round(p, 4)


def _hit(
    m: Memory, score: float, signals: dict[str, float], p: float | None, relevant: bool
) -> Hit:
    return Hit(
        id=m.id,
        content=m.content,
        score=round(score, 6) if math.isfinite(score) else 0.0,
        relevance=p,
        relevant=relevant,
        signals=signals,
        project="global" if m.project == GLOBAL else m.project,
        type=m.type,
        tags=m.tags,
        state=m.state,
        created_at=iso(m.created_at),
        updated_at=iso(m.updated_at),
    )
