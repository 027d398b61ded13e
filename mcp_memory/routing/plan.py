"""What routing decides and reports: thresholds, the evidence per memory, the decision rule
(:func:`classify`, shared by the router and bench/route.py's sweep) and the plan it returns.
The router itself is :mod:`routing`; the text rule for contradictions is :mod:`conflicts`."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

ACTIONS = ("write", "duplicate", "conflict", "review", "held", "routed")


@dataclass(frozen=True)
class Thresholds:
    route: float  # a section at least this similar receives the memory; else the default target
    duplicate: float  # an item at least this similar already says it
    conflict_band: float  # items in [duplicate - band, duplicate) are possible conflicts
    # a line at least this similar that conflicts.contradiction finds disagreeing with the
    # memory makes it a possible conflict; None: the model's value in THRESHOLDS
    contradiction: float | None = None
    # a memory in the band (or above, with a number the line lacks) that the text rule finds
    # no disagreement in, keeping at least ``kept`` of the line's content tokens and saying at
    # least ``adds`` more new ones than it drops, extends the line (see :mod:`additions`);
    # None: the model's values in THRESHOLDS
    kept: float | None = None
    adds: int | None = None


# Calibrated by bench/route.py on bench/data/route_cases.json (see docs/benchmarks.md, "route").
# qwen3-0.6b has not been run on that set yet: its values are provisional, set from its wider
# spread of cosines (unrelated texts sit higher than with MiniLM); so is FALLBACK's.
THRESHOLDS = {
    "minilm": Thresholds(
        route=0.27, duplicate=0.92, conflict_band=0.17, contradiction=0.45, kept=0.65, adds=1
    ),
    "qwen3-0.6b": Thresholds(
        route=0.45, duplicate=0.90, conflict_band=0.12, contradiction=0.55, kept=0.65, adds=1
    ),
}
FALLBACK = Thresholds(
    route=0.35, duplicate=0.92, conflict_band=0.15, contradiction=0.50, kept=0.65, adds=1
)


def thresholds_for(model_id: str, given: Thresholds | None) -> Thresholds:
    """The thresholds a router uses: those given (settings), completed with the model's."""
    base = THRESHOLDS.get(model_id, FALLBACK)
    if given is None:
        return base
    return replace(
        given,
        contradiction=base.contradiction if given.contradiction is None else given.contradiction,
        kept=base.kept if given.kept is None else given.kept,
        adds=base.adds if given.adds is None else given.adds,
    )


@dataclass(frozen=True)
class Signals:
    """What a decision rests on: the most similar section, the most similar item, and the most
    similar of the few lines closest to the memory that the text rule finds disagreeing."""

    section: str  # "FILE#SECTION" of the most similar section ("" when there is none)
    section_similarity: float  # its score (see Router._section_scores)
    section_by_vector: str  # the best section by its own vector alone (for comparison)
    section_by_item: str  # the best section by its best item alone (for comparison)
    item: str  # "FILE#SECTION" holding the most similar item
    item_text: str | None
    item_similarity: float  # 1.0 for the same text
    numbers_differ: bool  # the memory states a number that item does not
    item_contradicts: bool = False  # conflicts.contradiction finds that item disagreeing
    contradiction: str = ""  # what it found (Clash.describe) on the line below; "" for none
    contradiction_kind: str = ""  # negation | number | value | swap | opposite (Clash.kind)
    contradiction_item: str = ""  # "FILE#SECTION" of that line
    contradiction_text: str | None = None
    contradiction_similarity: float = -1.0  # its cosine with the memory; -1 for none
    # the memory against the most similar item, word for word (additions.Overlap)
    item_kept: float = 0.0  # share of the item's content tokens the memory says too
    item_new: int = 0  # the memory's content tokens the item lacks
    item_dropped: int = 0  # the item's content tokens the memory lacks
    item_restates: bool = False  # every token shared, nothing added, values in one order
    item_negates: bool = False  # it says not to do or use something the item affirms
    item_adds: str = ""  # what it adds (Overlap.describe), for the plan's reason


def extends(s: Signals, t: Thresholds) -> bool:
    """The memory adds to its most similar item and changes nothing the text rule sees."""
    kept = FALLBACK.kept if t.kept is None else t.kept
    adds = FALLBACK.adds if t.adds is None else t.adds
    assert kept is not None and adds is not None
    return s.item_kept >= kept and s.item_new - s.item_dropped >= adds and not s.item_negates


def classify(s: Signals, t: Thresholds) -> str:
    """``duplicate``, ``conflict``, ``extends`` (write right after the most similar item),
    ``section`` (route there) or ``default`` (before any LLM verdict or ``force``). Shared by
    the router and bench/route.py's threshold sweep.

    A near-duplicate the text rule finds disagreeing is a conflict, not a duplicate (marking
    a memory present drops it). In the band, and above it when the memory states a number the
    item lacks, the words decide (:mod:`additions`): a memory that keeps the item's subject
    and adds to it extends it; one that says the same words restates it (a duplicate); the
    rest may be another policy in other words and is held. Below the band, a line at least
    ``contradiction`` similar that the rule finds disagreeing holds the memory too: a changed
    value barely moves the cosine."""
    may_duplicate = not s.numbers_differ and not s.item_contradicts
    if s.item_similarity >= t.duplicate and may_duplicate:
        return "duplicate"
    gate = t.contradiction
    against = gate is not None and s.contradiction_similarity >= gate
    words = t.kept is None or t.kept <= 1.0  # bench/route.py compares with it off (2.0)
    if s.item_similarity >= t.duplicate - t.conflict_band:
        if words and not s.item_contradicts and not against:
            if extends(s, t):
                return "extends"
            if s.item_restates and may_duplicate:
                return "duplicate"
        return "conflict"
    if against:
        return "conflict"
    return "section" if s.section_similarity >= t.route else "default"


@dataclass(frozen=True)
class RouteItem:
    memory_id: int
    content: str
    scope: str  # project | global
    action: str  # write | duplicate | conflict | review | held | routed
    target: str  # label of the file it goes to (write) or was found in
    path: str
    section: str
    similarity: float  # the section's (write) or the matching item's (duplicate, conflict)
    reason: str
    line: str | None = None  # the bullet written (write)
    # the item side by side (duplicate, conflict), or the line a write adds to (below)
    existing: str | None = None
    forced: bool = False
    below: bool = False  # written directly below ``existing``, the line it adds to


@dataclass(frozen=True)
class FileChange:
    path: str
    target: str
    created: bool
    memory_ids: list[int]
    diff: str
    write_id: int | None = None


@dataclass
class RoutePlan:
    applied: bool
    items: list[RouteItem] = field(default_factory=list)
    files: list[FileChange] = field(default_factory=list)
    embedded: int = 0  # target texts embedded by this call (0 when the cache had them all)
    # memories the configured LLM could not be asked about (failed, or over budget): the offline
    # rules decided them; the first reason is kept for the summary
    unchecked: int = 0
    unchecked_reason: str = ""

    @property
    def counts(self) -> dict[str, int]:
        return {a: sum(1 for i in self.items if i.action == a) for a in ACTIONS}

    def summary(self) -> str:
        """One line saying what this plan does (or did)."""
        counts = self.counts
        if not self.items:
            return "nothing to route: no proven memory waits for a CLAUDE.md or rules file"
        verb = "wrote" if self.applied else "would write"
        parts = [f"{verb} {counts['write']} memories into {len(self.files)} file(s)"]
        if counts["duplicate"]:
            parts.append(f"{counts['duplicate']} already present")
        if counts["conflict"]:
            parts.append(f"{counts['conflict']} possible conflict(s) held (force writes them)")
        if counts["review"]:
            parts.append(f"{counts['review']} captured from tool output or files held for review")
        if counts["held"]:
            parts.append(f"{counts['held']} too long to route (shorten or consolidate)")
        if counts["routed"]:
            parts.append(f"{counts['routed']} already routed")
        if self.unchecked:
            parts.append(f"{self.unchecked} not checked by the LLM ({self.unchecked_reason})")
        tail = "" if self.applied or not counts["write"] else "; nothing written yet (apply writes)"
        return ", ".join(parts) + tail


def with_write_id(change: FileChange, write_id: int) -> FileChange:
    return replace(change, write_id=write_id)
