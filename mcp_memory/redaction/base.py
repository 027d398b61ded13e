"""What every redaction rule is made of: the :class:`Rule` type and the checks on values and names.

A rule is a regex, the anchors where its matches start (or the runs of token characters, for
formats with no fixed prefix), and a decide function that says which part of a match is a
secret of which kind. The checks here (is this value a placeholder, does it look random, does
this name name a secret) are shared by all the rule families: fixed formats (:mod:`.rules`),
keys (:mod:`.keys`), ``NAME=value`` (:mod:`.assignments`), command lines (:mod:`.commands`)
and context such as prose, prompts and name/value fields (:mod:`.context`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

__all__ = [
    "NO_MARKER",
    "WORDS",
    "Decide",
    "Rule",
    "Span",
    "has_digit",
    "kind_for",
    "line_bounds",
    "looks_random",
    "names_secret",
    "placeholder",
    "rule",
    "whole",
    "wordset",
]

Span = tuple[str, int, int]  # kind, start and end of the text to replace
Decide = Callable[[re.Match[str]], Iterable[Span]]
NO_MARKER = r"(?!\[REDACTED:)"  # a value that already is a marker is never matched again


@dataclass(frozen=True)
class Rule:
    source: str  # the regex, compiled on first use: a hook is a fresh process
    anchors: tuple[str, ...]  # where matches start; with search=True, what the text must hold
    decide: Decide
    lower: bool = False  # anchors are lowercase and looked up in text.lower()
    search: bool = False
    in_runs: bool = False  # every match lies in a run of 20+ token characters
    # No anchors: matches start where a run of 20+ token characters of one of these lengths does
    at_runs: tuple[int, ...] = ()

    @cached_property
    def pattern(self) -> re.Pattern[str]:
        return re.compile(self.source, re.ASCII)


def whole(kind: str, check: Callable[[str], bool] | None = None) -> Decide:
    """Replace group ``secret`` (else the whole match) with ``kind`` if ``check`` accepts it."""

    def decide(m: re.Match[str]) -> Iterable[Span]:
        group = "secret" if "secret" in m.re.groupindex else 0
        if check is None or check(m.group(group)):
            yield kind, m.start(group), m.end(group)

    return decide


def rule(how: str | Decide, pattern: str, anchors: str, **options: Any) -> Rule:
    """A rule replacing matches with ``how`` (a kind, or a decide function); ``anchors`` are
    separated by spaces."""
    decide = whole(how) if isinstance(how, str) else how
    return Rule(pattern, tuple(anchors.split()), decide, **options)


def line_bounds(text: str, start: int, end: int | None = None) -> tuple[int, int]:
    """Where the line holding ``start`` (through ``end``) begins and ends."""
    line_end = text.find("\n", start if end is None else end)
    return text.rfind("\n", 0, start) + 1, len(text) if line_end == -1 else line_end


# --- what a value looks like ---------------------------------------------------------------------


def wordset(words: str) -> frozenset[str]:
    return frozenset(words.split())


WORDS = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z0-9]+(?![a-z])")  # snake, kebab and camel parts
_SECRET_WORDS = wordset(
    "password passwd passphrase pass pwd secret secrets token tok key cred creds credential "
    "credentials auth api apikey apitoken accesstoken authtoken secretkey"
)
_PLACEHOLDER_START = ("$", "{", "<", "%", "[", "(", "*", "&", "!", "|", ">", "@", "#", "\\")
# Whole values that say "put the real one here".
_PLACEHOLDER_WORDS = wordset(
    "changeme changeit replaceme fixme todo tbd notasecret notsecret yourpassword yourtoken "
    "yourkey yoursecret yourapikey redacted masked hidden"
)
_FILLER = re.compile(r"([xX*\u2022#])\1{5,}")  # ghp_xxxxxxxx, sk_live_XXXXXXXX, ******
_ELLIPSIS = ("...", "\u2026")
_PATH_SEGMENT = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def has_digit(value: str) -> bool:
    return any(c.isdigit() for c in value)


def names_secret(value: str) -> bool:
    """True for a name that mentions a secret (``new_token``, ``test-api-key``)."""
    return any(w.lower() in _SECRET_WORDS for w in WORDS.findall(value))


def placeholder(value: str) -> bool:
    """A reference or template, not a literal: ``$X``, ``${X}``, ``{{ x }}``, ``<x>``, ``sk-...``,
    ``ghp_xxxxxxxx``, ``changeme``.

    A value cut short with an ellipsis is a placeholder only if nothing secret is left before
    it (``sk-...``, ``abc...``); ``sk-ant-api03-Qx7...`` is a real key that a summary truncated,
    and what remains of it is still secret."""
    if not value or value.startswith(_PLACEHOLDER_START) or "***" in value:
        return True
    if not any(c.isalnum() for c in value) or _FILLER.search(value):
        return True
    if value.endswith(_ELLIPSIS):
        head = value.rstrip(".\u2026")
        return len(head) < 8 or not head[-1].isalnum()
    return re.sub(r"[\W_]", "", value.lower()) in _PLACEHOLDER_WORDS


def path_like(value: str) -> bool:
    """A path or object key (``exports/2024/users.csv``): segments that each read as words.
    A base64 key with a ``/`` in it has a random-looking segment, or ``+`` and ``=``."""
    segments = value.strip("/").split("/")
    return (
        len(segments) >= 2
        and all(_PATH_SEGMENT.fullmatch(s) for s in segments)
        and not any(_random_word(part) for part in re.split(r"[/._-]", value))
        and ("." in segments[-1] or all(s.islower() or s.isdigit() for s in segments))
    )


def _random_word(value: str) -> bool:
    digits = sum(c.isdigit() for c in value)
    mixed = any(c.isupper() for c in value) and any(c.islower() for c in value)
    return (
        len(value) >= 16
        and not any(c.isspace() for c in value)
        and any(c.isalpha() for c in value)
        and (digits >= 2 or (digits == 1 and mixed))
    )


def looks_random(value: str) -> bool:
    """A credential-shaped word: 16+ characters, no spaces, letters with two digits (hex) or
    with a digit and both cases; not a path whose segments are words."""
    return _random_word(value) and not ("/" in value and path_like(value))


# --- the kind a name gives a secret ---------------------------------------------------------------

_KIND_BY_ENDING = (
    ("password", "password"),
    ("passwd", "password"),
    ("passphrase", "password"),
    ("pass", "password"),
    ("pwd", "password"),
    ("psk", "password"),
    ("token", "token"),
    ("credentials", "credential"),
    ("credential", "credential"),
    ("auth", "auth"),
)
_NAMED_KINDS = {
    "awssecretaccesskey": "aws_secret_access_key",
    "awssecretkey": "aws_secret_access_key",
    "secretaccesskey": "aws_secret_access_key",
    "accountkey": "azure_storage_key",
    "sharedaccesskey": "azure_shared_access_key",
}


def kind_for(name: str) -> str:
    """The kind of a secret found by its name: DB_PASSWORD -> password, API_KEY -> api_key."""
    name = name.lower().rstrip("0123456789")
    squashed = name.replace("_", "").replace("-", "").replace(" ", "").rsplit(".", 1)[-1]
    if squashed in _NAMED_KINDS:
        return _NAMED_KINDS[squashed]
    if "secret" in name:
        return "secret"
    return next((kind for end, kind in _KIND_BY_ENDING if name.endswith(end)), "api_key")
