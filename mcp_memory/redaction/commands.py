"""Secrets on command lines and in what commands print.

Many tools take a password as a short flag whose name says nothing (``sshpass -p``,
``ldapsearch -w``, ``redis-cli -a``, ``ssh-keygen -N``), glued to it (``mysql -pVALUE``), inside
a value (``openssl -passin pass:VALUE``, ``smbclient -U user%VALUE``) or as a positional argument
(``htpasswd -b file user VALUE``). What flag holds the password depends on the tool, so the
rule is a table by tool: it finds the tool's name, splits the rest of the command into words
(shell quoting, and Python's ``['mysql', '-pVALUE']`` in a traceback) and looks up the flags.
A long flag that names a secret (``--password VALUE``) is left to the ``NAME=value`` rule.

Some commands print a secret as their whole output (``heroku auth:token``, ``kubeadm token
create``, ``openssl rand -hex 32``, ``cat config/master.key``): a bare value on the lines after
such a command is redacted. A ``.pgpass`` line (``host:port:db:user:password``) is recognised
where the text mentions ``pgpass``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from mcp_memory.redaction.base import Span, has_digit, names_secret, placeholder, rule, wordset

__all__ = ["COMMAND_RULES"]

# Tool -> the flags whose next word (or ``--flag=word``, or a glued ``-fword``) is a password.
_MONGO = (
    "mongo mongosh mongodump mongorestore mongoexport mongoimport mongostat mongotop mongofiles"
)
_LDAP = (
    "ldapsearch ldapadd ldapmodify ldapdelete ldapwhoami ldapcompare ldapmodrdn ldapexop ldapurl"
)
_KEYTOOL = "-storepass -keypass -srcstorepass -deststorepass -srckeypass -destkeypass -new"
_FLAG_TABLE: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(_MONGO.split(), ("-p",)),
    **dict.fromkeys(_LDAP.split(), ("-w",)),
    "ldappasswd": ("-w", "-s", "-a"),
    "sshpass": ("-p",),
    "redis-cli": ("-a",),
    "ssh-keygen": ("-N", "-P"),
    "keytool": tuple(_KEYTOOL.split()),
    **dict.fromkeys(("zip", "unzip"), ("-P",)),
    "smbmap": ("-p",),
    "openssl": ("-k",),
}
# Tools whose password is glued to -p only (a bare -p prompts for it).
_GLUED = wordset(
    "mysql mysqldump mysqladmin mysqlimport mysqlshow mysqlcheck mysqlpump mariadb mariadb-dump "
    "mariadb-admin"
)
_WORD_FLAGS = frozenset(("openssl", "keytool"))  # -kfile is not -k file
_PASS_ARG = frozenset(("-passin", "-passout", "-pass"))  # openssl: pass:VALUE
_USER_PERCENT = wordset("smbclient rpcclient smbget smbcacls smbtree")  # -U user%VALUE

# The match starts at an anchor, which may sit inside the tool's name (ssh|pass, ht|passwd,
# ssh-|keygen): anchors that other rules search for too cost nothing more.
_TOOL = (
    r"(?i)(?P<name>(?<=ssh)pass|(?<=ht)passwd|(?<=ldap)passwd|ldap[a-z]{2,10}|redis-cli"
    r"|mongo[a-z]{0,8}|openssl|(?<=ssh-)keygen|keytool|smb[a-z]{3,8}|zip"
    r"|mysql[a-z]{0,6}|mariadb[a-z-]{0,6})"
    r"(?=[ \t'\",])(?=(?P<rest>[^\n]{0,2000}))"  # looked at, not consumed: a later tool on the
    # same line is tried too
)
_TOOL_ANCHORS = "pass ldap redis-cli mongo openssl key smb zip mysql mariadb"
# A word: quoted ('...' or "..."), or bare; a stop ends the command (a pipe, ;, &&, a newline).
_WORD = re.compile(
    r"'(?P<sq>[^'\n]*)'|\"(?P<dq>(?:[^\"\\\n]|\\.)*)\"|(?P<bare>[^\s'\",\[\]|;&()]+)"
    r"|(?P<stop>[|;&()])"
)
_Word = tuple[str, int]  # the word's text and where it starts


def _words(text: str, start: int, end: int) -> Iterator[_Word]:
    for m in _WORD.finditer(text, start, end):
        if m.group("stop"):
            return
        group = next(g for g in ("sq", "dq", "bare") if m.group(g) is not None)
        if any(c.isalnum() for c in m.group(group)):  # not the ", " of a Python list
            yield m.group(group), m.start(group)


def _secret(value: str, start: int, kind: str = "password") -> Iterator[Span]:
    named = not has_digit(value) and (names_secret(value) or value.lower() in ("value", "secret"))
    if len(value) >= 3 and not placeholder(value) and not value.startswith("-") and not named:
        yield kind, start, start + len(value)


def _flag_values(tool: str, words: list[_Word]) -> Iterator[Span]:
    flags = _FLAG_TABLE.get(tool, ())
    for i, (word, start) in enumerate(words):
        following = words[i + 1] if i + 1 < len(words) else ("", start)
        name, eq, value = word.partition("=")
        if eq and name in flags and name.startswith("--"):
            yield from _secret(value, start + len(name) + 1)
        elif word in flags or word in _PASS_ARG and tool == "openssl":
            value, at = following
            if word in _PASS_ARG:  # env:VAR, file:path, fd:3 and stdin name no secret
                if not value.startswith("pass:"):
                    continue
                value, at = value[5:], at + 5
            yield from _secret(value, at)
        elif len(word) > 2 and word[:2] in flags and tool not in _WORD_FLAGS:
            yield from _secret(word[2:], start + 2)  # -wVALUE
        elif tool in _GLUED and word[:2] == "-p":
            yield from _secret(word[2:], start + 2)  # mysql -pVALUE
        elif tool in _USER_PERCENT and (word[:2] == "-U" or name == "--user"):
            if eq:
                value, at = value, start + len(name) + 1
            elif len(word) > 2:
                value, at = word[2:], start + 2
            else:
                value, at = following
            if "%" in value:  # DOMAIN\user%password
                cut = value.index("%") + 1
                yield from _secret(value[cut:], at + cut)


def _htpasswd(words: list[_Word]) -> Iterator[Span]:
    """``htpasswd -b[c] file user password`` and ``htpasswd -nb user password``: options come
    first, then the positional arguments."""
    options, i = "", 0
    while i < len(words) and re.fullmatch(r"-[A-Za-z0-9]{1,8}", words[i][0]):
        options += words[i][0][1:]
        i += 2 if words[i][0] in ("-C", "-r") else 1  # these take a number
    index = i + (1 if "n" in options else 2)
    if "b" in options and index < len(words):
        yield from _secret(*words[index])


def _tool_decide(m: re.Match[str]) -> Iterable[Span]:
    text, start = m.string, m.start()
    while start and (text[start - 1].isalnum() or text[start - 1] in "_-"):
        start -= 1
    if start and text[start - 1] in "_.-":
        return  # part of a longer name: my.mysql_host, x-zip
    tool = text[start : m.end("name")].lower()
    words = list(_words(m.string, m.start("rest"), m.end("rest")))
    if tool == "htpasswd":
        yield from _htpasswd(words)
    else:
        yield from _flag_values(tool, words)


# --- commands whose output is a secret --------------------------------------------------------

_PRINTS_SECRET = (
    r"(?i)(?:(?<=auth:)token|(?<=auth )token|(?<=print )token|(?<=create )token"
    r"|token(?=[ \t]+create\b)|token_(?:hex|urlsafe|bytes)\b|(?<=get-authorization-)token"
    r"|(?<=get-login-)password|(?<=rails )secret|(?<=rake )secret|openssl[ \t]+rand\b"
    r"|(?<=\.)key(?=[ \t]*(?:\r?\n|$)))"
    r"(?=[^\n]{0,300}(?P<out>(?:\n[^\n]{0,4000}){1,8}))"
)
_SHOW_FILE = re.compile(r"(?i)(?:^|[\s$>#])(?:cat|type|head|tail|more|less|bat|get-content)\s")
_PROMPT = re.compile(r"[ \t]*(?:[$#%>]|PS\b)")
_BARE_VALUE = re.compile(r"[ \t]*(?P<v>[A-Za-z0-9+/._~-]{12,4000}={0,2})[ \t\r]*")


def _printed_decide(m: re.Match[str]) -> Iterable[Span]:
    text = m.string
    if m.group()[:3].lower() == "key" and not _SHOW_FILE.search(
        text, text.rfind("\n", 0, m.start()) + 1, m.start()
    ):
        return  # a .key that is only named, not shown
    pos = m.start("out")
    for line in m.group("out").split("\n")[1:]:
        pos += 1
        if _PROMPT.match(line):
            return
        value = _BARE_VALUE.fullmatch(line)
        if value and has_digit(value.group("v")) and any(c.isalpha() for c in value.group("v")):
            yield "secret", pos + value.start("v"), pos + value.end("v")
        pos += len(line)


# host:port:database:user:password, one per line of ~/.pgpass (port may be *).
_PGPASS = (
    r"(?m)(?:^|(?<=['\"]))[ \t]*[^\s:'\"#]{1,253}:(?:\d{1,5}|\*):[^\s:'\"]{1,63}:[^\s:'\"]{1,63}:"
    r"(?P<secret>(?!\[REDACTED:)[^\s'\"]{1,256})(?=['\"]|[ \t]*$)"
)


def _pgpass_decide(m: re.Match[str]) -> Iterable[Span]:
    yield from _secret(m.group("secret"), m.start("secret"))


COMMAND_RULES = [
    rule(_tool_decide, _TOOL, _TOOL_ANCHORS, lower=True),
    rule(_printed_decide, _PRINTS_SECRET, "token pass secret openssl key", lower=True),
    rule(_pgpass_decide, _PGPASS, "pgpass", lower=True, search=True),
]
