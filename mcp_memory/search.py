"""Query processing for the keyword side and rank fusion of the two signals."""

from __future__ import annotations

import re
from collections.abc import Sequence

RRF_K = 60  # the constant of reciprocal-rank fusion (Cormack et al. 2009)
MAX_TERMS = 32

_WORD = re.compile(r"\w+", re.UNICODE)
# Very common English words: they match almost everything and only add noise to BM25.
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "did",
        "do",
        "does",
        "for",
        "from",
        "had",
        "has",
        "have",
        "he",
        "her",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "me",
        "my",
        "no",
        "not",
        "of",
        "on",
        "or",
        "our",
        "she",
        "so",
        "than",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
    ]
)


def keyword_query(text: str) -> str:
    """An FTS5 MATCH expression for free text: each word quoted (no FTS syntax can leak
    through), stopwords dropped unless nothing else is left, joined with OR so BM25 ranks
    documents matching more and rarer terms first."""
    words = [w.lower() for w in _WORD.findall(text)]
    content = [w for w in words if w not in STOPWORDS] or words
    unique = list(dict.fromkeys(content))[:MAX_TERMS]
    return " OR ".join(f'"{w}"' for w in unique)


def rrf_fuse(*rankings: Sequence[tuple[int, float]], k: int = RRF_K) -> list[tuple[int, float]]:
    """Reciprocal-rank fusion: each list adds 1/(k + rank) for the ids it ranks."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, (item, _) in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
