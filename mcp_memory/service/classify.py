"""Memory types, classified at write time from tags and content when the caller gives none.

Types matter for the lifecycle: ``decision`` and ``user_note`` are protected (never expire,
and a consolidation that includes them stays protected); ``session_summary`` is passive
capture; the rest are ordinary knowledge.
"""

from __future__ import annotations

import re

TYPES = (
    "note",
    "decision",
    "user_note",
    "session_summary",
    "insight",
    "error_fix",
    "preference",
    "convention",
    "fact",
    "todo",
)
PROTECTED_TYPES = frozenset({"decision", "user_note"})

_TAG_TYPES = {
    "decision": "decision",
    "adr": "decision",
    "session": "session_summary",
    "summary": "session_summary",
    "fix": "error_fix",
    "bug": "error_fix",
    "error": "error_fix",
    "preference": "preference",
    "todo": "todo",
    "insight": "insight",
    "note": "user_note",
}
_RULES: list[tuple[str, re.Pattern[str]]] = [
    (
        "decision",
        re.compile(
            r"^\s*(decision|decided)\b|\bwe (decided|chose|agreed|settled on)\b|"
            r"\b(decided|chose) to\b|\binstead of\b.*\bbecause\b",
            re.I,
        ),
    ),
    ("session_summary", re.compile(r"^\s*(#+\s*)?session (summary|log)\b", re.I)),
    (
        "error_fix",
        re.compile(
            r"\b(fixed|fix(ed)? by|root cause|the fix( was)?|resolved by|workaround)\b", re.I
        ),
    ),
    ("preference", re.compile(r"\b(user )?(prefers?|likes?|wants?|always use|never use)\b", re.I)),
    ("todo", re.compile(r"^\s*(todo|fixme)\b[:\s]", re.I)),
]


def classify(content: str, tags: tuple[str, ...] = ()) -> str:
    for tag in tags:
        if tag in _TAG_TYPES:
            return _TAG_TYPES[tag]
    for kind, pattern in _RULES:
        if pattern.search(content):
            return kind
    return "note"
