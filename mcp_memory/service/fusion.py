"""Query processing for the keyword side and rank fusion of the two signals.

The constants below were chosen on LoCoMo conversations 0-4 and checked on 5-9
(``bench/locomo.py``; the ablation is in ``docs/benchmarks.md``, section "locomo").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mcp_memory.store.search import CONTEXT_WEIGHT

RRF_K = 5


@dataclass(frozen=True)
class Tuning:
    """How recall weighs its signals. The defaults are what ships; ``bench/locomo.py`` turns
    parts off to measure what each adds."""

    # Reciprocal-rank fusion (Cormack et al. 2009) adds weight / (rrf_k + rank) per list. A
    # small k trusts the top of each list more than the usual 60.
    rrf_k: int = RRF_K
    vector_weight: float = 1.0
    # The keyword list's weight depends on the query. One that names something by its spelling
    # (an identifier, error text, file name, code or quoted text: :func:`query.has_identifier`;
    # or a name that labels memories, "Caroline") counts it twice: shared spellings are strong
    # evidence, and on conversations (LoCoMo) BM25 over a memory's text and its neighbours' is
    # the stronger signal. A plain-language question ranks by meaning alone (weight 0: the
    # keyword list only adds candidates the vectors missed, below them). On coding memories
    # (bench/coding.py, calibration half) any weight from 0.0 to 0.3 ranked the same, R@1 and
    # R@3, and 0.5 or more lost to plain cosine kNN (paraphrase R@1 8/15 at 0.5, 7/15 at 1.0,
    # 4/15 at 2.0); between 0 and 0.3 the keyword list only breaks near-ties of the cosine
    # (RRF ignores how far apart two cosines are), which gains nothing there and, on the
    # held-out half, lost two paraphrases whose answer led the cosine by 0.005-0.02. At 0 a
    # plain-language question over memories without sessions ranks in cosine order, never below
    # cosine kNN by construction (session neighbours and dates still add their share where
    # memories have them). LoCoMo: 1,499 of its 1,531 questions name a speaker (x2 path).
    keyword_weight: float = 0.0
    identifier_keyword_weight: float = 2.0
    # BM25 weight of the session neighbours' text (``recall_fts.context``); a memory's own
    # text and tags weigh 1.
    context_weight: float = CONTEXT_WEIGHT
    # The vector score adds this times the mean cosine of the memory's session neighbours.
    neighbour_weight: float = 0.5
    # A memory whose label ("Caroline: ...") the query names: cosine + name_cosine, BM25 score
    # x name_bm25. Such names are left out of the BM25 query (names_in_bm25 False): how much a
    # name weighs there would depend on how many other projects share the index.
    name_cosine: float = 0.1
    name_bm25: float = 2.0
    names_in_bm25: bool = False
    # A memory made within a date the query names ("on 3 July 2023"): fused score x time_factor.
    time_factor: float = 2.0
    # A question asking when ("When did...") and a memory saying when ("last week"): fused
    # score x when_factor.
    when_factor: float = 1.5
    # A memory from a session that also holds other candidates adds this times the best fused
    # score among them (before its own date and 'when' factors, which then apply to the sum):
    # what one session says hangs together, so a strong match lends weight to the rest of it.
    session_weight: float = 0.3
    # Each side ranks its best ``pool`` (max(50, 5k)) candidates into the fusion, chosen from
    # these many times ``pool`` (KNN hits with their neighbours; BM25 hits before the name lift).
    vector_candidates: int = 1
    keyword_candidates: int = 2


def rrf_fuse(
    *rankings: Sequence[tuple[int, float]],
    k: int = RRF_K,
    weights: Sequence[float] | None = None,
) -> list[tuple[int, float]]:
    """Reciprocal-rank fusion: each list adds weight/(k + rank) for the ids it ranks."""
    scores: dict[int, float] = {}
    for n, ranking in enumerate(rankings):
        weight = 1.0 if weights is None else weights[n]
        for rank, (item, _) in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    return ranked(scores)


def ranked(scores: dict[int, float]) -> list[tuple[int, float]]:
    """``scores`` as a list, best first (ties by id, so the order is deterministic)."""
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
