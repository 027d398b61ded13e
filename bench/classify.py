"""How well explicit memories are typed: ``service.classify`` on labelled texts.

Run: ``.venv/bin/python bench/classify.py`` (a second; no model). It rewrites the "classify"
section of docs/benchmarks.md.

Data: ``bench/data/classify_cases.jsonl``, short memory texts as a user or Claude would store
them with ``remember``, one a line: ``text``, the expected ``type`` (decision, convention,
preference, error_fix, todo, session_summary, or note for a plain fact) and ``split``. The
cases were written before the rules were tuned; cases alternate within each type between the
calibration half (the rules were tuned on it) and the held-out half (never looked at while
tuning), so each half has every type.

What matters most is protection: decisions, conventions and preferences (and the user's own
notes) never expire by isolation, so a decision typed as a note can be aged out. The table
gives accuracy per type and split, and the share of protected-type cases that came out
protected.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

from _report import table, write_section

from mcp_memory.service.classify import PROTECTED_TYPES, classify

CASES = Path(__file__).parent / "data" / "classify_cases.jsonl"
SPLITS = ("calibration", "held_out")
README_EXAMPLE = "We use uv, not pip, because installs are 10x faster."


def load() -> list[dict[str, str]]:
    return [json.loads(line) for line in CASES.read_text(encoding="utf-8").splitlines() if line]


def main() -> int:
    cases = load()
    types = list(dict.fromkeys(c["type"] for c in cases))
    right: Counter[tuple[str, str]] = Counter()
    total: Counter[tuple[str, str]] = Counter()
    protected: Counter[str] = Counter()
    should_protect: Counter[str] = Counter()
    misses: list[str] = []
    for case in cases:
        got = classify(case["text"])
        key = (case["type"], case["split"])
        total[key] += 1
        right[key] += got == case["type"]
        if case["type"] in PROTECTED_TYPES:
            should_protect[case["split"]] += 1
            protected[case["split"]] += got in PROTECTED_TYPES
        if got != case["type"]:
            misses.append(f"- {case['split']}: {case['text']!r}: {got} (expected {case['type']})")

    def rate(n: int, d: int) -> str:
        return f"{n}/{d} ({n / d:.0%})" if d else "-"

    rows = [[kind, *(rate(right[kind, s], total[kind, s]) for s in SPLITS)] for kind in types]
    rows.append(
        [
            "**all**",
            *(
                rate(
                    sum(right[k, s] for k in types),
                    sum(total[k, s] for k in types),
                )
                for s in SPLITS
            ),
        ]
    )
    rows.append(
        [
            "protected types kept protected",
            *(rate(protected[s], should_protect[s]) for s in SPLITS),
        ]
    )
    example = classify(README_EXAMPLE)
    body = "\n".join(
        [
            "## Memory types of explicit `remember` (`bench/classify.py`)",
            "",
            f"{len(cases)} labelled texts in `bench/data/classify_cases.jsonl`; the rules in "
            "`mcp_memory/service/classify.py` were tuned on the calibration half only. "
            f"Protected types: {', '.join(sorted(PROTECTED_TYPES))}.",
            "",
            table(["type", "calibration", "held-out"], rows),
            "",
            f"The README's example {README_EXAMPLE!r} is typed `{example}`"
            f" ({'protected' if example in PROTECTED_TYPES else 'NOT protected'}).",
            "",
            "Misclassified:" if misses else "Nothing misclassified.",
            *misses,
        ]
    )
    write_section("classify", body)
    print(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
