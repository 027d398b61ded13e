"""Which project files a memory's text names, and the lines or symbols it names in them.

A path counts when it names a file that exists inside the project root: repository-relative
(``payments/stripe_client.py``), relative to the root with ``./``, or absolute inside the root.
Anything else (a URL, a path outside the project, a file that does not exist, a bare word such
as ``setup.py`` that exists nowhere at the root) is not an anchor: a wrong anchor would make a
memory look stale for a file it never described.

A line range written after the path (``stripe.py:40``, ``stripe.py:40-55``, ``stripe.py#L40-L55``)
makes a ``lines`` target; an identifier the text marks as code (```retry_payment` ``,
``retry_payment()``, ``Client.retry``) that the file defines makes a ``symbol`` target. Either
is checked by the hash of those lines alone, so an edit elsewhere in the file leaves the memory
fresh. A file named without either is a ``file`` target (its git blob id).

Pure Python: no git, one ``stat`` per candidate path.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

MAX_TARGETS = 8  # anchors per memory: a memory naming more is a listing, not about each file
MAX_LOOKUPS = 64  # distinct path-like tokens stat-ed per text (a pasted log names hundreds)
MAX_FILE_BYTES = 2_000_000  # larger files are not anchored (hashing them on every change costs)

# A path-like token: segments of word characters, dots, dashes, @ and +, separated by slashes,
# optionally absolute or ./-relative, then an optional line spec.
_TOKEN = re.compile(
    r"(?<![\w/.:-])(?P<path>(?:/|\./)?(?:[\w@+.-]++/)*+[\w@+-][\w@+.-]*+)"
    r"(?::(?P<start>\d+)(?:-(?P<end>\d+))?|#L(?P<lstart>\d+)(?:-L?(?P<lend>\d+))?)?"
)
_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,10}$")
# Code the text marks as such: `name`, `name()`, `Class.method`, name() in prose. Possessive
# quantifiers (here and in _TOKEN): "a.a.a..." must not backtrack quadratically.
_SYMBOL = re.compile(r"`([A-Za-z_][\w.]*+)(?:\(\))?`|\b([A-Za-z_][\w.]*+)\(\)")


class Target(NamedTuple):
    """What a memory is about in one file: the whole file, lines ``a-b``, or a symbol."""

    path: str  # relative to the project root, with forward slashes
    kind: str  # file | lines | symbol
    selector: str = ""  # "" | "40-55" | "retry_payment"


def _inside(root: Path, raw: str) -> str | None:
    """``raw`` as a root-relative path when it names a regular file inside ``root``."""
    candidate = Path(raw) if os.path.isabs(raw) else root / raw
    try:
        resolved = candidate.resolve()
        relative = resolved.relative_to(root)
        st = resolved.stat()
    except (OSError, ValueError, RuntimeError):
        return None
    if not os.path.isfile(resolved) or st.st_size > MAX_FILE_BYTES:
        return None
    if relative.parts and relative.parts[0] == ".git":
        return None
    return relative.as_posix()


def symbols_named(text: str) -> list[str]:
    """Identifiers the text marks as code, last component first (``Client.retry`` -> ``retry``)."""
    out: list[str] = []
    for m in _SYMBOL.finditer(text):
        name = (m.group(1) or m.group(2) or "").rstrip(".").split(".")[-1]
        if len(name) >= 3 and name not in out:
            out.append(name)
    return out


def targets_in(text: str, root: Path, *, files: Iterable[str] = ()) -> list[Target]:
    """The anchors of a memory: files its text names (with lines or symbols where it names
    them) and ``files`` (edited in the episode that produced it), each only if it exists inside
    ``root``. At most :data:`MAX_TARGETS`, in the order named."""
    from mcp_memory.anchors.fingerprint import defines

    root = root.resolve()
    found: dict[str, list[tuple[str, str]]] = {}

    def add(path: str, kind: str, selector: str) -> None:
        entries = found.setdefault(path, [])
        if (kind, selector) not in entries:
            entries.append((kind, selector))

    looked: dict[str, str | None] = {}  # token -> the file it names
    for m in _TOKEN.finditer(text):
        raw = m.group("path").rstrip(".-")
        if "/" not in raw and not _EXTENSION.search(raw):
            continue
        if raw.startswith("//") or "://" in text[max(0, m.start() - 3) : m.start() + 3]:
            continue
        if raw not in looked:
            if len(looked) >= MAX_LOOKUPS:
                break
            looked[raw] = _inside(root, raw)
        relative = looked[raw]
        if relative is None:
            continue
        start, end = m.group("start") or m.group("lstart"), m.group("end") or m.group("lend")
        if start is not None:
            a = int(start)
            b = int(end) if end is not None else a
            if 1 <= a <= b and b - a < 2000:
                add(relative, "lines", f"{a}-{b}")
                continue
        add(relative, "file", "")
    for path in files:
        relative = _inside(root, path)
        if relative is not None:
            add(relative, "file", "")
    names = symbols_named(text) if found else []
    targets: list[Target] = []
    for path, entries in found.items():
        symbols: list[str] = []
        if names and any(kind == "file" for kind, _ in entries):
            try:
                source = (root / path).read_text(encoding="utf-8", errors="replace")
            except OSError:
                source = ""
            symbols = [n for n in names if defines(source, n)]
        for kind, selector in entries:
            if kind == "file" and symbols:
                targets.extend(Target(path, "symbol", s) for s in symbols)
            else:
                targets.append(Target(path, kind, selector))
    return targets[:MAX_TARGETS]
