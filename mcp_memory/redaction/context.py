"""Secrets found by what surrounds them: prose, prompts, name/value fields, Terraform variables.

- Prose: a cue (``password``, ``pw``, ``token``, ``secret``, ``API key``, ``login``,
  ``rotated``) followed, within a few words of the same sentence, by a word shaped like a
  credential ("the password is hunter2-Correct-Horse", "use token lf7G... for staging", "admin /
  qqqOGLDd..."). A random-looking word counts only after a cue, never on its own, so hashes,
  ids and base64 in ordinary output stay.
- Prompts: ``AWS Secret Access Key [None]: VALUE`` (a CLI asking, with its default in brackets).
- Name/value fields: ``{"name": "DB_PASSWORD", "value": "..."}``, ``- name: API_TOKEN`` /
  ``value: ...`` (Kubernetes env), ``{"keyName": "key1", "value": "..."}`` (Azure keys): the
  secret's name is in one field and its value in another.
- Terraform: the ``default`` of a ``variable`` block whose name names a secret or that is
  marked ``sensitive = true``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from mcp_memory.redaction.base import (
    WORDS,
    Span,
    has_digit,
    kind_for,
    line_bounds,
    looks_random,
    names_secret,
    path_like,
    placeholder,
    rule,
    wordset,
)

__all__ = ["CONTEXT_RULES"]

# Words whose value is a secret on its own ("password"), and the qualifiers that make a "key"
# one ("API key", "access key").
_STRONG = wordset("password passwd passphrase pwd pw secret token credential credentials psk")
_KEY_QUALIFIERS = sorted(
    wordset(
        "api access secret private master license signing encryption deploy app ssh account "
        "admin service"
    )
)


def _strength(name: str) -> str | None:
    """Whether a field or variable name names a secret, by its last word as ``NAME=value`` does:
    "strong" (DB_PASSWORD, api_token, the API key), "weak" (a bare *_KEY: only a random value
    is one) or None (TOKEN_TTL, PASSWORD_MIN_LENGTH, API_KEY_HEADER)."""
    words = [w.lower() for w in WORDS.findall(re.sub(r"\d", "", name))]
    last = words[-1] if words else ""
    if last in _STRONG or last in ("apikey", "apitoken", "accesstoken", "authtoken", "secretkey"):
        return "strong"
    if last == "key" and len(words) > 1 and words[-2] in _KEY_QUALIFIERS:
        return "strong"
    return "weak" if last in ("key", "auth") else None


def _value_ok(value: str, strong: bool) -> bool:
    """A literal that is a secret under a name that is ``strong`` (or only when random)."""
    if len(value) < 4 or placeholder(value) or value.lower() in ("true", "false", "null", "none"):
        return False
    if value.isdigit() and len(value) < 6:
        return False  # a count, a port, a duration
    if not has_digit(value) and names_secret(value):
        return False  # a name, not a value
    return strong or looks_random(value)


# --- prose ------------------------------------------------------------------------------------

_KEY_CUE = "|".join(f"(?<={q} )" for q in _KEY_QUALIFIERS)
_PROSE = (
    r"(?i)(?P<cue>(?<![\w.$/\\-])"
    r"(?:pass(?:word|wd|phrase)s?|pwd?|token|secret|credentials?|login|rotat(?:ed?|ion|ing))"
    rf"|(?:{_KEY_CUE}|(?<=api))key)"
    r"(?![\w(\[.-]|\.\w)(?=(?P<window>[^\n]{1,160}))"  # not consumed: a later cue is tried too
)
_CUE_KINDS = (
    ("pass", "password"),
    ("pw", "password"),
    ("login", "password"),
    ("token", "token"),
    ("secret", "secret"),
    ("key", "api_key"),
)


def _cue_kind(cue: str) -> str:
    cue = cue.lower()
    return next((kind for start, kind in _CUE_KINDS if cue.startswith(start)), "credential")


_SENTENCE_END = re.compile(r"[.!?;](?:\s|$)|\n")
# Between the cue and the value: "the password is X", "set the pw on host to X", "token: X",
# "admin / X". Without one of these, only the word right after the cue can be the value ("use
# token X"), so "FLOPs per token of all-MiniLM-L6-v2" keeps the model's name.
_LINKS = wordset("is was are be now to as : / -> =>")
_WORD = re.compile(r"\S+")
_CODE = re.compile(r"[=(){}\[\]<>;|`]")
_NOT_CREDENTIAL = re.compile(
    r"v?\d+(?:\.\d+)+\S*"  # versions
    r"|\d{4}-\d{2}-\d{2}\S*"  # dates
    r"|[0-9a-f]{7,12}|[0-9a-f]{40}|[0-9a-f]{64}"  # git SHAs and digests
    r"|0x[0-9a-f]{1,40}"  # numbers and addresses in hex
    r"|\S*@\S+\.\w+"  # e-mail addresses
    r"|[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+",  # dotted names: module.Class.attr
    re.IGNORECASE,
)

# One way to read each character (a capital starts a word or stands alone, one digit at a time):
# with ``[A-Z]+`` and ``\d+`` inside the repeat, "AAAA...Aa1" backtracked exponentially.
_CAMEL_CASE = re.compile(r"(?:[A-Z][a-z]+|[A-Z](?![a-z])|\d)+")
_CAMEL_WORD = re.compile(r"[A-Z][a-z]{2,}")


def _class_name(word: str) -> bool:
    """CamelCase names of two or more words, alone or joined to lowercase words and numbers."""
    parts = re.split(r"[-_]", word)
    camel = [bool(_CAMEL_CASE.fullmatch(p) and len(_CAMEL_WORD.findall(p)) > 1) for p in parts]
    return any(camel) and all(
        c or not p or p.isdigit() or (p.isalpha() and p.islower())
        for c, p in zip(camel, parts, strict=True)
    )


def _credential_word(word: str) -> bool:
    """A word shaped like a password or a token: letters and digits, with both cases or a
    symbol, or random-looking; not a path, URL, version, date, hash or e-mail address."""
    if (
        not 8 <= len(word) <= 200
        or ":" in word
        or "," in word
        or word.startswith(("/", "~", "$", "[", "%"))
    ):
        return False
    if not has_digit(word) or not any(c.isalpha() for c in word) or _NOT_CREDENTIAL.fullmatch(word):
        return False
    if ("/" in word and path_like(word)) or _class_name(word):
        return False  # a path, or a class name such as Ed25519PrivateKey or Ed25519Key-based
    lower = any(c.islower() for c in word)
    upper = any(c.isupper() for c in word)
    symbol = any(c in "!@#$%^&*+=?~" for c in word)
    return looks_random(word) or (lower and (upper or symbol))


def _prose_decide(m: re.Match[str]) -> Iterable[Span]:
    window = m.group("window")
    if not has_digit(window):
        return
    end = _SENTENCE_END.search(window)
    window = window[: end.start() if end else len(window)]
    base = m.start("window")
    linked = window[:1] == ":"  # "rotation: X"
    for count, word in enumerate(_WORD.finditer(window)):
        if count >= 8 or _CODE.search(word.group().strip("\"'")):
            return
        value = word.group().strip("\"'(").rstrip(".,;:!?)\"'")
        if (linked or count == 0) and _credential_word(value):
            start = base + word.start() + word.group().index(value)
            yield _cue_kind(m.group("cue")), start, start + len(value)
            return
        linked = word.group().lower() in _LINKS or word.group().endswith(":")  # "new one: X"


# --- prompts: "AWS Secret Access Key [None]: VALUE" ---------------------------------------------

# The match starts at the label's last word, which says what is asked for.
_PROMPT = (
    r"(?i)(?P<word>pass(?:word|phrase)|secret|token|key|credentials?)[ \t]*\[[^\]\n]{0,80}\]:[ \t]*"
    r"(?P<secret>(?!\[REDACTED:)\S{4,4000})"
)
_PROMPT_LABEL = re.compile(r"[ \t]*(?:[$>] )?(?P<label>[A-Za-z][\w .-]{0,60})$")


def _prompt_decide(m: re.Match[str]) -> Iterable[Span]:
    line_start, _ = line_bounds(m.string, m.start())
    label = _PROMPT_LABEL.match(m.string, line_start, m.end("word"))
    if label is not None and _value_ok(m.group("secret"), m.group("word").lower() != "key"):
        yield kind_for(label.group("label")), m.start("secret"), m.end("secret")


# --- name/value fields ---------------------------------------------------------------------------

_VALUE_FIELD = (
    r"(?i)(?<![\w-])value(?:\\?[\"'])?[ \t]*[:=][ \t]*"
    r"(?:\\?\"(?P<dq>[^\"\\\n]{1,4000})\\?\"|'(?P<sq>[^'\n]{1,4000})'|(?P<uv>[^\s,}\]\"'#]{1,4000}))"
)
_NAME_FIELD = re.compile(
    r"(?i)(?<![\w-])(?P<field>name|key|keyname|parametername|parameterkey|secretname|variable)"
    r"(?:\\?[\"'])?[ \t]*[:=][ \t]*(?:\\?[\"'])?(?P<name>[^\"'\\\n,}]{1,100})"
)
_ITEM_START = re.compile(r"[{}]|\n[ \t]*- ")


def _field_decide(m: re.Match[str]) -> Iterable[Span]:
    text = m.string
    low = max(0, m.start() - 600)
    starts = list(_ITEM_START.finditer(text, low, m.start()))  # the object or list item
    item = starts[-1].start() if starts else low
    names = list(_NAME_FIELD.finditer(text, item, m.start()))
    if not names:
        return
    field, name = names[-1].group("field").lower(), names[-1].group("name").strip()
    group = next(g for g in ("dq", "sq", "uv") if m.group(g) is not None)
    strength = "weak" if field == "keyname" else _strength(name)  # Azure: "keyName": "key1"
    if strength is None:
        return
    kind = "api_key" if field == "keyname" else kind_for(name)
    if _value_ok(m.group(group), strength == "strong"):
        yield kind, m.start(group), m.end(group)


# --- Terraform variables -------------------------------------------------------------------------

_VARIABLE = r"variable[ \t]+\"(?P<name>[^\"\n]{1,100})\"[ \t]*\{(?P<body>(?:[^{}]|\{[^{}]{0,2000}\}){0,4000})\}"
_DEFAULT = re.compile(r"(?m)^[ \t]*default[ \t]*=[ \t]*\"(?P<value>[^\"\n]*)\"")
_SENSITIVE = re.compile(r"(?m)^[ \t]*sensitive[ \t]*=[ \t]*true\b")


def _variable_decide(m: re.Match[str]) -> Iterable[Span]:
    default = _DEFAULT.search(m.group("body"))
    if default is None:
        return
    name, value = m.group("name"), default.group("value")
    strength = "strong" if _SENSITIVE.search(m.group("body")) else _strength(name)
    if strength is not None and _value_ok(value, strength == "strong"):
        start = m.start("body") + default.start("value")
        yield kind_for(name), start, start + len(value)


CONTEXT_RULES = [
    rule(_prose_decide, _PROSE, "pass pw token secret cred login rotat key", lower=True),
    rule(_prompt_decide, _PROMPT, "pass secret token key cred", lower=True),
    rule(_field_decide, _VALUE_FIELD, "value", lower=True),
    rule(_variable_decide, _VARIABLE, "variable", lower=True),
]
