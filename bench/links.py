"""Link precision and recall of the bundled MiniLM on labelled memory pairs; calibrates its threshold.

Run: ``.venv/bin/python bench/links.py`` (about a minute on 2 cores). It rewrites the "links"
section of docs/benchmarks.md and prints the threshold to put in ``MINILM.link_threshold``.

Data: ``bench/data/link_pairs.jsonl``, hand-written pairs of coding-agent memories, one JSON
object a line: ``{"a", "b", "label", "note"}``. Labels:

- ``related``: the same topic in other words or detail (a fix and a later note on the same bug, a
  decision and its follow-up). Notes starting ``same format and topic`` mark related pairs that
  also share a format (two session summaries about one feature): the boilerplate discount must
  not kill them.
- ``unrelated``: different topics, many of them the hard case of one domain, another subject.
- ``same_format``: the same scaffolding (session summaries, files-changed lists, error captures,
  ADRs) around different work. These must not link.

Split: lines with an even line number (1-based, as an editor shows them) are the calibration
half, odd ones the held-out half. The file is in blocks by label, so each half gets every kind.

Method: each pair gets a fresh store and project; ``a`` then ``b`` go through the real
``MemoryService.remember`` with the real embedder (loaded once), and b's links are what the
service returned. The topic similarity (the cosine :class:`Linker` compares: texts without the
boilerplate the two memories share) and the plain full-text cosine are read back for the sweep.
A pair links at threshold t when its full cosine passes the linker's prefilter
(``t - PREFILTER_MARGIN``) and its topic cosine is at least t; the script checks that this model
reproduces the links the service made at the run threshold.

Threshold rule (on the calibration half only): among thresholds 0.40..0.90 in steps of 0.01,
take the one with the highest F1 of related vs (unrelated + same_format) whose precision is at
least ``MIN_PRECISION``; ties go to the higher threshold. Precision matters more than recall: a
wrong link pulls an unrelated memory into recall and consolidation, a missed one only loses a
hint. The same rule picks a threshold for the plain cosine, so the two are compared at their
best, not only at one shared threshold.

Boilerplate rules: the report also recomputes the topic cosine under other ``LABEL_MIN`` /
``LINE_MIN`` values of :mod:`mcp_memory.service.boilerplate` (same texts, same embedder), each at its own
threshold by the same rule, so a change to those constants can be judged on the same data. In a
two-memory project only shared labels (``LABEL_MIN`` 2) are removed; ``LINE_MIN`` 2 would also
remove whole lines the two memories share, ``LABEL_MIN`` 3 turns the discount off.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from _report import ThresholdScore as Score
from _report import machine_line, table, write_section

from mcp_memory.embedding.local import LocalEmbedder
from mcp_memory.embedding.specs import MINILM
from mcp_memory.service import boilerplate, linking
from mcp_memory.service.linking import MIN_CONTENT_WORDS, PREFILTER_MARGIN, content_words
from mcp_memory.service.memories import MemoryService
from mcp_memory.service.types import Options
from mcp_memory.store.database import Store

REPO = Path(__file__).resolve().parents[1]
PAIRS = REPO / "bench" / "data" / "link_pairs.jsonl"
SECTION = "links"
PROJECT = "bench"
LABELS = ("related", "unrelated", "same_format")
FORMAT_AND_TOPIC = "same format and topic"
MIN_PRECISION = 0.90
GRID = tuple(round(0.40 + 0.01 * i, 2) for i in range(51))  # 0.40 .. 0.90
SHOWN = tuple(round(0.40 + 0.05 * i, 2) for i in range(11))  # rows of the sweep table
RULES = ((2, 3), (2, 2), (3, 3))  # (LABEL_MIN, LINE_MIN) compared in the boilerplate table


@dataclass(frozen=True)
class Pair:
    line: int  # 1-based line number in the file
    a: str
    b: str
    label: str
    note: str

    @property
    def calibration(self) -> bool:
        return self.line % 2 == 0

    @property
    def format_and_topic(self) -> bool:
        return self.label == "related" and self.note.startswith(FORMAT_AND_TOPIC)


@dataclass(frozen=True)
class Measured:
    pair: Pair
    topic: float  # cosine of the topic vectors (what Linker compares)
    full: float  # cosine of the full-text vectors
    linked: bool  # b linked to a when remembered at the run threshold
    discounted: bool  # boilerplate was removed from a or b
    texts: tuple[str, str]  # a and b as stored (after redaction)


def load_pairs(path: Path = PAIRS) -> list[Pair]:
    pairs: list[Pair] = []
    for n, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        row = json.loads(raw)
        if row["label"] not in LABELS:
            raise ValueError(f"{path}:{n}: unknown label {row['label']!r}")
        pairs.append(Pair(n, row["a"], row["b"], row["label"], row.get("note", "")))
    return pairs


def measure(
    pairs: Sequence[Pair],
    embedder: LocalEmbedder,
    threshold: float,
    vectors: dict[str, np.ndarray] | None = None,
) -> list[Measured]:
    """Remember each pair in a fresh store through the service; read back both similarities.
    Full-text vectors are added to ``vectors`` (text -> vector) when it is given."""
    out: list[Measured] = []
    with tempfile.TemporaryDirectory(prefix="links-bench-") as tmp:
        for pair in pairs:
            store = Store.open(Path(tmp) / f"pair{pair.line}.db")
            try:
                service = MemoryService(
                    store,
                    embedder,
                    Options(
                        link_threshold=threshold, duplicate_threshold=MINILM.duplicate_threshold
                    ),
                )
                first = service.remember(pair.a, project=PROJECT)
                second = service.remember(pair.b, project=PROJECT)
                if first.status != "created" or second.status != "created":
                    raise RuntimeError(f"line {pair.line}: a and b must be distinct memories")
                memories = store.get_many([first.id, second.id])
                full = store.vectors([first.id, second.id])
                if vectors is not None:
                    vectors.update((memories[i].content, full[i]) for i in (first.id, second.id))
                topics = service.linker.topic_vectors(list(memories.values()), full)
                topic = (
                    float(topics[first.id] @ topics[second.id])
                    if first.id in topics and second.id in topics
                    else 0.0  # one of them is nothing but boilerplate: never links
                )
                out.append(
                    Measured(
                        pair,
                        topic=topic,
                        full=float(full[first.id] @ full[second.id]),
                        linked=any(link.id == first.id for link in second.links),
                        discounted=any(
                            not np.array_equal(topics.get(i, full[i]), full[i])
                            for i in (first.id, second.id)
                        ),
                        texts=(memories[first.id].content, memories[second.id].content),
                    )
                )
            finally:
                store.close()
    return out


def together(
    pairs: Sequence[Pair], embedder: LocalEmbedder, threshold: float, rare_margin: float
) -> dict[tuple[str, bool], tuple[int, int]]:
    """Every pair's texts remembered into one project, in file order (a, then b), links made as
    they arrive, with ``linking.RARE_MARGIN`` set to ``rare_margin`` (0: the rare-word rule
    off): per (label, calibration half), how many pairs linked and how many there are. This is
    a project where the texts accumulate, as they do: the rare-word rule needs a scope."""
    out: dict[tuple[str, bool], tuple[int, int]] = {}
    saved = linking.RARE_MARGIN
    linking.RARE_MARGIN = rare_margin
    try:
        with tempfile.TemporaryDirectory(prefix="links-together-") as tmp:
            store = Store.open(Path(tmp) / "together.db")
            try:
                service = MemoryService(
                    store,
                    embedder,
                    Options(
                        link_threshold=threshold, duplicate_threshold=MINILM.duplicate_threshold
                    ),
                )
                for pair in pairs:
                    first = service.remember(pair.a, project=PROJECT)
                    second = service.remember(pair.b, project=PROJECT)
                    linked = any(link.id == first.id for link in second.links)
                    key = (pair.label, pair.calibration)
                    done, total = out.get(key, (0, 0))
                    out[key] = (done + linked, total + 1)
            finally:
                store.close()
    finally:
        linking.RARE_MARGIN = saved
    return out


def together_rows(
    runs: Sequence[tuple[str, dict[tuple[str, bool], tuple[int, int]]]],
) -> list[list[str]]:
    rows = []
    for name, counts in runs:
        for half, cal in (("calibration", True), ("held-out", False)):
            cells = []
            for label in LABELS:
                done, total = counts.get((label, cal), (0, 0))
                cells.append(f"{done}/{total} ({done / total:.0%})" if total else "-")
            rows.append([name, half, *cells])
    return rows


def links_topic(m: Measured, t: float) -> bool:
    """What the linker decides at threshold t: prefilter on full cosine, then topic cosine."""
    return m.full >= t - PREFILTER_MARGIN and m.topic >= t


def links_full(m: Measured, t: float) -> bool:
    """The baseline without the boilerplate discount: plain full-text cosine."""
    return m.full >= t


Decide = Callable[[Measured, float], bool]


def score(ms: Sequence[Measured], decide: Decide, t: float) -> Score:
    tp = sum(1 for m in ms if m.pair.label == "related" and decide(m, t))
    fp = sum(1 for m in ms if m.pair.label != "related" and decide(m, t))
    fn = sum(1 for m in ms if m.pair.label == "related" and not decide(m, t))
    return Score(t, tp, fp, fn)


def choose(ms: Sequence[Measured], decide: Decide) -> tuple[Score, bool]:
    """The threshold rule (module docstring); False when no threshold reaches MIN_PRECISION."""
    scores = [score(ms, decide, t) for t in GRID]
    eligible = [s for s in scores if s.precision >= MIN_PRECISION and s.tp]
    if eligible:
        return max(eligible, key=lambda s: (round(s.f1, 9), s.threshold)), True
    return max(scores, key=lambda s: (round(s.precision, 9), round(s.f1, 9), s.threshold)), False


@contextmanager
def rules(label_min: int, line_min: int) -> Iterator[None]:
    """Run :mod:`boilerplate` with other constants for a while (this process only)."""
    saved = boilerplate.LABEL_MIN, boilerplate.LINE_MIN
    boilerplate.LABEL_MIN, boilerplate.LINE_MIN = label_min, line_min
    try:
        yield
    finally:
        boilerplate.LABEL_MIN, boilerplate.LINE_MIN = saved


def topic_cosines(
    ms: Sequence[Measured],
    embedder: LocalEmbedder,
    vectors: dict[str, np.ndarray],
    label_min: int,
    line_min: int,
) -> list[float]:
    """Each pair's topic cosine under other boilerplate constants, computed as the linker does
    for a project that holds just the two memories (0 when one of them is only boilerplate).
    ``vectors`` caches text -> vector across calls."""
    with rules(label_min, line_min):
        topics: list[tuple[str, str]] = []
        for m in ms:
            counts = Counter(boilerplate.keys(m.texts[0])) + Counter(boilerplate.keys(m.texts[1]))
            a, b = (boilerplate.topic_text(t, counts).strip() for t in m.texts)
            # As Linker.topic_texts: too few content words left is nothing to link on.
            a, b = (t if content_words(t) >= MIN_CONTENT_WORDS else "" for t in (a, b))
            topics.append((a, b))
    todo = sorted({t for pair in topics for t in pair if t and t not in vectors})
    if todo:
        vectors.update(zip(todo, embedder.embed(todo, "document"), strict=True))
    return [float(vectors[a] @ vectors[b]) if a and b else 0.0 for a, b in topics]


def rate(ms: Sequence[Measured], decide: Decide, t: float, keep: Callable[[Pair], bool]) -> str:
    chosen = [m for m in ms if keep(m.pair)]
    hits = sum(1 for m in chosen if decide(m, t))
    return f"{hits}/{len(chosen)} ({hits / len(chosen):.0%})" if chosen else "-"


def fmt(s: Score) -> list[str]:
    return [f"{s.precision:.2f}", f"{s.recall:.2f}", f"{s.f1:.2f}", f"{s.tp}/{s.fp}/{s.fn}"]


def render(
    ms: Sequence[Measured],
    variants: dict[tuple[int, int], list[Measured]],
    run_threshold: float,
    seconds: float,
) -> tuple[str, float]:
    """The Markdown section, and the threshold the rule chose for the linker."""
    cal = [m for m in ms if m.pair.calibration]
    held = [m for m in ms if not m.pair.calibration]
    chosen, ok = choose(cal, links_topic)
    plain, plain_ok = choose(cal, links_full)
    t, tp = chosen.threshold, plain.threshold
    counts = {label: sum(1 for m in ms if m.pair.label == label) for label in LABELS}
    both = sum(1 for m in ms if m.pair.format_and_topic)
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    out: list[str] = ["## Links: calibrating the MiniLM link threshold\n"]
    out.append(
        f"Written by `bench/links.py` on {now} in {seconds:.0f} s. Machine: {machine_line()}. "
        f"Data: `bench/data/link_pairs.jsonl`, {len(ms)} hand-written pairs of coding-agent "
        f"memories: {counts['related']} related ({both} of them sharing a format as well as a "
        f"topic), {counts['unrelated']} unrelated (mostly one domain, another subject), "
        f"{counts['same_format']} same format with different topics. Calibration half: even "
        f"line numbers ({len(cal)} pairs); held-out half: odd ({len(held)}). Each pair is "
        "remembered in a fresh store and project through `MemoryService.remember` with the "
        "bundled model. A link counts as positive and `related` is the truth, so a link between "
        "an unrelated or same-format pair is a false positive.\n"
    )
    out.append(
        "Rule: on the calibration half, the threshold in 0.40..0.90 (step 0.01) with the best "
        f"F1 among those with precision >= {MIN_PRECISION:.2f}, ties to the higher threshold. "
        "*Topic* is what the linker compares: each text without the labels and lines its "
        f"project's memories share, after the full-cosine prefilter (threshold - "
        f"{PREFILTER_MARGIN}). *Plain* is the full-text cosine, without the boilerplate "
        "discount.\n"
    )
    if not ok:
        out.append(
            f"**No topic threshold reached precision {MIN_PRECISION:.2f} on the calibration "
            "half; the one shown has the best precision.**\n"
        )
    out.append(
        f"**Chosen: {t:.2f}** (`MINILM.link_threshold` was {run_threshold:.2f} for this run). "
        f"The plain cosine's own best by the same rule is {tp:.2f}"
        f"{'' if plain_ok else ' (it never reaches the precision floor)'}.\n"
    )
    rows = []
    for name, decide, thr in (
        ("topic (linker)", links_topic, t),
        ("plain cosine", links_full, t),
        ("plain cosine", links_full, tp),
    ):
        for half, sub in (("calibration", cal), ("held-out", held)):
            rows.append([name, f"{thr:.2f}", half, *fmt(score(sub, decide, thr))])
    out.append(
        table(["similarity", "threshold", "half", "precision", "recall", "F1", "TP/FP/FN"], rows)
    )
    out.append("\n### Per category: share of pairs that link\n")
    cats: list[tuple[str, Callable[[Pair], bool]]] = [
        ("related", lambda p: p.label == "related"),
        ("related, same format and topic", lambda p: p.format_and_topic),
        ("unrelated", lambda p: p.label == "unrelated"),
        ("same_format (must not link)", lambda p: p.label == "same_format"),
    ]
    heads = [f"topic @ {t:.2f}", f"plain @ {t:.2f}", f"plain @ {tp:.2f}"]
    cat_rows = []
    for name, keep in cats:
        row = [name]
        for group in (ms, held):
            row += [
                rate(group, links_topic, t, keep),
                rate(group, links_full, t, keep),
                rate(group, links_full, tp, keep),
            ]
        cat_rows.append(row)
    out.append(
        table(
            ["category", *(f"all: {h}" for h in heads), *(f"held-out: {h}" for h in heads)],
            cat_rows,
        )
    )
    mean = {
        label: (
            float(np.mean([m.topic for m in ms if m.pair.label == label])),
            float(np.mean([m.full for m in ms if m.pair.label == label])),
        )
        for label in LABELS
    }
    drop = {label: mean[label][1] - mean[label][0] for label in LABELS}
    touched = {
        label: f"{sum(1 for m in ms if m.pair.label == label and m.discounted)}/{counts[label]}"
        for label in LABELS
    }
    out.append(
        "\nMean similarity by label, topic / plain: "
        + "; ".join(f"{label} {mean[label][0]:.2f} / {mean[label][1]:.2f}" for label in LABELS)
        + f". The discount lowers {max(drop, key=lambda label: drop[label])} pairs the most. "
        "It removed shared boilerplate from at least one text of "
        + ", ".join(f"{touched[label]} {label}" for label in LABELS)
        + " pairs. Precision depends on how many candidates are related (here "
        f"{counts['related'] / len(ms):.0%} of pairs; among a real project's nearest "
        "neighbours it may be fewer), so the per-category rates (false links per unrelated or "
        "same-format pair) are the numbers that carry over.\n"
    )
    out.append("### Threshold sweep on the calibration half\n")
    sweep = []
    for thr in sorted({*SHOWN, t, tp}):
        a, b = score(cal, links_topic, thr), score(cal, links_full, thr)
        sweep.append([f"{thr:.2f}", *fmt(a)[:3], *fmt(b)[:3]])
    out.append(
        table(
            ["threshold", "topic P", "topic R", "topic F1", "plain P", "plain R", "plain F1"],
            sweep,
        )
    )
    out.append(
        "\n### Boilerplate constants (`mcp_memory/boilerplate.py`)\n\n"
        "The same pairs with the topic cosine recomputed under other `LABEL_MIN` / `LINE_MIN`, "
        "each at its own threshold by the rule above. With two memories in a project, "
        "`LINE_MIN` 3 never fires and `LABEL_MIN` 3 means no discount at all.\n"
    )
    current = (boilerplate.LABEL_MIN, boilerplate.LINE_MIN)
    rule_rows = []
    for (label_min, line_min), vs in variants.items():
        vcal = [m for m in vs if m.pair.calibration]
        vheld = [m for m in vs if not m.pair.calibration]
        best, _ = choose(vcal, links_topic)
        c, h = score(vcal, links_topic, best.threshold), score(vheld, links_topic, best.threshold)
        name = f"{label_min} / {line_min}" + (
            " (current)" if current == (label_min, line_min) else ""
        )
        same = [m for m in vs if m.pair.label == "same_format"]
        rule_rows.append(
            [
                name,
                f"{best.threshold:.2f}",
                f"{c.precision:.2f} / {c.recall:.2f}",
                f"{h.precision:.2f} / {h.recall:.2f}",
                rate(vs, links_topic, best.threshold, lambda p: p.label == "same_format"),
                rate(vs, links_topic, best.threshold, lambda p: p.format_and_topic),
                f"{np.mean([m.topic for m in same]):.2f}",
            ]
        )
    out.append(
        table(
            [
                "LABEL_MIN / LINE_MIN",
                "threshold",
                "calibration P / R",
                "held-out P / R",
                "same_format linked",
                "same format and topic linked",
                "same_format mean topic cosine",
            ],
            rule_rows,
        )
    )
    return "\n".join(out) + "\n", t


def main() -> int:
    began = time.perf_counter()
    pairs = load_pairs()
    embedder = LocalEmbedder(MINILM, Path(tempfile.gettempdir()), threads=2)
    embedder.engine()
    run_threshold = MINILM.link_threshold
    vectors: dict[str, np.ndarray] = {}
    ms = measure(pairs, embedder, run_threshold, vectors)
    mismatched = [m.pair.line for m in ms if m.linked != links_topic(m, run_threshold)]
    if mismatched:  # the sweep would not describe what the service does
        print(f"service links differ from the modelled rule on lines {mismatched}", file=sys.stderr)
        return 1
    variants: dict[tuple[int, int], list[Measured]] = {}
    for label_min, line_min in RULES:
        cosines = topic_cosines(ms, embedder, vectors, label_min, line_min)
        variants[(label_min, line_min)] = [
            replace(m, topic=c) for m, c in zip(ms, cosines, strict=True)
        ]
    current = variants.get((boilerplate.LABEL_MIN, boilerplate.LINE_MIN))
    if current is not None:  # the recomputation must agree with the service's topic vectors
        drift = max(abs(a.topic - b.topic) for a, b in zip(ms, current, strict=True))
        if drift > 1e-4:
            print(f"recomputed topic cosines drift by {drift:.2g}", file=sys.stderr)
            return 1
    runs = [
        (f"rare-word rule, margin {linking.RARE_MARGIN:.2f} (ships)", linking.RARE_MARGIN),
        ("threshold only (margin 0)", 0.0),
    ]
    accumulated = [(name, together(pairs, embedder, run_threshold, m)) for name, m in runs]
    doc, chosen = render(ms, variants, run_threshold, time.perf_counter() - began)
    doc += (
        "\n### All pairs in one project (texts accumulate)\n\n"
        f"Every pair's texts remembered into one project in file order ({2 * len(pairs)} "
        "texts), links made as they arrive: share of pairs whose b linked to its a. The "
        "rare-word rule (`linking.RARE_MARGIN`: a pair up to the margin below the threshold "
        "links when it shares a word no other memory of the scope holds) needs such a scope; "
        "on the pairs alone above it never fires.\n\n"
        + table(["rule", "half", *LABELS], together_rows(accumulated))
        + "\n"
    )
    path = write_section(SECTION, doc)
    print(doc)
    print(f"wrote section {SECTION!r} of {path}; set MINILM.link_threshold = {chosen:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
