"""Code anchors (mcp_memory/anchors) on a real git history scripted in a temporary directory:
what a memory is anchored to when it is stored, and the status each kind of change gives it
(an edit to the anchored lines, an edit elsewhere, a rename, a move, a deletion, a branch switch,
an uncommitted change, a file outside git)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from mcp_memory.anchors.anchoring import Anchoring
from mcp_memory.anchors.check import AnchorState, describe
from mcp_memory.anchors.fingerprint import blob_id
from mcp_memory.anchors.paths import Target, targets_in
from mcp_memory.service.memories import MemoryService, new_memory
from mcp_memory.store.database import Store

SOURCE = """import time


def retry_payment(attempts):
    for n in range(attempts):
        time.sleep(n)
    return attempts


def refund(amount):
    return -amount
"""

Git = Callable[..., str]


def make_git(root: Path) -> Git:
    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(root), *args], check=True, capture_output=True, text=True
        )
        return done.stdout.strip()

    return git


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, Git]:
    root = tmp_path / "shop"
    (root / "payments").mkdir(parents=True)
    git = make_git(root)
    git("init", "-q", "-b", "main")
    git("config", "user.email", "dev@example.com")
    git("config", "user.name", "Dev")
    (root / "payments" / "stripe_client.py").write_text(SOURCE)
    (root / "README.md").write_text("# shop\n")
    git("add", ".")
    git("commit", "-qm", "first")
    return root, git


def write(path: Path, text: str) -> None:
    """Write and move the mtime on, so a same-size rewrite within one clock tick still shows."""
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(text)
    st = path.stat()
    if st.st_mtime_ns <= before:
        os.utime(path, ns=(st.st_atime_ns, before + 1_000_000))


def anchored(store: Store, root: Path, text: str, files: tuple[str, ...] = ()) -> int:
    anchors = Anchoring(store).prepare([text], str(root), files)[0]
    mid = store.insert(new_memory(text, project=str(root)), None)
    store.add_anchors(mid, anchors)
    return mid


def states(
    store: Store, root: Path, mid: int, anchoring: Anchoring | None = None
) -> list[AnchorState]:
    """The anchors of ``mid`` as a fresh process checks them (its own cache, the table's rows)."""
    return (anchoring or Anchoring(store)).states({mid: str(root)})[mid]


# -- finding anchors ----------------------------------------------------------------------------


def test_targets_are_the_project_files_a_text_names(repo: tuple[Path, Git]) -> None:
    root, _ = repo
    text = (
        "Retries live in payments/stripe_client.py (see also ./README.md, "
        f"{root}/README.md, /etc/hosts, https://x.io/payments/stripe_client.py, docs/none.md)"
    )
    assert targets_in(text, root) == [
        Target("payments/stripe_client.py", "file"),
        Target("README.md", "file"),
    ]


def test_lines_and_symbols_named_give_narrow_targets(repo: tuple[Path, Git]) -> None:
    root, _ = repo
    assert targets_in("payments/stripe_client.py:4-7 sleeps", root) == [
        Target("payments/stripe_client.py", "lines", "4-7")
    ]
    assert targets_in("`retry_payment()` in payments/stripe_client.py sleeps", root) == [
        Target("payments/stripe_client.py", "symbol", "retry_payment")
    ]
    # a symbol the file does not define leaves the whole file as the target
    assert targets_in("`charge()` in payments/stripe_client.py", root) == [
        Target("payments/stripe_client.py", "file")
    ]


def test_episode_files_are_anchored_with_the_blob_id_and_head(
    repo: tuple[Path, Git], store: Store
) -> None:
    root, git = repo
    mid = anchored(
        store, root, "Fixed: `pytest` failed, passed after editing", ("payments/stripe_client.py",)
    )
    row = store.anchors_of([mid])[mid][0]
    assert row[2:5] == ("payments/stripe_client.py", "payments/stripe_client.py", "file")
    assert row[6] == blob_id(SOURCE.encode()) == git("hash-object", "payments/stripe_client.py")
    assert row[7] == git("rev-parse", "HEAD")


def test_named_projects_and_missing_files_have_no_anchors(store: Store, tmp_path: Path) -> None:
    assert Anchoring(store).prepare(["see payments/stripe_client.py"], "shop") == [[]]
    assert Anchoring(store).prepare(["see nothing/here.py"], str(tmp_path)) == [[]]


# -- statuses on a scripted history ---------------------------------------------------------------


def test_unchanged_file_is_fresh_and_checked_by_stat_alone(
    repo: tuple[Path, Git], store: Store
) -> None:
    root, _ = repo
    mid = anchored(store, root, "Retries live in payments/stripe_client.py")
    [state] = states(store, root, mid)
    assert (state.status, state.stale, describe([state])) == ("fresh", False, None)


def test_edit_to_the_anchored_lines_is_edited_in_its_commit(
    repo: tuple[Path, Git], store: Store
) -> None:
    root, git = repo
    mid = anchored(store, root, "`retry_payment()` in payments/stripe_client.py sleeps n seconds")
    write(root / "payments/stripe_client.py", SOURCE.replace("time.sleep(n)", "time.sleep(2**n)"))
    git("commit", "-qam", "backoff")
    [state] = states(store, root, mid)
    assert (state.status, state.commit) == ("edited", git("rev-parse", "HEAD"))
    text = describe([state])
    assert text is not None and text.startswith(
        "may be out of date: payments/stripe_client.py changed since "
    )
    assert f"edited (retry_payment) in commit {git('rev-parse', '--short=7', 'HEAD')}" in text


def test_edit_elsewhere_leaves_lines_and_symbols_fresh_but_not_the_file(
    repo: tuple[Path, Git], store: Store
) -> None:
    root, git = repo
    symbol = anchored(store, root, "`retry_payment()` in payments/stripe_client.py sleeps")
    lines = anchored(store, root, "payments/stripe_client.py:4-7 is the retry loop")
    whole = anchored(store, root, "Retries live in payments/stripe_client.py")
    edited = "import logging\n" + SOURCE.replace("return -amount", "return -abs(amount)")
    write(root / "payments/stripe_client.py", edited)
    git("commit", "-qam", "refund sign")
    assert [s.status for s in states(store, root, symbol)] == ["fresh"]
    [moved_lines] = states(store, root, lines)
    assert (moved_lines.status, moved_lines.selector) == ("fresh", "5-8")  # followed the lines
    assert store.anchors_of([lines])[lines][0][5] == "5-8"
    assert [s.status for s in states(store, root, whole)] == ["edited"]


def test_rename_is_followed_and_the_anchor_updated(repo: tuple[Path, Git], store: Store) -> None:
    root, git = repo
    mid = anchored(store, root, "`retry_payment()` in payments/stripe_client.py sleeps")
    git("mv", "payments/stripe_client.py", "payments/stripe.py")
    git("commit", "-qm", "rename")
    [state] = states(store, root, mid)
    assert (state.status, state.path, state.moved_to) == (
        "moved",
        "payments/stripe_client.py",
        "payments/stripe.py",
    )
    assert state.commit == git("rev-parse", "HEAD")
    assert store.anchors_of([mid])[mid][0][2] == "payments/stripe.py"
    # later checks look at the new path (and an edit there is an edit)
    write(root / "payments/stripe.py", SOURCE.replace("time.sleep(n)", "pass"))
    [again] = states(store, root, mid)
    assert (again.status, again.moved_to, again.commit) == ("edited", "payments/stripe.py", None)
    assert "(not committed yet), now at payments/stripe.py" in (describe([again]) or "")


def test_move_to_another_directory_staged_or_untracked(
    repo: tuple[Path, Git], store: Store
) -> None:
    root, git = repo
    staged = anchored(store, root, "Retries live in payments/stripe_client.py")
    (root / "billing").mkdir()
    git("mv", "payments/stripe_client.py", "billing/stripe_client.py")
    [state] = states(store, root, staged)
    assert (state.status, state.moved_to, state.commit) == (
        "moved",
        "billing/stripe_client.py",
        None,
    )
    readme = anchored(store, root, "The README.md says nothing yet")
    os.rename(root / "README.md", root / "billing" / "README.md")  # plain mv, not in git yet
    [plain] = states(store, root, readme)
    assert (plain.status, plain.moved_to) == ("moved", "billing/README.md")


def test_deletion_names_its_commit(repo: tuple[Path, Git], store: Store) -> None:
    root, git = repo
    mid = anchored(store, root, "Retries live in payments/stripe_client.py")
    (root / "payments/stripe_client.py").unlink()
    [uncommitted] = states(store, root, mid)
    assert (uncommitted.status, uncommitted.commit) == ("deleted", None)
    git("commit", "-qam", "drop stripe")
    [state] = states(store, root, mid)
    assert (state.status, state.commit) == ("deleted", git("rev-parse", "HEAD"))
    assert store.orphaned_ids(str(root)) == [mid]


def test_branch_switch_is_an_edit_and_switching_back_is_fresh(
    repo: tuple[Path, Git], store: Store
) -> None:
    root, git = repo
    mid = anchored(store, root, "Retries live in payments/stripe_client.py")
    anchoring = Anchoring(store)  # one process throughout: its cache must not hide the switch
    git("checkout", "-qb", "rewrite")
    write(root / "payments/stripe_client.py", "def retry_payment(a):\n    return a\n")
    git("commit", "-qam", "rewrite")
    branch_commit = git("rev-parse", "HEAD")
    git("checkout", "-q", "main")
    assert [s.status for s in states(store, root, mid, anchoring)] == ["fresh"]
    git("checkout", "-q", "rewrite")
    [state] = states(store, root, mid, anchoring)
    assert (state.status, state.commit) == ("edited", branch_commit)
    git("checkout", "-q", "main")
    assert [s.status for s in states(store, root, mid, anchoring)] == ["fresh"]
    assert [s.status for s in states(store, root, mid)] == ["fresh"]


def test_uncommitted_change_is_edited_without_a_commit(
    repo: tuple[Path, Git], store: Store
) -> None:
    root, _ = repo
    mid = anchored(store, root, "Retries live in payments/stripe_client.py")
    write(root / "payments/stripe_client.py", SOURCE + "\n# todo\n")
    [state] = states(store, root, mid)
    assert (state.status, state.commit) == ("edited", None)
    assert "(edited (not committed yet))" in (describe([state]) or "")


def test_file_outside_git_is_edited_or_unknown(tmp_path: Path, store: Store) -> None:
    root = tmp_path / "scratch"
    root.mkdir()
    (root / "notes.py").write_text(SOURCE)
    (root / "other.py").write_text("x = 1\n")
    edited = anchored(store, root, "Retries live in notes.py")
    gone = anchored(store, root, "Constants live in other.py")
    assert store.anchors_of([edited])[edited][0][7] is None  # no commit outside git
    write(root / "notes.py", SOURCE + "# more\n")
    (root / "other.py").unlink()
    [state] = states(store, root, edited)
    assert (state.status, state.commit) == ("edited", None)
    [missing] = states(store, root, gone)
    assert (missing.status, missing.stale) == ("unknown", False)  # moved or deleted: cannot tell


def test_unreadable_file_is_unknown(repo: tuple[Path, Git], store: Store) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads any file")
    root, _ = repo
    mid = anchored(store, root, "Retries live in payments/stripe_client.py")
    path = root / "payments/stripe_client.py"
    write(path, SOURCE + "\n")
    path.chmod(0)
    try:
        assert [s.status for s in states(store, root, mid)] == ["unknown"]
    finally:
        path.chmod(0o644)


# -- through the service -------------------------------------------------------------------------


def test_recall_reports_and_demotes_a_stale_hit(
    repo: tuple[Path, Git], service: MemoryService
) -> None:
    root, git = repo
    project = str(root)
    old = service.remember(
        "Payment retries: retry_payment in payments/stripe_client.py sleeps between attempts",
        project=project,
    ).id
    fresh = service.remember(
        "Payment retries: retry_payment sleeps between attempts, configured in README.md",
        project=project,
    ).id
    before = {h.id: h for h in service.recall("payment retries sleep", projects=[project])}
    assert before[old].anchors[0].status == "fresh" and before[old].stale is None
    write(root / "payments/stripe_client.py", "def charge():\n    pass\n")
    git("commit", "-qam", "rewrite payments")
    hits = service.recall("payment retries sleep", projects=[project])
    after = {h.id: h for h in hits}
    assert after[old].anchors[0].status == "edited"
    assert after[old].stale is not None and after[old].stale.startswith("may be out of date")
    assert after[old].score == pytest.approx(before[old].score * 0.85, abs=1e-6)
    assert after[fresh].stale is None
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_briefing_marks_a_memory_whose_file_is_gone(
    repo: tuple[Path, Git], service: MemoryService
) -> None:
    from mcp_memory.service.briefing import build_briefing

    root, git = repo
    mid = service.remember(
        "Decision: refunds go through payments/stripe_client.py only", project=str(root)
    ).id
    (root / "payments/stripe_client.py").unlink()
    git("commit", "-qam", "drop stripe")
    brief = build_briefing(service, str(root))
    [line] = [ln for ln in brief.text.splitlines() if ln.startswith(f"- [{mid}]")]
    assert line.endswith(
        f"(deleted in commit {git('rev-parse', '--short=7', 'HEAD')}). Verify against the code "
        "before acting.)"
    )


# -- lifecycle: verify, aging, routing -----------------------------------------------------------


def test_aging_expires_a_memory_whose_every_file_is_gone_and_flags_a_decision(
    repo: tuple[Path, Git], service: MemoryService
) -> None:
    from mcp_memory.lifecycle.aging import AgePolicy, age

    root, git = repo
    project = str(root)
    note = service.remember(
        "retry_payment in payments/stripe_client.py sleeps", project=project, type="note"
    ).id
    decision = service.remember(
        "We chose payments/stripe_client.py over webhooks", project=project, type="decision"
    ).id
    both = service.remember(
        "payments/stripe_client.py and README.md describe retries", project=project, type="note"
    ).id
    (root / "payments/stripe_client.py").unlink()
    git("commit", "-qam", "drop stripe")

    def keep(text: str) -> tuple[bool, str]:
        return True, "looks useful"

    report = age(service.store, AgePolicy(), keep, project=project, anchoring=service.anchoring)
    assert (report.orphaned, report.orphaned_protected) == ([note], [decision])
    assert note in report.expired and both not in report.expired  # README.md is still there
    assert service.store.get(note).state == "expired"
    assert service.store.get(decision).state == "buffer"


def test_route_holds_a_stale_memory_even_with_force(
    repo: tuple[Path, Git], service: MemoryService, tmp_path: Path
) -> None:
    from mcp_memory.projects import GLOBAL
    from mcp_memory.routing.router import RouteConfig, Router, promote

    root, git = repo
    mid = service.remember(
        "Charge retries always go through retry_payment in payments/stripe_client.py",
        project=str(root),
        source="user",
    ).id
    promote(service.store, mid)
    (tmp_path / "claude_home").mkdir()
    config = RouteConfig(claude_home=tmp_path / "claude_home", backup_dir=tmp_path / "backups")
    router = Router(service.store, service.embedder, config)
    assert [i.action for i in router.plan([str(root), GLOBAL]).items] == ["write"]
    write(root / "payments/stripe_client.py", "def charge():\n    pass\n")
    git("commit", "-qam", "rewrite")
    [item] = router.apply([str(root), GLOBAL], force=True).items
    assert item.action == "held" and item.line is None
    assert item.reason.startswith("may be out of date: payments/stripe_client.py changed since")
    assert not (root / "CLAUDE.md").exists()


def test_verify_cli_lists_the_stale_memories(
    repo: tuple[Path, Git], minilm: object, tmp_path: Path
) -> None:
    import json
    import sys

    from mcp_memory.embedding.local import LocalEmbedder

    assert isinstance(minilm, LocalEmbedder)
    root, git = repo
    home = tmp_path / "home"
    store = Store.open(home / "memory.db")
    svc = MemoryService(store, minilm)
    stale = svc.remember("Retries live in payments/stripe_client.py", project=str(root)).id
    svc.remember("The README.md is short", project=str(root))
    svc.remember("Nothing anchored here", project=str(root))
    store.close()
    git("mv", "payments/stripe_client.py", "payments/stripe.py")
    git("commit", "-qm", "rename")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MCP_MEMORY_")},
        "MCP_MEMORY_HOME": str(home),
        "MCP_MEMORY_MODEL": "minilm",
    }
    done = subprocess.run(
        [sys.executable, "-m", "mcp_memory.cli", "verify", "--project", str(root), "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=root,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["checked"] == 2
    [found] = report["stale"]
    assert (found["id"], found["all_deleted"]) == (stale, False)
    assert found["anchors"][0]["status"] == "moved"
    assert found["anchors"][0]["moved_to"] == "payments/stripe.py"
    text = subprocess.run(
        [sys.executable, "-m", "mcp_memory.cli", "verify"],
        capture_output=True,
        text=True,
        env=env,
        cwd=root,
        timeout=120,
    ).stdout
    assert text.startswith("1 of 2 anchored memories may be out of date:\n")
    assert "moved to payments/stripe.py in commit" in text


def test_consolidation_keeps_the_anchors_of_its_sources(
    repo: tuple[Path, Git], service: MemoryService
) -> None:
    from mcp_memory.lifecycle.consolidate import Consolidator
    from mcp_memory.llm.budget import BudgetLimits
    from mcp_memory.llm.extractive import ExtractiveProvider

    root, _ = repo
    texts = [
        "Payment retries sleep between attempts, in payments/stripe_client.py",
        "Payment retries sleep between attempts (README.md says so too)",
        "Payment retries sleep a while between attempts",
    ]
    ids = [service.remember(t, project=str(root)).id for t in texts]
    [outcome] = Consolidator(service, ExtractiveProvider(), BudgetLimits()).run(members=ids)
    assert outcome.status == "applied", outcome.reason
    [result] = outcome.results
    rows = service.store.anchors_of([result])[result]
    assert sorted(r[2] for r in rows) == ["README.md", "payments/stripe_client.py"]
    assert [s.status for s in service.anchoring.states({result: str(root)})[result]] == [
        "fresh",
        "fresh",
    ]


def test_graph_page_carries_what_changed_in_each_memory_code(
    repo: tuple[Path, Git], service: MemoryService
) -> None:
    from mcp_memory.graph.page import collect

    root, git = repo
    stale = service.remember("Retries live in payments/stripe_client.py", project=str(root)).id
    fresh = service.remember("The README.md is the only doc", project=str(root)).id
    write(root / "payments/stripe_client.py", "def charge():\n    pass\n")
    git("commit", "-qam", "rewrite")
    nodes = collect(service.store).nodes
    code = dict(zip(nodes["id"], nodes["code"], strict=True))
    assert code[fresh] is None
    assert str(code[stale]).startswith(
        "may be out of date: payments/stripe_client.py changed since"
    )


def test_path_finding_stays_linear_on_hostile_text(repo: tuple[Path, Git]) -> None:
    """'a.a.a...' once took 4 s (backtracking); 64 distinct tokens at most are looked up."""
    import time

    root, _ = repo
    for text in (
        "a." * 10_000,
        "a/" * 10_000,
        "x() " * 5_000,
        " ".join(f"d{i}/f.py" for i in range(3000)),
    ):
        start = time.perf_counter()
        assert targets_in(text, root) == []
        assert time.perf_counter() - start < 2.0
