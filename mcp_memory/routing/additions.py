"""Does a memory add to the line it resembles, or only restate it? Text only, no model.

A memory close to a line (in the cosine band below the duplicate threshold) was held as a
possible conflict whatever it said: "The integration tests need the Postgres container from
docker compose running on port 5433 before make test" next to "Run the suite with `make test`.
Tests use a real Postgres started by docker compose." (cosine 0.82) only adds a port and a
precondition. The router now asks, for the most similar line, three questions the cosine
cannot answer, from the two texts' content tokens (words stemmed; numbers; code spans,
identifiers and paths as a whole and by their parts, so `make test` meets "make test" and
`pathlib.Path` meets pathlib.Path):

- ``kept``: the share of the line's content tokens the memory says too. A memory that keeps
  most of the line restates its subject; one that keeps half of it may be a rewrite.
- ``new``: how many of the memory's content tokens the line lacks (a port, a flag, a version,
  a precondition, an exception).
- ``dropped``: how many of the line's content tokens the memory lacks.
- ``negated``: something the memory says not to do or use that the line affirms (the first
  word of a negated scope, or a value in it: "without a feature/ prefix" against
  `feature/<ticket>-<slug>`); such a memory never extends the line.

With no disagreement the text rule finds (:func:`conflicts.contradiction`: a changed value,
a negation, a swapped word, an opposite), a memory that keeps at least ``Thresholds.kept`` of
the line, says at least ``Thresholds.adds`` more new tokens than it drops and negates nothing
the line affirms *extends* it: it is written directly
after that line (see :mod:`managed`). One that keeps every token, adds none and names the
line's values in the same order *restates* it: a duplicate. Anything else in the band stays a
possible conflict: a rewrite in other words may be another policy ("Type hints are optional"
against "Type hints on every public function"). ``kept`` and ``adds`` are calibrated by
bench/route.py with the other thresholds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from mcp_memory.routing.conflicts import content_tokens, negates, stem

_PARTS = re.compile(r"[^a-z0-9]+")
_VALUE_KINDS = frozenset({"code", "ident", "path", "name", "number"})


@dataclass(frozen=True)
class Overlap:
    """How a memory's content tokens compare with a line's."""

    kept: float  # share of the line's content tokens the memory says too (1.0 for an empty line)
    new: tuple[str, ...]  # the memory's content tokens the line lacks, as written, values first
    dropped: int  # the line's content tokens the memory lacks
    same_order: bool  # the values both name (code, identifiers, names, numbers) in one order
    negated: str = ""  # what the memory says not to do that the line affirms (conflicts.negates)

    @property
    def net(self) -> int:
        """New tokens beyond the ones dropped: how much more the memory says than the line."""
        return len(self.new) - self.dropped

    @property
    def restates(self) -> bool:
        return not self.new and not self.dropped and self.same_order and not self.negated

    def describe(self) -> str:
        """For the plan's reason: what the memory adds."""
        shown = ", ".join(self.new[:5]) + (", ..." if len(self.new) > 5 else "")
        return f"it keeps {self.kept:.0%} of the line and adds {shown}"


@lru_cache(maxsize=4096)
def overlap(memory: str, line: str) -> Overlap:
    mine, theirs = _keyed(memory), _keyed(line)
    my_keys = frozenset(k for _, _, keys in mine for k in keys)
    their_keys = frozenset(k for _, _, keys in theirs for k in keys)
    kept = sum(bool(keys & my_keys) for _, _, keys in theirs)
    fresh = [(raw, kind) for raw, kind, keys in mine if not keys & their_keys]
    # values first (a port, a flag, a version), then words: what the plan's reason shows
    new = tuple(raw for raw, kind in fresh if kind in _VALUE_KINDS - {"name"}) + tuple(
        raw for raw, kind in fresh if kind not in _VALUE_KINDS - {"name"}
    )
    dropped = len(theirs) - kept
    return Overlap(
        kept=kept / len(theirs) if theirs else 1.0,
        new=tuple(dict.fromkeys(new)),
        dropped=dropped,
        same_order=_values(mine, their_keys) == _values(theirs, my_keys),
        negated=negates(memory, line) or "",
    )


def _keyed(text: str) -> list[tuple[str, str, frozenset[str]]]:
    """(as written, kind, keys) per content token: a word by its stem; a value by its whole
    and by its parts, stemmed (`make test` -> make test, make, test)."""
    out = []
    for raw, norm, kind in content_tokens(text):
        if kind in ("word", "name"):
            keys = {_root(norm)}
        else:
            parts = [p for p in _PARTS.split(norm) if p]
            keys = {norm, *parts, *(_root(stem(p)) for p in parts if p.isalpha())}
        out.append((raw, kind, frozenset(keys)))
    return out


def _root(stemmed: str) -> str:
    """One of a doubled final consonant dropped: running -> runn -> run, mapped -> map."""
    if len(stemmed) > 3 and stemmed[-1] == stemmed[-2] and stemmed[-1] not in "aeiouylsfz":
        return stemmed[:-1]
    return stemmed


def _values(tokens: list[tuple[str, str, frozenset[str]]], other: frozenset[str]) -> list[str]:
    """The values the other side names too, in this side's order (by their smallest key)."""
    return [min(keys & other) for _, kind, keys in tokens if kind in _VALUE_KINDS and keys & other]
