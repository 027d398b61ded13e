"""Working without a model: :class:`ExtractiveProvider` merges a cluster by letting its most
representative member stand for it (or says the cluster needs a model), :func:`split_sentences`
cuts a text into sentences, and :func:`substance_heuristic` judges whether
a memory is worth keeping from what it mentions. Both are offline: no network, no cost.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from mcp_memory.errors import MergeRejected, NeedsModel
from mcp_memory.llm.merge_check import check_merge
from mcp_memory.llm.provider import MergeOutput, Usage
from mcp_memory.text.facts import missing_facts

__all__ = [
    "MAX_MERGED_CHARS",
    "MIN_COVERAGE",
    "SUBSTANCE_THRESHOLD",
    "ExtractiveProvider",
    "split_sentences",
    "substance_heuristic",
]


# --- sentences ------------------------------------------------------------------------------------

_FENCE_BLOCK = re.compile(r"^[ \t]*```.*?^[ \t]*```[^\n]*$", re.MULTILINE | re.DOTALL)
_BULLET = re.compile(r"^\s*(?:[-*+•]|\d{1,3}[.)])\s+")
_SENTENCE_END = re.compile(r"[.!?]+[\"')\]]*\s+")
_NEVER_END = frozenset(
    [
        "e.g.",
        "i.e.",
        "vs.",
        "cf.",
        "approx.",
        "incl.",
        "resp.",
        "esp.",
        "viz.",
        "mr.",
        "mrs.",
        "dr.",
        "st.",
        "fig.",
        "al.",
        "jr.",
        "sr.",
        "ca.",
    ]
)
_INITIAL = re.compile(r"[A-Z]\.")
_EDGE_PUNCT = ".,;:!?()[]{}\"'`*"
_CLOSERS = "\"')]}`*"


def _split_prose(chunk: str) -> list[str]:
    sentences: list[str] = []
    start = 0
    for m in _SENTENCE_END.finditer(chunk):
        word = chunk[start : m.start() + 1].rsplit(None, 1)[-1]
        following = chunk[m.end() : m.end() + 1]
        if word.lower().lstrip("(\"'") in _NEVER_END or _INITIAL.fullmatch(word):
            continue
        if following.islower():
            continue  # "approx. ten", "v. 2": not a new sentence
        sentences.append(chunk[start : m.end()].strip())
        start = m.end()
    sentences.append(chunk[start:].strip())
    return [s for s in sentences if s]


def _prose_chunks(text: str) -> list[str]:
    """Lines grouped into chunks: a bullet, a blank line or a capitalised line starts a chunk;
    a line that starts in lower case continues a hard-wrapped sentence."""
    chunks: list[list[str]] = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            chunks.append([])
            continue
        bullet = _BULLET.match(line)
        if bullet:
            chunks.append([line[bullet.end() :].strip()])
        elif chunks and chunks[-1] and stripped[0].islower():
            chunks[-1].append(stripped)
        else:
            chunks.append([stripped])
    return [" ".join(c) for c in chunks if c]


def split_sentences(text: str) -> list[str]:
    """``text`` as sentences and list items; fenced code blocks stay whole. A dot inside a word
    (``config.py``, ``3.11.2``) or after an abbreviation (``e.g.``) ends nothing."""
    units: list[str] = []
    pos = 0
    for m in _FENCE_BLOCK.finditer(text):
        for chunk in _prose_chunks(text[pos : m.start()]):
            units += _split_prose(chunk)
        units.append(m.group().strip())
        pos = m.end()
    for chunk in _prose_chunks(text[pos:]):
        units += _split_prose(chunk)
    return units


_STOPWORD_TEXT = """the and for with from that this are was were have has had into onto when then
than but not its our you your they them their there which what will would should can could been
being also only just"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())
_WORD = re.compile(r"[a-z0-9][a-z0-9_./:-]*")


def _words(text: str) -> frozenset[str]:
    """The words of ``text`` that carry meaning: three letters or more, no stopwords, lower
    case, a plural ``s`` dropped (``deploys`` is ``deploy``)."""
    out = set()
    for word in _WORD.findall(text.lower()):
        word = word.strip("./:-")
        if len(word) < 3 or word in _STOPWORDS:
            continue
        out.add(word[:-1] if word.endswith("s") and len(word) > 3 else word)
    return frozenset(out)


def _coverage(member: frozenset[str], merged: frozenset[str]) -> float:
    """The share of a member's words that the merged text says too."""
    return len(member & merged) / len(member) if member else 1.0


def _join(first: str, second: str) -> str:
    """Two statements as one text: a full stop between them unless the first has one."""
    first = first.rstrip()
    ends = first.rstrip(_CLOSERS).endswith((".", "!", "?"))
    return f"{first} {second}" if ends else f"{first}. {second}"


MAX_MERGED_CHARS = 400  # a merge may add a sentence only while it stays a memory's usual length
MIN_COVERAGE = 0.6  # each member's words the merge must say; below, they say different things


class ExtractiveProvider:
    """Merging without a model: the cluster's most representative memory stands for all of it.

    A member may stand for the cluster when it keeps every hard fact of the others
    (:func:`~mcp_memory.lifecycle.merge_check.missing_facts`) and says at least
    ``MIN_COVERAGE`` of each other member's meaningful words: then they are near-identical and
    it is the merge, as written (a real memory, never a concatenation). Failing that, one
    sentence of another member may be added when that brings every missing fact and coverage,
    and the result stays within ``MAX_MERGED_CHARS`` (or the longest member's length).
    Candidates are tried best first: fewest missing facts, then the highest lowest coverage.
    When no member can stand for the cluster, its memories say different things: merging them
    needs a model, and :class:`~mcp_memory.errors.NeedsModel` says so (the cluster stays in
    the buffer, waiting for an LLM).
    """

    name = "extractive"
    model: str | None = None
    offline = True

    def merge(self, texts: Sequence[str], *, max_output_tokens: int = 0) -> MergeOutput:
        members = list(dict.fromkeys(t.strip() for t in texts if t.strip()))
        if not members:
            return MergeOutput([], Usage(), self.name, None)
        words = [_words(t) for t in members]

        def stands_for_all(text: str) -> bool:
            said = _words(text)
            return all(_coverage(w, said) >= MIN_COVERAGE for w in words)

        def rank(i: int) -> tuple[int, float, int]:
            others = [j for j in range(len(members)) if j != i]
            lowest = min((_coverage(words[j], words[i]) for j in others), default=1.0)
            return (len(missing_facts([members[j] for j in others], [members[i]])), -lowest, i)

        limit = max(MAX_MERGED_CHARS, max(map(len, members)))
        order = sorted(range(len(members)), key=rank)
        for i in order:
            if not missing_facts(members, [members[i]]) and stands_for_all(members[i]):
                return MergeOutput([members[i]], Usage(), self.name, None)
        for i in order:
            additions = sorted(
                (
                    _join(members[i], sentence)
                    for j, text in enumerate(members)
                    if j != i
                    for sentence in split_sentences(text)
                ),
                key=len,
            )
            for merged in additions:
                if len(merged) <= limit and stands_for_all(merged) and _acceptable(members, merged):
                    return MergeOutput([merged], Usage(), self.name, None)
        best = members[order[0]]
        missing = missing_facts(members, [best])
        lacks = (
            "lacks "
            + ", ".join(repr(f) for f in missing[:3])
            + (", ..." if len(missing) > 3 else "")
            if missing
            else "leaves out what the others say"
        )
        raise NeedsModel(
            f"the {len(members)} memories say different things (the most representative one "
            f"{lacks}); the offline merge does not glue them together. They wait for an "
            "LLM: set GEMINI_API_KEY or MCP_MEMORY_LLM_PROVIDER"
        )

    def judge_substance(self, text: str) -> tuple[bool, Usage]:
        return substance_heuristic(text)[0], Usage()

    def judge_conflict(self, memory: str, existing: str) -> tuple[str, str, Usage]:
        """No model, no opinion: the offline text rule (``conflicts.py``) already ran."""
        return "compatible", "no model to ask", Usage()


def _acceptable(members: Sequence[str], merged: str) -> bool:
    try:
        check_merge(members, [merged])
    except MergeRejected:
        return False
    return True


# --- substance without a model --------------------------------------------------------------------

_FILE = re.compile(
    r"(?<![\w.~/-])(?:[\w.~-]*/)+[\w.-]+|\b[\w-]+\.(?:py|pyi|js|mjs|ts|tsx|jsx|json|toml|ya?ml|md|txt|cfg|ini"
    r"|sh|sql|rs|go|java|kt|c|h|cc|cpp|hpp|rb|php|lock|env|html|css|xml|csv|db|log|conf|ipynb)\b"
)
_COMMAND = re.compile(
    r"`[^`\n]+`|^\s*\$ \S|(?<![\w-])--[a-z][\w-]+|\b(?:pip3?|uv|uvx|npm|npx|pnpm|yarn|git|pytest"
    r"|docker|kubectl|cargo|brew|apt(?:-get)?|sudo|ruff|mypy|curl|psql|sqlite3|poetry|conda)"
    r" +(?:-{0,2}[a-z][\w-]*)",
    re.MULTILINE,
)
_VERSION_NUMBER = re.compile(r"\bv?\d+\.\d+(?:\.\d+)*\b")
_NUMBER = re.compile(r"\b\d{2,}\b|\b\d+(?:%|ms|s|m|h|d|k|x|gb|mb|kb)\b", re.IGNORECASE)
_DECISION = re.compile(
    r"\b(decided|decision|because|always|never|instead|must|prefer(?:s|red)?|avoid|"
    r"don't|do not|should(?:n't| not)?)\b",
    re.IGNORECASE,
)
_ERROR = re.compile(
    r"\b(errors?|exceptions?|traceback|fail(?:s|ed|ing|ure)?|flaky|bug|crash\w*|broken|timeout)\b",
    re.IGNORECASE,
)
_FIX = re.compile(
    r"\b(fix(?:ed|es)?|solved?|resolved?|workaround|pinn(?:ed|ing)|by (?:using|setting|adding))\b",
    re.IGNORECASE,
)
_ENV_VAR = re.compile(r"\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b")
_IDENTIFIER = re.compile(r"\b[A-Za-z]+_\w+\b|\b[a-z]+[A-Z]\w*\b")
SUBSTANCE_THRESHOLD = 2


def substance_heuristic(text: str) -> tuple[bool, str]:
    """Whether ``text`` is worth keeping, without a model, and why.

    Score: a file path or file name +2; a command (backticks, ``$ ``, ``--flag``, ``git``/``pip``/
    ``pytest``... with an argument) +2; a version number (``3.5.0``) +2, else another number (two
    or more digits, or with a unit: ``10s``, ``40%``) +1; an error word together with a fix word
    +2; each distinct decision word (decided, because, always, never, instead, must, prefer,
    avoid, don't, should) +1, at most +2; an environment variable name (``MCP_MEMORY_HOME``) +2,
    else an identifier (snake_case, camelCase) +1; 200 characters or more +1. Kept when the
    score is at least 2 (``SUBSTANCE_THRESHOLD``): "ok" and "thanks, looks good" score 0,
    "Always use uv instead of pip" scores 2.
    """
    signals: list[tuple[str, int]] = []
    if _FILE.search(text):
        signals.append(("file path", 2))
    if _COMMAND.search(text):
        signals.append(("command", 2))
    if _VERSION_NUMBER.search(text):
        signals.append(("version", 2))
    elif _NUMBER.search(text):
        signals.append(("number", 1))
    if _ERROR.search(text) and _FIX.search(text):
        signals.append(("error and fix", 2))
    decisions = {m.lower() for m in _DECISION.findall(text)}
    if decisions:
        signals.append(("decision words", min(2, len(decisions))))
    if _ENV_VAR.search(text):
        signals.append(("environment variable", 2))
    elif _IDENTIFIER.search(text):
        signals.append(("identifier", 1))
    if len(text) >= 200:
        signals.append(("long", 1))
    score = sum(points for _, points in signals)
    keep = score >= SUBSTANCE_THRESHOLD
    found = ", ".join(name for name, _ in signals) or "no path, command, number, decision or fix"
    verdict = ">=" if keep else "<"
    return keep, f"{found} (score {score} {verdict} {SUBSTANCE_THRESHOLD})"
