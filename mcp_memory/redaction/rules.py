"""The rules that find secrets by their form or their place, for :func:`mcp_memory.redaction.redact.redact`.

Token formats by prefix (the table), webhook URLs and the other fixed formats
(``FORMAT_RULES``); passwords in URLs, ``Authorization`` headers, ``curl -u``, ``.netrc``, XML
elements, cookies, connection strings and signed URLs (``GENERIC_RULES``). Private keys are in
:mod:`mcp_memory.redaction.keys`, command-line flags in :mod:`mcp_memory.redaction.commands`.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable

from mcp_memory.redaction.base import (
    NO_MARKER,
    Span,
    has_digit,
    kind_for,
    names_secret,
    placeholder,
    rule,
    whole,
    wordset,
)

__all__ = ["FORMAT_RULES", "GENERIC_RULES", "TOKEN_END", "TOKEN_START"]


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
docker_hub_token      dckr_      dckr_(?:pat|oat)_[\w-]{24,}
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
TOKEN_START = r"(?:(?<![A-Za-z0-9_\]])|(?<=\\[nrt]))"
TOKEN_END = r"(?![A-Za-z0-9_]|\[REDACTED:)"
_TOKEN = (
    TOKEN_START
    + "(?:"
    + "|".join(f"(?P<t{i}>{rx})" for i, (_, _, rx) in enumerate(_TOKENS))
    + ")"
    + TOKEN_END
)


def _token_decide(m: re.Match[str]) -> Iterable[Span]:
    if len(set(m.group())) > 6 and not placeholder(m.group()):  # not ghp_xxxxxxxx...
        yield _TOKENS[int(str(m.lastgroup)[1:])][0], m.start(), m.end()


def _discord_decide(m: re.Match[str]) -> Iterable[Span]:
    """The regex matches from the first dot; the 24-28 character user id part precedes it."""
    text, start = m.string, m.start()
    while start > max(0, m.start() - 28) and (text[start - 1].isalnum() or text[start - 1] in "_-"):
        start -= 1
    before = text[start - 1] if start else " "
    if m.start() - start >= 24 and text[start] in "MNO" and not (before.isalnum() or before == "]"):
        yield "discord_bot_token", start, m.end()


def _unprefixed_decide(m: re.Match[str]) -> Iterable[Span]:
    """Formats with no literal prefix, tried where a run of token characters starts: a Vault
    service token of the old form (``s.`` and 24 letters and digits of both cases) and a
    kubeadm bootstrap token (``abcdef.0123456789abcdef``; not ``vendor.<hex>``, a hashed file)."""
    value = m.group()
    if m.group("vault") and not (value.lower() != value != value.upper() and has_digit(value)):
        return
    if m.group("kubeadm") and (not has_digit(value) or re.fullmatch(r"[0-9a-f]{16}", value[7:])):
        return
    yield ("vault_token" if m.group("vault") else "kubeadm_token"), m.start(), m.end()


FORMAT_RULES = [
    rule(
        _token_decide, _TOKEN, " ".join(a for t in _TOKENS for a in t[1].split(",")), in_runs=True
    ),
    rule("slack_webhook", r"hooks\.slack\.com/\w+/(?P<secret>[\w/+-]{20,})", "hooks.slack.com/"),
    rule(
        "discord_webhook",
        r"discord(?:app)?\.com/api/webhooks/(?P<secret>\d{5,}/[\w-]{20,})",
        "discord",
    ),
    rule("npm_token", r":_(?:authToken|auth|password)=(?P<secret>(?![$\[])[^\s\"']+)", ":_"),
    # Search rules: the anchor sits inside the match, so the regex searches (if the text has it).
    rule(
        "azure_client_secret",
        r"(?<![\w~.\]-])[\w~.]{3}\dQ~[\w~.-]{31,34}(?![\w~.-]|\[REDACTED:)",
        "Q~",
        search=True,
    ),
    rule("telegram_bot_token", r"(?<![\d\]])\d{8,10}:AA[\w-]{33}" + TOKEN_END, ":AA", search=True),
    rule(
        "terraform_token",
        r"(?<![\w\]])[A-Za-z0-9]{14}\.atlasv1\.[\w=-]{60,}",
        ".atlasv1.",
        search=True,
    ),
    rule(
        _unprefixed_decide,
        r"(?<!\])(?:(?P<vault>s\.[A-Za-z0-9]{24})|(?P<kubeadm>[a-z0-9]{6}\.[a-z0-9]{16}))(?![\w.+/-]|\[REDACTED:)",
        "",
        at_runs=(26, 23),  # the token is the whole run
    ),
    rule(_discord_decide, r"\.[\w-]{6,7}\.[\w-]{27,40}(?![\w-]|\[REDACTED:)", ".", search=True),
]


# --- what a value looks like ---------------------------------------------------------------------


def _tokenish(value: str) -> bool:
    """Long enough, with a digit or a length that an ordinary word does not have."""
    return len(value) >= 8 and (has_digit(value) or len(value) >= 20)


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
_COOKIE_ATTRS = wordset("path domain expires max-age samesite priority")


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
    content = m.group("secret").strip()
    if not placeholder(content) and "[REDACTED:" not in content:
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
    rule(
        whole("url_password", lambda v: has_digit(v) or not names_secret(v)),
        r"://[^\s:@/?#\"'<>\[\]]{0,128}:(?P<secret>" + NO_MARKER + r"[^\s/?#\"'<>\\]{1,256})"
        r"@(?=[A-Za-z0-9\[])",
        "://",
    ),
    rule(
        _authorization_decide,
        r"(?i)\bauthorization(?:\\?[\"'])?\]?[ \t]*[:=][ \t]*(?P<q>\\?[\"'])?[ \t]*"
        rf"(?:(?P<scheme>{_SCHEMES})[ \t]+)?(?P<secret>{NO_MARKER}(?![$<{{%])"
        r"[^\s\"'\\]{1,4000})(?P<rest>[^\r\n\"'\\]{0,4000})",
        "authorization",
        lower=True,
    ),
    rule(
        whole("bearer_token", has_digit),
        r"(?i)\bbearer[ \t]+(?P<secret>[\w~+/-][\w.~+/-]{15,}=*)(?![\w.~+/=-]|\[REDACTED:)",
        "bearer",
        lower=True,
    ),
    rule(
        whole("basic_auth", _basic_credentials),
        r"(?i)\bbasic[ \t]+(?P<secret>[A-Za-z0-9+/]{6,}={0,2})(?![A-Za-z0-9+/=])",
        "basic",
        lower=True,
    ),
    rule(
        _curl_user_decide,
        r"(?<!\w)-u(?:ser)?[ \t]+[\"']?[^\s:\"'$\[\]]{1,128}:(?P<secret>(?![$\[])[^\s\"']{1,256})",
        "-u",
    ),
    rule(  # docker / podman / helm registry login -p VALUE (the short flag has no name to see)
        _registry_login_decide,
        r"(?i)(?<![\w-])login\b[^\n]{0,200}?[ \t]-p[ \t]+[\"']?(?P<secret>"
        + NO_MARKER
        + r"(?![$<{%])[^\s\"']{4,256})",
        "login",
        lower=True,
    ),
    rule(  # aws configure set aws_secret_access_key VALUE; npm config set //host/:_authToken VALUE
        "secret",
        r"(?i)\bconfig(?:ure)?[ \t]+set[ \t]+\S*(?:secret|token|password|passwd|auth|api[_-]?key)"
        r"\S*[ \t]+[\"']?(?P<secret>" + NO_MARKER + r"(?![$<{%])[^\s\"']{4,1000})",
        "config",
        lower=True,
    ),
    rule(  # custom auth headers: X-Api-Key: VALUE, X-Auth-Token: VALUE
        whole("api_key", has_digit),
        r"(?i)(?<![\w-])x-[\w-]{0,40}(?:key|token|secret|auth)[\w-]{0,20}(?:\\?[\"'])?[ \t]*[:=]"
        r"[ \t]*(?:\\?[\"'])?(?P<secret>" + NO_MARKER + r"[A-Za-z0-9._~+/=-]{12,4000})",
        "x-",
        lower=True,
    ),
    rule(  # .netrc: machine example.com login me password s3cret
        "password",
        r"(?i)(?<![\w-])login[ \t\r\n]+\S{1,256}[ \t\r\n]+password[ \t]+"
        r"(?P<secret>" + NO_MARKER + r"\S{1,1000})",
        "login",
        lower=True,
    ),
    rule(
        _xml_decide,
        r"(?i)<(?P<tag>[\w.:-]{0,40}?(?:password|passwd|secret|token|apikey|api_key|api-key|"
        r"accesskey|access_key|secretkey|secret_key|credentials?))>(?P<secret>[^<]{1,1000})"
        r"</(?P=tag)>",
        "</",
        search=True,
    ),
    rule(
        _cookie_decide,
        r"(?i)\bcookie(?:\\?[\"'])?[ \t]*:[ \t]*[\"']?(?P<secret>[^\r\n\"'\\]{1,4000})",
        "cookie",
        lower=True,
    ),
    rule(
        _conn_password_decide,
        r"(?i)(?<![^;\"'\s])(?:password|pwd)[ \t]*=[ \t]*(?P<secret>"
        + NO_MARKER
        + r"[^;\"'\r\n]{1,256}?)[ \t]*(?=(?P<term>;|[\"'\r\n]|\Z))",
        "password pw",
        lower=True,
    ),
    rule(
        "url_signature",
        r"(?i)(?<=[?&-])(?:sig|signature|security-token)=(?P<secret>"
        + NO_MARKER
        + r"[^&#\s\"'<>]{8,})",
        "sig security-token",
        lower=True,
    ),
]
