"""The briefing shows one memory per near-duplicate group (the model's calibrated threshold
and the same numbers), and keeps a statement with another value."""

from __future__ import annotations

from mcp_memory.embedding.specs import MINILM
from mcp_memory.service.briefing import build_briefing, near_duplicate_ids, numbers
from mcp_memory.service.memories import MemoryService

PROJECT = "/work/shop"
SAID_THRICE = (
    "Run the test suite with `pytest -q -x`; PYTHONPATH must point at the repo root.",
    "To run the tests, set PYTHONPATH to the repository root and call pytest -q -x.",
    "Tests: call pytest -q -x with PYTHONPATH set to the root of the repository.",
)
OLD_VALUE = "The CI job times out after 30 minutes."
NEW_VALUE = "The CI job times out after 60 minutes."
OTHER = "Invoice PDFs are rendered with WeasyPrint from the templates in billing/pdf."


def test_numbers_read_digits_alike() -> None:
    assert numbers("port 5433, 1,5 s and 1.5 s") == {"5433", "1.5"}
    assert numbers("no digits here") == set()


def test_paraphrases_show_once_and_a_changed_value_stays(service: MemoryService) -> None:
    ids = [service.remember(t, project=PROJECT).id for t in SAID_THRICE]
    old, new = (service.remember(t, project=PROJECT).id for t in (OLD_VALUE, NEW_VALUE))
    other = service.remember(OTHER, project=PROJECT).id
    # remember() already points at the repeat (the cosine alone, at the calibrated threshold)
    again = service.remember(
        "Set PYTHONPATH to the repo root, then run pytest -q -x.", project=PROJECT
    )
    assert ids[0] in {n.id for n in again.near_duplicates}
    assert service.options.duplicate_threshold == MINILM.duplicate_threshold < 0.95

    memories = list(service.store.get_many([*ids, old, new, other, again.id]).values())
    repeats = near_duplicate_ids(service, sorted(memories, key=lambda m: m.id))
    assert repeats == {ids[1], ids[2], again.id}

    brief = build_briefing(service, PROJECT, budget_tokens=2000)
    shown = set(brief.ids)
    assert len(shown & {*ids, again.id}) == 1
    assert {old, new, other} <= shown
