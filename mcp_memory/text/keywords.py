"""Words of free text for the keyword side: tokens, stopwords and a safe FTS5 query.

Pure functions, standard library only: the store, the service and the hooks' read-only reader
all use them, so they sit below all three.
"""

from __future__ import annotations

import re
from collections.abc import Collection

MAX_TERMS = 32

WORD = re.compile(r"\w+", re.UNICODE)
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


def keyword_query(text: str, drop: Collection[str] = ()) -> str:
    """An FTS5 MATCH expression for free text: each word quoted (no FTS syntax can leak
    through), stopwords and ``drop`` (lower-case words) left out unless nothing else is left,
    joined with OR so BM25 ranks documents matching more and rarer terms first."""
    words = [w.lower() for w in WORD.findall(text)]
    content = [w for w in words if w not in STOPWORDS and w not in drop] or words
    unique = list(dict.fromkeys(content))[:MAX_TERMS]
    return " OR ".join(f'"{w}"' for w in unique)
