"""Connect: link each new memory to existing memories it is about.

One KNN query per memory (never a scan of all pairs) finds candidates in its own project and
the global memories (a global memory links only to global ones, so links never cross
projects). Each candidate is then compared on *topic* vectors: the embedding of the text left
once the project's shared boilerplate is removed (see :mod:`boilerplate`), so two session logs
that share a format but not a topic do not link. A link needs a topic cosine at or above the
model's link threshold, or a little below it with a word the two share and no other memory of
the scope holds (``RARE_MARGIN``), or further below with such a word and a tag few memories of
the scope carry (``TAG_MARGIN``). A memory makes at most ``MAX_NEW_LINKS`` links, and none holds
more than ``MAX_LINKS`` (the weakest are dropped), so hubs cannot swallow the graph.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

import numpy as np

from mcp_memory.embedding.protocol import Embedder
from mcp_memory.projects import scope
from mcp_memory.service import boilerplate
from mcp_memory.store.base import Memory
from mcp_memory.store.database import Store
from mcp_memory.store.schema import ACTIVE_STATES
from mcp_memory.text.keywords import STOPWORDS

log = logging.getLogger("mcp_memory")

CANDIDATES = 24
CANDIDATE_POOL = 64  # rescored exactly by the candidate query (see Linker.candidates)
MAX_NEW_LINKS = 8
MAX_LINKS = 24
# Candidates whose full-text cosine is this far below the threshold cannot be topic matches
# worth the cost of a topic embedding (boilerplate inflates full-text similarity, so topic
# similarity of a true match is rarely far above it).
PREFILTER_MARGIN = 0.2
# A text with fewer content words than this is about nothing in particular ("ok", "sounds
# good", "let me check"): it makes no links and takes none, so chit-chat cannot cluster and
# outlive its isolation.
MIN_CONTENT_WORDS = 3
# The fewest memories a line shape or label must appear in before boilerplate.topic_text drops it.
_FIRST_DROPPED = min(boilerplate.LABEL_MIN, boilerplate.LINE_MIN)
# Same-format texts that keep their scaffolding inside one line ("Session summary: Files
# changed: ... Commands: ...", "chore(deps): bump ...") are compared with their shared format
# direction taken out (Linker._without_format) once FORMAT_MIN of them are among a memory's
# candidates (the memory included; with two, their mean would be half of each and nothing
# could be learned), each vector minus FORMAT_WEIGHT x the mean of those texts. Measured with
# bench/coding.py (all memories in one store; false links among each project's same-format
# texts that are not a labelled related pair, per text, in its three format families) and, for
# what it costs, the 18 "same format and topic" related pairs of bench/data/link_pairs.jsonl,
# each stored after the same-format texts of that file with its opening (calibration / held-out
# halves; docs/benchmarks.md, section "coding"): weight 0 (off) 0.43 / 0.75 / 0.43 false links
# per text, related 9/9 and 9/9; 0.3: 0.00 / 0.06 / 0.14, 9/9 and 8/9; 0.4: none, 9/9 and
# 8/9; 0.5: none, 9/9 and 7/9.
FORMAT_MIN = 3
FORMAT_WEIGHT = 0.4
# A candidate whose similarity falls short of the threshold by at most RARE_MARGIN still links
# when the two texts share a *rare word*: a word of three or more letters that no other memory
# of the scope holds (at most RARE_DF memories, the pair itself, match it in full text). Within
# one project every memory shares the project's vocabulary (tests, deploy, database), so a
# cosine in 0.36-0.44 is as often two topics of one project as one topic in other words; a name
# that only these two use (sqlc, jwks, a supplier, a module) says which. The rule needs a scope
# of at least RARE_MIN_SCOPE other memories (the raw candidate list), or "no other memory holds
# it" says nothing: a pair alone in a store links by the threshold only. Chosen on calibration
# halves only. bench/coding.py, all memories in one store, links made as they arrive: related
# pairs linked 0.57 without the rule, 0.79 with any margin from 0.08 to 0.14 (a replay of the
# linker on the stored vectors); the narrowest makes the fewest links between unlabelled pairs.
# bench/links.py, the pairs of link_pairs.jsonl stored in one project: related 45/52 -> 49/52,
# unrelated 5/39 and same-format 0/39 linked either way (docs/benchmarks.md, sections "coding"
# and "links").
RARE_MARGIN = 0.08
RARE_DF = 2
RARE_MIN_SCOPE = 12
# Further below, down to TAG_MARGIN under the threshold, a candidate links when it shares a rare
# word (as above) and a tag of the memory that at most TAG_DF memories of the scope carry (the
# pair and one more), unless both open with the same label or heading (first_label: a format,
# whose texts share tags and words by layout). A tag is the writer's own word on what a memory
# is about; related notes on one part of a project (suppliers.toml, the Helm add-ons, sqlc) sit
# at cosines of 0.26-0.30 with MiniLM, among as many unrelated pairs of the project, and a tag
# few memories carry tells them apart where the words cannot. Chosen on the calibration half of
# bench/coding.py (all memories in one store, links made as they arrive): related pairs linked
# 22/28 with the band off, 26/28 with margin 0.18 and a count of 3 (0.12-0.14: 22/28; 0.16:
# 23/28; 0.18-0.22 with a count of 2: 24/28), links among all 208 memories 172 -> 190, the
# same-format pairs (1/18) and each family's false links unchanged; the smallest margin and
# count reaching 26/28 were kept. The candidate must pass the prefilter (full cosine >= the
# threshold - PREFILTER_MARGIN), so the band ends there. Tried on calibration and dropped: token-
# state coverage (coverage.py's word-piece states, the share of content words matched at >= 0.8)
# or content-word overlap with a rare word, mutual nearest neighbours, best sentence-pair cosine
# and a logistic over them: at most +3 related pairs for +22 unlabelled links. bench/links.py's
# pairs carry no tags: the rule never fires there. Held-out (once): docs/benchmarks.md, "coding".
TAG_MARGIN = 0.18
TAG_DF = 3
# Tags the capture layer and the hooks give by kind, not by topic (capture/observe.py: "plan",
# "error", "fix", "decision"; hooks/events.py: "note" on #remember notes; hooks/worker.py:
# "session"): they say what produced a memory, so two notes of unrelated topics share them. The
# tag band ignores them (tests/test_links_tags.py checks that those modules write no others).
KIND_TAGS = frozenset({"note", "plan", "error", "fix", "decision", "session"})
_WORD = re.compile(r"\w+")
_RARE_WORD = re.compile(r"[^\W\d_]{3,}")


def rare_words(text: str) -> set[str]:
    """The words of ``text`` that may be rare enough to say what it is about: three or more
    letters, no digits, no stopwords, lower-cased."""
    return {w for w in _RARE_WORD.findall(text.lower()) if w not in STOPWORDS}


def first_label(text: str) -> str | None:
    """The label or heading ``text`` opens with (:func:`boilerplate.parse`: a parenthesised
    remark left out, so "Benchmark (write, parquet): ..." and "Benchmark (fetch): ..." share
    one), or None when its first line is prose."""
    lines = boilerplate.parse(text)
    return lines[0].label_key if lines else None


def content_words(text: str) -> int:
    return sum(1 for w in _WORD.findall(text.lower()) if w not in STOPWORDS and len(w) > 1)


@dataclass(frozen=True)
class Link:
    id: int | str  # a MemoryRef: ``t:<id>`` once named as a team memory (service.hybrid)
    similarity: float


class Text(Protocol):
    """What linking reads of a memory (a :class:`~mcp_memory.store.database.Memory` has it)."""

    @property
    def id(self) -> int: ...

    @property
    def content(self) -> str: ...

    @property
    def project(self) -> str: ...


class _Candidate(NamedTuple):
    id: int
    content: str
    project: str
    tags: tuple[str, ...]


class Linker:
    def __init__(self, store: Store, embedder: Embedder, threshold: float) -> None:
        self.store = store
        self.embedder = embedder
        self.threshold = threshold

    def candidates(self, vector: np.ndarray, project: str) -> list[tuple[int, float]]:
        """The nearest memories a memory of ``project`` with ``vector`` may link to, (id,
        cosine) best first: one KNN query over its project and the global memories.

        ``MemoryService.remember`` asks before storing the memory, checks it for near-duplicates
        and hands it to :meth:`connect`, so a new memory costs one query. A small pool
        (``CANDIDATE_POOL`` rows rescored exactly) is enough: the links come from the nearest
        few, which stand out from the rest. Measured on the vectors of ``bench/recall.py``, 64
        rows find 99.6-100% of the 8 nearest at cosine >= 0.44 (the most links a memory makes)
        and 97-99% of the 24 nearest at >= 0.24 (100 rows: 99-100%, 98.6-99.7%).
        """
        return self.store.knn(
            vector,
            CANDIDATES,
            projects=scope(project),
            oversample=1,
            min_candidates=CANDIDATE_POOL,
        )

    def connect(
        self, memory_id: int, candidates: list[tuple[int, float]] | None = None
    ) -> list[Link]:
        """Link one embedded memory; returns the links it made (strongest first).

        ``candidates``: :meth:`candidates` for its vector and project, when the caller has
        them (it may include ``memory_id`` itself, which is skipped); else one KNN query."""
        memory = self.store.get(memory_id)
        vectors = self.store.vectors([memory_id])
        if memory_id not in vectors or memory.state not in ACTIVE_STATES:
            return []
        if candidates is None:
            candidates = self.store.knn(
                vectors[memory_id],
                CANDIDATES + 1,
                projects=scope(memory.project),
                oversample=1,
                min_candidates=CANDIDATE_POOL,
            )
        scope_size = sum(1 for i, _ in candidates if i != memory_id)  # up to CANDIDATES
        candidates = [
            (i, s)
            for i, s in candidates
            if i != memory_id and s >= self.threshold - PREFILTER_MARGIN
        ]
        links: list[Link] = []
        sims, actives = self.similarities(memory, vectors[memory_id], candidates)
        if sims:
            rare: set[int] = set()
            if scope_size >= RARE_MIN_SCOPE:
                low = self.threshold - RARE_MARGIN
                near: list[Text] = [
                    c for c in actives if low <= sims.get(c.id, -1.0) < self.threshold
                ]
                wide = [
                    c for c in actives if self.threshold - TAG_MARGIN <= sims.get(c.id, -1.0) < low
                ]
                near += self._share_tag(memory, wide)
                rare = self._share_rare(memory, near)
            for cid, sim in sims.items():
                if sim >= self.threshold or cid in rare:
                    links.append(Link(cid, round(sim, 4)))
        links.sort(key=lambda link: -link.similarity)
        links = links[:MAX_NEW_LINKS]
        with self.store.transaction():
            self.store.add_links(memory_id, [(int(link.id), link.similarity) for link in links])
            self.store.mark_connected(memory_id)
            self._prune([int(link.id) for link in links])
        return links

    def similarities(
        self, memory: Text, vector: np.ndarray, candidates: list[tuple[int, float]]
    ) -> tuple[dict[int, float], list[_Candidate]]:
        """The topic cosine of ``memory`` (full vector ``vector``) to each of ``candidates``
        (id, full cosine) it can be compared with, and the active candidates' texts; nothing
        when the memory is about nothing in particular (its own topic comes first)."""
        mine = self.topic_texts([memory]).get(memory.id) if candidates else None
        if mine is None:
            return {}, []
        actives = self._active([i for i, _ in candidates])
        texts = self.topic_texts(actives)
        # A candidate with no boilerplate, like the memory, is compared on full vectors:
        # its cosine is the one the KNN query measured.
        known = {i for i, (_, plain) in texts.items() if plain and mine[1]}
        others = [i for i in texts if i not in known]
        theirs = self._topic_vectors(others, texts) if others else {}
        own = vector
        if others and not mine[1]:
            own = self._topic_vectors([memory.id], {memory.id: mine}, {memory.id: vector})[
                memory.id
            ]
        fmt = boilerplate.opening(memory.content)
        family = [
            c.id for c in actives if fmt and c.id in texts and boilerplate.opening(c.content) == fmt
        ]
        shared = self._without_format(own, family, theirs) if family else {}
        sims: dict[int, float] = {}
        for cid, full_sim in candidates:
            if cid in shared:
                sims[cid] = shared[cid]
            elif cid in known:
                sims[cid] = full_sim
            elif cid in theirs:
                sims[cid] = float(own @ theirs[cid])
        return sims, actives

    def _share_tag(self, memory: Memory, wide: Sequence[_Candidate]) -> list[_Candidate]:
        """Those of ``wide`` that carry a tag of ``memory`` no more than ``TAG_DF`` memories of
        its scope carry, unless both open with the same label (a format: tags and words may
        come with the layout): the writer's own word on what both are about."""
        mine = set(memory.tags) - KIND_TAGS
        label = first_label(memory.content)
        wide = [
            c
            for c in wide
            if mine & set(c.tags) and (label is None or first_label(c.content) != label)
        ]
        if not wide:
            return []
        shared = sorted(set().union(*(mine & set(c.tags) for c in wide)))
        counts = self.store.tag_counts(shared, scope(memory.project), cap=TAG_DF + 1)
        few = {t for t in shared if counts.get(t, 0) <= TAG_DF}
        return [c for c in wide if few & set(c.tags)]

    def _share_rare(self, memory: Text, near: Sequence[Text]) -> set[int]:
        """Those of ``near`` that share with ``memory`` a word no other memory of its scope
        holds (``RARE_DF``), counted by a full-text match over the scope's texts and tags (one
        per shared word; stemmed as the index stems, so "supplier" and "suppliers" count as
        one word)."""
        mine = rare_words(memory.content)
        shared = {c.id: mine & rare_words(c.content) for c in near}
        words = sorted(set().union(*shared.values())) if shared else []
        where = scope(memory.project)
        rare = {
            w
            for w in words
            if len(self.store.fts(f'"{w}"', RARE_DF + 1, projects=where, context_weight=0))
            <= RARE_DF
        }
        return {cid for cid, ws in shared.items() if ws & rare}

    def _without_format(
        self, own: np.ndarray, family: list[int], theirs: dict[int, np.ndarray]
    ) -> dict[int, float]:
        """The cosine of the memory (vector ``own``) to each candidate of its format
        (``family``: candidates that open as it does, :func:`boilerplate.opening`), with their
        shared format direction taken out, once at least ``FORMAT_MIN`` texts of the format
        are near (the memory included): each vector minus ``FORMAT_WEIGHT`` x their mean, then
        the cosine. What all of them share is the format; what two of them share beyond it is
        topic. Fewer, and the cosines stay as they are (empty result)."""
        if len(family) + 1 < FORMAT_MIN:
            return {}
        full = self.store.vectors([i for i in family if i not in theirs])
        vecs = {
            i: theirs[i] if i in theirs else full[i] for i in family if i in theirs or i in full
        }
        if len(vecs) + 1 < FORMAT_MIN:
            return {}
        out: dict[int, float] = {}
        centre = FORMAT_WEIGHT * np.mean([own, *vecs.values()], axis=0)
        mine = own - centre
        mine = mine / (np.linalg.norm(mine) or 1.0)
        for i, v in vecs.items():
            other = v - centre
            out[i] = float(mine @ other / (np.linalg.norm(other) or 1.0))
        return out

    def _active(self, ids: list[int]) -> list[_Candidate]:
        """The text and project of those of ``ids`` still active (the rest of a memory row is
        not needed to link it)."""
        return [_Candidate(*row) for row in self.store.active_texts(ids)]

    def topic_texts(self, memories: Sequence[Text]) -> dict[int, tuple[str, bool]]:
        """Each memory's topic text, and whether that is its whole text (no boilerplate);
        memories with too little left to be about anything are left out."""
        keys = {m.id: boilerplate.keys(m.content) for m in memories}
        counts: dict[str, dict[str, int]] = {}  # line statistics, one query per project
        for project in {m.project for m in memories}:
            wanted = {k for m in memories if m.project == project for k in keys[m.id]}
            counts[project] = self.store.line_counts(project, sorted(wanted))
        out: dict[int, tuple[str, bool]] = {}
        for m in memories:
            seen = counts[m.project]
            if all(seen.get(k, 0) < _FIRST_DROPPED for k in keys[m.id]):
                # Nothing shared often enough to drop: topic_text would keep every line (as
                # stripped, non-blank lines), so skip parsing the text a second time.
                topic = "\n".join(line.strip() for line in m.content.splitlines() if line.strip())
            else:
                topic = boilerplate.topic_text(m.content, seen).strip()
            if content_words(topic) >= MIN_CONTENT_WORDS:  # else nothing to link on
                out[m.id] = (topic, topic == m.content.strip())
        return out

    def topic_vectors(
        self, memories: Sequence[Text], full: dict[int, np.ndarray] | None = None
    ) -> dict[int, np.ndarray]:
        """Each memory's topic vector (its full vector when it has no boilerplate); memories
        with too little left to be about anything are left out. Topic embeddings are cached
        by hash."""
        return self._topic_vectors([m.id for m in memories], self.topic_texts(memories), full)

    def _topic_vectors(
        self,
        ids: Sequence[int],
        texts: dict[int, tuple[str, bool]],
        full: dict[int, np.ndarray] | None = None,
    ) -> dict[int, np.ndarray]:
        """:meth:`topic_vectors` of ``ids`` whose :meth:`topic_texts` are known."""
        plain = [i for i in ids if i in texts and texts[i][1]]
        given = full or {}
        full = {**given, **self.store.vectors([i for i in plain if i not in given])}
        cached = self.store.topic_vectors([i for i in ids if i in texts and not texts[i][1]])
        out: dict[int, np.ndarray] = {i: full[i] for i in plain if i in full}
        todo: list[tuple[int, str, str]] = []
        for mid, (topic_hash, vector) in cached.items():  # memories without a vector: absent
            digest = hashlib.sha256(texts[mid][0].encode()).hexdigest()
            if topic_hash == digest and vector is not None:
                out[mid] = vector
            else:
                todo.append((mid, digest, texts[mid][0]))
        if todo:
            embedded = self.embedder.embed([t for _, _, t in todo], "document")
            for (mid, digest, _), vector in zip(todo, embedded, strict=True):
                self.store.set_topic_vector(mid, digest, vector)
                out[mid] = vector
        return out

    def _prune(self, ids: list[int]) -> None:
        for mid, count in self.store.link_counts(ids).items():
            if count > MAX_LINKS:
                for other, _ in self.store.links_of(mid)[MAX_LINKS:]:
                    self.store.remove_link(mid, other)
