"""Projects: every memory belongs to one project, or is explicitly global.

A project is named by the git root of the working directory (its absolute path, so two
checkouts called ``api`` never share memories) or by an explicit name. A directory outside any
git repository is its own project: a memory never becomes global by accident.

On a team database a path names nothing another machine knows, so there the key is portable
(:func:`portable_key`): the id in a ``.memcycle-project`` file committed at the repository's
root, else the normalised URL of its ``origin`` remote (``git@github.com:Org/api.git`` and
``https://github.com/Org/api`` are both ``github.com/Org/api``), else the path as before.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from pathlib import Path

from mcp_memory.errors import ValidationError

# The project key of memories that belong to every project. Defined here, not in the store, so
# that hooks can name projects without importing the store (and numpy): keep this module light.
GLOBAL = "@global"
GLOBAL_NAMES = frozenset({"global", GLOBAL})
_NAME = re.compile(r"^[^\x00-\x1f\x7f]{1,300}$")


def git_root(start: Path) -> Path | None:
    """The nearest ancestor of ``start`` containing ``.git`` (a directory or a worktree file)."""
    current = start.resolve()
    for candidate in (current, *current.parents):
        if (candidate / ".git").exists():
            return candidate
    return None


PROJECT_ID_FILE = ".memcycle-project"
_SCP_REMOTE = re.compile(r"^(?:[^@/]+@)?([^:/]+):(?!//)(.+)$")  # git@host:org/repo.git


def project_for_dir(cwd: Path, *, portable: bool = False) -> str:
    """The project key of ``cwd``: its git root's path, or with ``portable`` (a team
    database) the same key on every machine and checkout when the repository has one."""
    root = git_root(cwd)
    if root is None:
        return str(cwd.resolve())
    if portable:
        key = portable_key(root)
        if key is not None:
            return key
    return str(root)


def portable_key(root: Path) -> str | None:
    """The key of the repository at ``root`` that does not depend on where it is checked
    out: ``id:<first line of .memcycle-project>``, else its ``origin`` URL normalised (host
    lower-cased, no user, password, port, scheme or ``.git``); None when it has neither."""
    id_file = root / PROJECT_ID_FILE
    if id_file.is_file():
        first = id_file.read_text(encoding="utf-8", errors="replace").strip().splitlines()
        if first and first[0].strip():
            return f"id:{first[0].strip()}"
    url = origin_url(root)
    return None if url is None else normalise_remote(url)


def origin_url(root: Path) -> str | None:
    """The ``origin`` remote's URL from the repository's config (read directly: no git
    process on the hooks' path). A worktree's ``.git`` file points to its common directory."""
    git = root / ".git"
    if git.is_file():
        text = git.read_text(encoding="utf-8", errors="replace").strip()
        if not text.startswith("gitdir:"):
            return None
        git = (root / text.removeprefix("gitdir:").strip()).resolve()
        common = git / "commondir"
        if common.is_file():
            git = (git / common.read_text(encoding="utf-8").strip()).resolve()
    config = git / "config"
    if not config.is_file():
        return None
    section = ""
    for line in config.read_text(encoding="utf-8", errors="replace").splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line
        elif section == '[remote "origin"]' and line.replace(" ", "").startswith("url="):
            return line.split("=", 1)[1].strip()
    return None


def normalise_remote(url: str) -> str:
    """``host/path`` of a git remote URL, the same for its SSH, HTTPS and scp-like forms."""
    from urllib.parse import urlsplit

    url = url.strip()
    scp = _SCP_REMOTE.match(url) if "://" not in url else None
    if scp is not None:
        host, path = scp.group(1), scp.group(2)
    else:
        parts = urlsplit(url)
        host, path = (parts.hostname or ""), parts.path
    path = path.strip("/").removesuffix(".git").strip("/")
    return f"{host.lower()}/{path}" if host else path


def is_team_key(project: str, team: Collection[str]) -> bool:
    """Whether hybrid use keeps ``project`` on the team database: ``team`` (the
    ``team_projects`` setting) lists its key, or is ``*``. Global memories never are."""
    return project != GLOBAL and ("*" in team or project in team)


def routed(
    name: str | None,
    cwd: Path,
    known: Collection[str],
    *,
    team: Collection[str],
    create: bool = False,
) -> str:
    """:func:`resolve` for hybrid use: a directory names its portable key when that key is a
    team project (``team``), else the local key it always had (its path), so projects that
    stay local keep their memories' key."""
    key = resolve(name, cwd, known, create=create, portable=True)
    if is_team_key(key, team):
        return key
    return resolve(name, cwd, known, create=create, portable=False)


def resolve(
    name: str | None,
    cwd: Path,
    known: Collection[str],
    *,
    create: bool = False,
    portable: bool = False,
) -> str:
    """The project key ``name`` means, for every command and tool that takes a project.

    ``name`` may be nothing (the project of ``cwd``), ``global``, ``.`` or another directory
    (its git root, resolved against ``cwd``), a key in ``known``, or the short name the
    tables show (``ingest`` for ``/home/u/src/ingest``) when exactly one known project has it.
    Anything else is an error listing the known projects: a typo must not silently search
    nothing, nor start a second project. A new project comes only from a directory; ``create``
    (remember) adds that hint to the error. ``portable``: directories name their portable key
    (a team database, see :func:`project_for_dir`).
    """
    if name is None or name.strip() == "":
        return project_for_dir(cwd, portable=portable)
    name = name.strip()
    if name.lower() in GLOBAL_NAMES:
        return GLOBAL
    if not _NAME.match(name):
        raise ValidationError(
            "project must be 1-300 characters without control characters, or 'global'"
        )
    if name in known:
        return name
    if _looks_like_path(name):
        path = (cwd / Path(name).expanduser()).resolve()
        if path.is_dir():  # a directory names its project unambiguously, known or new
            return project_for_dir(path, portable=portable)
        raise ValidationError(f"no directory {path}; {_known_list(known)}")
    named = sorted(k for k in known if k != GLOBAL and display_name(k) == name)
    if len(named) == 1:
        return named[0]
    if named:
        raise ValidationError(
            f"project name {name!r} is ambiguous: {', '.join(named)}; pass the key or path"
        )
    hint = "; to start a new project pass its directory (a path or '.')" if create else ""
    raise ValidationError(f"no project named {name!r}; {_known_list(known)}{hint}")


def _looks_like_path(name: str) -> bool:
    return name in (".", "..") or "/" in name or name.startswith("~") or "\\" in name


def _known_list(known: Collection[str]) -> str:
    """``known: ingest (/home/u/src/ingest), webshop (...)``: short name, then the key."""
    shown = [
        f"{display_name(k)} ({k})" if display_name(k) != k else k
        for k in sorted(known, key=lambda k: (display_name(k), k))
        if k != GLOBAL
    ]
    return "known: " + (", ".join(shown) if shown else "none yet")


def scope(project: str, *, include_global: bool = True) -> list[str]:
    """The projects a read about ``project`` covers: the project plus the global memories
    (which belong to every project), or global alone when ``project`` is global."""
    if project == GLOBAL or not include_global:
        return [project]
    return [project, GLOBAL]


def project_or_all(
    name: str | None, cwd: Path, known: Collection[str], *, all_projects: bool = False
) -> str | None:
    """The project a caller named (or the one of ``cwd``), or None for every project."""
    if all_projects:
        if name:
            raise ValidationError("give either project or all_projects, not both")
        return None
    return resolve(name, cwd, known)


def search_scope(
    name: str | None,
    cwd: Path,
    known: Collection[str],
    *,
    all_projects: bool = False,
    include_global: bool = True,
) -> list[str] | None:
    """The projects a recall searches, from what a caller asked: ``name`` (or the project of
    ``cwd``) plus global, or None for every project."""
    key = project_or_all(name, cwd, known, all_projects=all_projects)
    return None if key is None else scope(key, include_global=include_global)


def display_name(project: str) -> str:
    if project == GLOBAL:
        return "global"
    return project.rstrip("/").rsplit("/", 1)[-1] or project
