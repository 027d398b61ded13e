"""``memcycle install`` / ``uninstall`` on temporary settings files that already hold other
hooks and settings: merged, idempotent, backed up, uninstalled cleanly (the old
``.../hooks/run.py`` form too), an ephemeral command refused, services written (never enabled in
tests), and the installed commands really run as Claude Code would run them."""

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

from mcp_memory.cli.install import (
    HOOK_EVENTS,
    InstallError,
    Target,
    install,
    is_our_hook,
    is_our_server,
)

PYTHON = "/opt/venv/bin/python"
COMMAND = "/opt/venv/bin/memcycle"  # the stable console script a venv / pipx / uv tool has
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
    plan = install(target, command=[COMMAND], env={"MCP_MEMORY_HOME": "/data/mem"})
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
                "command": f"MCP_MEMORY_HOME=/data/mem {COMMAND} hook PostToolUse",
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
                    "command": f"MCP_MEMORY_HOME=/data/mem {COMMAND} hook SessionStart",
                }
            ]
        }
    ]
    claude = read(target.mcp)
    assert claude["numStartups"] == 42 and claude["projects"] == EXISTING_CLAUDE_JSON["projects"]
    assert claude["mcpServers"]["github"] == EXISTING_CLAUDE_JSON["mcpServers"]["github"]
    memory = claude["mcpServers"]["memory"]
    assert memory["type"] == "stdio" and memory["command"] == COMMAND
    assert memory["args"] == ["serve"]
    assert memory["env"] == {"MCP_MEMORY_HOME": "/data/mem"}
    backups = sorted(p.name for p in (user_home / ".claude").glob("settings.json.bak-*"))
    assert len(backups) == 1 and plan.changes[0].backup is not None
    assert json.loads(plan.changes[0].backup.read_text()) == EXISTING_SETTINGS


def test_install_is_idempotent_and_uninstall_removes_only_ours(user_home: Path) -> None:
    target = Target.user(user_home)
    install(target, command=[COMMAND])
    first = (target.settings.read_bytes(), target.mcp.read_bytes())
    again = install(target, command=[COMMAND])
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
    plan = install(target, dry_run=True, command=[COMMAND])
    assert not target.settings.exists() and not target.mcp.exists()
    text = plan.describe(dry_run=True)
    assert f"would change {target.settings}" in text and '+    "SessionEnd": [' in text
    install(target, command=[COMMAND])
    assert set(read(target.settings)["hooks"]) == set(HOOK_EVENTS)
    assert list(read(target.mcp)["mcpServers"]) == ["memory"]


def test_refuses_to_touch_broken_or_foreign_files(user_home: Path) -> None:
    target = Target.user(user_home)
    target.settings.write_text('{"hooks": {"Stop": [}')  # not JSON
    with pytest.raises(InstallError, match="not valid JSON"):
        install(target, command=[COMMAND])
    assert target.settings.read_text() == '{"hooks": {"Stop": [}'
    target.settings.write_text("{}")
    foreign = {
        "mcpServers": {
            "memory": {"command": "npx", "args": ["@modelcontextprotocol/server-memory"]}
        }
    }
    target.mcp.write_text(json.dumps(foreign))
    with pytest.raises(InstallError, match='named "memory" that is not memcycle'):
        install(target, command=[COMMAND])
    install(target, remove=True)  # uninstall leaves someone else's "memory" alone
    assert read(target.mcp) == foreign


def test_hooks_and_server_run_the_stable_command(tmp_path: Path) -> None:
    """Each hook is `<abs>/memcycle hook EVENT` and the server `<abs>/memcycle serve`: no file
    path inside site-packages, so an upgrade of the package keeps the settings valid."""
    target = Target.project(tmp_path)
    install(target, command=["/home/me/.local/share/uv/tools/memcycle/bin/memcycle"])
    hooks = read(target.settings)["hooks"]
    commands = {event: groups[0]["hooks"][0]["command"] for event, groups in hooks.items()}
    assert commands == {
        event: f"/home/me/.local/share/uv/tools/memcycle/bin/memcycle hook {event}"
        for event in HOOK_EVENTS
    }
    assert read(target.mcp)["mcpServers"]["memory"] == {
        "type": "stdio",
        "command": "/home/me/.local/share/uv/tools/memcycle/bin/memcycle",
        "args": ["serve"],
    }
    spaced = Target.project(tmp_path / "p2")
    install(spaced, command=["/Users/Jo Doe/venv/bin/memcycle"], env={"MCP_MEMORY_HOME": "/d b"})
    entry = read(spaced.settings)["hooks"]["SessionEnd"][0]["hooks"][0]
    assert (
        entry["command"]
        == "MCP_MEMORY_HOME='/d b' '/Users/Jo Doe/venv/bin/memcycle' hook SessionEnd"
    )
    assert is_our_hook(entry)


@pytest.mark.parametrize(
    ("command", "environ", "why"),
    [
        ("/home/me/.cache/uv/archive-v0/Xk3/bin/memcycle", {"HOME": "/home/me"}, "uv's cache"),
        ("/srv/uvc/builds-v0/.tmpA1/bin/memcycle", {"HOME": "/home/me"}, "uv's cache"),
        (
            "/data/uv-cache/env7/bin/memcycle",
            {"HOME": "/x", "UV_CACHE_DIR": "/data/uv-cache"},
            "UV_CACHE_DIR",
        ),
        ("/home/me/.cache/pipx/3f9a/bin/memcycle", {"HOME": "/home/me"}, "pipx's cache"),
        ("/home/me/.local/pipx/.cache/3f9a/bin/memcycle", {"HOME": "/home/me"}, "pipx's cache"),
        ("/scratch/tmp/venv/bin/memcycle", {"HOME": "/x", "TMPDIR": "/scratch/tmp"}, "temporary"),
    ],
)
def test_install_refuses_a_command_from_an_ephemeral_cache(
    user_home: Path, command: str, environ: dict[str, str], why: str
) -> None:
    """uvx / `uv tool run` / `pipx run` environments and temp dirs vanish: install refuses them
    with the fix, and writes nothing. Uninstall still works from there."""
    target = Target.user(user_home)
    before = (target.settings.read_bytes(), target.mcp.read_bytes())
    with pytest.raises(InstallError) as caught:
        install(target, command=[command], environ=environ)
    message = str(caught.value)
    assert command in message and why in message
    assert message.endswith(
        "install with `uv tool install memcycle` or `pipx install memcycle`, "
        "then run `memcycle install`"
    )
    assert (target.settings.read_bytes(), target.mcp.read_bytes()) == before
    assert not list((user_home / ".claude").glob("*.bak-*"))
    install(target, remove=True, command=[command], environ=environ)
    assert read(target.settings) == without_ours(EXISTING_SETTINGS)


def test_reinstall_replaces_and_uninstall_removes_the_old_run_py_form(tmp_path: Path) -> None:
    """Settings written by earlier versions (`python .../hooks/run.py EVENT`, `mcp-memory
    serve`) are ours: a new install replaces them in place, uninstall removes them."""
    target = Target.project(tmp_path)
    site = "/opt/venv/lib/python3.11/site-packages/mcp_memory/hooks/run.py"
    old_settings = {
        "hooks": {
            event: [
                {
                    **({"matcher": matcher} if matcher else {}),
                    "hooks": [
                        {"type": "command", "command": f"/opt/venv/bin/python {site} {event}"}
                    ],
                }
            ]
            for event, (matcher, _) in HOOK_EVENTS.items()
        }
    }
    old_server = {"type": "stdio", "command": "/opt/venv/bin/mcp-memory", "args": ["serve"]}
    target.settings.parent.mkdir()
    target.settings.write_text(json.dumps(old_settings))
    target.mcp.write_text(json.dumps({"mcpServers": {"memory": old_server}}))
    assert is_our_server(old_server)
    install(target, command=[COMMAND])
    hooks = read(target.settings)["hooks"]
    assert {e: [h["command"] for g in gs for h in g["hooks"]] for e, gs in hooks.items()} == {
        event: [f"{COMMAND} hook {event}"] for event in HOOK_EVENTS
    }
    assert read(target.mcp)["mcpServers"]["memory"]["command"] == COMMAND
    target.settings.write_text(json.dumps(old_settings))
    install(target, remove=True)
    assert read(target.settings) == {}
    assert read(target.mcp) == {}


def test_hook_recognition_takes_every_form_of_ours_and_nothing_else() -> None:
    ours = [
        f"{COMMAND} hook PreCompact",
        "MCP_MEMORY_HOME=/d memcycle hook SessionStart",
        "'/a b/memcycle' hook UserPromptSubmit",
        "/opt/venv/bin/mcp-memory hook SessionEnd",
        "/opt/venv/bin/python -m mcp_memory.cli hook PostToolUse",
        "C:\\venv\\Scripts\\memcycle.exe hook PostToolUseFailure",
        f"python3 {OLD_RUNNER} SessionStart",
        "/v/bin/python 'C:\\x y\\hooks\\run.py' PreCompact",
    ]
    theirs = [
        "memcycle-notify hook SessionStart",
        "my-memcycle-wrapper SessionStart",
        "/opt/other/hooks/run.sh SessionStart",
        f"{COMMAND} hook Stop",
        "npx prettier --write",
    ]
    assert [c for c in ours if not is_our_hook({"type": "command", "command": c})] == []
    assert [c for c in theirs if is_our_hook({"type": "command", "command": c})] == []


def test_service_files_are_written_but_never_enabled_in_tests(tmp_path: Path) -> None:
    calls: list[list[str]] = []
    target = Target.project(tmp_path)
    for platform, path in [
        ("linux", tmp_path / ".config" / "systemd" / "user" / "mcp-memory-embed.service"),
        ("darwin", tmp_path / "Library" / "LaunchAgents" / "dev.mcp-memory.embed-server.plist"),
    ]:
        kwargs: dict[str, Any] = dict(
            python=PYTHON,
            command=[COMMAND],
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
            assert f"ExecStart={PYTHON} -m mcp_memory.embed_server --port 52600" in text
            assert "Environment=MCP_MEMORY_HOME=/data/mem" in text
            assert ["systemctl", "--user", "enable", "--now", "mcp-memory-embed.service"] in calls
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
            assert ["launchctl", "load", "-w", str(path)] in calls
        calls.clear()
        install(target, remove=True, **kwargs)
        assert not path.exists() and calls[0][0] in ("systemctl", "launchctl")
        calls.clear()


def test_service_keeps_the_daemon_running_from_login(tmp_path: Path) -> None:
    """--service adds a systemd user unit for the daemon, with the recorded settings and no
    idle exit; --dry-run prints it and calls nothing; daemon off, no unit (and an old one goes)."""
    calls: list[list[str]] = []
    target = Target.project(tmp_path)
    unit = tmp_path / ".config" / "systemd" / "user" / "mcp-memory-daemon.service"
    kwargs: dict[str, Any] = dict(
        python=PYTHON,
        command=[COMMAND],
        service=True,
        platform="linux",
        home=tmp_path,
        env={"MCP_MEMORY_HOME": "/data/mem"},
        run=calls.append,
    )
    dry = install(target, dry_run=True, **kwargs)
    shown = dry.describe(dry_run=True)
    assert not unit.exists() and calls == []
    assert f"+ExecStart={PYTHON} -m mcp_memory.server.daemon --wait" in shown
    assert "+Environment=MCP_MEMORY_DAEMON_IDLE_EXIT=0" in shown
    assert "would run   systemctl --user enable --now mcp-memory-daemon.service" in shown

    install(target, **kwargs)
    text = unit.read_text()
    # A daemon a session started holds the lock: the unit's waits for it instead of exiting
    # (and being restarted every 5 s); its "lock held" and "superseded" exits are final.
    assert f"ExecStart={PYTHON} -m mcp_memory.server.daemon --wait\n" in text
    assert "RestartPreventExitStatus=3 4\n" in text
    assert "Environment=MCP_MEMORY_HOME=/data/mem" in text
    assert "Environment=MCP_MEMORY_DAEMON_IDLE_EXIT=0" in text
    assert "WantedBy=default.target" in text
    assert ["systemctl", "--user", "enable", "--now", "mcp-memory-daemon.service"] in calls

    calls.clear()  # a recorded idle exit is kept; the daemon turned off removes its unit
    install(target, **kwargs | {"env": {"MCP_MEMORY_DAEMON_IDLE_EXIT": "600"}})
    assert "Environment=MCP_MEMORY_DAEMON_IDLE_EXIT=600" in unit.read_text()
    calls.clear()
    install(target, daemon=False, **kwargs)
    assert not unit.exists()
    assert ["systemctl", "--user", "disable", "--now", "mcp-memory-daemon.service"] in calls
    assert (unit.parent / "mcp-memory-embed.service").exists()


def test_daemon_launch_agent_on_macos(tmp_path: Path) -> None:
    target = Target.project(tmp_path)
    plan = install(
        target,
        dry_run=True,
        python=PYTHON,
        command=[COMMAND],
        service=True,
        platform="darwin",
        home=tmp_path,
        logs_dir=tmp_path / "logs",
        run=lambda argv: None,
    )
    agent = tmp_path / "Library" / "LaunchAgents" / "dev.mcp-memory.daemon.plist"
    change = next(c for c in plan.changes if c.path == agent)
    assert change.after is not None
    plist = plistlib.loads(change.after.encode())
    assert plist["ProgramArguments"] == [PYTHON, "-m", "mcp_memory.server.daemon", "--wait"]
    assert plist["EnvironmentVariables"] == {"MCP_MEMORY_DAEMON_IDLE_EXIT": "0"}
    assert plist["StandardErrorPath"] == str(tmp_path / "logs" / "daemon.log")


def test_linux_service_path_follows_xdg(tmp_path: Path) -> None:
    from mcp_memory.cli.services import service_path

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
    assert server["env"] == {  # every setting in install's environment, home made absolute
        "MCP_MEMORY_HOME": str(home.resolve()),
        "MCP_MEMORY_MODEL": "minilm",
        "MCP_MEMORY_EMBED_PORT": env["MCP_MEMORY_EMBED_PORT"],
        "MCP_MEMORY_THREADS": "1",
        "MCP_MEMORY_DAEMON": "false",  # hook_env's: these hook tests run no relay
        **{k: env[k] for k in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME")},
    }
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
