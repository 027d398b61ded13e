"""Where settings come from and where files go (issue 19 item 6), through real subprocesses with
temporary XDG folders: settings given only as environment variables reach every entry install
writes (hooks, MCP server, service), the config file lives under XDG_CONFIG_HOME and logs and
pid files under XDG_STATE_HOME, the old locations are moved once and said, folders are 0700."""

from __future__ import annotations

import json
import os
import shlex
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import hook_fixtures as fx
from support import free_port

XDG = ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME")


def base_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A user with nothing set but HOME and temporary XDG folders (no MCP_MEMORY_*)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MCP_MEMORY_", "XDG_", "HOME"))}
    env["HOME"] = str(tmp_path / "user")
    (tmp_path / "user").mkdir(exist_ok=True)
    for name in XDG:
        env[name] = str(tmp_path / name.split("_")[1].lower())
    env.update(extra)
    return env


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mcp_memory.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=env["HOME"],
    )


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def bare_env(env: dict[str, str]) -> dict[str, str]:
    """What an entry starts with when Claude Code or systemd launches it: none of the
    variables of the shell that ran install (PATH and PYTHONPATH kept, to find this copy)."""
    return {k: v for k, v in env.items() if k in ("PATH", "PYTHONPATH", "HOME", "LANG")}


def test_settings_given_as_variables_reach_hooks_server_and_service(tmp_path: Path) -> None:
    port = free_port()
    env = base_env(
        tmp_path,
        MCP_MEMORY_MODEL="minilm",
        MCP_MEMORY_EMBED_PORT=str(port),
        MCP_MEMORY_MAX_CONTENT_CHARS="500",
        MCP_MEMORY_THREADS="1",
        GEMINI_API_KEY="AIzaSy-not-a-real-key-0123456789abcdef",
    )
    (tmp_path / "user" / ".claude").mkdir()
    done = cli(env, "install", "--user")
    assert done.returncode == 0, done.stderr
    recorded = {
        "MCP_MEMORY_MODEL": "minilm",
        "MCP_MEMORY_EMBED_PORT": str(port),
        "MCP_MEMORY_MAX_CONTENT_CHARS": "500",
        "MCP_MEMORY_THREADS": "1",
        **{name: env[name] for name in XDG},
    }
    assert "settings recorded in each entry: " + ", ".join(sorted(recorded)) in done.stdout
    assert "GEMINI_API_KEY is not written" in done.stdout

    claude = json.loads((tmp_path / "user" / ".claude.json").read_text())
    server = claude["mcpServers"]["memory"]
    assert server["env"] == recorded
    hooks = json.loads((tmp_path / "user" / ".claude" / "settings.json").read_text())["hooks"]
    commands = [g["hooks"][0]["command"] for groups in hooks.values() for g in groups]
    assert len(commands) == 6
    for command in commands:
        assert all(f"{k}={shlex.quote(v)} " in command for k, v in recorded.items()), command
    everything = json.dumps([claude, hooks])
    assert "AIzaSy" not in everything, "a secret never goes into Claude Code's files"

    # The server entry as Claude Code starts it (its env only), asked what it sees.
    argv = [server["command"], *server["args"]]
    argv[argv.index("serve")] = "config"
    seen = subprocess.run(
        [*argv, "--json"],
        env={**bare_env(env), **server["env"]},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    got = json.loads(seen.stdout)
    assert got["settings"]["model"] == "minilm"
    assert got["settings"]["embed_port"] == str(port)
    assert got["settings"]["max_content_chars"] == "500"
    assert got["state"] == str(tmp_path / "state" / "memcycle")
    assert got["home"] == str(tmp_path / "data" / "mcp-memory")

    # A hook command run by a shell with none of install's variables: the limit it was given
    # refuses a long note, the short one is stored where install's environment put the data,
    # its queue and logs under the XDG state folder, every folder private.
    project = tmp_path / "proj"
    (project / ".git").mkdir(parents=True)
    prompt = next(c for c in commands if c.endswith("hook UserPromptSubmit"))
    text = "two notes:\n#remember we deploy with make release\n#remember " + "long " * 120
    result = subprocess.run(
        prompt,
        shell=True,
        input=json.dumps(fx.prompt(project, text)).encode(),
        env=bare_env(env),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0 and result.stderr == b"", result.stderr
    said = fx.parse_output("UserPromptSubmit", result.stdout) or ""
    assert "saved 1 #remember note(s)" in said and "1 #remember note(s) not saved" in said
    assert "500" in said, said
    state = tmp_path / "state" / "memcycle"
    fx.settle(state / "run")
    data = tmp_path / "data" / "mcp-memory"
    assert (data / "memory.db").is_file()
    assert (state / "logs").is_dir() and not (data / "run").exists()
    for folder in (state, state / "run", state / "logs", data):
        assert mode(folder) == 0o700, folder
    assert not (tmp_path / "user" / ".local").exists(), "nothing under the real default places"
    stored = cli(env, "recall", "deploy release", "--all-projects", "--json")
    assert "make release" in stored.stdout, stored.stderr

    # The service unit carries them too (dry run: systemctl is never called here).
    unit = cli(env, "install", "--user", "--service", "--dry-run")
    assert unit.returncode == 0, unit.stderr
    assert f"-m mcp_memory.embed_server --port {port}" in unit.stdout
    for k, v in recorded.items():
        assert f"+Environment={k}={v}" in unit.stdout, k
    assert "AIzaSy" not in unit.stdout


def test_home_given_to_install_is_recorded_absolute(tmp_path: Path) -> None:
    env = base_env(tmp_path, MCP_MEMORY_HOME="relative-home")
    (tmp_path / "user" / ".claude").mkdir()
    assert cli(env, "install", "--user").returncode == 0
    server = json.loads((tmp_path / "user" / ".claude.json").read_text())["mcpServers"]["memory"]
    assert server["env"]["MCP_MEMORY_HOME"] == str(tmp_path / "user" / "relative-home")
    done = cli(env, "install", "--user", "--home", str(tmp_path / "other"), "--dry-run")
    assert f"MCP_MEMORY_HOME={tmp_path / 'other'}" in done.stdout


def test_config_file_lives_under_xdg_config_home(tmp_path: Path) -> None:
    env = base_env(tmp_path)
    shown = cli(env, "config")
    assert shown.returncode == 0, shown.stderr
    config = tmp_path / "config" / "memcycle" / "config.toml"
    assert f"config file  {config}  (none yet" in shown.stdout
    assert f"state        {tmp_path / 'state' / 'memcycle'}" in shown.stdout
    assert not (tmp_path / "config").exists(), "config only looks, creates nothing"
    config.parent.mkdir(parents=True)
    config.write_text("max_content_chars = 10\n")
    refused = cli(env, "remember", "this text is longer than ten characters")
    assert refused.returncode == 1 and "limit is 10" in refused.stderr


def test_old_config_logs_and_run_are_moved_once_and_said(tmp_path: Path) -> None:
    env = base_env(tmp_path)
    old = tmp_path / "data" / "mcp-memory"
    (old / "logs").mkdir(parents=True)
    (old / "run" / "spool").mkdir(parents=True)
    (old / "config.toml").write_text("max_content_chars = 10\n")
    (old / "logs" / "hooks.log").write_text("earlier line\n")
    (old / "run" / "spool" / "job.json").write_text("{}")
    (old / "memory.db").write_text("")  # data stays where it is

    first = cli(env, "config", "--json")
    assert first.returncode == 0, first.stderr
    config = tmp_path / "config" / "memcycle" / "config.toml"
    state = tmp_path / "state" / "memcycle"
    for name, new in (("config.toml", config), ("logs", state / "logs"), ("run", state / "run")):
        assert f"moved {old / name} to {new}" in first.stderr, name
        assert new.exists() and not (old / name).exists()
    got: dict[str, Any] = json.loads(first.stdout)
    assert got["config"] == str(config) and got["settings"]["max_content_chars"] == "10"
    assert (state / "logs" / "hooks.log").read_text() == "earlier line\n"
    assert (state / "run" / "spool" / "job.json").is_file()
    assert (old / "memory.db").is_file()
    assert mode(config.parent) == 0o700 and mode(state) == 0o700

    second = cli(env, "config", "--json")
    assert second.returncode == 0 and "moved" not in second.stderr
    assert json.loads(second.stdout)["settings"]["max_content_chars"] == "10"


def test_a_chosen_home_keeps_its_config_and_state_inside(tmp_path: Path) -> None:
    home = tmp_path / "mine"
    env = base_env(tmp_path, MCP_MEMORY_HOME=str(home))
    xdg_config = tmp_path / "config" / "memcycle" / "config.toml"
    xdg_config.parent.mkdir(parents=True)
    xdg_config.write_text("briefing_tokens = 300\n")
    got = json.loads(cli(env, "config", "--json").stdout)
    assert got["config"] == str(xdg_config), "no config.toml in the home: the user's one"
    assert got["settings"] == {"briefing_tokens": "300"}
    assert got["state"] == str(home), "a chosen data folder keeps its own logs and spool"
    home.mkdir()
    (home / "config.toml").write_text("briefing_tokens = 200\n")
    got = json.loads(cli(env, "config", "--json").stdout)
    assert got["config"] == str(home / "config.toml")
    assert got["settings"] == {"briefing_tokens": "200"}


def test_doctor_flags_a_readable_state_folder_or_config_file(tmp_path: Path) -> None:
    """The state folder holds the hooks' queue, the config file may hold an API key."""
    env = base_env(tmp_path)
    config = tmp_path / "config" / "memcycle" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('llm_provider = "none"\n')
    config.chmod(0o644)
    state = tmp_path / "state" / "memcycle"
    state.mkdir(parents=True, mode=0o755)
    state.chmod(0o755)
    checks = {c["name"]: c for c in json.loads(cli(env, "doctor", "--json").stdout)}
    bad = checks["permissions"]
    assert (
        not bad["ok"] and f"{state} is 755" in bad["detail"] and f"{config} is 644" in bad["detail"]
    )
    subprocess.run(bad["fix"], shell=True, check=True)
    assert mode(state) == 0o700 and mode(config) == 0o600
    checks = {c["name"]: c for c in json.loads(cli(env, "doctor", "--json").stdout)}
    assert checks["permissions"]["ok"], checks["permissions"]
