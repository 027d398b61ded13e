"""``LocalEmbedder``: the spec's engine in this process (loaded lazily, once), one implementation of
the :class:`~mcp_memory.embedding.protocol.Embedder` protocol. The warm-server client and the
automatic fallback between the two live in :mod:`mcp_memory.embedding.warm_client`.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mcp_memory.embedding.loader import load_engine
from mcp_memory.embedding.protocol import Kind, ModelEngine
from mcp_memory.embedding.specs import ModelSpec, require


class LocalEmbedder:
    """The engine in this process, loaded on first use (never at construction)."""

    def __init__(
        self, spec: ModelSpec, models_dir: Path, *, threads: int = 2, dimension: int = 0
    ) -> None:
        self.spec = spec
        self.models_dir = models_dir
        self.threads = threads
        self._dimension = spec.dimension_for(dimension)
        self._engine: ModelEngine | None = None
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        return self.spec.id

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def pooling(self) -> str:
        return self.spec.pooling

    @property
    def loaded(self) -> bool:
        return self._engine is not None

    def engine(self) -> ModelEngine:
        if self._engine is None:
            with self._lock:
                if self._engine is None:
                    paths = require(self.spec, self.models_dir)
                    self._engine = load_engine(self.spec, paths, self.threads, self._dimension)
        return self._engine

    def embed(self, texts: Sequence[str], kind: Kind = "document") -> np.ndarray:
        return self.engine().embed(texts, kind)

    def token_states(
        self, texts: Sequence[str], kind: Kind = "document", limit: int | None = None
    ) -> list[tuple[list[str], np.ndarray]] | None:
        """Word pieces and hidden states per text (:class:`TokenEmbedder`), None for an engine
        that does not expose them."""
        states = getattr(self.engine(), "token_states", None)
        return None if states is None else states(texts, kind, limit)
