"""What a recall query says besides its words: the dates it names and the names it mentions.

Both feed :meth:`MemoryService.recall` for every query (no model, no LLM: a few regexes):

- :func:`time_windows`: absolute dates in the query ("on 3 July, 2023", "July 3 2023",
  "2023-07-03", "in July 2023", "in 2022") become UTC time windows; a memory whose
  ``created_at`` falls in one ranks higher. Relative phrases ("last week") are left alone: they
  are relative to when the remembered thing was said, which the query does not know.
- :func:`asks_when` and :func:`says_when`: a question asking when ("When did...", "How
  long...") prefers memories that say when ("yesterday", "last week", "in 2022").
- :func:`label_of` and :func:`names_in`: a memory whose text opens with a short name label
  ("Caroline: ...", "Dr Smith: ...") is *about* that name as much as about its words; when the
  query names the label, the memory ranks higher. BM25 cannot do this by itself: a name that
  labels half of a conversation's memories has almost no inverse document frequency.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from mcp_memory.text.keywords import STOPWORDS, WORD

MONTHS = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)
_MONTH = "|".join(MONTHS) + "|" + "|".join(m[:3] for m in MONTHS if m != "may") + "|sept"
_DAY_MONTH_YEAR = re.compile(
    rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?({_MONTH})\.?,?\s+(\d{{4}})\b", re.I
)
_MONTH_DAY_YEAR = re.compile(
    rf"\b({_MONTH})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})\b", re.I
)
_ISO_DAY = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_MONTH_YEAR = re.compile(rf"\b({_MONTH})\.?,?\s+(?:of\s+)?(\d{{4}})\b", re.I)
_ISO_MONTH = re.compile(r"\b(\d{4})-(\d{2})\b(?!-)")
_YEAR = re.compile(r"\b(?:in|during|of|since|from|year|by)\s+((?:19|20)\d{2})\b", re.I)

DAY = 86_400.0


def _month(name: str) -> int:
    name = name.lower()[:3]
    return next(n for n, m in enumerate(MONTHS, start=1) if m.startswith(name))


def _stamp(year: int, month: int, day: int = 1) -> float | None:
    try:
        return datetime(year, month, day, tzinfo=UTC).timestamp()
    except ValueError:  # 31 February and the like: not a date
        return None


def _next_month(year: int, month: int) -> float | None:
    return _stamp(year + month // 12, month % 12 + 1)


def time_windows(text: str) -> list[tuple[float, float]]:
    """UTC ``[start, end)`` windows of the absolute dates in ``text``, most precise kind only:
    days if it names any, else months, else years."""
    days: list[tuple[int, int, int]] = []
    days += [(int(y), _month(m), int(d)) for d, m, y in _DAY_MONTH_YEAR.findall(text)]
    days += [(int(y), _month(m), int(d)) for m, d, y in _MONTH_DAY_YEAR.findall(text)]
    days += [(int(y), int(m), int(d)) for y, m, d in _ISO_DAY.findall(text)]
    windows: list[tuple[float, float]] = []
    for y, m, d in days:
        start = _stamp(y, m, d)
        if start is not None:
            windows.append((start, start + DAY))
    if windows:
        return sorted(set(windows))
    months = [(int(y), _month(m)) for m, y in _MONTH_YEAR.findall(text)]
    months += [(int(y), int(m)) for y, m in _ISO_MONTH.findall(text) if 1 <= int(m) <= 12]
    for y, m in months:
        start, end = _stamp(y, m), _next_month(y, m)
        if start is not None and end is not None:
            windows.append((start, end))
    if windows:
        return sorted(set(windows))
    for y in {int(y) for y in _YEAR.findall(text)}:
        start, end = _stamp(y, 1), _stamp(y + 1, 1)
        if start is not None and end is not None:
            windows.append((start, end))
    return sorted(windows)


_ASKS_WHEN = re.compile(
    r"^\W*(?:when|how long|how many (?:days|weeks|months|years)|"
    r"what (?:year|month|date|day|time)|which (?:year|month|day))\b",
    re.I,
)
_SAYS_WHEN = re.compile(
    r"\b(?:yesterday|today|tonight|tomorrow|ago|recently|"
    r"(?:last|next|this|past) (?:week|weekend|month|year|night|morning|summer|winter|spring|fall|"
    r"monday|tuesday|wednesday|thursday|friday|saturday|sunday)|"
    r"(?:19|20)\d\d|" + "|".join(m for m in MONTHS if m != "may") + r")\b",
    re.I,
)


def asks_when(query: str) -> bool:
    """Whether ``query`` asks for a time ("When did...", "How long...", "What year...")."""
    return _ASKS_WHEN.match(query) is not None


def says_when(text: str) -> bool:
    """Whether ``text`` says when something happened ("yesterday", "last week", "in 2022")."""
    return _SAYS_WHEN.search(text) is not None


def in_windows(ts: float, windows: list[tuple[float, float]]) -> bool:
    return any(start <= ts < end for start, end in windows)


def names_in(query: str) -> frozenset[str]:
    """The lower-cased words of ``query`` a memory label can match."""
    return frozenset(w.lower() for w in WORD.findall(query))


# What an identifier, error text or file name looks like, by shape alone: snake_case, CamelCase
# (a lower-case letter before an upper-case one, or an upper-case run then a word), dotted paths
# and file names (a word character on both sides of the dot), paths with a slash, flags,
# ALL-CAPS codes with a digit or underscore, words with digits inside (TS2307, 0x1f, v1.2), and
# quoted text (backticks, or quotes around a token with no space).
_IDENTIFIER = re.compile(
    r"[A-Za-z0-9]_[A-Za-z0-9]"  # snake_case, SCREAMING_CASE
    r"|\b[a-z]+[A-Z]\w*"  # camelCase
    r"|\b[A-Z][a-z0-9]+[A-Z]\w*"  # CamelCase (MissingGreenlet, TooManyConnectionsError)
    r"|\w\.(?:[a-z_]\w|\d)"  # dotted paths, file names, versions (sqlalchemy.exc, reserve.go)
    r"|\w/\w+/\w|(?:^|\s)/\w"  # paths (src/lib/x, /account); "and/or" is not one
    r"|(?:^|\s)--?\w"  # flags (-n, --dry-run)
    r"|\b[A-Za-z]+\d+\b|\b[A-Z]{2,}[_-][A-Z]"  # codes (TS2307, E0308, ERR_PNPM...)
    r"|\b\w+::\w+"  # Rust/C++ paths (DB::ParsingException)
    r"|`[^`]+`"  # backticked text
    r"|[\"'][^\s\"']+[\"']"  # a quoted token ('404', \"version\")
    r"|\b\w*(?:Error|Exception)\b"  # NameError, ParsingException
    r"|\b\d{3}\b|\b\d{5,}\b"  # status codes, sizes (409, 5242880); not years
)


def has_identifier(query: str) -> bool:
    """Whether ``query`` names something by its exact spelling (an identifier, error text, file
    name, code or quoted text): then shared words are strong evidence and the keyword list
    counts more; a plain-language question is better judged by meaning."""
    return _IDENTIFIER.search(query) is not None


def spelled_words(query: str) -> frozenset[str]:
    """The lower-cased content words of the tokens of ``query`` (split on white space) that
    name something by its spelling (:func:`has_identifier`): ``merchant_id`` and ``payments``
    of "payments.merchant_id", ``now`` of "pin 'now' to a fixed moment"."""
    out: set[str] = set()
    for token in query.split():
        if has_identifier(token) or has_identifier(" " + token):  # flags and paths need a space
            out.update(w for w in WORD.findall(token.lower()) if w not in STOPWORDS)
    return frozenset(out)
