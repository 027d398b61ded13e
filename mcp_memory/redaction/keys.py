"""Private keys: PEM blocks, PEM blocks in base64 (kubeconfig, Kubernetes secrets) and key bodies
whose ``BEGIN`` line was cut off.

A PEM block is found by its ``BEGIN ... PRIVATE KEY`` line, whether its lines end in newlines or
in ``\\n`` escapes (a service-account JSON file), closed or not (a truncated file). A PEM block in
base64 starts with ``LS0tLS1CRUdJTi`` (``-----BEGIN``); it is a secret if its first line decodes
to a private key, and kept if it is a certificate. An error message or a tail of a log often
shows only the end of a key: a run of full-width base64 lines (64 characters for PEM, 70 for
OpenSSH) is a key body unless the lines before it, or the ``END`` line after it, say it is a
certificate or a public key.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable

from mcp_memory.redaction.base import Span, rule

__all__ = ["KEY_RULES"]


def _pem_decide(m: re.Match[str]) -> Iterable[Span]:
    body = m.group("body") if m.group("body") is not None else m.group("open")
    # key material, not just the marker line; a body holding a marker was redacted inside
    if re.search(r"[A-Za-z0-9+/]{16}", body) and "[REDACTED:" not in body:
        yield "private_key", m.start(), m.end()


_PEM = (
    r"-----BEGIN[ A-Z0-9]{0,40}PRIVATE KEY(?: BLOCK)?-----"
    r"(?:(?P<body>(?:[^-]|-(?!----BEGIN)){0,60000}?)"
    r"-----END[ A-Z0-9]{0,40}PRIVATE KEY(?: BLOCK)?-----"
    # unclosed (a truncated file): the base64 and header lines that follow
    r"|(?P<open>(?:(?:\r?\n|\\r?\\n)(?:[A-Za-z0-9+/=]{1,200}|[A-Za-z-]{1,40}: ?[^\r\n\\]{0,200})?)"
    r"{1,3000}))"
)


def _encoded_pem_decide(m: re.Match[str]) -> Iterable[Span]:
    head = m.group()[:80]
    try:
        decoded = base64.b64decode(head[: len(head) // 4 * 4]).split(b"\n", 1)[0]
    except (binascii.Error, ValueError):
        return
    if b"PRIVATE KEY" in decoded:
        yield "private_key", m.start(), m.end()


# One line of a key body: exactly 64 (PEM) or 70 (OpenSSH) base64 characters. Lines end in a
# newline or a \n escape, and may be indented (YAML).
_NL = r"(?:\r?\n|\\r?\\n)[ \t]*"
_BODY = (
    r"(?<!\])(?:(?<=\\)n)?(?P<body>"  # a run after a \n escape starts with its n
    rf"[A-Za-z0-9+/]{{64}}(?:{_NL}[A-Za-z0-9+/]{{64}}){{1,3000}}(?:{_NL}[A-Za-z0-9+/]{{1,63}}=*)?"
    rf"|[A-Za-z0-9+/]{{70}}(?:{_NL}[A-Za-z0-9+/]{{70}}){{1,3000}}(?:{_NL}[A-Za-z0-9+/]{{1,69}}=*)?"
    r")(?![A-Za-z0-9+/]|\[REDACTED:)"  # a marker next to it counts as part of it
)
_LINES = re.compile(r"\r?\n|\\r?\\n")
_ARMOR = re.compile(r"-----(BEGIN|END) ([A-Z0-9 ]{1,40})-----")
_PEM_HEADER = re.compile(r"[A-Za-z-]{1,40}: ")
_BODY_LINE = re.compile(r"[ \t]*[A-Za-z0-9+/]{64}|[ \t]*[A-Za-z0-9+/]{70}")


def _armor_before(text: str, start: int) -> re.Match[str] | None:
    """The armor line above a body, past PEM headers (``Proc-Type: ...``), blank lines and
    lines of the same body."""
    lines = _LINES.split(text[max(0, start - 800) : start])[:-1]  # a few PEM header lines
    for line in reversed(lines):
        if not line.strip() or _PEM_HEADER.match(line) or _BODY_LINE.fullmatch(line):
            continue
        return _ARMOR.search(line)
    return None


def _body_decide(m: re.Match[str]) -> Iterable[Span]:
    """Lines of base64 with no key header above them: a key body unless the armor around them
    names a certificate or a public key. Fails closed: with no armor at all, it is a key."""
    body = m.group("body")
    if not (re.search(r"[a-z]", body) and re.search(r"[A-Z]", body) and re.search(r"\d", body)):
        return
    armor = _armor_before(m.string, m.start("body"))
    if armor is None or armor.group(1) == "END":
        after = _ARMOR.search(m.string, m.end(), m.end() + 80)
        armor = after if after is not None and after.group(1) == "END" else None
    if armor is None or "PRIVATE" in armor.group(2):
        yield "private_key", m.start("body"), m.end("body")


KEY_RULES = [
    rule(_pem_decide, _PEM, "-----BEGIN"),
    rule(
        _encoded_pem_decide,
        r"LS0tLS1CRUdJTi[A-Za-z0-9+/]{40,}={0,2}",
        "LS0tLS1CRUdJTi",
        in_runs=True,
    ),
    rule(_body_decide, _BODY, "", at_runs=(64, 65, 70, 71)),  # 65, 71: after a \n escape
]
