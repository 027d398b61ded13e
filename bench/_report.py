"""Write benchmark results into docs/benchmarks.md, one named section per script.

Each script owns the text between ``<!-- BEGIN name -->`` and ``<!-- END name -->``; rewriting
one section keeps every other section as it is. Numbers in the docs come only from here.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
HEADER = (
    "# Benchmarks\n\n"
    "Every section is written by a script in `bench/` (named in the section); re-run the "
    "script instead of editing numbers by hand.\n"
)


def write_section(name: str, body: str, path: Path = DOC) -> Path:
    """Replace section ``name`` of ``path`` with ``body`` (appended when it is new)."""
    begin, end = f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"
    block = f"{begin}\n{body.strip()}\n{end}"
    text = path.read_text(encoding="utf-8") if path.exists() else HEADER
    start = text.find(begin)
    stop = text.find(end, start + len(begin)) if start != -1 else -1
    if start != -1 and stop != -1:
        text = text[:start] + block + text[stop + len(end) :]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)  # a reader never sees half a file
    return path


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table; cells are formatted with ``str``."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo (Linux), else what :mod:`platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine(**versions: str) -> dict[str, str]:
    """Cores, CPU, OS and Python, then the package ``versions`` a script wants to name."""
    return {
        "cores": str(os.cpu_count()),
        "cpu": cpu_name(),
        "os": platform.platform(terse=True),
        "python": platform.python_version(),
        **versions,
    }


def machine_line() -> str:
    """:func:`machine` as one phrase for a section's first line."""
    m = machine()
    return f"{m['cores']} cores ({m['cpu']}), {m['os']}, Python {m['python']}"


class Rates:
    """Precision, recall and F1 of a dataclass's ``tp``, ``fp`` and ``fn`` counts (mixed in)."""

    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass(frozen=True)
class ThresholdScore(Rates):
    """A threshold's counts on a labelled set of pairs (links, near-duplicates)."""

    threshold: float
    tp: int
    fp: int
    fn: int
