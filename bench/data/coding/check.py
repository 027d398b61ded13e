"""Validate the coding recall set: python3 bench/data/coding/check.py (exits 1 on any problem)."""

import json
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
TYPES = {"decision", "error_fix", "convention", "command", "gotcha", "note", "session_summary"}
KINDS = {
    "identifier": 20,
    "paraphrase": 25,
    "task": 15,
    "concept": 8,
    "unanswerable": 20,
}  # minimum counts


def load(name: str) -> list[dict]:
    return [json.loads(line) for line in (HERE / name).read_text().splitlines() if line.strip()]


def main() -> int:
    errors: list[str] = []
    mems, queries, groups = load("memories.jsonl"), load("queries.jsonl"), load("link_groups.jsonl")
    split = json.loads((HERE / "split.json").read_text())
    by_id = {m["id"]: m for m in mems}
    if len(by_id) != len(mems):
        errors.append("duplicate memory ids")
    if len({m["text"] for m in mems}) != len(mems):
        errors.append("duplicate memory texts")
    for m in mems:
        if m["type"] not in TYPES:
            errors.append(f"{m['id']}: bad type {m['type']}")
        if not 80 <= len(m["text"]) <= 500:
            errors.append(f"{m['id']}: text length {len(m['text'])}")
    projects = Counter(m["project"] for m in mems)
    if len(mems) < 170 or len([p for p in projects if p != "global"]) < 5:
        errors.append("need >= 170 memories in >= 5 projects")
    if len({q["id"] for q in queries}) != len(queries):
        errors.append("duplicate query ids")
    kinds = Counter(q["kind"] for q in queries)
    for kind, minimum in KINDS.items():
        if kinds[kind] < minimum:
            errors.append(f"only {kinds[kind]} {kind} queries")
    if set(kinds) - set(KINDS) or len(queries) < 100:
        errors.append(f"bad kinds or too few queries: {dict(kinds)}")
    for q in queries:
        ans = q["answers"]
        if (q["kind"] == "unanswerable") != (not ans) or len(ans) > 3 or len(set(ans)) != len(ans):
            errors.append(f"{q['id']}: answers {ans} do not fit kind {q['kind']}")
        for a in ans:
            if a not in by_id:
                errors.append(f"{q['id']}: unknown answer {a}")
            elif by_id[a]["project"] not in (q["project"], "global"):
                errors.append(
                    f"{q['id']}: answer {a} is in {by_id[a]['project']}, query in {q['project']}"
                )
    names = set()
    for g in groups:
        for lst in ("related", "unrelated_same_format"):
            for k, (a, b) in enumerate(g[lst]):
                names.add(f"{g['project']}/{lst}/{k}")
                if a == b or a not in by_id or b not in by_id:
                    errors.append(f"{g['project']} {lst}: bad pair {a},{b}")
                elif {by_id[a]["project"], by_id[b]["project"]} != {g["project"]}:
                    errors.append(f"{g['project']} {lst}: pair {a},{b} outside the project")
                elif lst == "unrelated_same_format" and by_id[a]["type"] != by_id[b]["type"]:
                    errors.append(f"{g['project']}: same-format pair {a},{b} has different types")
    n_rel = sum(len(g["related"]) for g in groups)
    n_same = sum(len(g["unrelated_same_format"]) for g in groups)
    if n_rel < 20 or n_same < 20:
        errors.append(f"need >= 20 pairs of each: {n_rel} related, {n_same} same-format")
    cal, held = split["calibration"], split["held_out"]
    if sorted(cal + held) != sorted(q["id"] for q in queries) or set(cal) & set(held):
        errors.append("query split does not cover every query exactly once")
    kind_of = {q["id"]: q["kind"] for q in queries}
    if Counter(kind_of[i] for i in cal) != Counter(kind_of[i] for i in held):
        errors.append("query split halves differ in kinds")
    lcal, lheld = split["links"]["calibration"], split["links"]["held_out"]
    if sorted(lcal + lheld) != sorted(names) or set(lcal) & set(lheld):
        errors.append("link split does not cover every pair exactly once")
    for e in errors:
        print("ERROR", e)
    print(f"memories {len(mems)} {dict(projects)}")
    print(f"queries {len(queries)} {dict(kinds)}; split {len(cal)}/{len(held)}")
    print(f"link pairs: {n_rel} related, {n_same} same-format; split {len(lcal)}/{len(lheld)}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
