"""Vectors of routing targets' sections and items, cached by content hash.

A CLAUDE.md changes rarely and is read on every routing plan, so each text embedded for it (a
section, an item, an item with its headings in front) is stored in ``route_embeddings`` under
(model, file, sha256 of the text). A plan over unchanged files embeds nothing; an edit embeds
only the texts it changed (moving a paragraph under another heading changes the section texts
around it, not the paragraph's own vector). Rows of texts a file no longer contains are deleted
when that file is read again, so the table holds one file's current texts, not its history.

The key is the file and the text, not the section: the same line in two sections has one vector,
and renaming a heading does not re-embed the items beneath it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from mcp_memory.embedding.protocol import Embedder
from mcp_memory.routing.targets import sha256
from mcp_memory.store.database import Store


def model_key(embedder: Embedder) -> str:
    return f"{embedder.model_id}:{embedder.dimension}"


def vectors_for(
    store: Store, embedder: Embedder, texts: Sequence[tuple[str, str, str]]
) -> tuple[list[np.ndarray], int]:
    """Vectors for ``(path, section, text)`` triples, in order, and how many were embedded.

    Every file named in ``texts`` is taken to be complete: cached rows of that file whose text is
    not among them are deleted.
    """
    key = model_key(embedder)
    hashes = [(path, sha256(text.encode("utf-8"))) for path, _, text in texts]
    paths = sorted({path for path, _ in hashes})
    cached: dict[tuple[str, str], np.ndarray] = {}
    for path in paths:
        cached.update({(path, h): vec for h, vec in store.route_vectors(key, path).items()})
    missing: dict[tuple[str, str], tuple[str, str]] = {}
    for (path, chash), (_, section, text) in zip(hashes, texts, strict=True):
        if (path, chash) not in cached:
            missing.setdefault((path, chash), (section, text))
    now = time.time()
    with store.transaction():
        if missing:
            keys = list(missing)
            fresh = embedder.embed([missing[k][1] for k in keys], "document")
            for k, vec in zip(keys, fresh, strict=True):
                cached[k] = np.ascontiguousarray(vec, dtype=np.float32)
                store.put_route_vector(key, k[0], k[1], missing[k][0], cached[k], now)
        for path in paths:  # forget the vectors of text no longer in the file
            store.prune_route_vectors(key, path, sorted({h for p, h in hashes if p == path}))
    return [cached[h] for h in hashes], len(missing)
