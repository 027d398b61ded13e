"""Redaction: secrets and ``<private>`` blocks are removed before anything is stored or sent.

Hooks call :func:`redact` on every tool result, so ordinary text must cost little. Each rule
names anchors, literal strings where its matches start (``"ghp_"``, ``"://"``, ``"password"``);
they are found by a literal search, shared by the rules that name the same anchor, and the rule's
regex is only tried there. Token formats are looked for only inside the few runs of 20+ token
characters (see ``_Views.runs``), and formats with no literal prefix (a kubeadm token, a key body
without its BEGIN line) only where such a run of the right length starts. No regex nests
quantifiers and every repeat is bounded or stops at a character its successor cannot match, so
the work stays linear in the input.

Rules run in order, specific formats first: a GitHub token is reported as ``github_token``, not as
the value of ``GITHUB_TOKEN=``. A secret becomes ``[REDACTED:<kind>]``; a value that already is a
marker is never matched again, so ``redact`` is idempotent.

Deliberately kept, because it is not a secret or cannot be told from ordinary text: git SHAs,
UUIDs and hashes; public keys (``ssh-ed25519 ...``, Stripe ``pk_``, ``PUBLIC_KEY=``); Twilio
account SIDs (``AC...``, part of every API URL); names without a literal value (``token =
get_token()``, ``password=password``, ``password: str``, ``token = Name``, ``PASSWORD_MIN_LENGTH =
8``); placeholders (``$TOKEN``, ``${TOKEN}``, ``{{ token }}``, ``<token>``, ``sk-...``,
``ghp_xxxx...``) and values that name a secret and hold no digit (``"test-api-key"``,
``"AWS_SESSION_TOKEN"``, ``user:password@host``); unquoted values of several words (docstrings:
``token: The API token.``); numbers of fewer than six digits; comparisons (``token == "with"``).

Also kept: certificates (a PEM body under ``BEGIN CERTIFICATE`` or above ``END CERTIFICATE``),
paths in ``*_KEY=`` (``S3_KEY=exports/2024/users.csv``), and prose about secrets with no secret
in it ("rotate the API key every 90 days"). A value cut short by a summary (``sk-ant-api03-Qx…``)
is not a placeholder: what is left of it is still secret.

The rules live in ``rules.py`` (token formats, webhooks, headers, URLs), ``keys.py`` (private
keys), ``commands.py`` (password flags by tool, commands that print a secret, ``.pgpass``),
``assignments.py`` (``NAME=value``) and ``context.py`` (prose, prompts, name/value fields,
Terraform variables), on the :class:`~mcp_memory.redaction.base.Rule` type and value checks of
``base.py``; this module holds the engine that runs them, the ``<private>`` stripping and the
public API.
"""

from __future__ import annotations

import bisect
import re
import string
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from mcp_memory.redaction.assignments import ASSIGNMENT_RULE
from mcp_memory.redaction.base import Rule
from mcp_memory.redaction.commands import COMMAND_RULES
from mcp_memory.redaction.context import CONTEXT_RULES
from mcp_memory.redaction.keys import KEY_RULES
from mcp_memory.redaction.rules import FORMAT_RULES, GENERIC_RULES

__all__ = ["PRIVATE_MARKER", "Redaction", "marker", "redact", "strip_private"]

PRIVATE_MARKER = "[private]"
_MARKER_PREFIX = "[REDACTED:"


def marker(kind: str) -> str:
    """The text that replaces a secret of ``kind``."""
    return f"{_MARKER_PREFIX}{kind}]"


@dataclass(frozen=True)
class Redaction:
    """The redacted text, how many secrets and private blocks were removed, and their kinds."""

    text: str
    count: int
    kinds: tuple[str, ...]  # sorted, without repeats; "private" for <private> blocks


# --- <private> blocks --------------------------------------------------------------------------

_PRIVATE_TAG = re.compile(r"<[ \t]*(/?)[ \t]*private(?:\s[^<>]{0,200})?/?>", re.IGNORECASE)


def _strip_private(text: str) -> tuple[str, int]:
    if "<" not in text:
        return text, 0
    out: list[str] = []
    depth = blocks = pos = 0  # pos: start of what is not copied yet, or of the open block
    for m in _PRIVATE_TAG.finditer(text):
        if m.group(1) or m.group().endswith("/>"):  # </private>, or an empty <private/>
            if depth == 0:  # a stray or empty tag: drop just the tag
                out.append(text[pos : m.start()])
                pos = m.end()
            elif m.group(1):
                depth -= 1
                if depth == 0:
                    out.append(PRIVATE_MARKER)
                    blocks += 1
                    pos = m.end()
            continue
        if depth == 0:
            out.append(text[pos : m.start()])
            pos = m.start()
        depth += 1
    if depth:  # unclosed: everything after the opening tag is private (fail closed)
        out.append(PRIVATE_MARKER)
        blocks += 1
    else:
        out.append(text[pos:])
    return "".join(out), blocks


def strip_private(text: str) -> str:
    """Replace each ``<private>...</private>`` block (and an unclosed tail) with ``[private]``."""
    return _strip_private(text)[0]


# --- rules -------------------------------------------------------------------------------------

# Specific formats first: a GitHub token is reported as github_token, not as a NAME=value secret.
_RULES = [
    *KEY_RULES,
    *FORMAT_RULES,
    *GENERIC_RULES,
    *COMMAND_RULES,
    ASSIGNMENT_RULE,
    *CONTEXT_RULES,
]


# --- the engine --------------------------------------------------------------------------------

_LITERALS: dict[str, re.Pattern[str]] = {}
_RUN_TABLE = bytes(
    ord("a") if chr(i) in string.ascii_letters + string.digits + "_-.+/" else ord(" ")
    for i in range(256)
)
_RUN = b"a" * 20  # no token format is shorter
_LONG = 8


def _literal(needle: str) -> re.Pattern[str]:
    """A compiled literal: for needles shorter than ``_LONG`` it searches about twice as fast as
    ``str.find``; for longer ones ``str.find`` (which skips ahead by the needle's length) wins."""
    literal = _LITERALS.get(needle)
    if literal is None:
        literal = _LITERALS[needle] = re.compile(re.escape(needle))
    return literal


def _find_all(haystack: str, needle: str) -> Iterator[int]:
    if len(needle) >= _LONG:
        i = haystack.find(needle)
        while i != -1:
            yield i
            i = haystack.find(needle, i + 1)
        return
    literal, i = _literal(needle), 0
    while m := literal.search(haystack, i):
        yield m.start()
        i = m.start() + 1


def _contains(haystack: str, needle: str) -> bool:
    return needle in haystack if len(needle) >= _LONG else bool(_literal(needle).search(haystack))


class _Views:
    """The text being redacted and views of it, each computed once per version of the text."""

    def __init__(self, text: str) -> None:
        self.set(text)

    def set(self, text: str) -> None:
        self.text = text
        self._lower: str | None = None
        self._runs: str | None = None
        self._spans: list[tuple[int, int]] = []
        self._offsets: list[int] | None = None  # where each run starts in the joined runs
        self._found: dict[tuple[bool, str], list[int]] = {}

    def find(self, needle: str, lower: bool) -> list[int]:
        """Where ``needle`` occurs; rules that share an anchor share the search."""
        key = (lower, needle)
        found = self._found.get(key)
        if found is None:
            found = self._found[key] = list(_find_all(self.lower if lower else self.text, needle))
        return found

    @property
    def lower(self) -> str:
        if self._lower is None:
            self._lower = self.text.lower()
        return self._lower

    @property
    def runs(self) -> str:
        """The runs of 20+ token characters, joined by spaces. Every token lies inside one, so
        an anchor absent from these few hundred characters needs no search of the whole text.
        ``bytes.translate`` and ``find`` find them at C speed."""
        if self._runs is None:
            marks = self.text.encode("ascii", "replace").translate(_RUN_TABLE)
            spans = []
            i = marks.find(_RUN)
            while i != -1:
                j = marks.find(b" ", i)
                j = len(marks) if j == -1 else j
                spans.append((i, j))
                i = marks.find(_RUN, j)
            self._spans = spans
            self._runs = " ".join(self.text[i:j] for i, j in spans)
        return self._runs

    @property
    def spans(self) -> list[tuple[int, int]]:
        """Where the runs are."""
        _ = self.runs
        return self._spans

    def find_in_runs(self, needle: str) -> Iterator[int]:
        """Where ``needle`` occurs inside a run: found in the joined runs, a few hundred
        characters, and mapped back to the text."""
        if self._offsets is None:
            offsets, k = [], 0
            for i, j in self.spans:
                offsets.append(k)
                k += j - i + 1
            self._offsets = offsets
        for k in _find_all(self.runs, needle):
            run = bisect.bisect_right(self._offsets, k) - 1
            yield self._spans[run][0] + k - self._offsets[run]


def _matches(rule: Rule, views: _Views) -> Iterator[re.Match[str]]:
    text = views.text
    haystack = views.lower if rule.lower else text
    anchors = rule.anchors
    if rule.in_runs:
        anchors = tuple(a for a in anchors if a in views.runs)
    if rule.search or len(haystack) != len(text):  # lower() changed the length: search
        if any(_contains(haystack, a) for a in anchors):
            yield from rule.pattern.finditer(text)
        return
    if rule.at_runs:
        starts: Iterable[int] = [i for i, j in views.spans if j - i in rule.at_runs]
    elif rule.in_runs and not rule.lower:  # look in the runs only, not the whole text
        starts = sorted({i for a in anchors for i in views.find_in_runs(a)})
    else:
        starts = sorted({i for a in anchors for i in views.find(a, rule.lower)})
    end = 0
    for i in starts:
        if i >= end and (m := rule.pattern.match(text, i)):
            yield m
            end = max(m.end(), i + 1)


def _in_marker(text: str, i: int) -> bool:
    """True if position ``i`` lies in a ``[REDACTED:...]`` marker: markers are never cut."""
    start = text.rfind(_MARKER_PREFIX, max(0, i - 60), i + 1)
    return start != -1 and text.find("]", start, start + 60) >= i


def _apply(rule: Rule, views: _Views, kinds: set[str]) -> int:
    """Redact what ``rule`` finds in ``views.text``; return how many secrets it replaced.

    The spans of all matches are sorted first: one match may name a secret further on than the
    next match does (a command's password flag after a later tool's argument)."""
    text = views.text
    spans = sorted(
        ((start, -end, kind) for m in _matches(rule, views) for kind, start, end in rule.decide(m)),
    )
    pieces: list[str] = []
    pos = count = 0
    for start, neg_end, kind in spans:
        end = -neg_end
        if start < pos or start >= end or _in_marker(text, start) or _in_marker(text, end - 1):
            continue
        pieces += (text[pos:start], marker(kind))
        pos = end
        count += 1
        kinds.add(kind)
    if count:
        pieces.append(text[pos:])
        views.set("".join(pieces))
    return count


def redact(text: str) -> Redaction:
    """Remove ``<private>`` blocks, then replace each secret with ``[REDACTED:<kind>]``."""
    text, blocks = _strip_private(text)
    kinds = {"private"} if blocks else set()
    views = _Views(text)
    count = blocks + sum(_apply(rule, views, kinds) for rule in _RULES)
    return Redaction(views.text, count, tuple(sorted(kinds)))
