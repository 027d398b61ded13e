"""Routing targets: the Markdown files Claude Code reads, their sections, and path safety.

Which files: for a project, ``CLAUDE.md``, ``.claude/CLAUDE.md``, ``CLAUDE.local.md`` and
``.claude/rules/**/*.md`` under the project root (what Claude Code loads for it), plus the ones
the user configures (relative to the root); for global knowledge, ``~/.claude/CLAUDE.md`` and
``~/.claude/rules/**/*.md``, plus configured ones written ``~/.claude/...``. A project target never
lies outside its project root and a global one never outside ``~/.claude`` (``claude_home``), so
project knowledge cannot reach a global file and the reverse.

Path safety (:func:`check_path`): the root itself may be reached through a link (a checkout
under a symlinked directory is common), but below it every existing component must be a real
directory or, at the end, a regular file: no ``..``, no symbolic link anywhere (a linked
``CLAUDE.md`` pointing at ``/etc/passwd``, a linked ``.claude/rules``). Writes re-check just
before replacing and replace the directory entry itself, never a link's target.

Sections: ATX headings (``#`` .. ``######``) outside fenced code split a file; the text before
the first heading (after any YAML front matter) is the section ``""``. Setext headings
(underlined) are not recognised: such a file routes as one section, which is safe, only coarse.
A section's items (list entries, paragraphs, table rows, code blocks) are what duplicate and
conflict checks compare a memory with.

Managed blocks: the only text mcp-memory writes is a block it owns, between ``<!--
mcp-memory:begin section="..." ids="1,2" -->`` and ``<!-- mcp-memory:end -->``, one bullet per
memory in the order of ``ids``. A section has at most one block of its own, after a blank line
at its end (``Section.block``, where routed memories go), and any number right below one of
its lines, with no blank line between (``Section.blocks`` holds them all): a memory that
extends a line is written directly below it (see :mod:`additions`). ``Section.anchors`` says, per item, where such a block goes: the start of the
line after the item (a block already there is extended), or None when the item is the
section's last, a table row or code, or a bullet of the end block (the end block is then the
place).
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from mcp_memory.errors import UnsafePathError, ValidationError

PROJECT_FILES = ("CLAUDE.md", ".claude/CLAUDE.md", "CLAUDE.local.md")
PROJECT_RULES = ".claude/rules"
GLOBAL_FILES = ("CLAUDE.md",)
GLOBAL_RULES = "rules"
GLOBAL_DEFAULT = "rules/memory.md"
MAX_FILE_BYTES = 1_000_000  # a CLAUDE.md is read into every session; anything larger is not one
MAX_RULE_FILES = 200

BEGIN_RE = re.compile(r'^<!-- mcp-memory:begin section="([^"\r\n]*)" ids="([0-9,]*)" -->[ \t]*$')
END_LINE = "<!-- mcp-memory:end -->"
_HEADING_RE = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_FENCE_RE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_LIST_RE = re.compile(r"^ {0,3}(?:[-*+]|\d{1,9}[.)])(?:[ \t]+|$)")
_LINE_RE = re.compile(r"[^\n]*\n|[^\n]+")


@dataclass(frozen=True)
class Target:
    """A file routing may write: ``path`` is absolute, ``label`` is how people see it."""

    path: Path
    label: str  # "CLAUDE.md", ".claude/rules/testing.md", "~/.claude/CLAUDE.md"
    scope: str  # "project" | "global"
    root: Path  # the directory it must stay inside (resolved)
    default: bool = False  # where memories go when no section is similar enough


@dataclass(frozen=True)
class Block:
    """A managed block: ``start`` is the begin line's first char, ``end`` just past the end line."""

    section: str
    ids: tuple[int, ...]
    lines: tuple[str, ...]  # bullet lines without line endings
    start: int
    end: int
    line_no: int  # 1-based line of the begin marker


@dataclass(frozen=True)
class Section:
    name: str  # heading text ("" before the first heading), "Name (2)" when repeated
    trail: tuple[str, ...]  # enclosing headings, outermost first, ending with this one
    start: int  # first char of the heading line (or of the file)
    end: int  # first char of the next heading line (or len(text))
    insert_at: int  # where a new block goes: after the last non-blank line of the section
    items: tuple[str, ...]  # the units compared with a memory, managed bullets included
    block: Block | None  # the block at the end of the section, where routed memories go
    writable: bool = True  # False when it ends inside a code fence nobody closed
    blocks: tuple[Block, ...] = ()  # every block in the section, the end one included
    # per item: where a block extending it goes (see the module docstring), or None
    anchors: tuple[int | None, ...] = ()

    @property
    def title(self) -> str:
        return self.name or "(top of file)"

    def embed_text(self, label: str) -> str:
        """What is embedded for the whole section: where it is, then what it says."""
        head = " > ".join(t for t in self.trail if t) or Path(label).stem
        return f"{Path(label).stem}: {head}\n" + "\n".join(self.items)

    def context_text(self, label: str, item: str) -> str:
        """An item with where it stands in front: file, then headings."""
        head = " > ".join(t for t in self.trail if t)
        return f"{Path(label).stem} > {head}: {item}" if head else f"{Path(label).stem}: {item}"


@dataclass(frozen=True)
class Document:
    target: Target
    text: str  # decoded exactly: text.encode("utf-8") == the file's bytes
    exists: bool
    sha256: str | None  # of the bytes; None when the file does not exist
    eol: str  # the file's line ending, used for every line written
    sections: tuple[Section, ...]
    mode: int | None  # permission bits to keep on replace


# -- discovery ---------------------------------------------------------------------------------


def project_root(project: str) -> Path:
    """The directory of a project key. A named (non-path) project has no files to route to."""
    path = Path(project)
    if not path.is_absolute():
        raise ValidationError(
            f"project {project!r} is a name, not a directory, so it has no CLAUDE.md to route "
            "to; run from the project's checkout (its key is the git root path), or route "
            "global memories with project='global'"
        )
    if not path.is_dir():
        raise ValidationError(
            f"project directory {project} does not exist (moved or deleted?); routing needs "
            "the checkout the memories came from"
        )
    return path.resolve()


def discover(
    scope: str,
    root: Path,
    *,
    configured: Sequence[str] = (),
    default: str = ".claude/rules/memory.md",
) -> list[Target]:
    """Every target of ``scope`` under ``root`` (a project root, or ``claude_home`` for global).

    Existing standard files, then configured ones (existing or not), then the default target
    (created on first use). Each is checked by :func:`check_path`; an unsafe standard file is an
    error too, naming the path, so a planted link cannot be skipped over silently.
    """
    root = root.resolve()
    names = PROJECT_FILES if scope == "project" else GLOBAL_FILES
    rules = PROJECT_RULES if scope == "project" else GLOBAL_RULES
    default_rel = default if scope == "project" else GLOBAL_DEFAULT
    found: dict[Path, Target] = {}

    def add(rel: str, *, is_default: bool = False) -> None:
        path = check_path(root, rel)
        label = _label(scope, path, root)
        if path in found:
            if is_default:
                found[path] = Target(path, label, scope, root, True)
            return
        found[path] = Target(path, label, scope, root, is_default)

    for name in names:
        if os.path.lexists(root / name):
            add(name)
    rules_dir = root / rules
    if os.path.lexists(rules_dir):
        check_path(root, rules, directory=True)
        count = 0
        for dirpath, dirnames, filenames in os.walk(rules_dir, followlinks=False):
            dirnames.sort()
            for name in sorted(filenames):
                if name.endswith(".md"):
                    count += 1
                    if count > MAX_RULE_FILES:
                        break
                    add(str(Path(dirpath, name).relative_to(root)))
            for name in dirnames:  # os.walk does not descend into links; refuse them loudly
                if os.path.islink(Path(dirpath, name)):
                    check_path(root, str(Path(dirpath, name).relative_to(root)), directory=True)
    for item in configured:
        rel = _configured_rel(item, scope)
        if rel is not None:
            add(rel)
    add(default_rel, is_default=True)
    return list(found.values())


def _configured_rel(item: str, scope: str) -> str | None:
    """A configured target's path relative to its root, or None when it is the other scope's."""
    item = item.strip()
    if not item:
        return None
    is_global = item == "~/.claude" or item.startswith("~/.claude/")
    if is_global != (scope == "global"):
        return None
    if is_global:
        return item.removeprefix("~/.claude").lstrip("/")
    if item.startswith("~"):
        raise UnsafePathError(
            f"route target {item!r} is outside the project and outside ~/.claude; "
            "targets must be inside the project root or ~/.claude"
        )
    return item


def _label(scope: str, path: Path, root: Path) -> str:
    rel = path.relative_to(root).as_posix()
    return rel if scope == "project" else f"~/.claude/{rel}"


# -- path safety -----------------------------------------------------------------------------


def check_path(root: Path, rel: str | Path, *, directory: bool = False) -> Path:
    """The absolute path of ``rel`` under ``root``, proven to stay inside it without links.

    ``rel`` may be absolute if it lies under ``root``. Refused, with the offending path named:
    ``..`` components, absolute paths elsewhere, a symbolic link at any level below ``root``,
    anything that exists but is not a regular file (or a directory, with ``directory``), and a
    file target that is not Markdown (``.md``).
    """
    root = root.resolve()
    rel_path = Path(rel)
    if rel_path.is_absolute():
        try:
            rel_path = rel_path.relative_to(root)
        except ValueError:
            raise UnsafePathError(
                f"{rel} is outside {root}; mcp-memory only writes files inside the project root "
                "or ~/.claude"
            ) from None
    if any(part == ".." for part in rel_path.parts):
        raise UnsafePathError(
            f"{rel} contains '..'; route targets must stay inside {root}, so '..' is refused"
        )
    if not rel_path.parts or str(rel_path) == ".":
        raise UnsafePathError(f"{rel!r} names the root {root} itself, not a file")
    if not directory and rel_path.suffix.lower() != ".md":
        raise UnsafePathError(f"{root / rel_path} is not a Markdown (.md) file; refusing to route")
    current = root
    for n, part in enumerate(rel_path.parts):
        current = current / part
        try:
            info = os.lstat(current)
        except FileNotFoundError:
            break  # the rest does not exist yet (created on first write)
        except OSError as exc:
            raise UnsafePathError(f"cannot inspect {current}: {exc}") from exc
        if stat.S_ISLNK(info.st_mode):
            raise UnsafePathError(
                f"{current} is a symbolic link; mcp-memory writes only regular files inside "
                f"{root} and never follows links (replace the link with a real file or directory)"
            )
        last = n == len(rel_path.parts) - 1
        if (last and not directory and not stat.S_ISREG(info.st_mode)) or (
            (not last or directory) and not stat.S_ISDIR(info.st_mode)
        ):
            kind = "a regular file" if last and not directory else "a directory"
            raise UnsafePathError(f"{current} is not {kind}; refusing to route there")
    full = root / rel_path
    if not full.resolve().is_relative_to(root):  # belt and braces after the walk above
        raise UnsafePathError(f"{full} resolves outside {root}; refusing to route there")
    return full


# -- reading and parsing -----------------------------------------------------------------------


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_bytes(path: Path) -> bytes | None:
    """The file's bytes (None if absent), opened without following a final link."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise UnsafePathError(f"cannot open {path} without following links: {exc}") from exc
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise ValidationError(f"{path} is larger than {MAX_FILE_BYTES} bytes; not routing to it")
    return data


def load(target: Target) -> Document:
    check_path(target.root, target.path)
    data = read_bytes(target.path)
    if data is None:
        return Document(target, "", False, None, "\n", (), None)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationError(
            f"{target.path} is not UTF-8 ({exc.reason} at byte {exc.start}); mcp-memory only "
            "edits UTF-8 files"
        ) from None
    mode = stat.S_IMODE(os.stat(target.path, follow_symlinks=False).st_mode)
    return Document(
        target, text, True, sha256(data), detect_eol(text), parse(text, str(target.path)), mode
    )


def detect_eol(text: str) -> str:
    first = text.find("\n")
    return "\r\n" if first > 0 and text[first - 1] == "\r" else "\n"


def split_lines(text: str) -> list[tuple[int, str, str]]:
    """(offset, content, ending) per line; only ``\\n`` (or ``\\r\\n``) ends a line."""
    out = []
    for m in _LINE_RE.finditer(text):
        line = m.group()
        if line.endswith("\r\n"):
            out.append((m.start(), line[:-2], "\r\n"))
        elif line.endswith("\n"):
            out.append((m.start(), line[:-1], "\n"))
        else:
            out.append((m.start(), line, ""))
    return out


def _front_matter_end(lines: list[tuple[int, str, str]]) -> int:
    """Index of the first line after YAML front matter (0 when there is none)."""
    if lines and lines[0][1].rstrip() == "---":
        for i in range(1, len(lines)):
            if lines[i][1].rstrip() in ("---", "..."):
                return i + 1
    return 0


def parse(text: str, where: str = "file") -> tuple[Section, ...]:
    """Sections of a Markdown text, with their items and managed block.

    A begin marker without its end marker, a second block in one section, or a block whose
    ids and bullet lines disagree in number is an error naming the line: those are hand edits
    mcp-memory must not guess about.
    """
    lines = split_lines(text)
    first = _front_matter_end(lines)
    headings: list[tuple[int, int, str]] = []  # (line index, level, text)
    blocks: list[tuple[int, int, Block]] = []  # (first line index, last line index, block)
    fence: str | None = None
    i = first
    while i < len(lines):
        content = lines[i][1]
        if fence is not None:
            if re.match(rf"^ {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$", content):
                fence = None
            i += 1
            continue
        fm = _FENCE_RE.match(content)
        if fm:
            fence = fm.group(1)
            i += 1
            continue
        bm = BEGIN_RE.match(content)
        if bm:
            j = i + 1
            while j < len(lines) and lines[j][1].rstrip() != END_LINE:
                if BEGIN_RE.match(lines[j][1]):
                    break
                j += 1
            if j >= len(lines) or lines[j][1].rstrip() != END_LINE:
                raise ValidationError(
                    f"{where}:{i + 1}: an mcp-memory block begins here but never ends "
                    f"(missing '{END_LINE}'); fix or delete the block by hand"
                )
            ids = tuple(int(x) for x in bm.group(2).split(",") if x)
            bullets = tuple(lines[k][1] for k in range(i + 1, j))
            if len(ids) != len(bullets) or not all(b.startswith("- ") for b in bullets):
                raise ValidationError(
                    f"{where}:{i + 1}: the mcp-memory block lists {len(ids)} memory ids but "
                    f"holds {len(bullets)} lines; it was edited by hand. Make each line "
                    "'- text' for one id (or delete the whole block), then route again"
                )
            end = lines[j][0] + len(lines[j][1]) + len(lines[j][2])
            blocks.append((i, j, Block(bm.group(1), ids, bullets, lines[i][0], end, i + 1)))
            i = j + 1
            continue
        hm = _HEADING_RE.match(content)
        if hm:
            headings.append((i, len(hm.group(1)), (hm.group(2) or "").strip()))
        i += 1
    sections = _sections(text, lines, first, headings, blocks, where)
    if fence is not None and sections:  # a block written there would be inside the fence
        sections = (*sections[:-1], replace(sections[-1], writable=False))
    return sections


def _sections(
    text: str,
    lines: list[tuple[int, str, str]],
    first: int,
    headings: list[tuple[int, int, str]],
    blocks: list[tuple[int, int, Block]],
    where: str,
) -> tuple[Section, ...]:
    bounds: list[tuple[int, int, int, str]] = []  # (first line, end line, level, name)
    start_line = headings[0][0] if headings else len(lines)
    if any(lines[k][1].strip() for k in range(first, start_line)):
        bounds.append((first, start_line, 0, ""))
    for n, (line, level, name) in enumerate(headings):
        stop = headings[n + 1][0] if n + 1 < len(headings) else len(lines)
        bounds.append((line, stop, level, name))
    seen: dict[str, int] = {}
    stack: list[tuple[int, str]] = []
    out: list[Section] = []
    for lo, hi, level, name in bounds:
        while stack and stack[-1][0] >= level and level > 0:
            stack.pop()
        if level:
            stack.append((level, name))
        seen[name] = seen.get(name, 0) + 1
        shown = name if seen[name] == 1 else f"{name} ({seen[name]})"
        inside = [b for b in blocks if lo <= b[0] < hi]
        # a block right below a line extends that line; the section's own block (at most
        # one) follows a blank line, as insert_block writes it
        own = [b for b in inside if b[0] == 0 or not lines[b[0] - 1][1].strip()]
        if len(own) > 1:
            raise ValidationError(
                f"{where}:{own[1][2].line_no}: section {shown or '(top of file)'!r} has "
                "two mcp-memory blocks; merge them into one by hand"
            )
        block = own[0][2] if own else None
        body_from = lo + 1 if level else lo
        skip = {k for b in inside for k in range(b[0], b[1] + 1)}
        found = _items(lines, body_from, hi, skip)
        items = [text for text, _ in found]
        anchors: list[int | None] = [at for _, at in found]
        if found:  # the section's last item: the end block goes right after it anyway
            anchors[-1] = None
        for _, _, b in inside:
            items += [line[2:].strip() for line in b.lines]
            anchors += [None if b is block else b.start] * len(b.lines)
        last = hi - 1
        while last >= lo and not lines[last][1].strip():
            last -= 1
        insert_at = (
            (lines[last][0] + len(lines[last][1]) + len(lines[last][2]))
            if last >= lo
            else (lines[lo][0] if lo < len(lines) else len(text))
        )
        start = lines[lo][0] if lo < len(lines) else len(text)
        end = lines[hi][0] if hi < len(lines) else len(text)
        trail = tuple(n for _, n in stack) if level else ("",)
        out.append(
            Section(
                shown,
                trail,
                start,
                end,
                insert_at,
                tuple(items),
                block,
                blocks=tuple(b for _, _, b in inside),
                anchors=tuple(anchors),
            )
        )
    return tuple(out)


def _items(
    lines: list[tuple[int, str, str]], lo: int, hi: int, skip: set[int]
) -> list[tuple[str, int | None]]:
    """List entries (with continuation lines), paragraphs, table rows and code blocks, each
    with the offset just past its last line (None for table rows and code: a block there
    would split them)."""
    items: list[tuple[str, int | None]] = []
    current: list[str] = []
    fence: str | None = None
    end: list[int | None] = [None]  # past the last line of the item being read; None: no anchor

    def take(k: int, text: str, anchored: bool = True) -> None:
        current.append(text)
        end[0] = lines[k][0] + len(lines[k][1]) + len(lines[k][2]) if anchored else None

    def flush() -> None:
        if current:
            text = " ".join(s.strip() for s in current).strip()
            if text:
                items.append((text, end[0]))
            current.clear()

    for k in range(lo, hi):
        if k in skip:
            flush()
            continue
        content = lines[k][1]
        if fence is not None:
            take(k, content, anchored=False)
            if re.match(rf"^ {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$", content):
                fence = None
                flush()
            continue
        fm = _FENCE_RE.match(content)
        if fm:
            flush()
            fence = fm.group(1)
            take(k, content, anchored=False)
            continue
        if not content.strip():
            flush()
        elif _LIST_RE.match(content):
            flush()
            take(k, _LIST_RE.sub("", content, count=1))
        elif content.lstrip().startswith("|"):
            flush()
            if not re.fullmatch(r"[\s|:\-]+", content):  # skip the |---|---| rule
                take(k, content.strip().strip("|"), anchored=False)
            flush()
        else:  # a paragraph line, or a continuation of the item above
            take(k, content)
    flush()
    return items
