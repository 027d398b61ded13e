"""Routing accuracy of the bundled MiniLM on labelled memories; calibrates the route thresholds.

Run: ``.venv/bin/python bench/route.py`` (about half a minute on 2 cores). It rewrites the
"route" section of docs/benchmarks.md and prints the thresholds to put in
``routing.THRESHOLDS["minilm"]``.

Data: a hand-written project, ``bench/data/route/project`` (a ``CLAUDE.md`` with Commands,
Architecture, Database, Git workflow and Frontend sections, and ``.claude/rules/`` testing,
style, security and deployment files), a user's ``~/.claude``, ``bench/data/route/claude_home``,
and ``bench/data/route_cases.json``: memories labelled with where they belong, one a line.
``expect`` is ``FILE#SECTION``, ``default`` (nothing there fits: the default target),
``duplicate`` (a line already says it, in other words) or ``conflict`` (a line on the same point
says something else: another number, tool or rule). ``additive: true`` marks a memory written to
sit next to a line on the same subject with new information (it must still be written);
``fresh`` one written after a version of the text rule for conflicts was fixed: 1 after the
first version (which was then revised on them), 2 after the revision (a test of the rule);
``round: 4`` the 48 cases written in round 4 (issue #15 item 5) before the words decision
(``routing.additions``): additive near-paraphrases, same-line contradictions, restatements.

Split: cases at even positions of the list (1-based) are the calibration half, odd ones the
held-out half. The list is in blocks by label, so each half gets every kind.

Method: the files are copied to a temporary project; every memory is remembered through the real
``MemoryService`` and promoted by hand, as a user would. ``Router.signals`` gives each memory's
evidence against the hand-written files alone (most similar section, most similar item, whether
the memory states a number that item lacks, and the most similar of its three closest lines that
``conflicts.contradiction`` finds disagreeing with it: a changed number, version, identifier or
name in the same slot, never/not/no against an affirmation, one word swapped, or opposites);
``routing.classify`` turns evidence and thresholds into a decision, so the sweep decides
exactly as the router does. The script then plans each
memory with the real ``Router`` at the chosen thresholds and checks that it agrees with the
sweep, and finally applies every memory at once and undoes every file, checking that text
outside the managed blocks is unchanged and that undo restores each file byte for byte.

Threshold rule (calibration half only): the highest accuracy over route 0.15..0.50, duplicate
0.80..0.99, conflict band 0.00..0.30 and contradiction 0.30..0.80 or off (steps of 0.01), and
the words decision's kept 0.30..1.00 (steps of 0.05) and adds 1..8, or off; ties go to the
higher duplicate threshold (marking a memory "already present" drops it, the costliest
mistake), then the narrower band and the higher contradiction threshold (fewer held for
review), then the lower adds and kept (fewer held for review), then the higher route threshold
(a hand-written file only receives clear matches). For comparison the same sweep runs without
the words decision (round 3's rule), and with the text rule off altogether; the rows at
round 3's shipped thresholds (``ROUND3``) are reported beside the new ones.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from _report import table, write_section

from mcp_memory.embedding.local import LocalEmbedder
from mcp_memory.embedding.specs import MINILM
from mcp_memory.projects import GLOBAL
from mcp_memory.routing.managed import remove_block
from mcp_memory.routing.plan import THRESHOLDS, Signals, Thresholds, classify
from mcp_memory.routing.router import RouteConfig, Router
from mcp_memory.routing.targets import parse
from mcp_memory.service.memories import MemoryService
from mcp_memory.service.types import Options
from mcp_memory.store.database import Store

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "bench" / "data"
CASES = DATA / "route_cases.json"
FILES = DATA / "route"
SECTION = "route"
ROUTE_GRID = tuple(round(0.15 + 0.01 * i, 2) for i in range(36))
DUPLICATE_GRID = tuple(round(0.80 + 0.01 * i, 2) for i in range(20))
BAND_GRID = tuple(round(0.01 * i, 2) for i in range(31))
OFF = 2.0  # a contradiction threshold no cosine reaches: the text rule off
# What each earlier version of the text rule did on the `fresh` batch written after it (from
# the run that measured it, at the thresholds chosen then), and how it was revised on them.
# Those batches are no longer unseen; only the last one tests the rule as it is.
REVISIONS = {
    1: (
        "contradictions held 8/12 (7/12 without the rule), additive memories written 9/12 "
        "(10/12 without it: it held a worker coverage minimum next to the api/ one, "
        "`admin_client` next to `client`, private helpers next to public functions); revised: "
        "values compared only when both are negated or both not, a longer name is not "
        "another value, a memory that says also / too / as well is checked for negation only"
    ),
    2: (
        "contradictions held 4/12 (7/12 without the rule, whose wider band held more), "
        "additive written 12/12 (11/12); revised: a negation ends at a connective (unless, "
        "if, so, ...), a negated word counts as a part of an identifier (`datetime` / "
        "`datetime.now`), a port (`:8000`, `port 3000`) is a unit"
    ),
    3: (
        "contradictions held 5/12 (6/12 without the rule), additive written 12/12 (11/12); "
        "revised: numbers are compared whether negated or not (version 2 had stopped "
        'comparing "stay above 75%" with "must not drop below 85%")'
    ),
}
CONTRADICTION_GRID = (*(round(0.30 + 0.01 * i, 2) for i in range(51)), OFF)
KINDS = ("section", "default", "duplicate", "conflict")
# THRESHOLDS["minilm"] as shipped before round 4 (no words decision): the rows to stay no worse
ROUND3 = Thresholds(
    route=0.27, duplicate=0.92, conflict_band=0.17, contradiction=0.45, kept=2.0, adds=99
)
WORDS_OFF = ((2.0, 99),)  # kept above 1: no memory extends or restates a line by its words
WORDS_GRID = (
    *((round(0.3 + 0.05 * i, 2), a) for i in range(15) for a in range(1, 9)),
    *WORDS_OFF,
)


@dataclass(frozen=True)
class Case:
    position: int  # 1-based position in the list
    scope: str
    expect: str
    text: str
    additive: bool = False  # new information next to a line on the same subject
    fresh: int = 0  # written after version N of the text rule for conflicts (0: before)
    round: int = 0  # 4: written in round 4, before the additive / duplicate text decision

    @property
    def kind(self) -> str:
        return "section" if "#" in self.expect else self.expect

    @property
    def calibration(self) -> bool:
        return self.position % 2 == 0


def load_cases(path: Path = CASES) -> list[Case]:
    rows = json.loads(path.read_text(encoding="utf-8"))["cases"]
    cases = [
        Case(
            n,
            r["scope"],
            r["expect"],
            r["text"],
            r.get("additive", False),
            r.get("fresh", 0),
            r.get("round", 0),
        )
        for n, r in enumerate(rows, start=1)
    ]
    for c in cases:
        if c.kind not in KINDS or c.scope not in ("project", "global"):
            raise ValueError(f"case {c.position}: bad scope or expect {c.scope!r} {c.expect!r}")
    return cases


def outcome(signals: Signals, t: Thresholds) -> str:
    """What routing does, as a label: FILE#SECTION, default, duplicate or conflict."""
    kind = classify(signals, t)
    if kind == "extends":  # written right after its most similar item, in that item's section
        return signals.item
    return signals.section if kind == "section" else kind


def correct(case: Case, got: str) -> bool:
    return got == case.expect


def accuracy(cases: list[Case], signals: dict[int, Signals], t: Thresholds) -> float:
    return sum(correct(c, outcome(signals[c.position], t)) for c in cases) / len(cases)


def calibrate(
    cases: list[Case],
    signals: dict[int, Signals],
    gates: tuple[float, ...] = CONTRADICTION_GRID,
    words: tuple[tuple[float, int], ...] = WORDS_GRID,
) -> tuple[Thresholds, float]:
    """The rule in the module docstring, over the whole grid (numpy over the four cosine
    thresholds, a loop over ``kept`` and ``adds``): ``classify`` for every combination,
    checked against ``classify`` itself for the choice."""
    sig = [signals[c.position] for c in cases]
    item = np.array([s.item_similarity for s in sig])
    against = np.array([s.contradiction_similarity for s in sig])
    section = np.array([s.section_similarity for s in sig])
    may_dup = np.array([not s.numbers_differ and not s.item_contradicts for s in sig])
    contradicts = np.array([s.item_contradicts for s in sig])
    kept = np.array([s.item_kept for s in sig])
    net = np.array([s.item_new - s.item_dropped for s in sig])
    negates = np.array([s.item_negates for s in sig])
    restates = np.array([s.item_restates for s in sig]) & may_dup
    want = {k: np.array([c.kind == k for c in cases]) for k in KINDS}
    right_section = np.array([s.section == c.expect for s, c in zip(sig, cases, strict=True)])
    right_item = np.array([s.item == c.expect for s, c in zip(sig, cases, strict=True)])
    dup, band = np.array(DUPLICATE_GRID), np.array(BAND_GRID)
    gate, route = np.array(gates), np.array(ROUTE_GRID)
    is_dup = (item >= dup[:, None]) & may_dup  # (D, N)
    in_band = ~is_dup[:, None] & (item >= (dup[:, None] - band[None, :])[..., None])  # (D, B, N)
    by_rule = against >= gate[:, None]  # (G, N)
    free = ~contradicts & ~by_rule  # (G, N): no disagreement the text rule finds
    below = ~is_dup[:, None, None] & ~in_band[:, :, None] & ~by_rule[None, None]  # (D, B, G, N)
    rest = below.astype(np.int32)  # routed by the route threshold
    goes = section >= route[:, None]  # (R, N)
    ok = np.where(goes, right_section, want["default"]).astype(np.int32)  # (R, N)
    routed = np.einsum("dbgn,rn->dbgr", rest, ok)  # (D, B, G, R)
    base = (is_dup & want["duplicate"]).sum(-1)[:, None, None] + (
        ~is_dup[:, None, None] & ~in_band[:, :, None] & by_rule[None, None] & want["conflict"]
    ).sum(-1)  # (D, B, G)
    best_key: tuple[int, float, float, float, int, float, float] | None = None
    for k, a in words:
        on = k <= 1.0
        extends = free & ((kept >= k) & (net >= a) & ~negates)[None] if on else np.zeros_like(free)
        same = free & ~extends & restates[None] if on else np.zeros_like(free)
        ext = in_band[:, :, None] & extends[None, None]  # (D, B, G, N)
        dup_words = in_band[:, :, None] & same[None, None]
        held = in_band[:, :, None] & ~ext & ~dup_words
        fixed = (
            base
            + (ext & right_item).sum(-1)
            + (dup_words & want["duplicate"]).sum(-1)
            + (held & want["conflict"]).sum(-1)
        )
        correct = fixed[..., None] + routed  # (D, B, G, R)
        top = int(correct.max())
        if best_key is not None and top < best_key[0]:
            continue
        for d, b, g, r in zip(*np.nonzero(correct == top), strict=True):
            key = (top, dup[d], -band[b], gate[g], -a, -k, route[r])
            if best_key is None or key > best_key:
                best_key = key
    assert best_key is not None
    n, d_, b_, g_, a_, k_, r_ = best_key
    a_, k_ = -a_, -k_
    chosen = Thresholds(
        route=float(r_),
        duplicate=float(d_),
        conflict_band=float(-b_),
        contradiction=float(g_),
        kept=float(k_),
        adds=int(a_),
    )
    assert round(accuracy(cases, signals, chosen) * len(cases)) == n, "sweep != classify"
    return chosen, n / len(cases)


@dataclass
class Setup:
    tmp: Path
    project: Path
    home: Path
    store: Store
    router: Router
    ids: dict[int, int]  # case position -> memory id


def setup(cases: list[Case], embedder: LocalEmbedder, tmp: Path, t: Thresholds) -> Setup:
    project, home = tmp / "project", tmp / "claude_home"
    shutil.copytree(FILES / "project", project)
    shutil.copytree(FILES / "claude_home", home)
    store = Store.open(tmp / "memory.db")
    service = MemoryService(store, embedder, Options(duplicate_threshold=1.01))
    ids: dict[int, int] = {}
    for c in cases:
        key = GLOBAL if c.scope == "global" else str(project.resolve())
        r = service.remember(c.text, project=key, source="user")
        if r.status != "created":
            raise RuntimeError(f"case {c.position} is a repeat of another case")
        store.set_state(r.id, "proven")
        ids[c.position] = r.id
    config = RouteConfig(claude_home=home, backup_dir=tmp / "backups", thresholds=t)
    return Setup(tmp, project, home, store, Router(store, embedder, config), ids)


def projects(s: Setup) -> list[str]:
    return [str(s.project.resolve()), GLOBAL]


def planned(s: Setup, case: Case, t: Thresholds) -> str:
    """The real router's decision for one memory, as a label."""
    s.router.thresholds = t
    item = s.router.plan(projects(s), ids=[s.ids[case.position]]).items[0]
    if item.action == "write":
        return (
            "default" if Path(item.target).name == "memory.md" else f"{item.target}#{item.section}"
        )
    return item.action


def integrity(s: Setup) -> dict[str, object]:
    """Apply every memory at once, then undo every file: user text kept, undo exact."""
    originals = {p: p.read_bytes() for p in [*s.project.rglob("*.md"), *s.home.rglob("*.md")]}
    plan = s.router.apply(projects(s))
    outside_same = True
    for path, before in originals.items():
        text = path.read_text(encoding="utf-8")
        blocks = [b for sec in parse(text) for b in sec.blocks]
        for block in sorted(blocks, key=lambda b: -b.start):
            text = remove_block(text, block, "\n")
        outside_same &= text.encode("utf-8") == before
    for change in plan.files:
        s.router.undo_file(change.path, project=str(s.project.resolve()))
    after = {p: p.read_bytes() for p in [*s.project.rglob("*.md"), *s.home.rglob("*.md")]}
    return {
        "written": len(plan.files),
        "memories": sum(len(f.memory_ids) for f in plan.files),
        "counts": plan.counts,
        "outside_same": outside_same,
        "undo_exact": after == originals,
    }


@dataclass
class Run:
    """Everything the report needs."""

    cases: list[Case]
    signals: dict[int, Signals]
    got: dict[int, str]  # the real router at the chosen thresholds
    chosen: Thresholds
    cal_acc: float
    off: Thresholds  # chosen the same way with the text rule off (and the words decision)
    prior: Thresholds  # chosen the same way without the words decision (round 3's rule)
    folds: tuple[int, Thresholds]
    mismatches: list[int]
    check: dict[str, object]
    elapsed: float = 0.0


def main() -> int:
    started = time.time()
    cases = load_cases()
    embedder = LocalEmbedder(MINILM, Path(tempfile.gettempdir()), threads=2)
    with tempfile.TemporaryDirectory(prefix="route-bench-") as tmp_name:
        tmp = Path(tmp_name)
        s = setup(cases, embedder, tmp, THRESHOLDS["minilm"])
        by_id = s.router.signals(projects(s), list(s.ids.values()))
        signals = {c.position: by_id[s.ids[c.position]] for c in cases}
        cal = [c for c in cases if c.calibration]
        chosen, cal_acc = calibrate(cal, signals)
        off, _ = calibrate(cal, signals, (OFF,), WORDS_OFF)
        prior, _ = calibrate(cal, signals, CONTRADICTION_GRID, WORDS_OFF)
        held = [c for c in cases if not c.calibration]
        swapped, _ = calibrate(held, signals)  # the other way round, for a 2-fold estimate
        folds = (
            round(accuracy(held, signals, chosen) * len(held))
            + round(accuracy(cal, signals, swapped) * len(cal)),
            swapped,
        )
        mismatches = []
        got: dict[int, str] = {}
        for c in cases:
            got[c.position] = planned(s, c, chosen)
            if got[c.position] != outcome(signals[c.position], chosen):
                mismatches.append(c.position)
        check = integrity(s)
        s.store.close()
    run = Run(cases, signals, got, chosen, cal_acc, off, prior, folds, mismatches, check)
    run.elapsed = time.time() - started
    body = report(run)
    write_section(SECTION, body)
    print(body)
    print(f"\nput in routing.THRESHOLDS['minilm']: {chosen}")
    return 1 if mismatches or not check["outside_same"] or not check["undo_exact"] else 0


def _fmt(t: Thresholds) -> str:
    gate = "off" if t.contradiction is None or t.contradiction >= OFF else f"{t.contradiction:.2f}"
    words = (
        "words off"
        if t.kept is None or t.kept > 1.0
        else f"words: kept >= {t.kept:.2f}, adds >= {t.adds}"
    )
    return (
        f"route {t.route:.2f}, duplicate {t.duplicate:.2f}, conflict band "
        f"{t.conflict_band:.2f}, contradiction {gate}, {words}"
    )


def report(run: Run) -> str:
    cases, signals, got, chosen = run.cases, run.signals, run.got, run.chosen
    current = THRESHOLDS["minilm"]
    got_off = {c.position: outcome(signals[c.position], run.off) for c in cases}
    got_prior = {c.position: outcome(signals[c.position], run.prior) for c in cases}
    got_round3 = {c.position: outcome(signals[c.position], ROUND3) for c in cases}
    no_words = replace(chosen, kept=WORDS_OFF[0][0], adds=WORDS_OFF[0][1])
    got_no_words = {c.position: outcome(signals[c.position], no_words) for c in cases}
    no_rule = replace(chosen, contradiction=OFF)  # the chosen thresholds, the text rule off
    got_no_rule = {c.position: outcome(signals[c.position], no_rule) for c in cases}

    def acc(subset: list[Case], decided: dict[int, str] = got) -> str:
        n = sum(correct(c, decided[c.position]) for c in subset)
        return f"{n}/{len(subset)} ({n / len(subset):.0%})" if subset else "-"

    def written(subset: list[Case], decided: dict[int, str] = got) -> str:
        n = sum("#" in decided[c.position] or decided[c.position] == "default" for c in subset)
        return f"{n}/{len(subset)} ({n / len(subset):.0%})" if subset else "-"

    halves = {
        "calibration": [c for c in cases if c.calibration],
        "held-out": [c for c in cases if not c.calibration],
        "all": cases,
    }

    def by_label(decided: dict[int, str]) -> list[list[object]]:
        rows: list[list[object]] = []
        for kind in KINDS:
            rows.append(
                [kind, *(acc([c for c in h if c.kind == kind], decided) for h in halves.values())]
            )
        rows.append(["**all**", *(f"**{acc(h, decided)}**" for h in halves.values())])
        rows.append(
            [
                "additive next to a line: written (any section)",
                *(written([c for c in h if c.additive], decided) for h in halves.values()),
            ]
        )
        return rows

    def by_half(subset: list[Case], decided: dict[int, str]) -> list[str]:
        return [acc([c for c in subset if c in h], decided) for h in halves.values()]

    round4 = [c for c in cases if c.round == 4]
    earlier = [c for c in cases if c.round != 4]
    round_rows: list[list[object]] = []
    for name, group in (("round 4", round4), ("earlier", earlier)):
        for kind in KINDS:
            subset = [c for c in group if c.kind == kind]
            if subset:
                for label, decided in (("round 3", got_round3), ("now", got)):
                    round_rows.append([name, kind, label, *by_half(subset, decided)])
        adds = [c for c in group if c.additive]
        for label, decided in (("round 3", got_round3), ("now", got)):
            round_rows.append(
                [
                    name,
                    "additive: written",
                    label,
                    *(written([c for c in adds if c in h], decided) for h in halves.values()),
                ]
            )
        for label, decided in (("round 3", got_round3), ("now", got)):
            round_rows.append([name, "**all**", label, *by_half(group, decided)])
    extended = [c for c in cases if classify(signals[c.position], chosen) == "extends"]
    extended_right = sum(correct(c, got[c.position]) for c in extended)
    extended_labels = Counter(("additive" if c.additive else c.kind) for c in extended)
    by_words = [
        c
        for c in cases
        if classify(signals[c.position], chosen) == "duplicate"
        and signals[c.position].item_similarity < chosen.duplicate
    ]
    dropped_adds = [c for c in cases if c.additive and got[c.position] == "duplicate"]
    fresh = [c for c in cases if c.fresh]
    fresh_rows: list[list[object]] = []
    for batch in sorted({c.fresh for c in fresh}):
        group = [c for c in fresh if c.fresh == batch]
        for kind in KINDS:
            subset = [c for c in group if c.kind == kind]
            if subset:
                fresh_rows.append(
                    [batch, kind, acc(subset, got_off), acc(subset, got_no_rule), acc(subset)]
                )
        adds = [c for c in group if c.additive]
        fresh_rows.append(
            [
                batch,
                "additive: written",
                written(adds, got_off),
                written(adds, got_no_rule),
                written(adds),
            ]
        )
    # file-level view of the topical cases: right file, any section
    topical = [c for c in cases if c.kind == "section"]
    right_file = sum(got[c.position].split("#")[0] == c.expect.split("#")[0] for c in topical)
    by_mean = sum(signals[c.position].section == c.expect for c in topical)
    by_vector = sum(signals[c.position].section_by_vector == c.expect for c in topical)
    by_item = sum(signals[c.position].section_by_item == c.expect for c in topical)
    by_line = sum(signals[c.position].item == c.expect for c in topical)
    confusion = Counter(
        (c.kind, "section" if "#" in got[c.position] else got[c.position]) for c in cases
    )
    conf_rows = [
        [k, *(confusion[(k, g)] for g in KINDS)] for k in KINDS
    ]  # rows: truth, columns: decision
    errors = [
        [c.position, c.expect, got[c.position], _short(c.text)]
        for c in cases
        if not correct(c, got[c.position])
    ]
    sweep = []
    for route in (0.20, 0.25, 0.30, 0.35, 0.40):
        t = replace(chosen, route=route)
        sweep.append([route, *(f"{accuracy(h, signals, t):.0%}" for h in halves.values())])
    dup_sweep = []
    for dup in (0.86, 0.88, 0.90, 0.92, 0.94, 0.96):
        t = replace(chosen, duplicate=dup)
        dup_sweep.append([dup, *(f"{accuracy(h, signals, t):.0%}" for h in halves.values())])
    gate_sweep = []
    for gate in (0.35, 0.40, 0.45, 0.50, 0.55, 0.60, OFF):
        t = replace(chosen, contradiction=gate)
        label = "off" if gate >= OFF else gate
        conflicts_held = [
            f"{sum(outcome(signals[c.position], t) == 'conflict' for c in h if c.kind == k)}"
            f"/{sum(c.kind == k for c in h)}"
            for h in (halves["all"],)
            for k in ("conflict", "section")
        ]
        gate_sweep.append(
            [label, *(f"{accuracy(h, signals, t):.0%}" for h in halves.values()), *conflicts_held]
        )
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    machine = f"{os.cpu_count()} cores, {platform.platform()}, Python {platform.python_version()}"
    counts = Counter(c.kind for c in cases)
    n_additive = sum(c.additive for c in cases)
    appended = [c for c in cases if c.position > 82]
    n_topical = len(topical)
    n_section_ok = sum(correct(c, got[c.position]) for c in topical)
    n_to_default = sum(got[c.position] == "default" for c in topical)
    wrong = [c for c in topical if "#" in got[c.position] and got[c.position] != c.expect]
    n_wrong_section = len(wrong)
    n_wrong_file = sum(got[c.position].split("#")[0] != c.expect.split("#")[0] for c in wrong)
    conflicts = [c for c in cases if c.kind == "conflict"]
    n_conflict_held = sum(got[c.position] == "conflict" for c in conflicts)
    n_conflict_held_off = sum(got_off[c.position] == "conflict" for c in conflicts)
    missed = [c for c in conflicts if "#" in got[c.position]]
    n_conflict_missed = len(missed)
    n_conflict_next = sum(got[c.position] == signals[c.position].item for c in missed)
    by_rule = [  # held at the chosen thresholds, not with the rule switched off there
        c
        for c in conflicts
        if got[c.position] == "conflict" and got_no_rule[c.position] != "conflict"
    ]
    kinds_found = Counter(signals[c.position].contradiction_kind for c in by_rule)
    last = [c for c in fresh if c.fresh == max((c.fresh for c in fresh), default=0)]

    def held_in(subset: list[Case], decided: dict[int, str]) -> str:
        cs = [c for c in subset if c.kind == "conflict"]
        return f"{sum(decided[c.position] == 'conflict' for c in cs)}/{len(cs)}"

    wrongly_held = [c for c in cases if c.kind != "conflict" and got[c.position] == "conflict"]
    wrongly_held_off = [
        c for c in cases if c.kind != "conflict" and got_off[c.position] == "conflict"
    ]
    n_default_ok = sum(got[c.position] == "default" for c in cases if c.kind == "default")
    lines = [
        "## Route: proven memories into CLAUDE.md and rules files",
        "",
        f"Written by `bench/route.py` on {now} in {run.elapsed:.0f} s. Machine: {machine}. "
        f"Data: `bench/data/route/` (a hand-written project: `CLAUDE.md` with 6 sections, "
        "`.claude/rules/` testing, style, security and deployment files, and a user's "
        "`~/.claude/CLAUDE.md`) and `bench/data/route_cases.json`: "
        f"{len(cases)} memories labelled with where they belong: {counts['section']} with a "
        f"file and section ({n_additive} of them additive: new information next to a line on "
        f"the same subject, which must still be written), {counts['default']} that fit no "
        f"section (the default target), {counts['duplicate']} that a line already says in "
        f"other words, {counts['conflict']} that contradict a line. Calibration half: even "
        f"positions ({len(halves['calibration'])} cases); held-out: odd "
        f"({len(halves['held-out'])}). The first 82 cases are the original set; cases "
        f"83-{earlier[-1].position} were appended at the end "
        f"({sum(c.kind == 'conflict' for c in appended if c.round != 4)} contradictions, "
        f"{sum(c.additive for c in appended if c.round != 4)} additive): "
        f"{len(appended) - len(fresh) - len(round4)} while the text rule below was written, "
        "then "
        + ", ".join(
            f"{sum(c.fresh == b for c in fresh)} (`fresh: {b}`) after its version {b}"
            for b in sorted({c.fresh for c in fresh})
        )
        + f". Cases {round4[0].position if round4 else '-'}-{cases[-1].position} (`round: "
        f"4`, {len(round4)}) were written in round 4 for issue #15 item 5, before the words "
        "decision below: "
        f"{sum(c.additive for c in round4)} additive near-paraphrases (a line restated with a "
        "port, a flag, a precondition, an exception or a version added), "
        f"{sum(c.kind == 'conflict' for c in round4)} contradictions (the same line with one "
        f"value changed: a port, a tool, a version, never / always) and "
        f"{sum(c.kind == 'duplicate' for c in round4)} restatements, alternating between the "
        "halves.",
        "",
        "Each memory is remembered through `MemoryService` and promoted by hand, then planned "
        "with the real `Router` against the hand-written files. A case is correct when the "
        "plan does exactly what the label says (for a file and section: writes to that "
        "section).",
        "",
        "Conflicts: a memory is held as a possible conflict when its most similar line is in "
        "the cosine band below the duplicate threshold (as before), or when one of its three "
        "most similar lines, at cosine >= the contradiction threshold, restates its subject "
        "with another value. That text rule (`conflicts.contradiction`, offline) looks for: a "
        "number with the same neighbouring word or unit class and another value (`line length "
        "100` / `a line length of 88`); a code span, identifier or name of the same kind in "
        "the same slot (`signed with RS256` / `signed with HS256`); one side saying never / "
        "not / no / instead of / rather than (or `prefer X over Y`) to what the other affirms "
        "(`do not merge main into a feature branch` / `Merge main into the feature branch`); "
        "one word swapped between the same neighbours (`hashed with argon2id` / `hashed with "
        "bcrypt`); or a pair from a short list of opposites (short / long, ...). A value the "
        "line mentions anywhere is not a change, so additive memories (a new slot, a new rule, "
        "a negation the line shares) are written. A near-duplicate the rule flags is a conflict "
        "rather than a duplicate.",
        "",
        "Words (round 4, `routing.additions`): the cosine band alone held every memory close "
        "to a line, so a memory adding a detail to the line it resembles (`The integration "
        "tests need the Postgres container from docker compose running on port 5433 before "
        "make test` next to `Run the suite with make test. Tests use a real Postgres started "
        "by docker compose.`, cosine 0.82) was held as a possible conflict. In the band (and "
        "above it when the memory states a number the line lacks) the two texts' content "
        "tokens now decide: with no disagreement the text rule finds, a memory that keeps at "
        "least `kept` of the line's tokens, says at least `adds` more new tokens than it drops "
        "and negates nothing the line affirms *extends* the line: it is written in a block "
        "directly below that line, in its section (shown in the plan's diff; `memcycle "
        "unroute` takes it out again). One that keeps every token, adds none and names the "
        "line's values in the same order is a duplicate; the rest stays held. Above the "
        "duplicate threshold nothing changed.",
        "",
        "The text rule was designed by reading the cases before the `fresh` ones, held-out "
        "halves included, so the held-out column measures the thresholds on unseen cases, "
        "not the rule. Then each version was run on a batch written after it (numbers from "
        "that run, at the thresholds chosen then): "
        + "; ".join(f"version {v} on `fresh: {v}`: {text}" for v, text in REVISIONS.items())
        + f". The `fresh: {len(REVISIONS) + 1}` cases, written after the last revision and "
        "not used for it, test the rule as it is (table below).",
        "",
        "Rule: the highest calibration accuracy over route 0.15..0.50, duplicate 0.80..0.99, "
        "conflict band 0.00..0.30, contradiction 0.30..0.80 or off, and words kept "
        "0.30..1.00 (steps of 0.05) with adds 1..8, or off; ties to the higher duplicate "
        "threshold, then the narrower band and higher contradiction threshold, then the lower "
        "adds and kept (like the contradiction threshold: fewer held for review), then the "
        f"higher route threshold. **Chosen: {_fmt(chosen)}** (calibration accuracy "
        f"{run.cal_acc:.0%}; `THRESHOLDS['minilm']` was {_fmt(current)} for this run).",
        "",
        "Disclosed: the `kept` grid had steps of 0.1 when first run; it chose kept 0.70, "
        "which holds the issue's own example (it keeps 0.67 of its line). Calibration is flat "
        "from just above 0.60 to 0.70, so the step was made 0.05 and the tie rule (fewer held) "
        "picks 0.65. The negation condition was added after a calibration miss (#118, `without "
        "a feature/ prefix` read as an extension of `feature/<ticket>-<slug>`), and the "
        "doubled-consonant fold (running / run) after the issue's example. No rule was written "
        "after looking at a held-out miss; the held-out rows below were first read after the "
        "rules were fixed.",
        "",
        "### Accuracy by label",
        "",
        table(["label", "calibration", "held-out", "all"], by_label(got)),
        "",
        f"Before this round, without the words decision (the same sweep with words off chose "
        f"{_fmt(run.prior)}):",
        "",
        table(["label", "calibration", "held-out", "all"], by_label(got_prior)),
        "",
        "The round-4 cases and the earlier ones apart, at the thresholds shipped before this "
        f"round ({_fmt(ROUND3)}) and now:",
        "",
        table(["cases", "label", "rule", "calibration", "held-out", "all"], round_rows),
        "",
        f"Written below the line they extend: {len(extended)} memories ("
        + ", ".join(f"{n} {k}" for k, n in extended_labels.most_common())
        + f"), {extended_right} of them in their labelled section. Marked duplicate by their "
        f"words in the band: {len(by_words)} ("
        + ", ".join(f"#{c.position} {c.kind}" for c in by_words)
        + f"). At the chosen thresholds with the words decision off: "
        f"{acc(halves['held-out'], got_no_words)} held-out, "
        f"{acc(halves['calibration'], got_no_words)} calibration.",
        "",
        f"Without the text rule at all (the same sweep with contradiction and words off chose "
        f"{_fmt(run.off)}):",
        "",
        table(["label", "calibration", "held-out", "all"], by_label(got_off)),
        "",
    ]
    if fresh:
        lines += [
            "The `fresh` cases (in both halves): without the text rule at the thresholds the "
            "sweep chooses without it, at the chosen thresholds with the rule switched off "
            "(what the rule itself adds), and with it:",
            "",
            table(
                [
                    "batch",
                    "label",
                    "without (its own thresholds)",
                    "chosen thresholds, rule off",
                    "with",
                ],
                fresh_rows,
            ),
            "",
        ]
    lines += [
        f"Two-fold estimate (each half scored at the thresholds chosen on the other; the "
        f"held-out half chose {_fmt(run.folds[1])}): **{run.folds[0]}/{len(cases)} "
        f"({run.folds[0] / len(cases):.0%})**. With {len(halves['held-out'])} cases a half, "
        f"one case is {100 / len(halves['held-out']):.1f} points.",
        "",
        f"Topical memories in the right file (any section): {right_file}/{n_topical}. "
        "Before any threshold, the most similar section is the labelled one for "
        f"{by_mean}/{n_topical} of them with the router's score (mean of the section "
        f"vector and the best item with its headings in front); {by_vector}/{n_topical} by the "
        f"section vector alone; {by_item}/{n_topical} by the best item with headings alone; "
        f"{by_line}/{n_topical} by the section of the most similar plain line.",
        "",
        "### Decisions (rows: label, columns: what routing did)",
        "",
        table(["label \\ decision", *KINDS], conf_rows),
        "",
        "### Sensitivity (other thresholds at the chosen values)",
        "",
        table(["route", "calibration", "held-out", "all"], sweep),
        "",
        table(["duplicate", "calibration", "held-out", "all"], dup_sweep),
        "",
        table(
            [
                "contradiction",
                "calibration",
                "held-out",
                "all",
                "conflicts held (all)",
                "section memories held (all)",
            ],
            gate_sweep,
        ),
        "",
        "### Apply everything, then undo every file",
        "",
        f"All {len(cases)} memories routed in one `apply`: {run.check['written']} files "
        f"written, {run.check['memories']} memories in managed blocks, decisions "
        f"{run.check['counts']}. Text outside the blocks identical to the hand-written files: "
        f"**{'yes' if run.check['outside_same'] else 'NO'}**. `undo_file` on each restores "
        f"every file byte for byte: **{'yes' if run.check['undo_exact'] else 'NO'}**. The real "
        f"router agreed with the sweep on {len(cases) - len(run.mismatches)}/{len(cases)} cases"
        + (f" (mismatches at positions {run.mismatches})" if run.mismatches else "")
        + ".",
        "",
        "### Mistakes at the chosen thresholds",
        "",
        table(["#", "label", "routing did", "memory"], errors) if errors else "none",
        "",
        "### What this means",
        "",
        f"- Of {n_topical} memories with a labelled section, {n_section_ok} went there, "
        f"{n_wrong_section} to another hand-written section ({n_wrong_file} of those in another "
        f"file) and {n_to_default} to the default target. Many of the misses are close calls "
        "a person could argue either way (a rollback step next to the release steps it "
        "mentions); all are shown as a diff before `apply`, and `undo` takes any of them back.",
        f"- Contradictions: {n_conflict_held}/{counts['conflict']} held. At the same "
        "thresholds with the text rule switched off, "
        f"{sum(got_no_rule[c.position] == 'conflict' for c in conflicts)}/{counts['conflict']}"
        f": the rule holds {len(by_rule)} (by kind of finding: "
        f"{', '.join(f'{k} {n}' for k, n in kinds_found.most_common())}). The best "
        f"thresholds without the rule hold {n_conflict_held_off}/{counts['conflict']}, with a "
        f"conflict band of {run.off.conflict_band:.2f} that also holds "
        f"{sum(got_off[c.position] == 'conflict' for c in cases if c.additive)} of the "
        f"{n_additive} additive memories. Of the {n_conflict_missed} contradictions still "
        f"written, {n_conflict_next} go into the section holding the line they contradict, so "
        "the diff shows the two together.",
        f"- On the last `fresh` batch, the only one no revision of the rule was based on, it "
        f"holds {held_in(last, got)} contradictions against {held_in(last, got_no_rule)} at "
        "the same thresholds without it, a far smaller gain than on the cases it was designed "
        "on. The best "
        f"thresholds without the rule hold {held_in(last, got_off)} there, but write "
        f"{written([c for c in last if c.additive], got_off)} of its additive memories "
        f"(with the rule: {written([c for c in last if c.additive])}). What the rule cannot "
        "see is another tool, policy or state said in other words, with no shared slot, "
        "negation or listed opposite (`poetry install` against `uv sync`, React context "
        "against TanStack Query, strict mode off against on, a merge commit against "
        "squash-merge); the LLM check is the way past that: with an LLM configured "
        "(`MCP_MEMORY_ROUTE_LLM_CHECK`, on by default), each memory about to be written "
        "beside a line at least this similar is put to it and a `contradicts` or `same` "
        "answer holds it. It is not measured here (it depends on the remote model); "
        "`tests/test_route_conflicts.py` pins its contract through the real google-genai "
        "client against the loopback stand-in: it only holds more, is redacted, budgeted "
        "and cached, and a failed call leaves the offline decision.",
        f"- Round 4, additive near-paraphrases: {written([c for c in round4 if c.additive])} "
        f"written (at round 3's thresholds "
        f"{written([c for c in round4 if c.additive], got_round3)}), "
        f"{acc([c for c in round4 if c.additive])} in their labelled section; the held-out "
        f"half {written([c for c in round4 if c.additive and not c.calibration])}. "
        "Contradictions of the same line: "
        f"{held_in(round4, got)} held (round 3: {held_in(round4, got_round3)}). "
        f"Restatements: {acc([c for c in round4 if c.kind == 'duplicate'])} marked present; "
        "a restatement in other words (a synonym, a word dropped) is still held, which is "
        "safe (nothing is lost) but noisy. What the words cannot tell apart is an additive "
        "memory that rewords the line as it adds (it drops as many of the line's tokens as "
        "it adds) from another policy in other words; those stay held for review, and the "
        "LLM check, when configured, sees them. Additive memories at or above the "
        "duplicate threshold are still marked present: "
        f"{len(dropped_adds)} of them ("
        + ", ".join(f"#{c.position}" for c in dropped_adds)
        + f"; {sum(c.calibration for c in dropped_adds)} in the calibration half). The words "
        "decision does not apply there; with no calibration case to tune it on, that is left "
        "as it was.",
        f"- Wrongly held: {len(wrongly_held)} of the {len(cases) - counts['conflict']} "
        f"memories that are not contradictions ({len(wrongly_held_off)} at the best thresholds "
        "without the rule)"
        + (
            ": " + "; ".join(f"#{c.position} ({c.kind})" for c in wrongly_held)
            if wrongly_held
            else ""
        )
        + ". A held memory is not lost: it is shown next to the line and `--force` writes it.",
        f"- {counts['default']} memories that fit no section: {n_default_ok} went to the "
        "default target, so a hand-written CLAUDE.md receives only what matches one of its "
        "sections.",
    ]
    return "\n".join(lines)


def _short(text: str, width: int = 90) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
