"""Linker.topic_texts: the topic text linking compares, with its shortcut for memories that
share nothing often enough to drop (it must give exactly what boilerplate.topic_text gives)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mcp_memory.service import boilerplate
from mcp_memory.service.linking import MIN_CONTENT_WORDS, Linker, content_words
from mcp_memory.store.base import NewMemory
from mcp_memory.store.database import Store

TEXTS = [
    "plain one-line note about the flaky login test and its timezone",
    "  indented first line\n\n\tsecond line after a blank one  \n",
    "## Errors\nFiles changed: api/login.py, api/tz.py\nthe login test pins UTC now",
    "Summary: deploys need the staging token\n- step 1: export it\n- step 2: run deploy.sh",
    "Files changed: web/app.tsx\n## Errors\nnone this time, the build passed",
]


class NoEmbedder:
    model_id = "t"
    dimension = 8
    pooling = "unknown"

    def embed(self, texts: object, kind: str = "document") -> np.ndarray:
        raise AssertionError("topic_texts must not embed")


@pytest.mark.parametrize("copies", [0, 1, 2, 3])
def test_topic_texts_match_boilerplate_topic_text(tmp_path: Path, copies: int) -> None:
    """With 0-3 earlier memories sharing lines and labels, every text's topic is
    boilerplate.topic_text's (the shortcut applies while no count reaches a threshold)."""
    store = Store.open(tmp_path / "m.db")
    for n in range(copies):  # memories that share the labels and line shapes of TEXTS
        for i, text in enumerate(TEXTS):
            store.insert(NewMemory(text, f"c{n}-{i}", "p", line_keys=boilerplate.keys(text)))
    ids = [
        store.insert(NewMemory(t, f"h{i}", "p", line_keys=boilerplate.keys(t)))
        for i, t in enumerate(TEXTS)
    ]
    memories = store.get_many(ids)
    linker = Linker(store, NoEmbedder(), 0.5)  # type: ignore[arg-type]
    got = linker.topic_texts(list(memories.values()))
    dropped = shortcut = 0
    for mid, m in memories.items():
        counts = store.line_counts("p", list(boilerplate.keys(m.content)))
        shortcut += max(counts.values()) < min(boilerplate.LABEL_MIN, boilerplate.LINE_MIN)
        want = boilerplate.topic_text(m.content, counts).strip()
        dropped += want != "\n".join(x.strip() for x in m.content.splitlines() if x.strip())
        if content_words(want) >= MIN_CONTENT_WORDS:
            assert got[mid] == (want, want == m.content.strip())
        else:
            assert mid not in got
    assert dropped > 0  # the texts share labels among themselves: both paths are taken
    assert (shortcut > 0) == (copies == 0)
    store.close()
