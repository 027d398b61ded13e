"""Text for people at a terminal: aligned tables, dates, shares and wrapped memory text.

Plain Python (no dependency). Every command keeps a ``--json`` twin for scripts; what is here
only shapes the human output, so it may change without breaking anyone.
"""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Sequence
from datetime import UTC, datetime

MIN_FLEX = 12  # the flexible column keeps at least this many characters
MIN_OTHER = 6  # any other column, shortened only when the flexible one is not enough


def width() -> int:
    """The terminal's width: ``COLUMNS`` wins (``shutil.get_terminal_size`` reads it first),
    then the terminal's own, 100 when output is not a terminal; never under 40."""
    return max(40, shutil.get_terminal_size((100, 24)).columns)


def table(
    headers: Sequence[str],
    rows: Sequence[Sequence[object]],
    *,
    right: Sequence[int] = (),
    flex: int | None = None,
    max_width: int | None = None,
    indent: str = "",
) -> str:
    """Columns aligned on the longest cell (``right``: indexes aligned right, for numbers).
    When the table is wider than ``max_width`` (default: the terminal), column ``flex`` is
    shortened with an ellipsis first, then the widest of the others, one character at a
    time, until the table fits (or every column is at its minimum)."""
    cells = [[str(c) for c in headers]] + [[_flat(c) for c in row] for row in rows]
    widths = [max(len(row[k]) for row in cells) for k in range(len(headers))]
    _fit(widths, (max_width or width()) - len(indent), flex)
    lines = []
    for n, row in enumerate(cells):
        parts = []
        for k, cell in enumerate(row):
            text = clip(cell, widths[k])
            parts.append(text.rjust(widths[k]) if k in right else text.ljust(widths[k]))
        lines.append(indent + "  ".join(parts).rstrip())
        if n == 0:
            lines.append(indent + "  ".join("─" * w for w in widths))
    return "\n".join(lines)


def _fit(widths: list[int], limit: int, flex: int | None) -> None:
    """Shrink ``widths`` in place until the columns and their gaps fit in ``limit``."""
    excess = sum(widths) + 2 * (len(widths) - 1) - limit
    if excess <= 0:
        return
    if flex is not None and widths[flex] > MIN_FLEX:
        cut = min(excess, widths[flex] - MIN_FLEX)
        widths[flex] -= cut
        excess -= cut
    while excess > 0:
        k = max(range(len(widths)), key=lambda i: widths[i])
        if widths[k] <= MIN_OTHER:
            return
        widths[k] -= 1
        excess -= 1


def field(label: str, text: str, limit: int | None = None) -> str:
    """``label`` then ``text`` folded to the terminal's width, continuation lines under the text
    (a long path breaks across lines rather than running past the edge)."""
    import textwrap

    indent = " " * 10
    return textwrap.fill(
        f"{label:<9} {text}",
        width=max(30, limit or width()),
        subsequent_indent=indent,
        break_on_hyphens=False,
    )


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


def _flat(value: object) -> str:
    """One line (runs of spaces inside a cell are kept: they may align something)."""
    return " ".join(str(value).splitlines()).replace("\t", " ")


def number(n: object) -> str:
    return f"{n:,}" if isinstance(n, int) else str(n)


def share_bar(part: int, whole: int, size: int = 20) -> str:
    """``█████░░░░░  25%``: a share drawn with block characters."""
    ratio = part / whole if whole else 0.0
    filled = round(ratio * size)
    if part and not filled:
        filled = 1
    return "█" * filled + "░" * (size - filled) + f" {ratio * 100:3.0f}%"


def when(value: float | str | None) -> str:
    """A timestamp or ISO 8601 string as local ``YYYY-MM-DD HH:MM`` (``never`` for None)."""
    if value is None:
        return "never"
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
    else:
        moment = datetime.fromtimestamp(value, UTC)
    return moment.astimezone().strftime("%Y-%m-%d %H:%M")


def wrapped(text: str, indent: str, lines: int = 3, limit: int | None = None) -> str:
    """Memory text as at most ``lines`` lines under ``indent`` (an ellipsis if cut)."""
    room = max(20, (limit or width()) - len(indent))
    flat = " ".join(text.split())
    parts = textwrap.wrap(flat, room) or [""]
    if len(parts) > lines:  # one ellipsis, even where the cut line ends in "." or "…"
        parts = parts[:lines]
        parts[-1] = parts[-1][: room - 2].rstrip(" .…") + " …"
    return "\n".join(indent + p for p in parts)
