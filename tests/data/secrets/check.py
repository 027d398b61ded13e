"""Validate corpus.jsonl and lookalikes.jsonl: `python tests/data/secrets/check.py`."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).parent


def load(name: str) -> list[dict]:
    return [json.loads(line) for line in (HERE / name).read_text().splitlines() if line.strip()]


def problems() -> list[str]:
    secrets, looks = load("corpus.jsonl"), load("lookalikes.jsonl")
    out: list[str] = []
    ids = Counter(c["id"] for c in secrets + looks)
    out += [f"duplicate id {i}" for i, n in ids.items() if n > 1]
    values = Counter(c["secret"] for c in secrets)
    out += [f"secret used twice: {c['id']}" for c in secrets if values[c["secret"]] > 1]
    for c in secrets:
        if not c["id"].startswith("s") or not c["kind"] or len(c["secret"]) < 6:
            out.append(f"{c['id']}: bad id, kind or secret")
        if c["secret"] not in c["text"]:
            out.append(f"{c['id']}: secret not in text")
        out += [
            f"{c['id']}: fragment {f!r} not in text"
            for f in c.get("fragments", ())
            if f not in c["text"]
        ]
    for c in looks:
        if not c["id"].startswith("l") or not c["kind"] or not c["must_keep"]:
            out.append(f"{c['id']}: bad id, kind or must_keep")
        out += [
            f"{c['id']}: must_keep {k!r} not in text" for k in c["must_keep"] if k not in c["text"]
        ]
        out += [f"{c['id']}: holds secret {s['id']}" for s in secrets if s["secret"] in c["text"]]
    if len(secrets) < 120 or len(looks) < 60:
        out.append(f"too few cases: {len(secrets)} secrets, {len(looks)} look-alikes")
    if len({c["kind"] for c in secrets}) < 35:
        out.append("fewer than 35 distinct secret kinds")
    return out


if __name__ == "__main__":
    found = problems()
    print("\n".join(found) or "ok")
    sys.exit(1 if found else 0)
