"""Linking further below the threshold on a tag few memories carry (linking.TAG_MARGIN), with
the real model: two notes on one part of a project in other words, that the writer tagged alike,
link; a tag the project uses widely, or two texts of one format, do not."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from test_links_rare_words import PROJECT

from mcp_memory.embedding.local import LocalEmbedder
from mcp_memory.embedding.specs import MINILM
from mcp_memory.service import linking
from mcp_memory.service.memories import MemoryService
from mcp_memory.service.types import Options
from mcp_memory.store.database import Store

THRESHOLD = MINILM.link_threshold
# Two notes on the suppliers' file in other words (topic cosine 0.28 with MiniLM: below the
# threshold by more than RARE_MARGIN).
FIRST = (
    "Not every supplier sends UTF-8: the two German ones send Windows-1252. Decode with "
    "encoding_rs using the `encoding` field from suppliers.toml. Sniffing the charset from bytes "
    "turned 'Größe' into 'GrÃ¶ÃŸe'."
)
SECOND = (
    "Feed timestamps are the supplier's local time with no offset. Convert with chrono-tz using "
    "`timezone` from suppliers.toml; reading them as UTC moved valid_from by one or two hours and "
    "offers showed up late."
)
# Two session summaries about different work that both touch Stripe (topic cosine 0.30 once
# the format is known, with its direction taken out), tagged alike, after two more of the format.
SUMMARIES = [
    "Session summary: Files changed: app/logging.py. Commands: uv run pytest "
    "tests/test_logging.py. Outcome: request ids are bound on every log line and card numbers "
    "are redacted.",
    "Session summary: Files changed: pyproject.toml, uv.lock. Commands: uv lock "
    "--upgrade-package fastapi. Outcome: FastAPI 0.115, startup events rewritten as a lifespan "
    "handler.",
]
WEBHOOKS = (
    "Session summary: Files changed: app/webhooks/stripe.py, tests/test_webhooks.py. Commands: "
    "stripe listen --forward-to localhost:8000/webhooks. Outcome: webhook signatures are "
    "verified with the endpoint secret and replayed events are dropped by event id."
)
PAYOUTS = (
    "Session summary: Files changed: app/payouts/schedule.py. Commands: uv run pytest "
    "tests/payouts. Outcome: payouts run daily at 02:00 UTC, weekly merchants are paid on "
    "Mondays, and the stripe transfer id is stored on each payout."
)


@pytest.fixture
def store(backend_store: Store) -> Store:
    """Both backends: the rule counts a tag's memories with each one's query."""
    return backend_store


def pair(
    service: MemoryService,
    project: str,
    before: list[tuple[str, list[str]]],
    texts: tuple[str, str],
    tags: tuple[list[str], list[str]],
) -> tuple[float, bool]:
    """Store ``before`` (text, tags), then the pair, in ``project``: the topic cosine the linker
    compared the second with the first, and whether it linked them."""
    for text, extra in before:
        service.remember(text, project=project, tags=extra)
    first = service.remember(texts[0], project=project, tags=tags[0]).id
    second = service.remember(texts[1], project=project, tags=tags[1])
    memory = service.store.get(second.id)
    vector = service.store.vectors([second.id])[second.id]
    candidates = [(i, s) for i, s in service.linker.candidates(vector, project) if i != second.id]
    sims, _ = service.linker.similarities(memory, vector, candidates)
    return sims[first], any(link.id == first for link in second.links)


def test_a_tag_few_memories_carry_links_a_pair_far_below_the_threshold(
    store: Store, minilm: LocalEmbedder
) -> None:
    """Among twelve other memories of the project, two notes tagged ``suppliers`` that share a
    word no other memory holds link below the rare-word band; untagged, alone in a project, or
    with the tag on two more memories of the project, they do not. Each case is a project of
    its own (scopes never mix)."""
    service = MemoryService(store, minilm, Options(link_threshold=THRESHOLD))
    others = [(text, []) for text in PROJECT]
    tagged = (["encoding", "suppliers"], ["timezones", "suppliers"])
    sim, linked = pair(service, "ingest", others, (FIRST, SECOND), tagged)
    assert THRESHOLD - linking.TAG_MARGIN <= sim < THRESHOLD - linking.RARE_MARGIN
    assert linked
    assert not pair(service, "untagged", others, (FIRST, SECOND), (["encoding"], ["timezones"]))[1]
    assert not pair(service, "alone", [], (FIRST, SECOND), tagged)[1]
    common = [(text, ["suppliers"] if n < 2 else []) for n, text in enumerate(PROJECT)]
    assert not pair(service, "common", common, (FIRST, SECOND), tagged)[1]


def test_a_tag_given_by_kind_does_not_link(store: Store, minilm: LocalEmbedder) -> None:
    """The same pair as above, each tagged ``note`` as the prompt hook tags a ``#remember`` note
    (and only they carry it): the tag says what wrote them, not what they are about, so they
    stay apart; the tag band still links them on a topic tag."""
    service = MemoryService(store, minilm, Options(link_threshold=THRESHOLD))
    others = [(text, []) for text in PROJECT]
    sim, linked = pair(service, "notes", others, (FIRST, SECOND), (["note"], ["note"]))
    assert THRESHOLD - linking.TAG_MARGIN <= sim < THRESHOLD - linking.RARE_MARGIN
    assert not linked
    mixed = (["note", "suppliers"], ["note", "suppliers"])
    assert pair(service, "topic", others, (FIRST, SECOND), mixed)[1]


def _literal_tags(path: Path) -> set[str]:
    """The string tags ``path`` writes literally: ``tags=`` arguments and the third argument of
    ``Capture(...)``."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call):
            continue
        values = [k.value for k in node.keywords if k.arg == "tags"]
        if isinstance(node.func, ast.Name) and node.func.id == "Capture" and len(node.args) > 2:
            values.append(node.args[2])
        for value in values:
            if isinstance(value, ast.Tuple | ast.List):
                found |= {e.value for e in value.elts if isinstance(e, ast.Constant)}
    return found


def test_the_kind_tags_are_the_ones_capture_and_the_hooks_write() -> None:
    """Every tag the capture layer and the hooks give is in linking.KIND_TAGS, so none of them
    can link two memories by the tag band."""
    package = Path(linking.__file__).resolve().parents[1]
    files = ["capture/observe.py", "hooks/events.py", "hooks/worker.py"]
    written = set().union(*(_literal_tags(package / name) for name in files))
    assert {"note", "plan", "error", "fix", "decision", "session"} <= written  # the scan sees them
    assert written <= linking.KIND_TAGS


def test_two_texts_of_one_format_do_not_link_on_a_shared_tag(
    store: Store, minilm: LocalEmbedder
) -> None:
    """Two session summaries about different work, both tagged ``stripe`` and the only two
    memories naming it, compare in the tag band once the format is known; they open with the
    same label, so tag and word may come with the layout, and they stay apart."""
    service = MemoryService(store, minilm, Options(link_threshold=THRESHOLD))
    before = [(text, []) for text in PROJECT] + [(text, []) for text in SUMMARIES]
    sim, linked = pair(service, "payments", before, (WEBHOOKS, PAYOUTS), (["stripe"], ["stripe"]))
    assert THRESHOLD - linking.TAG_MARGIN <= sim < THRESHOLD - linking.RARE_MARGIN
    assert not linked


def test_first_label_and_tag_counts(store: Store, minilm: LocalEmbedder) -> None:
    """A text's format is the label or heading its first line opens with; a tag is counted
    over the active memories of the projects asked for."""
    assert linking.first_label(WEBHOOKS) == linking.first_label(PAYOUTS) == "label:session summary"
    assert linking.first_label("Benchmark (fetch): 8 downloads") == "label:benchmark"
    assert linking.first_label(SECOND) is None
    service = MemoryService(store, minilm, Options(link_threshold=THRESHOLD))
    ids = [
        service.remember(text, project=project, tags=tags).id
        for text, project, tags in [
            (PROJECT[0], "p", ["stripe"]),
            (PROJECT[1], "p", ["stripe", "vite"]),
            (PROJECT[2], "p", ["vite"]),
            (PROJECT[3], "q", ["stripe"]),
        ]
    ]
    assert store.tag_counts(["stripe", "vite", "nope"], ["p"]) == {"stripe": 2, "vite": 2}
    assert store.tag_counts(["stripe"], ["p", "q"]) == {"stripe": 3}
    assert store.tag_counts(["stripe", "vite"], ["p", "q"], cap=2) == {"stripe": 2, "vite": 2}
    service.forget(ids[0])
    assert store.tag_counts(["stripe"], ["p"]) == {"stripe": 1}
