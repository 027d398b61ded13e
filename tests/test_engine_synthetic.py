"""The engine against a tiny random graph shaped like onnx-community's Qwen3-Embedding export.

The graph (tests/qwen_fixture.py) has causal attention masked by ``attention_mask`` and a
position embedding gathered by ``position_ids``, so these tests fail if the engine pools
``[:, -1]`` under right padding, derives positions with ``arange`` under left padding, feeds
the KV cache with wrong shapes, or lets batch-mates leak into a row.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
from qwen_fixture import HEAD_DIM, HIDDEN, KV_HEADS, LAYERS, build_tiny_qwen, tiny_qwen_spec

from mcp_memory.embedding.engine import Engine
from mcp_memory.embedding.specs import ModelPaths
from mcp_memory.errors import ModelError

TEXTS = [
    "the cat",
    "the dog is in the house and the bird is on the tree",
    "fix the bug",
    "a fish",
    "the server was down and the client found an error in the commit",
    "rain",
    "search the database for the vector of this memory",
    "the sun and the moon and the star",
]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> ModelPaths:
    return build_tiny_qwen(tmp_path_factory.mktemp("tiny-qwen"))


@pytest.fixture(scope="module")
def spec() -> Any:
    # The fixture graph is float32 throughout, so batching is safe to test here.
    return tiny_qwen_spec(batch_invariant=True)


@pytest.fixture(scope="module")
def engine(spec: Any, tiny: ModelPaths) -> Engine:
    return Engine(spec, tiny, threads=1)


@pytest.fixture(scope="module")
def raw(tiny: ModelPaths) -> ort.InferenceSession:
    """A session of our own, to compute expected vectors by hand."""
    return ort.InferenceSession(str(tiny.model), providers=["CPUExecutionProvider"])


class RecordingSession:
    """Wraps an ONNX session and records every feed the engine passes to ``run``."""

    def __init__(self, session: ort.InferenceSession) -> None:
        self.session = session
        self.feeds: list[dict[str, np.ndarray]] = []

    def run(self, outputs: list[str], feed: dict[str, np.ndarray]) -> Any:
        self.feeds.append({k: v.copy() for k, v in feed.items()})
        return self.session.run(outputs, feed)


def empty_past(batch: int) -> dict[str, np.ndarray]:
    return {
        f"past_key_values.{i}.{part}": np.zeros((batch, KV_HEADS, 0, HEAD_DIM), np.float32)
        for i in range(LAYERS)
        for part in ("key", "value")
    }


def run_raw(
    session: ort.InferenceSession, ids: np.ndarray, mask: np.ndarray, positions: np.ndarray
) -> np.ndarray:
    feed = {"input_ids": ids, "attention_mask": mask, "position_ids": positions}
    (hidden,) = session.run(["last_hidden_state"], feed | empty_past(ids.shape[0]))
    return np.asarray(hidden)


def unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def token_ids(engine: Engine, text: str) -> np.ndarray:
    return np.asarray(engine.tokenizer.encode(text).ids, dtype=np.int64)


def expected_vector(engine: Engine, raw: ort.InferenceSession, text: str) -> np.ndarray:
    """By hand: run the unpadded sequence alone and L2-normalise its last token's state."""
    ids = token_ids(engine, text)[None, :]
    n = ids.shape[1]
    hidden = run_raw(raw, ids, np.ones((1, n), np.int64), np.arange(n, dtype=np.int64)[None, :])
    return unit(hidden[0, -1])


def left_padded(engine: Engine, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    rows = [token_ids(engine, t) for t in texts]
    width = max(len(r) for r in rows)
    ids = np.full((len(rows), width), engine.pad_id, np.int64)
    mask = np.zeros((len(rows), width), np.int64)
    for n, row in enumerate(rows):
        ids[n, width - len(row) :] = row
        mask[n, width - len(row) :] = 1
    return ids, mask


def test_last_token_pooling_with_left_padding_matches_hand_computation(
    engine: Engine, raw: ort.InferenceSession
) -> None:
    """Each row of a padded batch is the last real token of that text run alone."""
    batched = engine.embed(TEXTS)
    assert batched.shape == (len(TEXTS), HIDDEN)
    for n, text in enumerate(TEXTS):
        alone = engine.embed([text])[0]
        np.testing.assert_allclose(batched[n], alone, atol=1e-5)
        np.testing.assert_allclose(batched[n], expected_vector(engine, raw, text), atol=1e-5)


def test_the_tokenizer_appends_endoftext_which_is_the_token_pooled(engine: Engine) -> None:
    ids = token_ids(engine, "the cat")
    assert ids[-1] == engine.pad_id == engine.tokenizer.token_to_id("<|endoftext|>") != 0


def right_padded(engine: Engine, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    rows = [token_ids(engine, t) for t in texts]
    width = max(len(r) for r in rows)
    ids = np.full((len(rows), width), engine.pad_id, np.int64)
    mask = np.zeros((len(rows), width), np.int64)
    for n, row in enumerate(rows):
        ids[n, : len(row)] = row
        mask[n, : len(row)] = 1
    return ids, mask


def test_the_fixture_catches_last_column_pooling_under_right_padding(
    engine: Engine, raw: ort.InferenceSession
) -> None:
    """Guard on the fixture: the naive right-padded ``hidden[:, -1]`` is a pad token's state.

    (With mask-derived positions and pad == ``<|endoftext|>``, the pad slot would see exactly
    what the last real token sees, in this graph as in the real model; the naive version that
    pools ``[:, -1]`` also numbers pads with ``arange``, and that is what changes the vector.)
    """
    ids, mask = right_padded(engine, ["the cat", TEXTS[1]])
    arange = np.broadcast_to(np.arange(ids.shape[1], dtype=np.int64), ids.shape).copy()
    naive = unit(run_raw(raw, ids, mask, arange)[0, -1])
    right = engine.embed(["the cat", TEXTS[1]])[0]
    np.testing.assert_allclose(right, expected_vector(engine, raw, "the cat"), atol=1e-5)
    assert float(naive @ right) < 0.99


def test_last_token_pooling_with_right_padding_finds_the_token_through_the_mask(
    tmp_path: Path,
) -> None:
    """A right-padded last-token model pools the last real token, not the last column."""
    paths = build_tiny_qwen(tmp_path, pad_token="[PAD]")
    spec = tiny_qwen_spec(padding_side="right", batch_invariant=True)
    engine = Engine(spec, paths, threads=1)
    assert engine.pad_id == engine.tokenizer.token_to_id("[PAD]")
    raw = ort.InferenceSession(str(paths.model), providers=["CPUExecutionProvider"])
    batched = engine.embed(TEXTS)
    for n, text in enumerate(TEXTS):
        np.testing.assert_allclose(batched[n], expected_vector(engine, raw, text), atol=1e-5)
    ids, mask = right_padded(engine, ["the cat", TEXTS[1]])
    positions = np.clip(np.cumsum(mask, axis=1) - 1, 0, None)
    last_column = unit(run_raw(raw, ids, mask, positions)[0, -1])  # a "[PAD]" token
    assert float(last_column @ batched[0]) < 0.99


def test_position_ids_come_from_the_mask_not_arange(
    engine: Engine, raw: ort.InferenceSession
) -> None:
    """With left padding, ``arange`` positions shift every real token and change the vector."""
    ids, mask = left_padded(engine, ["the cat", TEXTS[1]])
    from_mask = np.clip(np.cumsum(mask, axis=1) - 1, 0, None)
    arange = np.broadcast_to(np.arange(ids.shape[1], dtype=np.int64), ids.shape).copy()
    good = unit(run_raw(raw, ids, mask, from_mask)[0, -1])
    bad = unit(run_raw(raw, ids, mask, arange)[0, -1])

    embedded = engine.embed(["the cat", TEXTS[1]])[0]
    np.testing.assert_allclose(embedded, good, atol=1e-5)
    assert float(bad @ embedded) < 0.99

    recorder = RecordingSession(engine.session)
    engine.session = recorder
    try:
        engine.embed(["the cat", TEXTS[1]])
    finally:
        engine.session = recorder.session
    (feed,) = recorder.feeds
    np.testing.assert_array_equal(feed["position_ids"], from_mask)
    np.testing.assert_array_equal(feed["attention_mask"], mask)
    np.testing.assert_array_equal(feed["input_ids"], ids)


def test_empty_kv_cache_is_fed_with_the_models_shapes(
    engine: Engine, raw: ort.InferenceSession
) -> None:
    recorder = RecordingSession(engine.session)
    engine.session = recorder
    try:
        engine.embed(["the cat", "a dog", "fix the bug"])
    finally:
        engine.session = recorder.session
    (feed,) = recorder.feeds
    past = {k: v for k, v in feed.items() if k.startswith("past_key_values.")}
    assert sorted(past) == sorted(empty_past(1))
    for value in past.values():
        assert value.shape == (3, KV_HEADS, 0, HEAD_DIM)
        assert value.dtype == np.float32
    # The graph consumes them: present = concat(past, new), so its length is the input's.
    present = raw.run(["present.0.key", "present.1.value"], feed)
    seq = feed["input_ids"].shape[1]
    assert [p.shape for p in present] == [(3, KV_HEADS, seq, HEAD_DIM)] * 2


def test_batched_vectors_equal_single_ones(engine: Engine) -> None:
    texts = TEXTS * 3 + ["the bird", "a road in the rain with a car"]
    batched = engine.embed(texts)
    singles = np.vstack([engine.embed([t]) for t in texts])
    cosines = np.sum(batched * singles, axis=1)
    assert cosines.min() >= 0.9999


def test_matryoshka_truncation_is_the_renormalised_prefix(spec: Any, tiny: ModelPaths) -> None:
    full = Engine(spec, tiny, threads=1).embed(TEXTS)
    short = Engine(spec, tiny, threads=1, dimension=16).embed(TEXTS)
    assert short.shape == (len(TEXTS), 16)
    np.testing.assert_allclose(np.linalg.norm(short, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(short, unit(full[:, :16]), atol=1e-5)
    with pytest.raises(ModelError, match="supports 8..32 dimensions"):
        Engine(spec, tiny, dimension=4)


def test_query_prefix_is_applied_to_queries_only(engine: Engine, raw: ort.InferenceSession) -> None:
    prefix = engine.spec.query_prefix
    assert prefix.startswith("Instruct:")
    query = engine.embed(["fix the bug"], kind="query")[0]
    document = engine.embed(["fix the bug"], kind="document")[0]
    np.testing.assert_allclose(
        query, expected_vector(engine, raw, prefix + "fix the bug"), atol=1e-5
    )
    np.testing.assert_allclose(document, expected_vector(engine, raw, "fix the bug"), atol=1e-5)
    assert float(query @ document) < 0.99


def test_batch_variant_models_run_one_text_per_onnx_run(tiny: ModelPaths) -> None:
    """Dynamically quantized graphs (QWEN3's int8) must not see batch-mates."""
    spec = tiny_qwen_spec()
    assert spec.batch_invariant is False  # inherited from QWEN3
    engine = Engine(spec, tiny, threads=1)
    recorder = RecordingSession(engine.session)
    engine.session = recorder
    vectors = engine.embed(TEXTS)
    assert len(recorder.feeds) == len(TEXTS)
    assert all(f["input_ids"].shape[0] == 1 for f in recorder.feeds)
    assert all(f["attention_mask"].all() for f in recorder.feeds)  # no padding at all
    batched = Engine(tiny_qwen_spec(batch_invariant=True), tiny, threads=1).embed(TEXTS)
    np.testing.assert_allclose(vectors, batched, atol=1e-5)


def test_graph_without_the_pooled_output_is_rejected(tmp_path: Path) -> None:
    paths = build_tiny_qwen(tmp_path, output_name="hidden_states")
    with pytest.raises(ModelError, match="has no output 'last_hidden_state'"):
        Engine(tiny_qwen_spec(), paths)


def test_graph_with_an_input_the_engine_cannot_feed_is_rejected_at_load(tmp_path: Path) -> None:
    paths = build_tiny_qwen(tmp_path, extra_input="pixel_values")
    with pytest.raises(ModelError, match="pixel_values"):
        Engine(tiny_qwen_spec(), paths)


def test_missing_files_are_model_errors(tmp_path: Path, tiny: ModelPaths) -> None:
    with pytest.raises(ModelError, match="cannot load tokenizer"):
        Engine(tiny_qwen_spec(), dataclasses.replace(tiny, tokenizer=tmp_path / "none.json"))
    with pytest.raises(ModelError, match="cannot load ONNX model"):
        Engine(tiny_qwen_spec(), dataclasses.replace(tiny, model=tmp_path / "none.onnx"))


@pytest.mark.parametrize("declared", [16, 64])
def test_a_spec_whose_dimension_differs_from_the_graph_is_a_model_error(
    tiny: ModelPaths, declared: int
) -> None:
    """Neither silently cut (graph wider than declared) nor a numpy crash (narrower)."""
    engine = Engine(tiny_qwen_spec(dimension=declared, matryoshka_min=None), tiny, threads=1)
    with pytest.raises(ModelError, match=f"gives {HIDDEN}-d vectors but .* {declared}-d"):
        engine.embed(["the cat"])


def test_dynamic_int8_vectors_depend_on_batch_mates_so_such_specs_run_one_by_one(
    tiny: ModelPaths, tmp_path: Path
) -> None:
    """Why QWEN3 has ``batch_invariant=False``: onnx-community's ``model_int8.onnx`` is
    dynamically quantized, and DynamicQuantizeLinear takes its scale from the whole batch."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantized = tmp_path / "model_int8.onnx"
    quantize_dynamic(str(tiny.model), str(quantized), weight_type=QuantType.QInt8)
    paths = dataclasses.replace(tiny, model=quantized)
    texts = ["the cat", "the dog is in the house and the bird is on the tree with a star", "fix"]

    batching = Engine(tiny_qwen_spec(batch_invariant=True), paths, threads=1)
    singles = np.vstack([batching.embed([t]) for t in texts])
    assert np.sum(batching.embed(texts) * singles, axis=1).min() < 0.9999  # batch-mates leak

    one_by_one = Engine(tiny_qwen_spec(), paths, threads=1)
    np.testing.assert_array_equal(one_by_one.embed(texts), singles)
