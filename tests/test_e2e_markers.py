"""The e2e harness waits for hooks and spool workers by their command lines (``settle``): its
markers must match the commands ``install`` writes and the worker the hooks start, or settle
returns while work is still under way (it did: the markers named the old entry points)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest
from e2e.harness import HOOK_MARKERS, WORKER_MARKERS

from mcp_memory.capture import spool
from mcp_memory.cli.install import hook_command
from mcp_memory.config import load_settings
from mcp_memory.hooks import worker


def cmdline(argv: list[str]) -> bytes:
    """``argv`` as /proc/PID/cmdline shows it."""
    return b"".join(a.encode() + b"\0" for a in argv)


def test_the_hook_marker_matches_the_installed_hook_command() -> None:
    for launcher in ([sys.executable, "-m", "mcp_memory.cli"], ["/opt/bin/memcycle"]):
        argv = shlex.split(hook_command(launcher, "SessionStart", {"MCP_MEMORY_HOME": "/x"}))
        argv = [a for a in argv if "=" not in a]  # the env prefix is the shell's, not argv
        assert any(m in cmdline(argv) for m in HOOK_MARKERS), argv


def test_the_worker_marker_matches_the_worker_the_hooks_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[list[str]] = []
    monkeypatch.setattr(spool, "spawn_detached", lambda argv, *_: started.append(argv) or 1)
    worker.wake_worker(load_settings({"MCP_MEMORY_HOME": str(tmp_path)}))
    (argv,) = started
    assert any(m in cmdline(argv) for m in WORKER_MARKERS), argv
