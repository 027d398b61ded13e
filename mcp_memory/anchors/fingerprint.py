"""The content fingerprint of an anchor, and finding it again.

- ``file``: the file's git blob id (``sha1("blob <size>\\0" + bytes)``, what ``git hash-object``
  prints), computed here without spawning git, so a file outside git is fingerprinted the same way
  and a fingerprint can be compared with the blob ids git lists.
- ``lines`` (``"40-55"``): the sha1 of those lines. After an edit elsewhere in the file the same
  lines may sit elsewhere: :func:`locate` slides a window of the same height over the file and
  returns their new range, so the anchor stays fresh and follows them.
- ``symbol`` (a name): the sha1 of the symbol's definition block: its ``def``/``class``/
  ``function``/... line and the lines indented below it (plus a closing brace at the same
  indent). A language-agnostic heuristic, exact for Python and for brace code formatted as
  usual; the block is found by name wherever it moved in the file.

Standard library only (the prompt hook re-hashes a changed file with it).
"""

from __future__ import annotations

import hashlib
import re

_DEFINITION = (
    r"^(?P<indent>[ \t]*)(?:(?:export|public|private|protected|static|async|pub(?:\([\w:]+\))?|"
    r"default|final|abstract|override|inline|unsafe|extern)\s+)*"
    r"(?:def|class|function|fn|func|fun|struct|enum|trait|interface|type|impl|module|sub|"
    r"const|let|var|val|macro_rules!)\s+(?:\([^)]*\)\s*)?{name}\b"
)
_CLOSER = re.compile(r"^[ \t]*[}\])]|^[ \t]*end\b")


def blob_id(data: bytes) -> str:
    """Git's blob id of ``data`` (= ``git hash-object``)."""
    return hashlib.sha1(b"blob %d\x00" % len(data) + data, usedforsecurity=False).hexdigest()


def _lines(data: bytes) -> list[str]:
    return data.decode("utf-8", errors="replace").splitlines()


def lines_hash(lines: list[str]) -> str:
    joined = "\n".join(line.rstrip() for line in lines)
    return hashlib.sha1(joined.encode("utf-8"), usedforsecurity=False).hexdigest()


def _definition(name: str) -> re.Pattern[str]:
    return re.compile(_DEFINITION.format(name=re.escape(name)), re.MULTILINE)


def defines(source: str, name: str) -> bool:
    """Whether ``source`` defines ``name`` (a ``def``/``class``/``function``/... line)."""
    return _definition(name).search(source) is not None


def symbol_block(lines: list[str], name: str) -> list[str] | None:
    """The definition block of ``name``: its first definition line and what is indented below
    it (blank lines inside included), plus a closing ``}``/``end`` line at its own indent."""
    pattern = _definition(name)
    for i, line in enumerate(lines):
        m = pattern.match(line)
        if m is None:
            continue
        indent = len(m.group("indent").expandtabs())
        end = i + 1
        while end < len(lines):
            current = lines[end]
            if current.strip() and len(current) - len(current.lstrip()) <= indent:
                if _CLOSER.match(current):
                    end += 1
                break
            end += 1
        block = lines[i:end]
        while block and not block[-1].strip():
            block.pop()
        return block
    return None


def fingerprint(data: bytes, kind: str, selector: str) -> str | None:
    """The fingerprint of the target in ``data``; None when the lines or symbol are not there."""
    if kind == "file":
        return blob_id(data)
    lines = _lines(data)
    if kind == "lines":
        a, b = (int(x) for x in selector.split("-"))
        if b > len(lines):
            return None
        return lines_hash(lines[a - 1 : b])
    if kind == "symbol":
        block = symbol_block(lines, selector)
        return None if block is None else lines_hash(block)
    raise ValueError(f"unknown anchor kind {kind!r}")


def locate(data: bytes, kind: str, selector: str, expected: str) -> str | None:
    """The selector under which ``data`` still holds the fingerprinted content (the same
    selector, or the new range of moved lines), or None when it changed."""
    if fingerprint(data, kind, selector) == expected:
        return selector
    if kind != "lines":
        return None
    a, b = (int(x) for x in selector.split("-"))
    height = b - a + 1
    lines = _lines(data)
    for start in range(0, len(lines) - height + 1):
        if lines_hash(lines[start : start + height]) == expected:
            return f"{start + 1}-{start + height}"
    return None
