"""What the warm server does, without HTTP: health and embed over one engine, with bounded work.

Inference is capped: at most ``jobs`` embeddings run at once and at most ``queue`` more wait;
beyond that :class:`Busy` is raised (the HTTP layer answers 503 with ``Retry-After``). Without the
cap 64 concurrent clients ran 64 ``session.run`` calls at once, on 64 connection threads, and the
server held 4.76 GB that it never gave back (issue #16). Now inference runs on ``jobs`` worker
threads, and when the last request of a burst is done the freed heap is handed back to the
system (glibc's ``malloc_trim``), so RSS returns near idle (``bench/daemon.py`` measures it).
"""

from __future__ import annotations

import base64
import ctypes
import ctypes.util
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import mcp_memory
from mcp_memory.embedding.protocol import SERVICE, ModelEngine

JOBS = 2  # embeddings running at once: the machine's cores are the real limit
QUEUE = 64  # requests allowed to wait for a job slot before the server answers 503


def _malloc_trim() -> Any:
    """glibc's ``malloc_trim``, or None elsewhere (macOS, musl)."""
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None


_TRIM = _malloc_trim()


def release_free_memory() -> None:
    """Return freed heap pages to the system (glibc keeps them otherwise): a few ms."""
    if _TRIM is not None:
        _TRIM(0)


class Busy(Exception):
    """More requests than the server runs and queues: the client should retry shortly."""


class EmbedService:
    """Health and embed over one engine; at most ``jobs`` embeddings at once, ``queue`` waiting."""

    def __init__(
        self, engine: ModelEngine, why: str, *, jobs: int = JOBS, queue: int = QUEUE
    ) -> None:
        self.engine = engine
        self.spec = engine.spec
        self.dimension = engine.dimension
        self.why = why
        self.started_at = datetime.now(UTC).isoformat(timespec="seconds")
        self.jobs = max(1, jobs)
        self.queue = queue
        # Inference runs on ``jobs`` worker threads, never on the connection threads: memory
        # the allocator hands out stays in a few per-thread pools instead of one per client.
        self._workers = ThreadPoolExecutor(max(1, jobs), thread_name_prefix="embed")
        self._pending = 0  # requests running or waiting for a worker
        self._pending_lock = threading.Lock()

    def health(self) -> dict[str, Any]:
        return {
            "service": SERVICE,
            "status": "ok",
            "model": self.spec.id,
            "dimension": self.dimension,
            "pooling": self.spec.pooling,
            "pid": os.getpid(),
            "version": mcp_memory.__version__,
            "started_at": self.started_at,
            "why": self.why,
        }

    def embed(self, texts: list[str], kind: str, encoding: str) -> dict[str, Any]:
        with self._pending_lock:
            if self._pending >= self.jobs + self.queue:
                raise Busy(
                    f"the embedding server is busy ({self._pending} requests running or "
                    "waiting); retry in a moment"
                )
            self._pending += 1
        try:
            vectors = self._workers.submit(self.engine.embed, texts, kind).result()  # type: ignore[arg-type]  # validated
        finally:
            with self._pending_lock:
                self._pending -= 1
                idle = self._pending == 0
            if idle:  # the burst is over: give the freed memory back to the system
                release_free_memory()
        reply: dict[str, Any] = {
            "service": SERVICE,
            "model": self.spec.id,
            "dimension": self.dimension,
            "count": len(texts),
            "encoding": encoding,
        }
        if encoding == "json":
            reply["vectors"] = vectors.tolist()  # float32 -> float is exact, and so is JSON
        else:
            little = vectors.astype("<f4", copy=False)
            reply["vectors"] = base64.b64encode(little.tobytes()).decode("ascii")
        return reply
