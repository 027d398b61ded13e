"""A sandbox in which the real Claude Code CLI runs with mcp-memory installed as users install it.

:func:`make_sandbox` builds, under a temporary directory: a ``HOME`` (so nothing of the user's
Claude Code or git configuration is read), a git-initialised project with a small Python package
and its tests, and an ``MCP_MEMORY_HOME``. It runs the project's own installer
(``mcp-memory install --project``) so the hooks and the MCP server entry are exactly what a user
gets. All sandboxes share one :class:`WarmServer` on a private port (what the per-user service
gives a user; it also makes prompt recall deterministic: vector matching from the first prompt).

:meth:`Sandbox.claude` runs ``claude -p`` against a :class:`MessagesStandin` playing a script and
returns a :class:`Run`: the recorded requests, the stream-json output and timings. After a run,
:meth:`Sandbox.settle` waits (bounded) for the detached spool workers the hooks started, then
:meth:`Sandbox.memories` reads what was stored through ``mcp-memory export`` and
:meth:`Sandbox.failed_jobs` lists ``run/spool/failed/``.

Payloads: next to each of our hook entries the harness adds one more hook per event, a ``cat``
of stdin into ``payloads/`` (our entries stay byte for byte as installed), so tests can read the
real JSON the CLI sent (:meth:`Sandbox.payloads`).
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from support import free_port

import mcp_memory
from e2e.messages_standin import MAIN_MODEL, MessagesStandin, Request, Turn

REPO = Path(mcp_memory.__file__).resolve().parents[1]
CLAUDE = REPO / "tests" / "claude" / "node_modules" / ".bin" / "claude"
EVENTS = (
    "SessionStart",
    "UserPromptSubmit",
    "PostToolUse",
    "PostToolUseFailure",
    "PreCompact",
    "SessionEnd",
)
TOOLS = (
    "Bash",
    "Edit",
    "Write",
    "Read",
    "mcp__memory__remember",
    "mcp__memory__recall",
    "mcp__memory__forget",
    "mcp__memory__stats",
    "mcp__memory__briefing",
)
SETTLE_SECONDS = 90.0

CALC = '''\
"""A tiny calculator: the sandbox project's code under test."""


def add(a: int, b: int) -> int:
    return a - b


def multiply(a: int, b: int) -> int:
    return a * b
'''
TEST_CALC = """\
from calc import add, multiply


def test_add() -> None:
    assert add(2, 3) == 5


def test_multiply() -> None:
    assert multiply(2, 3) == 6
"""
PYPROJECT = """\
[project]
name = "calc"
version = "0.1.0"

[tool.pytest.ini_options]
pythonpath = ["."]
addopts = "-p no:cacheprovider"
"""


def claude_missing() -> str | None:
    """Why the suite cannot run here, or None. (The npm package installs a native binary for
    the platform: npm is needed to install it, Node.js not to run it.)"""
    if not os.access(CLAUDE, os.X_OK):
        return "Claude Code CLI not installed: run `make test` (npm ci --prefix tests/claude)"
    return None


@dataclass
class Run:
    """One ``claude -p``: what reached the stand-in, what the CLI printed, how long it took."""

    requests: list[Request]
    stream: list[dict[str, Any]]
    returncode: int
    stderr: str
    seconds: float
    consumed: int  # script turns played

    @property
    def main(self) -> list[Request]:
        return [r for r in self.requests if r.main]

    @property
    def last(self) -> dict[str, Any]:
        """The last main-conversation request body: it holds the whole conversation."""
        assert self.main, f"no main-conversation request reached the stand-in: {self.stderr}"
        return self.main[-1].body

    @property
    def result(self) -> dict[str, Any]:
        results = [e for e in self.stream if e.get("type") == "result"]
        assert results, f"no result event in the stream-json output: {self.stderr}"
        return results[-1]


@dataclass
class Sandbox:
    root: Path
    home: Path
    project: Path
    memhome: Path
    embed_port: int
    env: dict[str, str] = field(default_factory=dict)
    timings: list[tuple[str, float]] = field(default_factory=list)

    @property
    def payload_dir(self) -> Path:
        return self.root / "payloads"

    @property
    def spool(self) -> Path:
        return self.memhome / "run" / "spool"

    # -- the user's own commands -----------------------------------------------------------

    def cli(self, *args: str, cwd: Path | None = None) -> str:
        """``mcp-memory ARGS`` as the user runs it in the project; its stdout."""
        started = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", "mcp_memory.cli", *args],
            cwd=cwd or self.project,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        self.timings.append((f"mcp-memory {args[0]}", time.monotonic() - started))
        assert proc.returncode == 0, f"mcp-memory {shlex.join(args)}: {proc.stderr}{proc.stdout}"
        return proc.stdout

    def claude(
        self,
        prompt: str,
        script: Iterable[Turn] = (),
        *,
        tools: Iterable[str] = TOOLS,
        args: Iterable[str] = (),
        timeout: float = 120,
    ) -> Run:
        """``claude -p PROMPT`` in the project, the model played by ``script``."""
        with MessagesStandin(list(script)) as api:
            env = {**self.env, "ANTHROPIC_BASE_URL": api.url}
            argv = [str(CLAUDE), "-p", prompt, "--model", MAIN_MODEL]
            argv += ["--output-format", "stream-json", "--verbose"]
            argv += ["--allowedTools", " ".join(tools), *args]
            started = time.monotonic()
            proc = subprocess.run(
                argv, cwd=self.project, env=env, capture_output=True, text=True, timeout=timeout
            )
            seconds = time.monotonic() - started
            self.timings.append(("claude -p", seconds))
            requests, consumed = list(api.requests), api.consumed
        stream = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
        return Run(requests, stream, proc.returncode, proc.stderr, seconds, consumed)

    def claude_command(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Another ``claude`` subcommand (``mcp list``...) in the project, no model involved."""
        started = time.monotonic()
        proc = subprocess.run(
            [str(CLAUDE), *args],
            cwd=self.project,
            env={**self.env, "ANTHROPIC_BASE_URL": "http://127.0.0.1:9"},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        self.timings.append((f"claude {args[0]}", time.monotonic() - started))
        return proc

    # -- what happened -----------------------------------------------------------------------

    def settle(self, timeout: float = SETTLE_SECONDS) -> None:
        """Wait until the hooks have exited, then their detached spool workers, and the spool
        is empty."""
        started = time.monotonic()
        deadline = started + timeout
        while time.monotonic() < deadline:
            # a hook may outlive the CLI's exit; it enqueues before it starts a worker
            hooks = _running(self.project, HOOK_MARKERS)
            workers = _running(self.memhome, WORKER_MARKERS)
            if not hooks and not workers and not list(self.spool.glob("*.json")):
                self.timings.append(("settle", time.monotonic() - started))
                return
            time.sleep(0.1)
        raise AssertionError(
            f"spool workers still busy after {timeout:.0f}s; pending: "
            f"{sorted(p.name for p in self.spool.glob('*.json'))}; log:\n{self.hooks_log()}"
        )

    def memories(self, *, active_only: bool = True) -> list[dict[str, Any]]:
        """Every stored memory (``mcp-memory export``), active ones only unless told."""
        rows = [json.loads(line) for line in self.cli("export").splitlines() if line]
        found = [r for r in rows if r.get("kind") == "memory"]
        if active_only:
            found = [m for m in found if m["state"] in ("buffer", "proven")]
        return found

    def failed_jobs(self) -> list[str]:
        """``run/spool/failed/``: each file's name and content."""
        failed = self.spool / "failed"
        if not failed.is_dir():
            return []
        return [f"{p.name}: {p.read_text(errors='replace')}" for p in sorted(failed.iterdir())]

    def payloads(self, event: str | None = None) -> list[dict[str, Any]]:
        """The hook inputs the CLI sent, in order (all events, or one)."""
        out = []
        for path in sorted(self.payload_dir.glob("*.json")):
            with contextlib.suppress(ValueError):
                data = json.loads(path.read_text(encoding="utf-8"))
                if event is None or data.get("hook_event_name") == event:
                    out.append(data)
        return out

    def hooks_log(self) -> str:
        path = self.memhome / "logs" / "hooks.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def close(self) -> None:
        """Stop what the hooks started and left running in the memory home (a spool worker
        past its deadline), by pid."""
        for pid in _processes_in(self.memhome):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGTERM)


class WarmServer:
    """One warm embedding server for every sandbox, as a user has one per machine (the
    per-user service): hooks find it up and recall by vector from the first prompt."""

    def __init__(self, home: Path) -> None:
        self.port = free_port()
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "PYTHONPATH": str(REPO),
            "MCP_MEMORY_HOME": str(home / "memhome"),
            "MCP_MEMORY_MODEL": "minilm",
            "MCP_MEMORY_EMBED_PORT": str(self.port),
            "MCP_MEMORY_THREADS": "1",
        }

    def _cli(self, action: str, *args: str) -> None:
        proc = subprocess.run(
            [sys.executable, "-m", "mcp_memory.cli", "embed-server", action, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, f"embed-server {action}: {proc.stderr}{proc.stdout}"

    def start(self) -> WarmServer:
        self._cli("start", "--wait")
        return self

    def stop(self) -> None:
        self._cli("stop")


def make_sandbox(tmp: Path, warm: WarmServer) -> Sandbox:
    root = tmp.resolve()
    box = Sandbox(root, root / "home", root / "calc", root / "memhome", warm.port)
    for d in (box.home, box.project, box.memhome, box.payload_dir):
        d.mkdir(parents=True)
    box.env = _environment(box)
    _make_project(box)
    box.cli(
        "install",
        "--project",
        "--project-dir",
        str(box.project),
        "--home",
        str(box.memhome),
    )
    _tee_payloads(box)
    _trust(box)
    return box


def _environment(box: Sandbox) -> dict[str, str]:
    """A small, explicit environment: nothing of the developer's (no API keys, no config)."""
    venv_bin = str(Path(sys.executable).parent)
    path = os.pathsep.join([venv_bin, os.environ.get("PATH", "/usr/bin:/bin")])
    return {
        "PATH": path,
        "HOME": str(box.home),
        "LANG": "C.UTF-8",
        "TMPDIR": str(box.root),
        "PYTHONPATH": str(REPO),
        "PYTHONDONTWRITEBYTECODE": "1",
        "MCP_MEMORY_HOME": str(box.memhome),
        "MCP_MEMORY_MODEL": "minilm",
        "MCP_MEMORY_EMBED_PORT": str(box.embed_port),
        "MCP_MEMORY_THREADS": "1",
        "ANTHROPIC_API_KEY": "test",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_ERROR_REPORTING": "1",
        # the sandbox project's own pytest runs: no third-party plugins of the venv (faster)
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
    }


def _make_project(box: Sandbox) -> None:
    (box.project / "calc").mkdir()
    (box.project / "tests").mkdir()
    (box.project / "calc" / "__init__.py").write_text(CALC)
    (box.project / "tests" / "test_calc.py").write_text(TEST_CALC)
    (box.project / "pyproject.toml").write_text(PYPROJECT)
    (box.project / "README.md").write_text(
        textwrap.dedent("""\
        # calc
        A tiny calculator used as the sandbox project of the end-to-end tests.
        """)
    )
    git = ["git", "-c", "user.name=Test", "-c", "user.email=test@example.invalid"]
    for argv in (
        [*git, "init", "-q", "-b", "main"],
        [*git, "add", "."],
        [*git, "commit", "-q", "-m", "calc"],
    ):
        subprocess.run(argv, cwd=box.project, env=box.env, check=True, capture_output=True)


def _tee_payloads(box: Sandbox) -> None:
    """One more hook per event that copies its stdin to ``payloads/`` (ours stay untouched)."""
    settings = box.project / ".claude" / "settings.json"
    data = json.loads(settings.read_text())
    for event in EVENTS:
        target = shlex.quote(str(box.payload_dir))
        tee = {"type": "command", "command": f'cat > {target}/"$(date +%s%N)-{event}.json"'}
        data["hooks"].setdefault(event, []).append({"hooks": [tee]})
    settings.write_text(json.dumps(data, indent=2) + "\n")


def _trust(box: Sandbox) -> None:
    """Mark the project as trusted, as it is for a user who opened it in Claude Code before
    (without it, commands such as ``claude mcp list`` skip the project's hooks)."""
    state = {"projects": {str(box.project): {"hasTrustDialogAccepted": True}}}
    (box.home / ".claude.json").write_text(json.dumps(state, indent=2) + "\n")


def _processes_in(directory: Path) -> list[int]:
    """Pids of our processes whose working directory is ``directory`` (the hooks start the warm
    server and the spool workers there)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if Path(os.readlink(entry / "cwd")) == directory:
                pids.append(int(entry.name))
    return pids


# How a hook and a spool worker show in /proc/PID/cmdline (arguments NUL-separated): the
# installed ``memcycle hook EVENT`` (or the checkout's hooks/run.py launcher) and
# ``python -m mcp_memory.hooks.worker``. A marker that matches nothing makes settle() return
# while work is still under way, so test_settle_markers_match_real_processes pins them.
HOOK_MARKERS = (b"\0hook\0", b"hooks/run.py")
WORKER_MARKERS = (b"mcp_memory.hooks.worker",)


def _running(directory: Path, markers: tuple[bytes, ...]) -> list[int]:
    """Pids of processes in ``directory`` whose command line contains one of ``markers``."""
    if isinstance(markers, bytes):  # a bare marker would be taken byte by byte: always busy
        raise TypeError("markers is a tuple of byte strings")
    found = []
    for pid in _processes_in(directory):
        with contextlib.suppress(OSError):
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            if any(marker in cmdline for marker in markers):
                found.append(pid)
    return found
