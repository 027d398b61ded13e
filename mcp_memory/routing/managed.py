"""The text mcp-memory writes into a target, and how it writes it.

Everything routed lives in a managed block (see :mod:`mcp_memory.routing.targets` for its markers).
Inserting and removing a block are exact inverses: a section's own block goes after the last
non-blank line of its section, preceded by one line ending (a blank line), and removing it takes
that blank line back; a block extending a line (:mod:`additions`) goes directly below that line,
with no blank line, and removing it takes only its own lines. So the user's text outside the
blocks is byte for byte what it was (line endings, a missing final newline and any Unicode
included). A file that does not end with a newline keeps not ending with one.

Routed text is made inert (:func:`bullet`): one line, no control or format characters (so no
hidden bidi overrides or escape sequences), nothing that opens or closes an HTML comment (so it
cannot forge or end a marker, and no ``mcp-memory:begin``/``end`` look-alike either), no
``@path`` at the start of a word (Claude Code reads that as an import of the file, e.g.
``@~/.ssh/id_rsa``: a backslash escapes it, which Markdown does not show), no leading ``#``,
``>`` or code fence (so it cannot start a heading or a block), secrets redacted again. It is never shortened: a memory longer than
``MAX_LINE_CHARS`` is held by the router ("too long to route"), not cut mid-word.

Files are replaced atomically: a temporary file in the same directory, fsynced, given the old
file's permission bits, then ``os.replace`` (which swaps the directory entry and never follows a
link). The caller passes the hash it planned from; if the file changed since, nothing is written.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from difflib import unified_diff
from pathlib import Path

from mcp_memory.errors import ValidationError
from mcp_memory.redaction.redact import redact
from mcp_memory.routing.targets import END_LINE, Block, Document, read_bytes, sha256, split_lines

MAX_LINE_CHARS = 500
NEW_FILE_HEADING = "Memory"
_INVISIBLE = {"Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp"}
_IMPORT = re.compile(r"(^|\s)@(?=\S)")
_MARKER = re.compile(r"mcp-memory\s*:\s*(begin|end)", re.IGNORECASE)
_LEADING = re.compile(r"^(?:#|>|`{3,}|~{3,}|=+$|-{3,}$)")


def bullet(text: str) -> str:
    """A memory as one inert Markdown bullet line (without a line ending)."""
    text = redact(text).text
    text = "".join(" " if unicodedata.category(c) in _INVISIBLE else c for c in text)
    text = " ".join(text.split())
    text = text.replace("<!--", "<! --").replace("--!>", "-- !>").replace("-->", "-- >")
    text = _MARKER.sub(lambda m: f"mcp-memory {m.group(1)}", text)
    text = _IMPORT.sub(lambda m: m.group(1) + "\\@", text)
    if _LEADING.match(text):
        text = "\\" + text
    return "- " + (text or "(empty)")


def too_long(line: str) -> bool:
    """True when a bullet is longer than a rules line may be: such a memory is held, never
    cut (a line cut mid-word would be read as an instruction)."""
    return len(line) > MAX_LINE_CHARS + 2


def section_attr(name: str) -> str:
    """A section name safe inside the begin marker's quotes."""
    clean = "".join(" " if unicodedata.category(c) in _INVISIBLE else c for c in name)
    clean = " ".join(clean.replace('"', "'").replace("--", "-").replace(">", "").split())
    return clean[:120]


def block_body(section: str, ids: Sequence[int], lines: Sequence[str], eol: str) -> str:
    """The block from its begin marker to its end marker, without a final line ending."""
    begin = f'<!-- mcp-memory:begin section="{section_attr(section)}" ids="{",".join(map(str, ids))}" -->'
    return eol.join([begin, *lines, END_LINE])


def insert_block(text: str, at: int, body: str, eol: str) -> str:
    """``text`` with a new block at ``at`` (a line start, or the end of the text)."""
    if at == len(text) and text and not text.endswith("\n"):
        return text + eol + eol + body  # the last line had no newline: keep it that way
    if at == 0:
        return body + eol + text
    return text[:at] + eol + body + eol + text[at:]


def insert_below(text: str, at: int, body: str, eol: str) -> str:
    """``text`` with a new block at ``at``, the start of the line below the one it extends
    (no blank line between, so :func:`remove_block` takes out only the block)."""
    return text[:at] + body + eol + text[at:]


def replace_block(text: str, block: Block, body: str, eol: str) -> str:
    """``text`` with ``block`` rewritten (its final line ending, or lack of one, is kept)."""
    old = text[block.start : block.end]
    ending = old[len(old.rstrip("\r\n")) :]
    return text[: block.start] + body + ending + text[block.end :]


def remove_block(text: str, block: Block, eol: str) -> str:
    """The exact inverse of :func:`insert_block` (the blank line before the block goes too)."""
    start, end = block.start, block.end
    if end == len(text) and not text.endswith("\n"):
        if text[:start].endswith(eol + eol):
            start -= 2 * len(eol)
        elif text[:start].endswith(eol):
            start -= len(eol)
        return text[:start] + text[end:]
    if start == 0:
        return text[end:]
    if text[:start].endswith(eol) and text[: start - len(eol)].endswith("\n"):
        start -= len(eol)
    return text[:start] + text[end:]


def new_section_text(text: str, body: str, eol: str, heading: str = NEW_FILE_HEADING) -> str:
    """A file without sections (new, empty, front matter only) with a heading and a block."""
    prefix = text
    if prefix and not prefix.endswith("\n"):
        prefix += eol
    if prefix.strip():
        prefix += eol
    return f"{prefix}# {heading}{eol}{eol}{body}{eol}"


@dataclass
class Edit:
    """Bullets to add to one section's block (``section`` -1: a new section at the end), or,
    with ``below`` (an offset from ``Section.anchors``), to the block right below a line."""

    section: int
    ids: list[int] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    below: int | None = None


def render(doc: Document, edits: Sequence[Edit]) -> str:
    """The document with each edit's bullets added to its block (new or existing)."""
    text = doc.text
    new_section = [e for e in edits if e.section < 0]
    # Rewrite from the end of the file backwards so earlier offsets stay valid.
    for edit in sorted((e for e in edits if e.section >= 0), key=lambda e: -_anchor(doc, e)):
        sec = doc.sections[edit.section]
        if edit.below is not None:
            there = next((b for b in sec.blocks if b.start == edit.below), None)
            if there is None:
                body = block_body(sec.name, edit.ids, edit.lines, doc.eol)
                text = insert_below(text, edit.below, body, doc.eol)
            else:
                ids, lines = [*there.ids, *edit.ids], [*there.lines, *edit.lines]
                body = block_body(there.section, ids, lines, doc.eol)
                text = replace_block(text, there, body, doc.eol)
        elif sec.block is not None:
            body = block_body(
                sec.block.section,
                [*sec.block.ids, *edit.ids],
                [*sec.block.lines, *edit.lines],
                doc.eol,
            )
            text = replace_block(text, sec.block, body, doc.eol)
        else:
            body = block_body(sec.name, edit.ids, edit.lines, doc.eol)
            text = insert_block(text, sec.insert_at, body, doc.eol)
    for edit in new_section:
        body = block_body(NEW_FILE_HEADING, edit.ids, edit.lines, doc.eol)
        text = new_section_text(text, body, doc.eol)
    return text


def _anchor(doc: Document, edit: Edit) -> int:
    if edit.below is not None:
        return edit.below
    sec = doc.sections[edit.section]
    return sec.block.start if sec.block is not None else sec.insert_at


def diff(before: str, after: str, label: str, existed: bool) -> str:
    """A unified diff of a planned change (``/dev/null`` for a new file)."""

    def lines(text: str) -> list[str]:
        out = [content + ending for _, content, ending in split_lines(text)]
        return [ln if ln.endswith("\n") else ln + "\n\\ No newline at end of file\n" for ln in out]

    old = f"a/{label}" if existed else "/dev/null"
    return "".join(unified_diff(lines(before), lines(after), old, f"b/{label}"))


# -- files -------------------------------------------------------------------------------------


def replace_file(path: Path, data: bytes, *, expected: str | None, mode: int | None) -> None:
    """Atomically make ``path`` hold ``data`` if it still has hash ``expected`` (None: absent)."""
    current = read_bytes(path)
    if (None if current is None else sha256(current)) != expected:
        raise ValidationError(
            f"{path} changed while routing (someone edited it); nothing was written to it. "
            "Run the route again to plan from the new content"
        )
    temporary = path.with_name(f".{path.name}.mcp-memory-{os.getpid()}-{threading.get_ident()}")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(temporary, flags, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o644 if mode is None else mode)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _fsync_dir(path.parent)


def remove_file(path: Path, *, expected: str) -> None:
    current = read_bytes(path)
    if current is None:
        return
    if sha256(current) != expected:
        raise ValidationError(f"{path} changed while routing; nothing was removed")
    path.unlink()
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def save_backup(backup_dir: Path, data: bytes) -> Path:
    """A private copy of a file's old content, named by its hash (so equal copies are shared)."""
    backup_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = backup_dir / f"{sha256(data)}.md"
    if not path.exists():
        temporary = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    return path


def load_backup(path: Path, expected: str) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValidationError(f"the backup {path} cannot be read ({exc}); cannot undo") from exc
    if sha256(data) != expected:
        raise ValidationError(f"the backup {path} does not match its recorded hash; cannot undo")
    return data
