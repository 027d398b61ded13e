"""The memory service: remember, recall, forget, restore, stats.

Transport-free: no MCP, no HTTP, no environment. It gets a :class:`Store`, an
:class:`Embedder` and :class:`Options`, and every transport (MCP tools, CLI, hooks) calls it.

This module holds remembering and the small verbs; the recall path is in ``recall.py`` (a mixin
of :class:`MemoryService`), the input checks in ``validation.py`` and the dataclasses the service
takes and returns in ``types.py``.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from mcp_memory.anchors.anchoring import Anchoring
from mcp_memory.embedding.protocol import Embedder
from mcp_memory.errors import EmbeddingError, ValidationError
from mcp_memory.projects import GLOBAL
from mcp_memory.redaction.base import looks_random
from mcp_memory.redaction.redact import redact
from mcp_memory.service import boilerplate
from mcp_memory.service.classify import PROTECTED_TYPES, TYPES, classify
from mcp_memory.service.linking import CANDIDATES, Linker
from mcp_memory.service.purge import PurgeReport, purge
from mcp_memory.service.recall import RecallMixin
from mcp_memory.service.types import NearDuplicate, Options, Remembered, Stats
from mcp_memory.service.validation import (
    MAX_BATCH,
    SOURCES,
    choice,
    validate_content,
    validate_tags,
)
from mcp_memory.store.base import Memory, NewMemory
from mcp_memory.store.database import Store
from mcp_memory.store.schema import VISIBILITIES

log = logging.getLogger("mcp_memory")

# The times a memory may carry (1970-01-01 .. 2100-01-01 UTC): dates are shown and compared
# (graph, recall's date windows), and a time far outside overflows them.
MIN_TIME, MAX_TIME = 0.0, 4_102_444_800.0

_MARKERS = re.compile(r"\[(?:REDACTED:[^\]]*|private)\]", re.IGNORECASE)


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def redact_content(text: str) -> tuple[str, int]:
    """``text`` (validated) as every writer stores it: secrets and ``<private>`` blocks
    replaced by markers (:func:`redact`), stripped; and how many were removed."""
    red = redact(text)
    return red.text.strip() or "[redacted]", red.count


_HEX = re.compile(r"[0-9a-fA-F-]+")  # hashes, SHAs, UUIDs: tags a user may well give


def redact_tags(tags: Sequence[str] | None) -> tuple[tuple[str, ...], int]:
    """Tags redacted, then validated (:func:`validate_tags`), and how many secrets they held.

    Redaction comes first, before tags are lower-cased (token formats are case-sensitive) and
    before a bad tag is quoted in an error. A tag that held nothing but a secret carries no
    meaning once redacted and is dropped."""
    if not tags:
        return (), 0
    if isinstance(tags, str):
        tags = [tags]
    kept: list[str] = []
    count = 0
    for tag in tags:
        if not isinstance(tag, str):
            raise ValidationError("tags must be strings")
        red = redact(tag)
        count += red.count
        if not red.count and looks_random(tag) and not _HEX.fullmatch(tag):
            count += 1  # a bare credential-shaped word (hashes kept): nothing else marks it
            continue
        if red.count and not any(c.isalnum() for c in _MARKERS.sub("", red.text)):
            continue
        kept.append(red.text)
    return validate_tags(kept), count


def redact_project(project: str) -> tuple[str, int]:
    """A project name redacted like a text (a name holding only a secret becomes its marker)."""
    if not isinstance(project, str) or not project.strip():
        raise ValidationError("project must be a non-empty string")
    red = redact(project)
    return (red.text.strip() or "[redacted]") if red.count else project, red.count


def new_memory(
    content: str,
    *,
    project: str,
    type: str = "note",
    tags: Sequence[str] = (),
    source: str = "tool",
    session_id: str | None = None,
    protected: bool = False,
    state: str = "buffer",
    metadata: dict[str, object] | None = None,
    created_at: float | None = None,
    updated_at: float | None = None,
    last_recalled_at: float | None = None,
    recall_count: int = 0,
    reprieves: int = 0,
    visibility: str | None = None,
) -> NewMemory:
    """The memory every writer stores (``remember``, a consolidation's results, an import),
    built one way: its content hash (duplicate detection) and boilerplate line keys (the
    project's line statistics, see :mod:`boilerplate`) come from the text here, and its name
    label in the store's one ``insert``, so no writer can store them differently. ``content``
    is already validated and redacted."""
    return NewMemory(
        content=content,
        content_hash=content_hash(content),
        project=project,
        type=type,
        tags=tuple(tags),
        source=source,
        session_id=session_id,
        protected=protected,
        state=state,
        metadata={} if metadata is None else metadata,
        line_keys=boilerplate.keys(content),
        created_at=created_at,
        updated_at=updated_at,
        last_recalled_at=last_recalled_at,
        recall_count=recall_count,
        reprieves=reprieves,
        # None: a user's own notes stay theirs, everything else is the team's.
        visibility=visibility or ("private" if source == "user" else "team"),
    )


class MemoryService(RecallMixin):
    def __init__(self, store: Store, embedder: Embedder, options: Options | None = None) -> None:
        self.store = store
        self.embedder = embedder
        self.options = options or Options()
        self.linker = Linker(store, embedder, self.options.link_threshold)
        self.anchoring = Anchoring(store)  # code anchors: made on remember, checked on recall
        # The store refuses this embedder's vectors once `reindex` switched the database away.
        store.vector_model = (embedder.model_id, embedder.dimension)

    # -- remember -----------------------------------------------------------------------

    def remember(
        self,
        content: str,
        *,
        project: str,
        tags: Sequence[str] | None = None,
        type: str | None = None,
        source: str = "tool",
        session_id: str | None = None,
        embed: bool = True,
        created_at: float | None = None,
        files: Sequence[str] = (),
        visibility: str | None = None,
    ) -> Remembered:
        return self.remember_many(
            [content],
            project=project,
            tags=tags,
            type=type,
            source=source,
            session_id=session_id,
            embed=embed,
            created_at=created_at,
            files=files,
            visibility=visibility,
        )[0]

    def remember_many(
        self,
        contents: Sequence[str],
        *,
        project: str,
        tags: Sequence[str] | None = None,
        type: str | None = None,
        source: str = "tool",
        session_id: str | None = None,
        embed: bool = True,
        created_at: float | None = None,
        files: Sequence[str] = (),
        visibility: str | None = None,
    ) -> list[Remembered]:
        """Validate, redact, embed (one batch), store in one transaction, then connect.

        Embedding happens before the write, so a failure stores nothing. ``embed=False``
        (hooks, which must never load a model) stores text only; ``maintain`` embeds and
        connects later. ``type`` None classifies each text from its tags and content.
        ``session_id`` chains the texts, in order, after the session's earlier memories
        (recall reads each in the light of its neighbours). ``created_at`` (a timestamp;
        default now) is when they were said, for imports of older conversations: recall
        prefers memories made within a date the query names.

        ``visibility`` ``private`` keeps the memories to their author on a team database,
        ``team`` shares them; None: private for the user's own notes (source ``user``), else
        team.

        Each new memory is anchored (:mod:`mcp_memory.anchors`) to the project files its text
        names and to ``files`` (edited in the episode that produced it, e.g. an error fix's).
        """
        if not contents:
            raise ValidationError("nothing to remember: give at least one text")
        if len(contents) > MAX_BATCH:
            raise ValidationError(f"at most {MAX_BATCH} memories per call")
        if created_at is not None and not (
            isinstance(created_at, int | float)
            and math.isfinite(created_at)
            and MIN_TIME <= created_at <= MAX_TIME
        ):
            raise ValidationError(
                f"created_at must be a timestamp between 1970 and 2100, not {created_at!r}"
            )
        if type is not None:
            choice(type, TYPES, "type")
        choice(source, SOURCES, "source")
        if visibility is not None:
            choice(visibility, VISIBILITIES, "visibility")
        clean_tags, tag_secrets = redact_tags(tags)
        project, project_secrets = redact_project(project)
        prepared: list[tuple[str, int]] = []
        for n, content in enumerate(contents):
            text, count = redact_content(validate_content(content, self.options.max_content_chars))
            # The secrets of tags and project are counted with the first text's.
            prepared.append((text, count + (tag_secrets + project_secrets if n == 0 else 0)))
        # Exact duplicates (same project, same redacted text) return the existing id.
        results: list[Remembered | None] = []
        todo: list[int] = []
        seen: dict[str, int] = {}
        for n, (text, count) in enumerate(prepared):
            chash = content_hash(text)
            existing = self.store.find_hash(project, chash)
            if existing is not None and existing.state != "deleted":
                results.append(Remembered(existing.id, "duplicate", project, existing.type, count))
            elif chash in seen:
                results.append(None)  # filled from its twin below
            else:
                seen[chash] = n
                results.append(None)
                todo.append(n)
        vectors = self._embed_documents([prepared[n][0] for n in todo]) if embed and todo else None
        anchors = self.anchoring.prepare([prepared[n][0] for n in todo], project, files)
        if vectors is not None:
            self.ensure_model()
        created: list[tuple[int, list[tuple[int, float]]]] = []
        with self.store.transaction():
            for j, n in enumerate(todo):
                text, count = prepared[n]
                vector = None if vectors is None else vectors[j]
                # One KNN query per new memory: its linking candidates, which also hold its
                # near-duplicates (see _near_duplicates).
                candidates: list[tuple[int, float]] | None = None
                near: tuple[NearDuplicate, ...] = ()
                if vector is not None:
                    candidates = self.linker.candidates(vector, project)
                    near = self._near_duplicates(vector, project, candidates)
                if near and self.options.near_duplicates == "merge":
                    target = self.store.get(int(near[0].id))
                    results[n] = Remembered(target.id, "merged", project, target.type, count, near)
                    continue
                existing = self.store.find_hash(project, content_hash(text))
                if existing is not None:  # a deleted twin: bring it back instead
                    self.store.set_state(existing.id, "buffer")
                    results[n] = Remembered(existing.id, "restored", project, existing.type, count)
                    continue
                kind = type or classify(text, clean_tags)
                memory = new_memory(
                    text,
                    project=project,
                    type=kind,
                    tags=clean_tags,
                    source=source,
                    session_id=session_id,
                    protected=kind in PROTECTED_TYPES or source == "user",
                    created_at=created_at,
                    visibility=visibility,
                )
                mid = self.store.insert(memory, vector)
                self.store.add_anchors(mid, anchors[j])
                results[n] = Remembered(mid, "created", project, kind, count, near)
                if candidates is not None:
                    created.append((n, candidates))
        for n, candidates in created:  # after the commit: linking may embed topic texts
            r = results[n]
            assert r is not None
            results[n] = replace(r, links=tuple(self.linker.connect(int(r.id), candidates)))
        for n, (text, count) in enumerate(prepared):
            if results[n] is None:  # a repeat within this batch
                twin = results[seen[content_hash(text)]]
                assert twin is not None
                results[n] = Remembered(twin.id, "duplicate", project, twin.type, count)
        return [r for r in results if r is not None]

    def _embed_documents(self, texts: list[str]) -> np.ndarray:
        vectors = self.embedder.embed(texts, "document")
        if vectors.shape != (len(texts), self.embedder.dimension):
            raise EmbeddingError(
                f"embedder returned shape {vectors.shape}, expected "
                f"({len(texts)}, {self.embedder.dimension})"
            )
        return vectors

    def ensure_model(self) -> None:
        if self.store.model is None:
            embedder = self.embedder
            self.store.init_model(embedder.model_id, embedder.dimension, embedder.pooling)
        self.store.check_model(self.embedder.model_id, self.embedder.dimension)

    def _near_duplicates(
        self, vector: np.ndarray, project: str, candidates: list[tuple[int, float]]
    ) -> tuple[NearDuplicate, ...]:
        """Up to 3 memories of ``project`` at least ``duplicate_threshold`` similar, best first.

        Read from the linking candidates (the nearest of the project's and the global
        memories): they hold every such memory of the project unless all of them are that
        similar, and only then does a query of the project's own follow."""
        threshold = self.options.duplicate_threshold
        hits = [(i, s) for i, s in candidates if s >= threshold]
        if hits and project != GLOBAL:
            found = self.store.get_many([i for i, _ in hits])
            hits = [(i, s) for i, s in hits if i in found and found[i].project == project]
            if len(hits) < 3 and len(candidates) >= CANDIDATES and candidates[-1][1] >= threshold:
                hits = [
                    (i, s)
                    for i, s in self.store.knn(vector, 3, projects=[project])
                    if s >= threshold
                ]
        return tuple(NearDuplicate(i, round(s, 4)) for i, s in hits[:3])

    # -- forget / restore / stats -------------------------------------------------------

    def forget(self, memory_id: int) -> Memory:
        """Soft delete: out of recall, restorable with :meth:`restore`."""
        self.store.get(memory_id)
        self.store.set_state(memory_id, "deleted")
        return self.store.get(memory_id)

    def purge(
        self, ids: Sequence[int], *, with_lineage: bool = False, data_dir: Path | None = None
    ) -> PurgeReport:
        """Hard delete: no byte of their text left in the database (see
        :mod:`mcp_memory.service.purge`). Not an MCP tool: only a user at the CLI purges."""
        return purge(self.store, ids, with_lineage=with_lineage, data_dir=data_dir)

    def restore(self, memory_id: int) -> Memory:
        m = self.store.get(memory_id)
        if m.state not in ("deleted", "expired"):
            raise ValidationError(f"memory {memory_id} is {m.state}, not deleted or expired")
        self.store.set_state(memory_id, "buffer")
        return self.store.get(memory_id)

    def stats(self) -> Stats:
        model = self.store.model
        return Stats(
            database=str(self.store.path),
            schema_version=self.store.schema_version,
            model=None if model is None else model.model_id,
            dimension=None if model is None else model.dimension,
            counts=self.store.counts(),
            llm_usage=[
                {"day": d, "provider": p, "calls": c, "input_tokens": i, "output_tokens": o}
                for d, p, c, i, o in self.store.recent_llm_usage(14)
            ],
        )


def now() -> float:
    return time.time()
