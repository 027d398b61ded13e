"""Redaction: secrets and ``<private>`` blocks are removed before anything is stored or sent.

Hooks call :func:`redact` on every tool result, so ordinary text must cost little. Each rule
names anchors, literal strings where its matches start (``"ghp_"``, ``"://"``, ``"password"``);
they are found by a literal search and the rule's regex is only tried there. Token formats
are first looked for among the few runs of 20+ token characters (see ``_Views.runs``). No regex
nests quantifiers and every repeat is bounded or stops at a character its successor cannot match,
so the work stays linear in the input.

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
"""

from __future__ import annotations

import base64
import binascii
import re
import string
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property

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

Span = tuple[str, int, int]  # kind, start and end of the text to replace
Decide = Callable[[re.Match[str]], Iterable[Span]]


@dataclass(frozen=True)
class _Rule:
    source: str  # the regex, compiled on first use: a hook is a fresh process
    anchors: tuple[str, ...]  # where matches start; with search=True, what the text must hold
    decide: Decide
    lower: bool = False  # anchors are lowercase and looked up in text.lower()
    search: bool = False
    in_runs: bool = False  # every match lies in a run of 20+ token characters

    @cached_property
    def pattern(self) -> re.Pattern[str]:
        return re.compile(self.source, re.ASCII)


def _whole(kind: str, check: Callable[[str], bool] | None = None) -> Decide:
    """Replace group ``secret`` (else the whole match) with ``kind`` if ``check`` accepts it."""

    def decide(m: re.Match[str]) -> Iterable[Span]:
        group = "secret" if "secret" in m.re.groupindex else 0
        if check is None or check(m.group(group)):
            yield kind, m.start(group), m.end(group)

    return decide


def _rule(how: str | Decide, pattern: str, anchors: str, **options: bool) -> _Rule:
    """A rule replacing matches with ``how`` (a kind, or a decide function); ``anchors`` are
    separated by spaces."""
    decide = _whole(how) if isinstance(how, str) else how
    return _Rule(pattern, tuple(anchors.split()), decide, **options)


# Token formats: kind, anchors (where a match starts), regex. Tried in this order at an anchor.
# Each distinct anchor costs a search, so they are few and short; the regexes reject false
# starts ("gh" in "high") at once.
_TOKEN_TABLE = r"""
anthropic_api_key     sk         sk-ant-[a-z]{2,10}\d{2}-[\w-]{20,}
openai_api_key        sk         sk-(?:proj|svcacct|admin|None)-[\w-]{20,}
openai_api_key        sk         sk-[A-Za-z0-9]{32,}
mapbox_token          sk         sk\.eyJ[\w-]{10,}\.[\w-]{10,}
stripe_key            sk,rk_     [sr]k_(?:live|test)_[A-Za-z0-9]{16,}
aws_access_key_id     AKIA,ASIA  A(?:KIA|SIA)[A-Z0-9]{16}
github_token          gh         gh[pousr]_[A-Za-z0-9]{36,}
github_token          github_pat_  github_pat_\w{40,}
gitlab_token          gl         gl(?:pat|dt|rt|ptt|soat|ft|imt|cbt|agent|oas)-[\w-]{20,}
grafana_token         gl         glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}|glc_[A-Za-z0-9+/]{32,}={0,2}
google_api_key        AIza       AIza[\w-]{35}
google_oauth_secret   GOCSPX-    GOCSPX-[\w-]{28}
google_oauth_token    ya29.,1//0  ya29\.[\w-]{20,}|1//0[\w-]{40,}
slack_token           xox,xapp-  (?:xox[abposre]|xapp|xoxe\.xox[bp])-[A-Za-z0-9-]{20,}
stripe_webhook_secret whsec_     whsec_[A-Za-z0-9+/=]{24,}
twilio_api_key        SK         SK[0-9a-fA-F]{32}
sendgrid_api_key      SG.        SG\.[\w-]{20,24}\.[\w-]{40,46}
npm_token             npm_       npm_[A-Za-z0-9]{36}
pypi_token            pypi-      pypi-AgE[\w-]{50,}
huggingface_token     hf_        hf_[A-Za-z0-9]{34,}
jwt                   eyJ        eyJ[\w-]{10,}\.eyJ[\w-]{10,}\.[\w-]*
digitalocean_token    dop_v1_,doo_v1_,dor_v1_  do[opr]_v1_[a-f0-9]{64}
shopify_token         shp        shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}
mailgun_api_key       key-       key-[a-f0-9]{32}
age_secret_key        AGE-       AGE-SECRET-KEY-1[0-9A-Z]{58}
vault_token           hv         hv[sbr]\.[\w-]{24,}
databricks_token      dapi       dapi[a-f0-9]{32}(?:-\d)?
atlassian_token       ATATT3     ATATT3[\w=-]{100,}
postman_api_key       PMAK-      PMAK-[a-f0-9]{24}-[a-f0-9]{34}
doppler_token         dp.        dp\.(?:pt|st|sa|ct|scim|audit)\.[A-Za-z0-9]{40,}
api_key               gsk_       gsk_[A-Za-z0-9]{48,}
api_key               r8_        r8_[A-Za-z0-9]{37}
api_key               pplx-      pplx-[A-Za-z0-9]{48,}
api_key               xai-       xai-[A-Za-z0-9]{60,}
api_key               lsv2_      lsv2_(?:pt|sk)_[a-f0-9]{32}_[a-f0-9]{10}
api_key               sntry      sntry[su]_[\w+/=]{40,}
api_key               ntn_       ntn_[A-Za-z0-9]{40,}
api_key               lin_api_   lin_api_[A-Za-z0-9]{40}
api_key               sbp_       sbp_[a-f0-9]{40}
api_key               pcsk_      pcsk_\w{40,}
api_key               tvly-      tvly-[A-Za-z0-9-]{30,}
"""
_TOKENS = [line.split() for line in _TOKEN_TABLE.strip().splitlines()]
# A token starts and ends where its alphabet does (also right after a \n escape). A marker next
# to it counts as part of a word: so a redacted neighbour cannot turn a refused match into one
# that a second pass would accept.
_B = r"(?:(?<![A-Za-z0-9_\]])|(?<=\\[nrt]))"
_E = r"(?![A-Za-z0-9_]|\[REDACTED:)"
_TOKEN = _B + "(?:" + "|".join(f"(?P<t{i}>{rx})" for i, (_, _, rx) in enumerate(_TOKENS)) + ")" + _E


def _token_decide(m: re.Match[str]) -> Iterable[Span]:
    if len(set(m.group())) > 6:  # not a placeholder such as ghp_xxxxxxxx...
        yield _TOKENS[int(str(m.lastgroup)[1:])][0], m.start(), m.end()


def _pem_decide(m: re.Match[str]) -> Iterable[Span]:
    body = m.group("body") if m.group("body") is not None else m.group("open")
    if re.search(r"[A-Za-z0-9+/]{16}", body):  # key material, not just the marker line
        yield "private_key", m.start(), m.end()


def _discord_decide(m: re.Match[str]) -> Iterable[Span]:
    """The regex matches from the first dot; the 24-28 character user id part precedes it."""
    text, start = m.string, m.start()
    while start > max(0, m.start() - 28) and (text[start - 1].isalnum() or text[start - 1] in "_-"):
        start -= 1
    before = text[start - 1] if start else " "
    if m.start() - start >= 24 and text[start] in "MNO" and not (before.isalnum() or before == "]"):
        yield "discord_bot_token", start, m.end()


_PEM = (
    r"-----BEGIN[ A-Z0-9]{0,40}PRIVATE KEY(?: BLOCK)?-----"
    r"(?:(?P<body>(?:[^-]|-(?!----BEGIN)){0,60000}?)"
    r"-----END[ A-Z0-9]{0,40}PRIVATE KEY(?: BLOCK)?-----"
    # unclosed (a truncated file): the base64 and header lines that follow
    r"|(?P<open>(?:(?:\r?\n|\\r?\\n)(?:[A-Za-z0-9+/=]{1,200}|[A-Za-z-]{1,40}: ?[^\r\n\\]{0,200})?)"
    r"{1,3000}))"
)
_FORMATS = [
    _rule(_pem_decide, _PEM, "-----BEGIN"),
    _rule(
        _token_decide, _TOKEN, " ".join(a for t in _TOKENS for a in t[1].split(",")), in_runs=True
    ),
    _rule("slack_webhook", r"hooks\.slack\.com/\w+/(?P<secret>[\w/+-]{20,})", "hooks.slack.com/"),
    _rule(
        "discord_webhook",
        r"discord(?:app)?\.com/api/webhooks/(?P<secret>\d{5,}/[\w-]{20,})",
        "discord",
    ),
    _rule("npm_token", r":_(?:authToken|auth|password)=(?P<secret>(?![$\[])[^\s\"']+)", ":_"),
    # Search rules: the anchor sits inside the match, so the regex searches (if the text has it).
    _rule(
        "azure_client_secret",
        r"(?<![\w~.\]-])[\w~.]{3}\dQ~[\w~.-]{31,34}(?![\w~.-]|\[REDACTED:)",
        "Q~",
        search=True,
    ),
    _rule("telegram_bot_token", r"(?<![\d\]])\d{8,10}:AA[\w-]{33}" + _E, ":AA", search=True),
    _rule(
        "terraform_token",
        r"(?<![\w\]])[A-Za-z0-9]{14}\.atlasv1\.[\w=-]{60,}",
        ".atlasv1.",
        search=True,
    ),
    _rule(_discord_decide, r"\.[\w-]{6,7}\.[\w-]{27,40}(?![\w-]|\[REDACTED:)", ".", search=True),
]


# --- what a value looks like ---------------------------------------------------------------------


def _wordset(words: str) -> frozenset[str]:
    return frozenset(words.split())


_WORDS = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z0-9]+(?![a-z])")  # snake, kebab and camel parts
_SECRET_WORDS = _wordset(
    "password passwd passphrase pass pwd secret secrets token tok key cred creds credential "
    "credentials auth api apikey apitoken accesstoken authtoken secretkey"
)
_PLACEHOLDER_START = ("$", "{", "<", "%", "[", "(", "*", "&", "!", "|", ">", "@", "#", "\\")


def _has_digit(value: str) -> bool:
    return any(c.isdigit() for c in value)


def _names_secret(value: str) -> bool:
    """True for a name that mentions a secret (``new_token``, ``test-api-key``)."""
    return any(w.lower() in _SECRET_WORDS for w in _WORDS.findall(value))


def _placeholder(value: str) -> bool:
    """A reference or template, not a literal: ``$X``, ``${X}``, ``{{ x }}``, ``<x>``, ``x...``."""
    return (
        not value
        or value.startswith(_PLACEHOLDER_START)
        or value.endswith(("...", "\u2026"))
        or "***" in value
        or not any(c.isalnum() for c in value)
    )


def _tokenish(value: str) -> bool:
    """Long enough, with a digit or a length that an ordinary word does not have."""
    return len(value) >= 8 and (_has_digit(value) or len(value) >= 20)


def _looks_random(value: str) -> bool:
    """A credential-shaped word: 16+ characters, no spaces, letters with two digits (hex) or
    with a digit and both cases."""
    digits = sum(c.isdigit() for c in value)
    mixed = any(c.isupper() for c in value) and any(c.islower() for c in value)
    return (
        len(value) >= 16
        and not any(c.isspace() for c in value)
        and any(c.isalpha() for c in value)
        and (digits >= 2 or (digits == 1 and mixed))
    )


def _basic_credentials(value: str) -> bool:
    """True if ``value`` is base64 of ``user:password``, as in an HTTP Basic header."""
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):  # UnicodeDecodeError is a ValueError
        return False
    return ":" in decoded and decoded.isprintable()


# --- headers, URLs, command lines ----------------------------------------------------------------

_SCHEMES = (
    "bearer|token|basic|digest|apikey|api-key|key|sso-key|aws4-hmac-sha256|hmac-sha256|jwt|dpop|"
    "negotiate|ntlm"
)
_SCHEME_WORDS = frozenset(_SCHEMES.split("|"))
_MULTI_PART = frozenset({"digest", "aws4-hmac-sha256", "hmac-sha256", "negotiate", "ntlm"})
_TOKEN68 = re.compile(r"[A-Za-z0-9._~+/-]+=*")
_COOKIE_PAIR = re.compile(r"(?:^|;)[ \t]*([^=;\s]+)=([^;]*)")
_COOKIE_ATTRS = _wordset("path domain expires max-age samesite priority")
_NO_MARKER = r"(?!\[REDACTED:)"


def _authorization_decide(m: re.Match[str]) -> Iterable[Span]:
    scheme = (m.group("scheme") or "").lower()
    secret, start = m.group("secret"), m.start("secret")
    if secret.lower() in _SCHEME_WORDS:
        return
    if scheme in _MULTI_PART:  # Credential=..., Signature=...: the rest of the header goes
        yield "authorization", start, start + len((secret + m.group("rest")).rstrip())
    elif scheme == "basic":
        if _basic_credentials(secret):
            yield "basic_auth", start, m.end("secret")
    elif scheme or m.group("q"):  # a bare value only when quoted: "Authorization": "abc"
        token = _TOKEN68.match(secret)
        if token and _tokenish(token.group()):
            yield ("bearer_token" if scheme else "authorization"), start, start + token.end()


def _curl_user_decide(m: re.Match[str]) -> Iterable[Span]:
    line_start = m.string.rfind("\n", 0, m.start()) + 1
    if "curl" in m.string[line_start : m.start()].lower():  # docker -u is uid:gid
        yield "basic_auth", m.start("secret"), m.end("secret")


def _xml_decide(m: re.Match[str]) -> Iterable[Span]:
    if not _placeholder(m.group("secret").strip()):
        yield _kind_for(m.group("tag")), m.start("secret"), m.end("secret")


def _cookie_decide(m: re.Match[str]) -> Iterable[Span]:
    base = m.start("secret")
    for pair in _COOKIE_PAIR.finditer(m.group("secret")):
        value = pair.group(2).rstrip()
        name = pair.group(1).lower()
        if name not in _COOKIE_ATTRS and len(value) >= 8 and not _placeholder(value):
            yield "cookie", base + pair.start(2), base + pair.start(2) + len(value)


def _conn_password_decide(m: re.Match[str]) -> Iterable[Span]:
    before = m.string[m.start() - 1] if m.start() else ""
    if before == ";" or m.group("term") == ";":  # Server=...;Password=...; (ADO.NET, ODBC)
        yield "password", m.start("secret"), m.end("secret")


_GENERIC = [
    _rule(
        _whole("url_password", lambda v: _has_digit(v) or not _names_secret(v)),
        r"://[^\s:@/?#\"'<>\[\]]{0,128}:(?P<secret>" + _NO_MARKER + r"[^\s/?#\"'<>\\]{1,256})"
        r"@(?=[A-Za-z0-9\[])",
        "://",
    ),
    _rule(
        _authorization_decide,
        r"(?i)\bauthorization(?:\\?[\"'])?\]?[ \t]*[:=][ \t]*(?P<q>\\?[\"'])?[ \t]*"
        rf"(?:(?P<scheme>{_SCHEMES})[ \t]+)?(?P<secret>{_NO_MARKER}(?![$<{{%])"
        r"[^\s\"'\\]{1,4000})(?P<rest>[^\r\n\"'\\]{0,4000})",
        "authorization",
        lower=True,
    ),
    _rule(
        _whole("bearer_token", _has_digit),
        r"(?i)\bbearer[ \t]+(?P<secret>[\w~+/-][\w.~+/-]{15,}=*)(?![\w.~+/=-])",
        "bearer",
        lower=True,
    ),
    _rule(
        _whole("basic_auth", _basic_credentials),
        r"(?i)\bbasic[ \t]+(?P<secret>[A-Za-z0-9+/]{6,}={0,2})(?![A-Za-z0-9+/=])",
        "basic",
        lower=True,
    ),
    _rule(
        _curl_user_decide,
        r"(?<!\w)-u(?:ser)?[ \t]+[\"']?[^\s:\"'$\[\]]{1,128}:(?P<secret>(?![$\[])[^\s\"']{1,256})",
        "-u",
    ),
    _rule(  # .netrc: machine example.com login me password s3cret
        "password",
        r"(?i)(?<![\w-])login[ \t\r\n]+\S{1,256}[ \t\r\n]+password[ \t]+"
        r"(?P<secret>" + _NO_MARKER + r"\S{1,1000})",
        "login",
        lower=True,
    ),
    _rule(
        _xml_decide,
        r"(?i)<(?P<tag>[\w.:-]{0,40}?(?:password|passwd|secret|token|apikey|api_key|api-key|"
        r"accesskey|access_key|secretkey|secret_key|credentials?))>(?P<secret>[^<]{1,1000})"
        r"</(?P=tag)>",
        "</",
        search=True,
    ),
    _rule(
        _cookie_decide,
        r"(?i)\bcookie(?:\\?[\"'])?[ \t]*:[ \t]*[\"']?(?P<secret>[^\r\n\"'\\]{1,4000})",
        "cookie",
        lower=True,
    ),
    _rule(
        _conn_password_decide,
        r"(?i)(?<![^;\"'\s])(?:password|pwd)[ \t]*=[ \t]*(?P<secret>"
        + _NO_MARKER
        + r"[^;\"'\r\n]{1,256}?)[ \t]*(?=(?P<term>;|[\"'\r\n]|\Z))",
        "password pwd",
        lower=True,
    ),
    _rule(
        "url_signature",
        r"(?i)(?<=[?&-])(?:sig|signature|security-token)=(?P<secret>"
        + _NO_MARKER
        + r"[^&#\s\"'<>]{8,})",
        "sig security-token",
        lower=True,
    ),
]


# --- assignments: NAME=value, "name": "value", name: value, --name value ------------------------

_ASSIGNMENT = (
    r"(?i)(?P<kw>password|passwd|passphrase|pass|pwd|secret|token|credentials?|key|auth)"
    r"(?P<digits>\d{0,3})(?:\\?[\"']\]?)?"
    r"(?P<op>[ \t]*(?::[ \t]*[A-Za-z_][\w\[\].,| ]{0,40}?[ \t]*(?==))?(?:=>|=|:=|:)[ \t]*"
    r"|[ \t]+)"  # whitespace: only after a command-line flag, --password s3cret
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
_EOL = re.compile(r"\r?\n|\\[nr]")
# A *_KEY name is a secret when the word before KEY says so; otherwise only a random value is.
_KEY_PREFIXES = _wordset(
    "api secret access private master encryption enc signing sign auth app client account "
    "service license consumer session jwt hmac crypt crypto aes ssh gpg pgp deploy admin write "
    "storage shared subscription webhook sas ingest"
)
# Words in a name that make it name something public: eos_token, sort_key, publicKeyToken...
_NOT_SECRET = _wordset(
    "public pub publishable primary foreign sort partition cache lookup dict row map index "
    "idempotency hot shortcut next page continuation start end stop special first last prev "
    "previous eos bos pad unk sep cls mask max min num n cancellation cancel sync"
)
_CODE_VALUES = _wordset(
    "none null nil true false yes no on off undefined required optional str string int "
    "integer bytes bool boolean number any unknown object float secretstr secretbytes self "
    "this value placeholder dummy example fake redacted hidden include omit same-origin"
)
_KIND_BY_ENDING = (
    ("password", "password"),
    ("passwd", "password"),
    ("passphrase", "password"),
    ("pass", "password"),
    ("pwd", "password"),
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


def _kind_for(name: str) -> str:
    """The kind of a secret found by its name: DB_PASSWORD -> password, API_KEY -> api_key."""
    name = name.lower().rstrip("0123456789")
    squashed = name.replace("_", "").replace("-", "").rsplit(".", 1)[-1]
    if squashed in _NAMED_KINDS:
        return _NAMED_KINDS[squashed]
    if "secret" in name:
        return "secret"
    return next((kind for end, kind in _KIND_BY_ENDING if name.endswith(end)), "api_key")


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
    words = [w.lower() for w in _WORDS.findall(prefix)]
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
        return None if _placeholder(value) else (start, start + len(value))
    end = _tail_end(text, end)  # a .env value may hold & and ;
    value = text[start:end]
    trailing_comma = value.endswith(",")
    value = value.rstrip(",;:")
    closer = bool(value) and value[-1] in ")]}" and "([{"[")]}".index(value[-1])] not in value
    if closer:
        value = value[:-1]
    if (
        _placeholder(value)
        or value.lower() in _CODE_VALUES
        or any(c in value for c in "()[]")
        or (value.lstrip("+-").isdigit() and len(value) < 6)
    ):
        return None
    is_ident = _IDENT.fullmatch(value) is not None
    if is_ident and value.lower() == name.rsplit(".", 1)[-1].lower():
        return None  # password=password: a variable passed on
    code_like = is_ident and not _has_digit(value)  # token = Name, password=passphrase
    span = (start, start + len(value))
    lead, rest = _line_around(text, name_start, end)
    if _LINE_LEAD.fullmatch(lead) and (not rest.strip() or rest.lstrip()[0] in "#;"):
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
    return None if _placeholder(value) or value.startswith("-") else (start, end)


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
        if len(value) < 3 or _placeholder(value) or value.lower() in _CODE_VALUES:
            return
        span: tuple[int, int] | None = m.span(group)
    else:
        span = _flag_span(m) if flag else _unquoted_span(m, start, name)
    if span is None:
        return
    value = m.string[span[0] : span[1]]
    if not _has_digit(value) and _names_secret(value):
        return  # a name, not a value: "test-api-key", "API_TOKEN", new_token, my-password
    if strength == "weak" and not _looks_random(value):
        return
    yield _kind_for(name), span[0], span[1]


_RULES = [
    *_FORMATS,
    *_GENERIC,
    _Rule(
        _ASSIGNMENT,
        ("pass", "pwd", "secret", "token", "cred", "key", "auth"),
        _assignment_decide,
        lower=True,
    ),
]


# --- the engine --------------------------------------------------------------------------------

_LITERALS: dict[str, re.Pattern[str]] = {}
_RUN_TABLE = bytes(
    ord("a") if chr(i) in string.ascii_letters + string.digits + "_-.+/" else ord(" ")
    for i in range(256)
)
_RUN = b"a" * 20  # no token format is shorter


def _literal(needle: str) -> re.Pattern[str]:
    """A compiled literal: it searches about twice as fast as ``str.find`` for short needles."""
    literal = _LITERALS.get(needle)
    if literal is None:
        literal = _LITERALS[needle] = re.compile(re.escape(needle))
    return literal


def _find_all(haystack: str, needle: str) -> Iterator[int]:
    literal, i = _literal(needle), 0
    while m := literal.search(haystack, i):
        yield m.start()
        i = m.start() + 1


class _Views:
    """The text being redacted and views of it, each computed once per version of the text."""

    def __init__(self, text: str) -> None:
        self.set(text)

    def set(self, text: str) -> None:
        self.text = text
        self._lower: str | None = None
        self._runs: str | None = None

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
            runs = []
            i = marks.find(_RUN)
            while i != -1:
                j = marks.find(b" ", i)
                j = len(marks) if j == -1 else j
                runs.append(self.text[i:j])
                i = marks.find(_RUN, j)
            self._runs = " ".join(runs)
        return self._runs


def _matches(rule: _Rule, views: _Views) -> Iterator[re.Match[str]]:
    text = views.text
    haystack = views.lower if rule.lower else text
    anchors = rule.anchors
    if rule.in_runs:
        anchors = tuple(a for a in anchors if a in views.runs)
    if rule.search or len(haystack) != len(text):  # lower() changed the length: search
        if any(_literal(a).search(haystack) for a in anchors):
            yield from rule.pattern.finditer(text)
        return
    end = 0
    for i in sorted({i for a in anchors for i in _find_all(haystack, a)}):
        if i >= end and (m := rule.pattern.match(text, i)):
            yield m
            end = max(m.end(), i + 1)


def _in_marker(text: str, i: int) -> bool:
    """True if position ``i`` lies in a ``[REDACTED:...]`` marker: markers are never cut."""
    start = text.rfind(_MARKER_PREFIX, max(0, i - 60), i + 1)
    return start != -1 and text.find("]", start, start + 60) >= i


def _apply(rule: _Rule, views: _Views, kinds: set[str]) -> int:
    """Redact what ``rule`` finds in ``views.text``; return how many secrets it replaced."""
    text = views.text
    pieces: list[str] = []
    pos = count = 0
    for m in _matches(rule, views):
        for kind, start, end in rule.decide(m):
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
