"""Memory types, classified at write time from tags and content when the caller gives none.

Types matter for the lifecycle: the kept-on-purpose kinds are protected (they never expire by
isolation, and a consolidation that includes them stays protected): ``decision`` (a choice and
its reason: "We use uv, not pip, because ..."), ``convention`` (a standing rule: "always ...",
"never ...", "don't use ...", "... must ..."), ``preference`` (how someone wants things: "I
prefer ...", "prefer ...") and ``user_note`` (the user's own ``#remember``).
``session_summary`` is passive capture; the rest are ordinary knowledge.
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
PROTECTED_TYPES = frozenset({"decision", "user_note", "convention", "preference"})

_TAG_TYPES = {
    "decision": "decision",
    "adr": "decision",
    "convention": "convention",
    "rule": "convention",
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
# First match wins, in this order. Tuned on the calibration half of
# bench/data/classify_cases.jsonl (bench/classify.py reports both halves).
_RULES: list[tuple[str, re.Pattern[str]]] = [
    (
        "session_summary",
        re.compile(r"^\s*(#+\s*)?(session (summary|log)|summary of (this|the) session)\b", re.I),
    ),
    ("todo", re.compile(r"^\s*((todo|fixme)\b[:\s-]|(remember|don't forget) to\b)", re.I)),
    (
        "decision",
        re.compile(
            r"^\s*(decision|decided)\b|\bwe (decided|chose|agreed|settled on|went with)\b|"
            r"\b(decided|chose|agreed) to\b|\b(chose|picked|preferred) \S+ over\b|"
            r"\binstead of\b.*\bbecause\b|"
            r"\bwe (use|run|keep|deploy|build|host|store)\b[^.;]*?,? not \S+?[,:;]? because\b|"
            r"\bwe (use|run|keep|deploy|build|host|store)\b[^.;]*\bbecause\b",
            re.I,
        ),
    ),
    (
        "error_fix",
        re.compile(
            r"\b(fixed|fix(ed)? by|root cause|the fix( was)?|resolved by|workaround|solved|"
            r"stopped it)\b",
            re.I,
        ),
    ),
    (
        "preference",
        re.compile(
            r"^\s*prefer\b|\b(i|the user|user)('d| would)? (prefers?|likes?|wants?|rather)\b|"
            r"\bmy (editor|shell|terminal)\b",
            re.I,
        ),
    ),
    (
        "convention",
        re.compile(
            r"^\s*(always|never|don't|do not|avoid)\b|\b(must|mustn't|must not)\b|"
            r"\b(files?|tests?|modules?) (go|goes|live|lives|belong) (in|into|under|next to)\b",
            re.I,
        ),
    ),
]


def classify(content: str, tags: tuple[str, ...] = ()) -> str:
    """The type of an explicit memory: a tag that names one, else the first rule that
    matches, else ``note``."""
    for tag in tags:
        if tag in _TAG_TYPES:
            return _TAG_TYPES[tag]
    for kind, pattern in _RULES:
        if pattern.search(content):
            return kind
    return "note"
