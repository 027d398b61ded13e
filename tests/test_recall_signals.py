"""What recall reads besides a memory's own words: session neighbours, name labels, dates and
the other candidates of a memory's session.

Real SQLite files and the real bundled model; each test pins one signal of
:meth:`MemoryService.recall` (see ``docs/benchmarks.md``, section "locomo", for what each adds).
"""

from __future__ import annotations

from datetime import UTC, datetime

import apsw
import pytest

from mcp_memory.errors import ValidationError
from mcp_memory.service.fusion import Tuning
from mcp_memory.service.memories import MemoryService
from mcp_memory.service.query import asks_when, names_in, says_when, time_windows
from mcp_memory.service.recall import _session_lift
from mcp_memory.service.types import Options
from mcp_memory.store import migrations
from mcp_memory.store.database import Store
from mcp_memory.text.keywords import keyword_query
from mcp_memory.text.labels import label_of


def day(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def windows(text: str) -> list[tuple[str, str]]:
    return [
        (
            datetime.fromtimestamp(a, UTC).isoformat()[:10],
            datetime.fromtimestamp(b, UTC).isoformat()[:10],
        )
        for a, b in time_windows(text)
    ]


def test_time_windows_take_absolute_dates_most_precise_first() -> None:
    assert windows("What did Tim say on 16 November, 2023?") == [("2023-11-16", "2023-11-17")]
    assert windows("painting shared on October 13, 2023") == [("2023-10-13", "2023-10-14")]
    assert windows("deploys on 2024-02-29 and 2024-03-01") == [
        ("2024-02-29", "2024-03-01"),
        ("2024-03-01", "2024-03-02"),
    ]
    # A day beats the month and year around it; months beat years.
    assert windows("in July 2023, and on 3 July 2023") == [("2023-07-03", "2023-07-04")]
    assert windows("Which places did Evan visit in July 2023?") == [("2023-07-01", "2023-08-01")]
    assert windows("trips in December 2023") == [("2023-12-01", "2024-01-01")]
    assert windows("What did she read in 2022?") == [("2022-01-01", "2023-01-01")]


def test_time_windows_ignore_what_is_not_an_absolute_date() -> None:
    assert time_windows("When did Caroline go to the support group?") == []
    assert time_windows("what happened last week") == []
    assert time_windows("we may ship 2 fixes") == []  # "may" the verb, a bare number
    assert time_windows("port 2023 is open") == []  # a year needs "in", "during", "since"...
    assert windows("on 31 February 2023") == [("2023-02-01", "2023-03-01")]  # no such day


def test_when_questions_and_texts_that_say_when() -> None:
    assert asks_when("When did Caroline go to the support group?")
    assert asks_when("How long has she had her friends?") and asks_when("What year was it?")
    assert not asks_when("What did Caroline do when it rained?")  # not asking for a time
    assert says_when("I went to a support group yesterday") and says_when("two weeks ago")
    assert says_when("we moved in 2019") and says_when("Last Friday was great")
    assert not says_when("I may go") and not says_when("support groups are great")


def test_labels_are_leading_capitalised_names() -> None:
    assert label_of("Caroline: I went to a support group") == "caroline"
    assert label_of("Dr. Smith: take two") == "dr"
    assert label_of("Mary Ann Lee: hello") == "mary"
    assert label_of("no label here: lower case") is None
    assert label_of("Note that: a colon later") is None  # "that" is lower case
    assert label_of("Caroline:no space") is None
    assert label_of("The: stopword label") is None
    assert "caroline" in names_in("What did Caroline research?")
    # Names that label memories in scope go to the name signal, not to BM25 (unless alone).
    assert keyword_query("What did Caroline research?", drop={"caroline"}) == '"research"'
    assert keyword_query("Caroline?", drop={"caroline"}) == '"caroline"'


def test_session_memories_carry_their_neighbours_text(tmp_path) -> None:
    store = Store.open(tmp_path / "m.db")
    service = MemoryService(store, _Unused())
    ids = [
        r.id
        for r in service.remember_many(
            ["Mel: How did the marathon go?", "Tom: Finished in four hours!", "Mel: Amazing"],
            project="p",
            session_id="s1",
            embed=False,
        )
    ]
    other = service.remember("Tom: unrelated", project="p", session_id="s2", embed=False).id
    alone = service.remember("Tom: no session", project="p", embed=False).id
    rows = dict(
        (int(i), (p, c))
        for i, p, c in store.execute("SELECT id, prev_id, context FROM memories ORDER BY id")
    )
    assert rows[ids[0]] == (None, "Tom: Finished in four hours!")
    assert rows[ids[1]] == (ids[0], "Mel: How did the marathon go?\nMel: Amazing")
    assert rows[ids[2]] == (ids[1], "Tom: Finished in four hours!")
    assert rows[other] == (None, "") and rows[alone] == (None, "")
    assert store.neighbours([ids[1]], ["buffer"]) == {ids[1]: [ids[0], ids[2]]}
    # The answer is found through the question's words, ranked below the question itself.
    hits = store.fts('"marathon"', 5, projects=["p"])
    assert [i for i, _ in hits] == [ids[0], ids[1]]
    own_words_only = store.fts('"marathon"', 5, projects=["p"], context_weight=0)
    assert [i for i, _ in own_words_only] == [ids[0]]
    store.set_state(ids[2], "deleted")
    assert store.neighbours([ids[1]], ["buffer"]) == {ids[1]: [ids[0]]}
    store.close()


def test_purge_chains_neighbours_around_and_drops_the_text(tmp_path) -> None:
    store = Store.open(tmp_path / "m.db")
    service = MemoryService(store, _Unused())
    a, b, c, d = (
        r.id
        for r in service.remember_many(
            ["Ann: hello", "Bob: my pin is secret", "Ann: the zebra one?", "Bob: yes"],
            project="p",
            session_id="s",
            embed=False,
        )
    )
    store.purge([b, c])
    rows = store.execute("SELECT id, prev_id, context FROM memories ORDER BY id")
    assert rows == [(a, None, "Bob: yes"), (d, a, "Ann: hello")]
    assert store.fts('"secret" OR "zebra"', 5, projects=["p"]) == []
    store.close()


def test_migration_links_existing_session_memories(tmp_path) -> None:
    """A database from before migration 4 gets prev_id, context, recall_fts and labels for what
    it has."""
    path = tmp_path / "old.db"
    db = apsw.Connection(str(path))
    for number, fn in migrations.MIGRATIONS:
        if number < 4:
            db.execute("BEGIN")
            fn(db)
            db.execute(f"PRAGMA user_version = {number}")
            db.execute("COMMIT")
    for n, (text, session) in enumerate(
        [("Ann: where to?", "s"), ("Bob: Lisbon", "s"), ("x", None)]
    ):
        db.execute(
            "INSERT INTO memories (content, content_hash, project, session_id, created_at, "
            "updated_at) VALUES (?, ?, 'p', ?, 0, 0)",
            (text, str(n), session),
        )
    db.close()
    store = Store.open(path)
    assert store.schema_version >= 4
    assert store.execute("SELECT prev_id, context FROM memories ORDER BY id") == [
        (None, "Bob: Lisbon"),
        (1, "Ann: where to?"),
        (None, ""),
    ]
    assert [i for i, _ in store.fts('"lisbon"', 5, projects=["p"])] == [2, 1]
    assert store.execute("SELECT label FROM memories ORDER BY id") == [("ann",), ("bob",), (None,)]
    assert store.labels(["bob", "lisbon", "x"], ["p"]) == {"bob"}
    assert store.labels(["bob"], ["elsewhere"]) == set()
    store.close()


def test_name_and_date_in_the_query_lift_matching_memories(service: MemoryService) -> None:
    june, july = day("2023-06-10T15:00"), day("2023-07-03T15:00")
    first = service.remember_many(
        ["Anna: I adopted a puppy from the shelter", "Ben: I adopted a kitten from the shelter"],
        project="p",
        session_id="a",
        created_at=june,
    )
    second = service.remember_many(
        ["Ben: We adopted a second kitten today"], project="p", session_id="b", created_at=july
    )
    hits = service.recall("What pet did Anna adopt?", projects=["p"], k=3, count_recall=False)
    assert hits[0].id == first[0].id and hits[0].signals["name_match"] == 1
    assert hits[0].created_at == "2023-06-10T15:00:00+00:00"
    hits = service.recall("Which pet adopted on 3 July 2023?", projects=["p"], count_recall=False)
    assert hits[0].id == second[0].id and hits[0].signals["time_match"] == 1
    assert all("time_match" not in h.signals for h in hits[1:])
    off = MemoryService(service.store, service.embedder, Options(tuning=Tuning(time_factor=1.0)))
    plain = off.recall("Which pet adopted on 3 July 2023?", projects=["p"], count_recall=False)
    before = next(h.score for h in plain if h.id == hits[0].id)
    assert hits[0].score == pytest.approx(2 * before, abs=1e-5)
    # A question asking when prefers a memory that says when.
    said = service.remember_many(
        ["Anna: The shelter visit was great", "Anna: I went to the shelter yesterday"],
        project="q",
        session_id="c",
        created_at=june,
    )
    hits = service.recall("When did Anna go to the shelter?", projects=["q"], count_recall=False)
    assert hits[0].id == said[1].id and hits[0].signals["says_when"] == 1
    assert "says_when" not in hits[1].signals


def test_session_lift_lends_a_share_of_the_best_other_score_in_the_session() -> None:
    fused = {1: 1.0, 2: 0.5, 3: 0.2, 4: 0.4, 5: 0.3}
    sessions: dict[int, str | None] = {1: "a", 2: "a", 3: "a", 4: "b", 5: None}
    factor = {1: 1.0, 2: 1.0, 3: 2.0, 4: 1.0, 5: 1.0}  # 3 matched a date: x2 on the addition too
    out = _session_lift(fused, sessions, factor, 0.3)
    assert out[1] == pytest.approx(1.0 + 0.3 * 0.5)  # the best of the others, not itself
    assert out[2] == pytest.approx(0.5 + 0.3 * 1.0)
    assert out[3] == pytest.approx(0.2 + 2.0 * 0.3 * 1.0)
    assert out[4] == 0.4 and out[5] == 0.3  # alone in its session; no session


def test_recall_lifts_memories_whose_session_holds_a_strong_match(service: MemoryService) -> None:
    a = service.remember_many(
        ["Ann: the zebra crossing needs paint", "Bob: I can bring the paint"],
        project="p",
        session_id="a",
    )
    b = service.remember_many(["Cal: I can bring the paint"], project="p", session_id="b")
    off = MemoryService(service.store, service.embedder, Options(tuning=Tuning(session_weight=0)))
    query = "zebra crossing paint"
    on = {h.id: h.score for h in service.recall(query, projects=["p"], count_recall=False)}
    plain = {h.id: h.score for h in off.recall(query, projects=["p"], count_recall=False)}
    assert on[a[1].id] > plain[a[1].id] and on[a[0].id] > plain[a[0].id]
    assert on[b[0].id] == plain[b[0].id]  # alone in its session


def test_created_at_must_be_a_timestamp(service: MemoryService) -> None:
    for bad in (float("nan"), -1.0, "2023-01-01"):
        with pytest.raises(ValidationError, match="created_at"):
            service.remember("text", project="p", created_at=bad)  # type: ignore[arg-type]
    assert service.store.counts()["total"] == 0


class _Unused:
    """An embedder the test must never call (text-only memories)."""

    model_id = "unused"
    dimension = 8
    pooling = "unknown"

    def embed(self, texts, kind="document"):  # type: ignore[no-untyped-def]
        raise AssertionError("embedding was not expected")
