"""``mcp-memory install`` / ``uninstall`` on temporary settings files that already hold other
hooks and settings: merged, idempotent, backed up, uninstalled cleanly, services written (never
enabled in tests), and the installed commands really run as Claude Code would run them."""

from __future__ import annotations

import json
import plistlib
import subprocess
import sys
from pathlib import Path
from typing import Any

import hook_fixtures as fx
import pytest
from support import free_port

from mcp_memory.cli.install import HOOK_EVENTS, InstallError, Target, install, is_our_hook

PYTHON = "/opt/venv/bin/python"
RUNNER = Path("/opt/mcp-memory/hooks/run.py")
OLD_RUNNER = "/home/me/old-checkout/hooks/run.py"

EXISTING_SETTINGS: dict[str, Any] = {
    "model": "opus",
    "permissions": {"allow": ["Bash(npm test:*)"], "deny": ["Read(./.env)"]},
    "env": {"FOO": "bar"},
    "hooks": {
        "PostToolUse": [
            {
                "matcher": "Write|Edit",
                "hooks": [{"type": "command", "command": "npx prettier --write"}],
            },
            {
                "matcher": "Bash",
                "hooks": [
                    {"type": "command", "command": "~/bin/audit-bash.sh", "timeout": 3},
                    {
                        "type": "command",
                        "command": f"python3 {OLD_RUNNER} PostToolUse",
                    },  # ours, stale
                ],
            },
        ],
        "Stop": [{"hooks": [{"type": "command", "command": "say done"}]}],
        "UserPromptSubmit": [{"hooks": [{"type": "http", "url": "http://localhost:9000/h"}]}],
    },
}
EXISTING_CLAUDE_JSON: dict[str, Any] = {
    "numStartups": 42,
    "projects": {"/home/me/app": {"allowedTools": []}},
    "mcpServers": {"github": {"type": "http", "url": "https://api.githubcopilot.com/mcp/"}},
}


@pytest.fixture
def user_home(tmp_path: Path) -> Path:
    home = tmp_path / "user"
    (home / ".claude").mkdir(parents=True)
    (home / ".claude" / "settings.json").write_text(json.dumps(EXISTING_SETTINGS, indent=4))
    (home / ".claude.json").write_text(json.dumps(EXISTING_CLAUDE_JSON))
    return home


def read(path: Path) -> Any:
    return json.loads(path.read_text())


def without_ours(settings: dict[str, Any]) -> dict[str, Any]:
    """EXISTING_SETTINGS as uninstall should leave it: the stale entry of ours removed too."""
    out = json.loads(json.dumps(settings))
    bash_group = out["hooks"]["PostToolUse"][1]
    bash_group["hooks"] = [h for h in bash_group["hooks"] if not is_our_hook(h)]
    return out


def test_install_merges_and_keeps_everything_else(user_home: Path) -> None:
    target = Target.user(user_home)
    plan = install(target, python=PYTHON, runner=RUNNER, env={"MCP_MEMORY_HOME": "/data/mem"})
    settings = read(target.settings)
    assert {k: v for k, v in settings.items() if k != "hooks"} == {
        k: v for k, v in EXISTING_SETTINGS.items() if k != "hooks"
    }
    hooks = settings["hooks"]
    assert set(hooks) == {*HOOK_EVENTS, "Stop"}
    assert hooks["Stop"] == EXISTING_SETTINGS["hooks"]["Stop"]
    assert hooks["UserPromptSubmit"][0] == EXISTING_SETTINGS["hooks"]["UserPromptSubmit"][0]
    post = hooks["PostToolUse"]
    assert post[0] == EXISTING_SETTINGS["hooks"]["PostToolUse"][0]
    # Ours replaced the stale entry in place (its group came first), the user's hook stayed.
    assert post[1] == {
        "matcher": "Bash|Edit|Write|MultiEdit|NotebookEdit|ExitPlanMode",
        "hooks": [
            {
                "type": "command",
                "timeout": 5,
                "command": f"MCP_MEMORY_HOME=/data/mem {PYTHON} {RUNNER} PostToolUse",
            }
        ],
    }
    assert post[2] == {
        "matcher": "Bash",
        "hooks": [{"type": "command", "command": "~/bin/audit-bash.sh", "timeout": 3}],
    }
    start = hooks["SessionStart"]
    assert start == [
        {
            "hooks": [
                {
                    "type": "command",
                    "timeout": 15,
                    "command": f"MCP_MEMORY_HOME=/data/mem {PYTHON} {RUNNER} SessionStart",
                }
            ]
        }
    ]
    claude = read(target.mcp)
    assert claude["numStartups"] == 42 and claude["projects"] == EXISTING_CLAUDE_JSON["projects"]
    assert claude["mcpServers"]["github"] == EXISTING_CLAUDE_JSON["mcpServers"]["github"]
    memory = claude["mcpServers"]["memory"]
    assert memory["type"] == "stdio" and memory["args"][-1] == "serve"
    assert memory["env"] == {"MCP_MEMORY_HOME": "/data/mem"}
    backups = sorted(p.name for p in (user_home / ".claude").glob("settings.json.bak-*"))
    assert len(backups) == 1 and plan.changes[0].backup is not None
    assert json.loads(plan.changes[0].backup.read_text()) == EXISTING_SETTINGS


def test_install_is_idempotent_and_uninstall_removes_only_ours(user_home: Path) -> None:
    target = Target.user(user_home)
    install(target, python=PYTHON, runner=RUNNER)
    first = (target.settings.read_bytes(), target.mcp.read_bytes())
    again = install(target, python=PYTHON, runner=RUNNER)
    assert not any(c.changed for c in again.changes)
    assert (target.settings.read_bytes(), target.mcp.read_bytes()) == first
    assert len(list((user_home / ".claude").glob("settings.json.bak-*"))) == 1  # no new backup
    install(target, remove=True)
    assert read(target.settings) == without_ours(EXISTING_SETTINGS)
    assert read(target.mcp) == EXISTING_CLAUDE_JSON
    assert not any(c.changed for c in install(target, remove=True).changes)


def test_project_install_creates_files_and_dry_run_writes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    target = Target.project(root)
    assert target == Target(root / ".claude" / "settings.json", root / ".mcp.json")
    plan = install(target, dry_run=True, python=PYTHON, runner=RUNNER)
    assert not target.settings.exists() and not target.mcp.exists()
    text = plan.describe(dry_run=True)
    assert f"would change {target.settings}" in text and '+    "SessionEnd": [' in text
    install(target, python=PYTHON, runner=RUNNER)
    assert set(read(target.settings)["hooks"]) == set(HOOK_EVENTS)
    assert list(read(target.mcp)["mcpServers"]) == ["memory"]


def test_refuses_to_touch_broken_or_foreign_files(user_home: Path) -> None:
    target = Target.user(user_home)
    target.settings.write_text('{"hooks": {"Stop": [}')  # not JSON
    with pytest.raises(InstallError, match="not valid JSON"):
        install(target, python=PYTHON, runner=RUNNER)
    assert target.settings.read_text() == '{"hooks": {"Stop": [}'
    target.settings.write_text("{}")
    foreign = {
        "mcpServers": {
            "memory": {"command": "npx", "args": ["@modelcontextprotocol/server-memory"]}
        }
    }
    target.mcp.write_text(json.dumps(foreign))
    with pytest.raises(InstallError, match='named "memory" that is not mcp-memory'):
        install(target, python=PYTHON, runner=RUNNER)
    install(target, remove=True)  # uninstall leaves someone else's "memory" alone
    assert read(target.mcp) == foreign


def test_service_files_are_written_but_never_enabled_in_tests(tmp_path: Path) -> None:
    calls: list[list[str]] = []
    target = Target.project(tmp_path)
    for platform, path in [
        ("linux", tmp_path / ".config" / "systemd" / "user" / "mcp-memory-embed.service"),
        ("darwin", tmp_path / "Library" / "LaunchAgents" / "dev.mcp-memory.embed-server.plist"),
    ]:
        kwargs: dict[str, Any] = dict(
            python=PYTHON,
            runner=RUNNER,
            service=True,
            platform=platform,
            home=tmp_path,
            port=52600,
            env={"MCP_MEMORY_HOME": "/data/mem"},
            run=calls.append,
        )
        dry = install(target, dry_run=True, **kwargs)
        assert not path.exists() and calls == []
        assert any(a[0] in ("systemctl", "launchctl") for a in dry.commands)
        install(target, **kwargs)
        text = path.read_text()
        if platform == "linux":
            assert f"ExecStart={PYTHON} -m embed_server --port 52600" in text
            assert "Environment=MCP_MEMORY_HOME=/data/mem" in text
            assert calls[-1] == [
                "systemctl",
                "--user",
                "enable",
                "--now",
                "mcp-memory-embed.service",
            ]
        else:
            plist = plistlib.loads(path.read_bytes())
            assert plist["ProgramArguments"] == [
                PYTHON,
                "-m",
                "mcp_memory.embed_server",
                "--port",
                "52600",
            ]
            assert plist["RunAtLoad"] is True and plist["EnvironmentVariables"] == {
                "MCP_MEMORY_HOME": "/data/mem"
            }
            assert calls[-1] == ["launchctl", "load", "-w", str(path)]
        calls.clear()
        install(target, remove=True, **kwargs)
        assert not path.exists() and calls[0][0] in ("systemctl", "launchctl")
        calls.clear()


def test_linux_service_path_follows_xdg(tmp_path: Path) -> None:
    from mcp_memory.cli.install import service_path

    assert service_path("linux", tmp_path, tmp_path / "xdg") == (
        tmp_path / "xdg" / "systemd" / "user" / "mcp-memory-embed.service"
    )


def test_cli_install_writes_commands_claude_code_can_run(tmp_path: Path) -> None:
    """End to end: the CLI writes the project's settings; each command, run through the shell
    with the event's JSON on stdin like Claude Code does, exits 0 with a valid output."""
    root = tmp_path / "proj"
    (root / ".git").mkdir(parents=True)
    home = tmp_path / "home"
    env = fx.hook_env(home, free_port())
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mcp_memory.cli",
            "install",
            "--project",
            "--project-dir",
            str(root),
            "--dry-run",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "would change" in done.stdout and not (root / ".claude").exists()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "mcp_memory.cli",
            "install",
            "--project",
            "--project-dir",
            str(root),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    settings = read(root / ".claude" / "settings.json")
    server = read(root / ".mcp.json")["mcpServers"]["memory"]
    assert server["env"] == {"MCP_MEMORY_HOME": str(home.resolve())}
    run_dir = home / "run"
    run_dir.mkdir(parents=True)
    port = env["MCP_MEMORY_EMBED_PORT"]
    (run_dir / f"embed-server-{port}.pid").write_text(json.dumps({"pid": 1}))  # "starting"
    payloads = {
        "SessionStart": fx.session_start(root),
        "UserPromptSubmit": fx.prompt(root, "hello"),
        "PostToolUse": fx.read(root, "a.py"),
        "PostToolUseFailure": fx.bash_failure(root, "ls nothing", "Exit code 2"),
        "PreCompact": fx.pre_compact(root, tmp_path / "missing.jsonl"),
        "SessionEnd": fx.session_end(root, tmp_path / "missing.jsonl"),
    }
    for event, groups in settings["hooks"].items():
        (entry,) = groups[0]["hooks"]
        result = subprocess.run(
            entry["command"],
            shell=True,
            input=json.dumps(payloads[event]).encode(),
            env=env,
            capture_output=True,
            timeout=entry["timeout"] * 3,
            check=False,
        )
        assert result.returncode == 0 and result.stderr == b"", (event, result.stderr)
        fx.parse_output(event, result.stdout)
    fx.settle(run_dir)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "mcp_memory.cli",
            "uninstall",
            "--project",
            "--project-dir",
            str(root),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert read(root / ".claude" / "settings.json") == {}
