"""The ``NAME=value`` rule: secrets found by the name they are assigned to.

It covers ``.env`` and shell lines (``export DB_PASSWORD=...``), JSON, YAML, INI and properties
entries, keyword arguments, ``key=value`` connection strings and URL queries, and command-line
flags (``--token s3cret``). Whether a name names a secret is graded (:func:`_strength`): a
``*_KEY`` whose prefix does not say "secret" only counts with a random-looking value; and an
unquoted value counts only where it is a literal, not code (:func:`_unquoted_span`).
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable

from mcp_memory.redaction.base import (
    WORDS,
    Rule,
    Span,
    has_digit,
    kind_for,
    looks_random,
    names_secret,
    placeholder,
    wordset,
)

__all__ = ["ASSIGNMENT_RULE"]


# --- assignments: NAME=value, "name": "value", name: value, --name value ------------------------

_ASSIGNMENT = (
    r"(?i)(?P<kw>password|passwd|passphrase|pass|pwd|psk|secret|token|credentials?|key|auth)"
    r"(?P<digits>\d{0,3})(?:\\?[\"']\]?)?"
    r"(?P<op>[ \t]*(?::[ \t]*[A-Za-z_][\w\[\].,| ]{0,40}?[ \t]*(?==))?(?:=>|=|:=|:)[ \t]*"
    r"|[ \t]+)"  # whitespace: only after a command-line flag, --password s3cret
    r"(?:[bBrR]{1,2}(?=[\"']))?"  # Python bytes and raw strings: b'...'
    r"(?:\\\"(?P<eq>(?:[^\"\\\n]|\\[^\"\n]){0,2000})\\\""
    r"|\"(?P<dq>(?:[^\"\\\n]|\\.){0,2000})\""
    r"|'(?P<sq>(?:[^'\\\n]|\\.){0,2000})'"
    r"|(?P<uv>(?:[^\s\"'`&;\\]|\\(?![nrt\"])){1,2000}))"
)
_UNQUOTED_TAIL = re.compile(r"(?:[^\s\"'`\\]|\\(?![nrt\"])){0,2000}")
_NAME_CHARS = frozenset(string.ascii_letters + string.digits + "_.-")
_IDENT = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*", re.ASCII)
_LINE_LEAD = re.compile(
    r"[ \t]*(?:[<>*+][ \t]*)?(?:-[ \t]+)?"
    r"(?:(?:export|set|setenv|ENV|readonly|declare[ \t]+-x)[ \t]+)?[\"']?"
)
_FLAG_BEFORE = re.compile(r"(?<![\w-])--?[A-Za-z][\w-]*$")
_EOL = re.compile(r"\r?\n|\\[nr]")
# A *_KEY name is a secret when the word before KEY says so; otherwise only a random value is.
_KEY_PREFIXES = wordset(
    "api secret access private master encryption enc signing sign auth app client account "
    "service license consumer session jwt hmac crypt crypto aes ssh gpg pgp deploy admin write "
    "storage shared subscription webhook sas ingest application fernet"
)
# Words in a name that make it name something public: eos_token, sort_key, publicKeyToken...
_NOT_SECRET = wordset(
    "public pub publishable primary foreign sort partition cache lookup dict row map index "
    "idempotency hot shortcut next page continuation start end stop special first last prev "
    "previous eos bos pad unk sep cls mask max min num n cancellation cancel sync"
)
_CODE_VALUES = wordset(
    "none null nil true false yes no on off undefined required optional str string int "
    "integer bytes bool boolean number any unknown object float secretstr secretbytes self "
    "this value placeholder dummy example fake redacted hidden include omit same-origin"
)


def _name_start(text: str, end: int) -> int:
    i, low = end, max(0, end - 100)
    while i > low and text[i - 1] in _NAME_CHARS:
        i -= 1
    while i < end and text[i] in "-.":
        i += 1
    return i


def _strength(name: str, offset: int, kw: str) -> str | None:
    """Whether ``name`` (ending in keyword ``kw`` at ``offset``) names a secret: "strong",
    "weak" (only a random-looking value is one) or None."""
    prefix = name[:offset]
    words = [w.lower() for w in WORDS.findall(prefix)]
    prev = words[-1] if words else ""
    if prev in _NOT_SECRET or "public" in words or "pub" in words:
        return None
    joined = bool(prefix) and prefix[-1] not in "_.-"
    if joined and name[offset].isupper() and (prefix[-1].islower() or prefix[-1].isdigit()):
        joined = False  # camelCase: dbPassword, apiKey
    if kw in ("password", "passwd", "passphrase", "secret", "token") or kw.startswith("cred"):
        return "strong"
    if kw == "pass":
        return None if joined else "strong"
    if kw == "psk":  # a Wi-Fi or IPsec pre-shared key
        return None if joined else "strong"
    if kw == "pwd":  # PWD and OLDPWD are the shell's working directory
        return "strong" if prefix and not joined else None
    if kw == "auth":
        return None if joined else "weak"
    if not prefix:  # a bare "key" is a dictionary key
        return None
    if joined and name != name.upper():  # apikey yes, monkey no
        return "strong" if prefix.lower() in _KEY_PREFIXES else None
    return "strong" if prev in _KEY_PREFIXES else "weak"


def _tail_end(text: str, pos: int) -> int:
    tail = _UNQUOTED_TAIL.match(text, pos)
    return tail.end() if tail else pos


def _line_around(text: str, start: int, end: int) -> tuple[str, str]:
    """The text before ``start`` on its line, and after ``end`` (``\\n`` escapes end lines too)."""
    low = max(0, start - 300)
    line_start = max(text.rfind("\n", low, start) + 1, text.rfind("\\n", low, start) + 2, low)
    eol = _EOL.search(text, end, end + 300)
    return text[line_start:start], text[end : eol.start() if eol else end + 300]


def _unquoted_span(m: re.Match[str], name_start: int, name: str) -> tuple[int, int] | None:
    """Where an unquoted value is a literal, not code: a .env, YAML, INI or properties line,
    ``NAME=value`` in a command, a ``key=value`` connection string or URL query."""
    text, op = m.string, m.group("op")
    spaced = op.strip(" \t") != op
    start, end = m.span("uv")
    before = text[name_start - 1] if name_start else "\n"
    if name_start >= 2 and text[name_start - 2] == "\\" and before in "nrt":
        before = "\n"
    if before in "?&;":  # URL query or connection string: the value ends at & or ;
        value = text[start:end].split("#")[0]
        return None if placeholder(value) else (start, start + len(value))
    end = _tail_end(text, end)  # a .env value may hold & and ;
    value = text[start:end]
    trailing_comma = value.endswith(",")
    value = value.rstrip(",;:")
    closer = bool(value) and value[-1] in ")]}" and "([{"[")]}".index(value[-1])] not in value
    if closer:
        value = value[:-1]
    if (
        placeholder(value)
        or value.lower() in _CODE_VALUES
        or any(c in value for c in "()[]")
        or (value.lstrip("+-").isdigit() and len(value) < 6)
    ):
        return None
    is_ident = _IDENT.fullmatch(value) is not None
    if is_ident and value.lower() == name.rsplit(".", 1)[-1].lower():
        return None  # password=password: a variable passed on
    code_like = is_ident and not has_digit(value)  # token = Name, password=passphrase
    span = (start, start + len(value))
    lead, rest = _line_around(text, name_start, end)
    quote = lead[-1:]
    own_line = _LINE_LEAD.fullmatch(lead) and (not rest.strip() or rest.lstrip()[0] in "#;")
    # A quoted line: echo "NAME = value" >> file, curl -H "Api-Key: value", -e 'TOKEN=value'
    # ... but not "passwd:dir", a name with a colon in it: a quoted "name: value" has a space
    quoted = (
        quote in ("'", '"') and rest.startswith(quote) and (op.strip() != ":" or op[-1] in " \t")
    )
    if own_line or quoted:
        if is_ident and (trailing_comma or closer):
            return None  # a keyword argument or a dict entry on its own line
        if spaced and (code_like or (is_ident and "." in value)):
            return None  # token = Name, api_key = settings.api_key
        return span
    if not spaced and op == "=" and before in " \t\n\"'`":
        if name == name.upper():  # DB_PASSWORD=... in a shell command or docker -e
            return span
        if trailing_comma or closer or code_like or (is_ident and "." in value):
            return None  # f(a, password=pw)
        return span  # host=db password=s3cret (libpq)
    if (
        before == "="
        and not spaced
        and _FLAG_BEFORE.search(text, max(0, name_start - 80), name_start - 1)
    ):
        return span  # kubectl --from-literal=password=value, --build-arg=TOKEN=value
    return None


def _is_flag(text: str, name_start: int) -> bool:
    """True if the name is a command-line flag: ``--password``, ``-token``."""
    i = name_start
    while i > max(0, name_start - 2) and text[i - 1] == "-":
        i -= 1
    return i < name_start and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] in "_-"))


def _flag_span(m: re.Match[str]) -> tuple[int, int] | None:
    start = m.start("uv")
    end = _tail_end(m.string, m.end("uv"))
    value = m.string[start:end]
    word = value.rstrip(".,;:!?)")
    if not m.group("op").strip() and word.isalpha() and word.islower():
        return None  # "the --token flag" in prose; a value has a digit, a capital or a symbol
    return None if placeholder(value) or value.startswith("-") else (start, end)


def _assignment_decide(m: re.Match[str]) -> Iterable[Span]:
    kw_start = m.start("kw")
    start = _name_start(m.string, kw_start)
    name = m.string[start : m.end("digits")]
    strength = _strength(name, kw_start - start, m.group("kw").lower())
    op = m.group("op").strip()
    flag = op in ("", "=") and _is_flag(m.string, start)  # not "--name": value (a dict entry)
    if strength is None or not (flag or op):
        return
    group = next((g for g in ("eq", "dq", "sq") if m.group(g) is not None), None)
    if group is not None:
        value = m.group(group)
        if len(value) < 3 or placeholder(value) or value.lower() in _CODE_VALUES:
            return
        span: tuple[int, int] | None = m.span(group)
    else:
        span = _flag_span(m) if flag else _unquoted_span(m, start, name)
    if span is None:
        return
    value = m.string[span[0] : span[1]]
    if not has_digit(value) and names_secret(value):
        return  # a name, not a value: "test-api-key", "API_TOKEN", new_token, my-password
    if strength == "weak" and not looks_random(value):
        return
    yield kind_for(name), span[0], span[1]


ASSIGNMENT_RULE = Rule(
    _ASSIGNMENT,
    ("pass", "pw", "psk", "secret", "token", "cred", "key", "auth"),
    _assignment_decide,
    lower=True,
)
