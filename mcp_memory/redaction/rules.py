"""The rules that find secrets by their form or their place, for :func:`mcp_memory.redaction.redact.redact`.

A :class:`Rule` is a regex, the anchors where its matches start, and a decide function that says
which part of a match is a secret of which kind. Here: token formats by prefix (the table),
private keys, webhook URLs and the other fixed formats (``FORMAT_RULES``); passwords in URLs,
``Authorization`` headers, ``curl -u``, ``.netrc``, XML elements, cookies, connection strings and
signed URLs (``GENERIC_RULES``); and the checks on what a value or a name looks like that these
rules and the ``NAME=value`` rule (:mod:`mcp_memory.redaction.assignments`) share.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property

__all__ = [
    "FORMAT_RULES",
    "GENERIC_RULES",
    "WORDS",
    "Decide",
    "Rule",
    "Span",
    "has_digit",
    "kind_for",
    "looks_random",
    "names_secret",
    "placeholder",
    "wordset",
]


# --- the rule type -----------------------------------------------------------------------------

Span = tuple[str, int, int]  # kind, start and end of the text to replace
Decide = Callable[[re.Match[str]], Iterable[Span]]


@dataclass(frozen=True)
class Rule:
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


def _rule(how: str | Decide, pattern: str, anchors: str, **options: bool) -> Rule:
    """A rule replacing matches with ``how`` (a kind, or a decide function); ``anchors`` are
    separated by spaces."""
    decide = _whole(how) if isinstance(how, str) else how
    return Rule(pattern, tuple(anchors.split()), decide, **options)


# --- fixed formats -----------------------------------------------------------------------------

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
FORMAT_RULES = [
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


def wordset(words: str) -> frozenset[str]:
    return frozenset(words.split())


WORDS = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z0-9]+(?![a-z])")  # snake, kebab and camel parts
_SECRET_WORDS = wordset(
    "password passwd passphrase pass pwd secret secrets token tok key cred creds credential "
    "credentials auth api apikey apitoken accesstoken authtoken secretkey"
)
_PLACEHOLDER_START = ("$", "{", "<", "%", "[", "(", "*", "&", "!", "|", ">", "@", "#", "\\")


def has_digit(value: str) -> bool:
    return any(c.isdigit() for c in value)


def names_secret(value: str) -> bool:
    """True for a name that mentions a secret (``new_token``, ``test-api-key``)."""
    return any(w.lower() in _SECRET_WORDS for w in WORDS.findall(value))


def placeholder(value: str) -> bool:
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
    return len(value) >= 8 and (has_digit(value) or len(value) >= 20)


def looks_random(value: str) -> bool:
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


# --- the kind a name gives a secret ---------------------------------------------------------------

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


def kind_for(name: str) -> str:
    """The kind of a secret found by its name: DB_PASSWORD -> password, API_KEY -> api_key."""
    name = name.lower().rstrip("0123456789")
    squashed = name.replace("_", "").replace("-", "").rsplit(".", 1)[-1]
    if squashed in _NAMED_KINDS:
        return _NAMED_KINDS[squashed]
    if "secret" in name:
        return "secret"
    return next((kind for end, kind in _KIND_BY_ENDING if name.endswith(end)), "api_key")


# --- headers, URLs, command lines ----------------------------------------------------------------

_SCHEMES = (
    "bearer|token|basic|digest|apikey|api-key|key|sso-key|aws4-hmac-sha256|hmac-sha256|jwt|dpop|"
    "negotiate|ntlm"
)
_SCHEME_WORDS = frozenset(_SCHEMES.split("|"))
_MULTI_PART = frozenset({"digest", "aws4-hmac-sha256", "hmac-sha256", "negotiate", "ntlm"})
_TOKEN68 = re.compile(r"[A-Za-z0-9._~+/-]+=*")
_COOKIE_PAIR = re.compile(r"(?:^|;)[ \t]*([^=;\s]+)=([^;]*)")
_COOKIE_ATTRS = wordset("path domain expires max-age samesite priority")
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


_REGISTRY_CLIS = re.compile(
    r"(?i)(?<![\w-])(?:docker|podman|nerdctl|buildah|skopeo|helm|oras|crane|regctl|oc|cf|argocd)"
    r"(?:[ \t]+registry)?[ \t]+$"
)


def _registry_login_decide(m: re.Match[str]) -> Iterable[Span]:
    line_start = m.string.rfind("\n", 0, m.start()) + 1
    if _REGISTRY_CLIS.search(m.string[line_start : m.start()]):  # ssh -p is a port
        yield "password", m.start("secret"), m.end("secret")


def _xml_decide(m: re.Match[str]) -> Iterable[Span]:
    if not placeholder(m.group("secret").strip()):
        yield kind_for(m.group("tag")), m.start("secret"), m.end("secret")


def _cookie_decide(m: re.Match[str]) -> Iterable[Span]:
    base = m.start("secret")
    for pair in _COOKIE_PAIR.finditer(m.group("secret")):
        value = pair.group(2).rstrip()
        name = pair.group(1).lower()
        if name not in _COOKIE_ATTRS and len(value) >= 8 and not placeholder(value):
            yield "cookie", base + pair.start(2), base + pair.start(2) + len(value)


def _conn_password_decide(m: re.Match[str]) -> Iterable[Span]:
    before = m.string[m.start() - 1] if m.start() else ""
    if before == ";" or m.group("term") == ";":  # Server=...;Password=...; (ADO.NET, ODBC)
        yield "password", m.start("secret"), m.end("secret")


GENERIC_RULES = [
    _rule(
        _whole("url_password", lambda v: has_digit(v) or not names_secret(v)),
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
        _whole("bearer_token", has_digit),
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
    _rule(  # docker / podman / helm registry login -p VALUE (the short flag has no name to see)
        _registry_login_decide,
        r"(?i)(?<![\w-])login\b[^\n]{0,200}?[ \t]-p[ \t]+[\"']?(?P<secret>"
        + _NO_MARKER
        + r"(?![$<{%])[^\s\"']{4,256})",
        "login",
        lower=True,
    ),
    _rule(  # mysql -pVALUE: the password glued to the flag
        "password",
        r"(?i)(?<![\w-])(?:mysql|mysqldump|mysqladmin|mariadb)\b[^\n]{0,200}?[ \t]-p(?P<secret>"
        + _NO_MARKER
        + r"(?![$<{%])[^\s\"']{3,256})",
        "mysql mariadb",
        lower=True,
    ),
    _rule(  # aws configure set aws_secret_access_key VALUE; npm config set //host/:_authToken VALUE
        "secret",
        r"(?i)\bconfig(?:ure)?[ \t]+set[ \t]+\S*(?:secret|token|password|passwd|auth|api[_-]?key)"
        r"\S*[ \t]+[\"']?(?P<secret>" + _NO_MARKER + r"(?![$<{%])[^\s\"']{4,1000})",
        "config",
        lower=True,
    ),
    _rule(  # custom auth headers: X-Api-Key: VALUE, X-Auth-Token: VALUE
        _whole("api_key", has_digit),
        r"(?i)(?<![\w-])x-[\w-]{0,40}(?:key|token|secret|auth)[\w-]{0,20}(?:\\?[\"'])?[ \t]*[:=]"
        r"[ \t]*(?:\\?[\"'])?(?P<secret>" + _NO_MARKER + r"[A-Za-z0-9._~+/=-]{12,4000})",
        "x-",
        lower=True,
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
