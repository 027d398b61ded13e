"""Structural noise: shared format is not shared topic.

Two session logs, or two "Files changed: ..." summaries about different work, embed close
together because most of their words are the same scaffolding. Before linking, each memory is
reduced to its *topic text*: lines whose shape recurs across the project's memories are
dropped, and recurring labels (``Files changed:``, ``## Errors``) are cut from the lines they
start. Shapes are counted per project in ``line_stats`` as memories arrive, so the detection
learns each project's formats; nothing is hard-coded to our own hook formats.

Rules (measured on the labelled pairs in ``bench/data/link_pairs.jsonl``):
- a *label* (a markdown heading, a short ``label:`` prefix, or a short line ending in ``:``)
  is boilerplate once it appears in ``LABEL_MIN`` memories of the project;
- a whole *line shape* (lower-cased, digits and hex runs collapsed) is boilerplate once it
  appears in ``LINE_MIN`` memories.

Formats that live inside one line ("Session summary: Files changed: ... Commands: ...",
"chore(deps): bump x from 1 to 2", "Test run (CI #1842): vitest 412 passed") keep most of
their scaffolding after that. For them :func:`opening` names the format a text opens with, and
the linker compares same-format texts with their shared format direction taken out (see
:mod:`mcp_memory.service.linking`, ``FORMAT_MIN``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

LABEL_MIN = 2
LINE_MIN = 3
MAX_LABEL_CHARS = 40

_LABEL = re.compile(r"^\s*(?:[-*>#]+\s*)?([A-Za-z][\w ./()-]{0,38}?)\s*[:=]\s+(.*)$")
# A label's parenthesised remark ("Benchmark (write, parquet): ...", "Test run (CI #1842): ..."):
# it names the instance, so the label is counted without it.
_LABEL_REMARK = re.compile(r"^(\s*[A-Za-z][\w ./-]{0,38}?)\s+[(\[][^)\]]{0,60}[)\]](?=\s*[:=]\s)")
_HEADING = re.compile(r"^\s*#{1,6}\s+(.+?)\s*#*\s*$")
_NUMBERS = re.compile(r"\b(?:\d+|[0-9a-f]{7,})\b")
_SPACE = re.compile(r"\s+")
_LETTERS = re.compile(r"[a-z]+")
# A parenthesised or bracketed remark after a space ("Test run (CI #1842)"), not a scope
# written onto the word ("chore(deps)").
_REMARK = re.compile(r"\s[(\[][^)\]]*[)\]]")
OPENING_WORDS = 2


def _norm(text: str) -> str:
    return _SPACE.sub(" ", _NUMBERS.sub("0", text.lower())).strip()


@dataclass(frozen=True)
class Line:
    raw: str
    label_key: str | None  # "label:<name>" for headings, label prefixes and short lines
    line_key: str  # "line:<shape>"
    body: str  # the line without its label


def parse(text: str) -> list[Line]:
    lines: list[Line] = []
    for raw in text.splitlines():
        if not raw.strip():
            continue
        shape = _norm(raw)
        label_key: str | None = None
        body = raw.strip()
        heading = _HEADING.match(raw)
        label = _LABEL.match(_LABEL_REMARK.sub(r"\1", raw, count=1))
        if heading:
            label_key, body = f"label:{_norm(heading.group(1))}", ""
        elif label and len(label.group(1)) <= MAX_LABEL_CHARS:
            label_key, body = f"label:{_norm(label.group(1))}", label.group(2).strip()
        elif raw.rstrip().endswith(":") and len(shape) <= MAX_LABEL_CHARS:
            label_key, body = f"label:{shape.rstrip(':')}", ""
        lines.append(Line(raw.strip(), label_key, f"line:{shape}", body))
    return lines


def keys(text: str) -> tuple[str, ...]:
    """The statistics keys of a text: each distinct label and line shape once."""
    out: dict[str, None] = {}
    for line in parse(text):
        if line.label_key:
            out[line.label_key] = None
        out[line.line_key] = None
    return tuple(out)


def topic_text(text: str, counts: Mapping[str, int], *, self_counted: bool = True) -> str:
    """``text`` without the boilerplate its project's memories share.

    ``counts`` maps keys to how many memories contain them; ``self_counted`` says whether that
    includes this text itself (it does once the memory is stored).
    """
    bonus = 0 if self_counted else 1
    kept: list[str] = []
    for line in parse(text):
        if counts.get(line.line_key, 0) + bonus >= LINE_MIN:
            continue
        if line.label_key and counts.get(line.label_key, 0) + bonus >= LABEL_MIN:
            if line.body:
                kept.append(line.body)
            continue
        kept.append(line.raw)
    return "\n".join(kept)


def opening(text: str) -> str:
    """The format ``text`` opens with, or "" when it opens as prose: a first line that is a
    heading or holds a colon within ``MAX_LABEL_CHARS`` characters names its format by its first
    ``OPENING_WORDS`` words, letters only, lower-cased, without a parenthesised remark after a
    space, which names the instance, not the format ("chore(deps): bump ..." -> "chore deps";
    "Test run (CI #1842): ..." and "Test run (local): ..." -> "test run"). Prose that happens to
    open alike ("We use ...") is no format: what near texts of it share is their topic."""
    for line in text.splitlines():
        if line.strip():
            head = line.strip()
            if not (_HEADING.match(head) or ":" in head[:MAX_LABEL_CHARS]):
                return ""
            return " ".join(_LETTERS.findall(_REMARK.sub(" ", head.lower()))[:OPENING_WORDS])
    return ""
