"""Working without a model: :class:`ExtractiveProvider` merges by dropping repeated sentences
(:func:`split_sentences` cuts a text into them), and :func:`substance_heuristic` judges whether
a memory is worth keeping from what it mentions. Both are offline: no network, no cost.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from mcp_memory.llm.provider import MergeOutput, Usage
from mcp_memory.text.facts import missing_facts

__all__ = ["SUBSTANCE_THRESHOLD", "ExtractiveProvider", "split_sentences", "substance_heuristic"]


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


def _normal(sentence: str) -> str:
    return " ".join(sentence.lower().split()).strip(_EDGE_PUNCT + " ")


def _tokens(sentence: str) -> frozenset[str]:
    return frozenset(t.strip(_EDGE_PUNCT) for t in sentence.lower().split()) - {""}


def _covers(kept: tuple[str, frozenset[str]], other: tuple[str, frozenset[str]]) -> bool:
    """``kept`` may stand for ``other``: near-identical words, and every hard fact of ``other``."""
    a, b = kept[1], other[1]
    if not b <= a or (a and len(b) / len(a) < 0.8):  # b within a: Jaccard is |b| / |a|
        return False
    return not missing_facts([other[0]], [kept[0]])


class ExtractiveProvider:
    """Merging without a model: sentences of all texts in order of first appearance, repeats out.

    A sentence is a repeat when its normalised text equals an earlier one's, or when their word
    sets overlap by Jaccard >= 0.8, one's words contain the other's and every hard fact of the
    smaller is in the larger; the larger one then stands at the earlier one's place. The result
    is never longer than the inputs and keeps all their hard facts.
    """

    name = "extractive"
    model: str | None = None
    offline = True

    def merge(self, texts: Sequence[str], *, max_output_tokens: int = 0) -> MergeOutput:
        kept: list[tuple[str, frozenset[str]]] = []  # sentence, its words
        seen: set[str] = set()
        for text in texts:
            for sentence in split_sentences(text):
                normal = _normal(sentence)
                if normal in seen:
                    continue
                seen.add(normal)
                new = (sentence, _tokens(sentence))
                for i, earlier in enumerate(kept):
                    if _covers(earlier, new):
                        break
                    if _covers(new, earlier):
                        kept[i] = new
                        break
                else:
                    kept.append(new)
        merged = ""
        for sentence, _ in kept:
            if merged:  # a sentence without a full stop, a list item or code gets its own line
                ends = merged.rstrip(_CLOSERS).endswith((".", "!", "?"))
                merged += " " if ends and not sentence.startswith("```") else "\n"
            merged += sentence
        return MergeOutput([merged] if merged else [], Usage(), self.name, None)

    def judge_substance(self, text: str) -> tuple[bool, Usage]:
        return substance_heuristic(text)[0], Usage()

    def judge_conflict(self, memory: str, existing: str) -> tuple[str, str, Usage]:
        """No model, no opinion: the offline text rule (``conflicts.py``) already ran."""
        return "compatible", "no model to ask", Usage()


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
