"""Hard facts: the parts of a text a paraphrase must never change.

A merged or condensed text may reword a memory, but it must keep these (found by
:func:`hard_facts`; :func:`missing_facts` lists the ones an output lost):

- numbers, with a unit when one is attached or follows (``5433``, ``3.11.2``, ``v2``, ``10s``,
  ``40%``, ``1,000``, ``250 ms``, ``4GB``);
- URLs, file paths (``src/app/llm.py``, ``~/.config``, ``C:\\tmp``), file and module names with
  dots (``config.py``, ``os.path.join``, ``example.com``), dotfiles (``.env``);
- text in backticks (``make test``), CLI flags (``--no-cache``, ``-x``);
- identifiers: snake_case, camelCase, CamelCase with two humps (``GitHub``), ALLCAPS words of
  three or more letters (``PGPORT``, ``HTTP``).

Not facts: ordinary words, capitalised words (``Python``), abbreviations (``e.g.``), two plain
words joined by a slash (``read/write``), a few emphasis words (``NOTE``, ``IMPORTANT``) and
redaction markers.

Matching is case-insensitive, on whitespace-collapsed text, and at word boundaries
(``config.py`` is not found in ``myconfig.py``; a trailing plural ``s`` is allowed: ``APIs``).
Numbers are compared by value and unit: ``1,000`` equals ``1000``, ``10s`` equals ``10 seconds``;
a number written without a unit is kept by any occurrence of its value. Everything is regular
expressions over short texts: deterministic and fast.

Both the lifecycle's merge check (:mod:`mcp_memory.lifecycle.merge_check`) and the offline merge
(:mod:`mcp_memory.llm.extractive`) use them, so they sit here, below both.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

__all__ = ["hard_facts", "missing_facts", "normalized"]

# --- numbers ------------------------------------------------------------------------------------

_UNITS = {
    "ms": ("ms", "msec", "msecs", "millisecond", "milliseconds"),
    "us": ("us", "µs", "microsecond", "microseconds"),
    "ns": ("ns", "nanosecond", "nanoseconds"),
    "s": ("s", "sec", "secs", "second", "seconds"),
    "min": ("m", "min", "mins", "minute", "minutes"),
    "h": ("h", "hr", "hrs", "hour", "hours"),
    "d": ("d", "day", "days"),
    "w": ("w", "wk", "wks", "week", "weeks"),
    "%": ("%", "percent", "pct"),
    "x": ("x", "times"),
    "b": ("b", "byte", "bytes"),
    "bit": ("bit", "bits"),
    "k": ("k", "thousand"),
}
_CANONICAL_UNIT = {alias: unit for unit, aliases in _UNITS.items() for alias in aliases}
# After a space or hyphen only whole unit words count ("10 seconds"); single letters there are
# words of their own ("3 x 4", "plan b").
_SPACED_UNITS = sorted(
    (a for a in [*_CANONICAL_UNIT, "kb", "mb", "gb", "tb", "kib", "mib", "gib"] if len(a) > 1),
    key=len,
    reverse=True,
)
_NUMBER = re.compile(
    r"(?<![\w.])[vV]?(?P<value>\d{1,3}(?:,\d{3})+(?![\d,])|\d+(?:[._]\d+)*)"
    r"(?:(?P<pct>[ ]?%)"
    r"|(?P<attached>[A-Za-zµ]{1,4})\b"
    r"|[ -](?P<spaced>" + "|".join(map(re.escape, _SPACED_UNITS)) + r")\b)?",
    re.IGNORECASE,
)


def _number_key(m: re.Match[str]) -> tuple[str, str]:
    value = m.group("value").replace(",", "").replace("_", "")
    if m.group("pct"):
        return value, "%"
    unit = (m.group("attached") or m.group("spaced") or "").lower()
    return value, _CANONICAL_UNIT.get(unit, unit)


# --- everything else ----------------------------------------------------------------------------

_URL = re.compile(r"\b(?:https?|ftp|file|wss?)://[^\s<>\"'`)\]}]+", re.IGNORECASE)
_BACKTICKS = re.compile(r"(?<!`)`([^`\n]{1,300})`(?!`)")
_PATH = re.compile(
    r"(?<![\w/:.~-])(?:~|\.{1,2})?/?(?:[\w.@+-]+/)+[\w.@+-]*"
    r"|(?<![\w])[A-Za-z]:\\(?:[\w.@+-]+\\?)+"
)
_DOTTED = re.compile(r"(?<![\w.-])[A-Za-z_][\w-]*(?:\.[\w-]+)+")
_DOTFILE = re.compile(r"(?<![\w/.~-])\.[A-Za-z][\w-]*(?:\.[\w-]+)*")
_FLAG = re.compile(r"(?<![\w-])--?[A-Za-z][\w-]*")
_SNAKE = re.compile(r"\b_*[A-Za-z][A-Za-z0-9]*_\w*|\b_+[A-Za-z]\w*")
_CAMEL = re.compile(r"\b[a-z][a-z0-9]*[A-Z][A-Za-z0-9]*\b|\b[A-Z][a-z0-9]+[A-Z][A-Za-z0-9]*\b")
_ALLCAPS = re.compile(r"\b[A-Z][A-Z0-9_]{2,}\b")

_MARKERS = re.compile(r"\[REDACTED:[\w-]*\]|\[private\]")
_PLAIN_SLASH = re.compile(r"[A-Za-z]+/[A-Za-z]+")  # read/write, and/or, client/server
_ABBREVIATION = re.compile(r"(?:[A-Za-z]\.)*[A-Za-z]\.?")  # e.g, i.e, U.S
_VERSION = re.compile(r"[vV]\d+(?:\.\d+)+")  # a number: v3.11.2 equals 3.11.2
_NOT_FACTS = frozenset({"NOTE", "IMPORTANT", "FYI", "TLDR", "IMO", "IMHO", "ASAP"})
_TRAILING = ".,;:!?'\"-"
_SPACES = re.compile(r"\s+")


def _strings(text: str) -> Iterable[str]:
    for m in _URL.finditer(text):
        yield m.group().rstrip(_TRAILING)
    for m in _BACKTICKS.finditer(text):
        yield m.group(1).strip()
    for m in _PATH.finditer(text):
        path = m.group().rstrip(_TRAILING)
        if "/" in path and not _PLAIN_SLASH.fullmatch(path) or "\\" in path:
            yield path
    for m in _DOTTED.finditer(text):
        if not (_ABBREVIATION.fullmatch(m.group()) or _VERSION.fullmatch(m.group())):
            yield m.group().rstrip(_TRAILING)
    for pattern in (_DOTFILE, _FLAG, _SNAKE, _CAMEL):
        for m in pattern.finditer(text):
            yield m.group().rstrip(_TRAILING)
    for m in _ALLCAPS.finditer(text):
        word = m.group()
        if sum(c.isalpha() for c in word) >= 3 and word not in _NOT_FACTS:
            yield word


def normalized(text: str) -> str:
    """Whitespace collapsed, stripped and lower-cased: the form facts are compared in."""
    return _SPACES.sub(" ", text).strip().lower()


def _facts(text: str) -> dict[tuple[str, str, str], str]:
    """Each hard fact of ``text`` by its comparison key, with the text as written."""
    text = _MARKERS.sub(" ", text)
    found: dict[tuple[str, str, str], str] = {}
    for m in _NUMBER.finditer(text):
        found.setdefault(("num", *_number_key(m)), m.group().strip())
    for fact in _strings(text):
        key = normalized(fact)
        if key and any(c.isalnum() for c in key):
            found.setdefault(("str", key, ""), fact)
    return found


def hard_facts(text: str) -> set[str]:
    """The hard facts of ``text`` as written (see the module docstring for what counts)."""
    return set(_facts(text).values())


def _present(key: tuple[str, str, str], haystack: str, numbers: set[tuple[str, str]]) -> bool:
    kind, value, unit = key
    if kind == "num":
        return (value, unit) in numbers if unit else any(v == value for v, _ in numbers)
    left = r"(?<!\w)" if value[0].isalnum() or value[0] == "_" else ""
    right = r"(?:e?s)?(?!\w)" if value[-1].isalnum() or value[-1] == "_" else ""
    return re.search(left + re.escape(value) + right, haystack) is not None


def missing_facts(inputs: Sequence[str], outputs: Sequence[str]) -> list[str]:
    """The hard facts of ``inputs`` that ``outputs`` lack, in order of first appearance; a fact
    inside another missing one (the file name of a missing path) is not listed again."""
    wanted: dict[tuple[str, str, str], str] = {}
    for text in inputs:
        for key, fact in _facts(text).items():
            wanted.setdefault(key, fact)
    out_text = _MARKERS.sub(" ", " ".join(outputs))
    haystack = normalized(out_text)
    numbers = {_number_key(m) for m in _NUMBER.finditer(out_text)}
    missing = [fact for key, fact in wanted.items() if not _present(key, haystack, numbers)]
    lowered = [normalized(f) for f in missing]
    return [
        fact
        for fact, low in zip(missing, lowered, strict=True)
        if not any(low != other and low in other for other in lowered)
    ]
