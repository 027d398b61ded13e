"""The numpy parts of bench/mpnet_probe.py that its verdict rests on (the weights are not here)."""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import numpy as np
from bench_modules import load_bench

probe = load_bench("mpnet_probe")


def test_erf_matches_the_standard_library() -> None:
    xs = np.linspace(-6, 6, 2001)
    assert np.max(np.abs(probe._erf(xs) - [math.erf(x) for x in xs])) < 2e-7


def test_position_buckets_split_by_direction_and_saturate() -> None:
    relative = np.arange(-200, 201)
    buckets = probe._buckets(relative)
    at = dict(zip(relative.tolist(), buckets.tolist(), strict=True))
    assert at[0] == 0
    assert [at[-d] for d in range(1, 8)] == list(range(1, 8))  # keys before the query: exact
    assert [at[d] for d in range(1, 8)] == [16 + d for d in range(1, 8)]  # after: other half
    assert at[-200] == 15 and at[200] == 31  # beyond max_distance: the last bucket of each half
    before = [at[-d] for d in range(0, 201)]
    assert before == sorted(before)  # farther never maps to a nearer bucket


def test_safetensors_reader_reads_what_the_format_says(tmp_path: Path) -> None:
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    b = np.array([1.5, -2.0], dtype=np.float32)
    header = {
        "__metadata__": {"format": "pt"},
        "a": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
        "b": {"dtype": "F32", "shape": [2], "data_offsets": [24, 32]},
        "ids": {"dtype": "I64", "shape": [1], "data_offsets": [32, 40]},
    }
    text = json.dumps(header).encode()
    path = tmp_path / "model.safetensors"
    path.write_bytes(
        struct.pack("<Q", len(text)) + text + a.tobytes() + b.tobytes() + np.int64(7).tobytes()
    )
    tensors = probe._tensors(path)
    assert set(tensors) == {"a", "b"}  # integer buffers (position ids) are not weights
    np.testing.assert_array_equal(tensors["a"], a)
    np.testing.assert_array_equal(tensors["b"], b)
