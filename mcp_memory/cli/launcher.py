"""The command Claude Code should run for the server and the hooks: a stable ``memcycle``.

``memcycle install`` writes an absolute command into ``settings.json`` and ``.mcp.json``, and
Claude Code runs it in every later session, so it must outlive the install: the ``memcycle``
console script of the environment that runs the installer (a venv, a ``pipx install`` or a
``uv tool install``), found next to ``sys.executable``; never a file inside site-packages
(its path changes with every upgrade).

An environment that ``uvx`` / ``uv tool run`` or ``pipx run`` made in a cache, or one in a
temporary directory, is deleted or replaced behind the user's back: :func:`ephemeral_reason`
names such a path, and the installer refuses it with :data:`FIX`.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

COMMAND = "memcycle"
FIX = (
    "install with `uv tool install memcycle` or `pipx install memcycle`, "
    "then run `memcycle install`"
)
# Directory names that only occur inside uv's cache (`uvx` environments are built there).
_UV_CACHE_PARTS = frozenset({"archive-v0", "builds-v0"})


def console_script(python: str) -> Path | None:
    """The ``memcycle`` script installed with the interpreter ``python``, if there is one."""
    folder = Path(python).parent
    for name in (COMMAND, f"{COMMAND}.exe"):
        if (folder / name).is_file():
            return folder / name
    return None


def stable_command(python: str | None = None) -> list[str]:
    """``[<bin>/memcycle]`` for the environment of ``python`` (default: this interpreter), or
    ``[python, -m, mcp_memory.cli]`` when it has no console script (a bare checkout)."""
    python = python or sys.executable
    script = console_script(python)
    return [str(script)] if script else [python, "-m", "mcp_memory.cli"]


def _cache_roots(environ: Mapping[str, str]) -> list[tuple[Path, str]]:
    home = Path(environ.get("HOME") or Path.home())
    roots = [(home / ".cache" / "uv", "uv's cache (uvx / `uv tool run`)")]
    if environ.get("UV_CACHE_DIR"):
        roots.append((Path(environ["UV_CACHE_DIR"]), "uv's cache ($UV_CACHE_DIR)"))
    if environ.get("XDG_CACHE_HOME"):
        roots.append((Path(environ["XDG_CACHE_HOME"]) / "uv", "uv's cache"))
        roots.append((Path(environ["XDG_CACHE_HOME"]) / "pipx", "pipx's cache (`pipx run`)"))
    if environ.get("PIPX_HOME"):
        roots.append((Path(environ["PIPX_HOME"]) / ".cache", "pipx's cache (`pipx run`)"))
    import platformdirs

    for app, what in (("uv", "uv's cache"), ("pipx", "pipx's cache (`pipx run`)")):
        roots.append((Path(platformdirs.user_cache_dir(app, appauthor=False)), what))
    roots.append((Path(environ.get("TMPDIR") or tempfile.gettempdir()), "a temporary directory"))
    return roots


def ephemeral_reason(path: Path, environ: Mapping[str, str] | None = None) -> str | None:
    """Why ``path`` will not survive (it lies in a tool's run cache or a temporary
    directory), or None for a stable path."""
    environ = os.environ if environ is None else environ
    candidates = [Path(os.path.abspath(path))]
    real = Path(os.path.realpath(path.parent)) / path.name
    if real != candidates[0]:
        candidates.append(real)
    for candidate in candidates:
        parts = candidate.parts
        if _UV_CACHE_PARTS.intersection(parts):
            return "it is inside uv's cache (uvx / `uv tool run`)"
        pairs = set(zip(parts, parts[1:], strict=False))
        if (".cache", "uv") in pairs:
            return "it is inside uv's cache (uvx / `uv tool run`)"
        if (".cache", "pipx") in pairs or ("pipx", ".cache") in pairs:
            return "it is inside pipx's cache (`pipx run`)"
        for root, what in _cache_roots(environ):
            for form in {Path(os.path.abspath(root)), Path(os.path.realpath(root))}:
                if candidate.is_relative_to(form):
                    return f"it is inside {what}, {form}"
    return None
