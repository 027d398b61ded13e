"""Portable project identity: on a team database two checkouts of one repository at different
paths, on different machines, must be the same project (see mcp_memory/projects.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from mcp_memory.projects import normalise_remote, project_for_dir, resolve


def git(*args: str, cwd: Path) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


@pytest.mark.parametrize(
    "url",
    [
        "git@github.com:Org/api.git",
        "https://github.com/Org/api",
        "https://bob:token@GitHub.com/Org/api.git/",
        "ssh://git@github.com:22/Org/api.git",
    ],
)
def test_remote_forms_normalise_to_one_key(url: str) -> None:
    assert normalise_remote(url) == "github.com/Org/api"


def test_two_clones_at_different_paths_are_one_project(tmp_path: Path) -> None:
    """Two clones of one remote (and a worktree of one of them) map to the same key when
    portable, and keep their own paths when not (a local SQLite database is unchanged)."""
    origin = tmp_path / "origin.git"
    origin.mkdir()
    git("init", "--bare", "-q", cwd=origin)
    seed = tmp_path / "seed"
    git("clone", "-q", str(origin), str(seed), cwd=tmp_path)
    git("commit", "-q", "--allow-empty", "-m", "start", cwd=seed)
    git("push", "-q", "origin", "HEAD", cwd=seed)
    first = tmp_path / "laptop" / "src" / "api"
    second = tmp_path / "desktop" / "work" / "api-checkout"
    for clone in (first, second):
        clone.parent.mkdir(parents=True)
        git("clone", "-q", str(origin), str(clone), cwd=tmp_path)
    (first / "pkg").mkdir()
    worktree = tmp_path / "wt"
    git("worktree", "add", "-q", str(worktree), cwd=first)
    keys = {project_for_dir(d, portable=True) for d in (first / "pkg", second, worktree, seed)}
    assert keys == {normalise_remote(str(origin))}
    assert project_for_dir(first, portable=False) == str(first.resolve())
    assert project_for_dir(second, portable=False) == str(second.resolve())
    assert resolve(str(second), tmp_path, [], portable=True) == keys.pop()


def test_a_committed_project_id_file_wins_and_no_remote_keeps_the_path(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git("init", "-q", cwd=repo)
    assert project_for_dir(repo, portable=True) == str(repo.resolve())  # no remote, no id
    git("remote", "add", "origin", "git@gitlab.example.com:team/tool.git", cwd=repo)
    assert project_for_dir(repo, portable=True) == "gitlab.example.com/team/tool"
    (repo / ".memcycle-project").write_text("team-tool-2026\n")
    assert project_for_dir(repo, portable=True) == "id:team-tool-2026"
