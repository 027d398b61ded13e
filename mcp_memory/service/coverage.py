"""Late-interaction coverage: how well a hit covers the query word by word.

A question no memory answers usually asks about one concept ("the WCAG level", "the retry
schedule") that no word of the best hit speaks of, while the rest of the question matches well
(the project, the component): the pooled cosine averages that away. Here each content word of the
query (word pieces joined, stopwords and question words left out) gets its best cosine against the
hit's word-piece states (MiniLM's hidden states before mean pooling,
:meth:`~mcp_memory.embedding.engine.Engine.token_states`), and the hit's coverage is the lower
quartile of those: what the least-covered quarter of the query finds in the hit. The query's
coverage is the best over its first :data:`HITS` hits. :mod:`mcp_memory.service.relevance` turns it
(with the top cosine and the query's form) into the decision whether anything is relevant.

Cost: one extra ONNX run for the query and one batch for the hits, each read to its first
:data:`HIT_TOKENS` word pieces (whole hits abstained on one more calibration query of the coding
set, 10 of 22 against 9, at about 1.5x the cost); measured in docs/benchmarks.md, section
"coding". Only where the embedder can give token states in-process
(:class:`~mcp_memory.embedding.protocol.TokenEmbedder`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mcp_memory.embedding.protocol import TokenEmbedder
from mcp_memory.text.keywords import STOPWORDS

HITS = 3  # the query's coverage is the best of its first HITS hits
# Word pieces read of each hit: the cost of its ONNX run grows with them (see the docstring).
HIT_TOKENS = 48
QUANTILE = 0.25
# Words that say how the query asks, not what it asks about.
ASKING = frozenset(
    [
        "what",
        "which",
        "why",
        "how",
        "when",
        "where",
        "who",
        "whose",
        "whom",
        "we",
        "i",
        "you",
        "our",
        "us",
        "me",
        "my",
        "can",
        "could",
        "should",
        "would",
        "will",
        "there",
        "any",
        "some",
        "way",
        "does",
        "do",
        "did",
        "get",
        "got",
        "use",
        "used",
        "using",
        "s",
        "t",
        "re",
    ]
)


def content_pieces(tokens: Sequence[str]) -> list[list[int]]:
    """The query's content words as lists of word-piece positions (a ``##`` piece continues the
    word before it); stopwords, question words and punctuation are left out."""
    words: list[tuple[str, list[int]]] = []
    for i, token in enumerate(tokens):
        if token.startswith("##") and words:
            words[-1] = (words[-1][0] + token[2:], [*words[-1][1], i])
        else:
            words.append((token, [i]))
    return [
        pieces
        for word, pieces in words
        if word[:1].isalnum() and word not in STOPWORDS and word not in ASKING
    ]


def hit_coverage(query: tuple[list[str], np.ndarray], hit: np.ndarray) -> float:
    """The lower quartile, over the query's content words, of each word's best cosine to a word
    piece of the hit (a word's pieces averaged); 1.0 for a query with no content word."""
    tokens, states = query
    words = content_pieces(tokens)
    if not words or hit.shape[0] == 0:
        return 1.0
    # einsum, not @: a matrix this small costs microseconds in numpy's own loop, while BLAS
    # wakes its thread pool, which next to ONNX Runtime's threads on a busy machine cost ~40 ms.
    best = np.einsum("ik,jk->ij", states, hit).max(axis=1)
    per_word = np.array([float(best[pieces].mean()) for pieces in words])
    return float(np.quantile(per_word, QUANTILE))


def coverages(embedder: TokenEmbedder, query: str, hits: Sequence[str]) -> list[float] | None:
    """The coverage of each of ``hits`` (texts, best first; only the first :data:`HITS` are
    read), or None when the embedder cannot give token states now."""
    states = embedder.token_states([query], "query")
    if not states or not hits:
        return None
    docs = embedder.token_states(list(hits[:HITS]), "document", HIT_TOKENS)
    if docs is None:
        return None
    return [hit_coverage(states[0], d) for _, d in docs]
