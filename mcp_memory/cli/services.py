"""The per-user services ``memcycle install --service`` writes: the warm embedding server and
the daemon, each kept running from login by a systemd user unit (Linux) or a launchd agent
(macOS), with the settings install records (:func:`mcp_memory.cli.install.recorded_environment`).
Only the plan is made here; :func:`mcp_memory.cli.edits.apply` writes the files and calls the
service manager (never in dry-run mode, and only when its binary exists)."""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mcp_memory.cli.edits import Change, Plan

SERVICE_NAME = "mcp-memory-embed"
LAUNCHD_LABEL = "dev.mcp-memory.embed-server"
DAEMON_SERVICE_NAME = "mcp-memory-daemon"
DAEMON_LAUNCHD_LABEL = "dev.mcp-memory.daemon"


@dataclass(frozen=True)
class Service:
    """One per-user service: its systemd unit name, launchd label, what it runs after
    ``python -m`` and its log (launchd only: systemd keeps the journal)."""

    name: str
    label: str
    description: str
    module: tuple[str, ...]
    log: str
    # its exit statuses that a restart cannot fix: another instance holds its lock, a newer
    # version replaced it
    final_statuses: tuple[int, ...] = ()


def services(port: int) -> tuple[Service, Service]:
    """The warm embedding server and the daemon (one MCP server for every session's relay),
    both kept running from login so that neither a hook nor a new session waits for a start."""
    return (
        Service(
            SERVICE_NAME,
            LAUNCHD_LABEL,
            "mcp-memory warm embedding server (keeps the model loaded for Claude Code)",
            ("mcp_memory.embed_server", "--port", str(port)),
            "embed-server.log",  # = embed_server.process.log_file
        ),
        Service(
            DAEMON_SERVICE_NAME,
            DAEMON_LAUNCHD_LABEL,
            "mcp-memory daemon (serves every Claude Code session's memory tools)",
            # --wait: a daemon a session started may hold the lock; this one waits for it
            ("mcp_memory.server.daemon", "--wait"),
            "daemon.log",  # = daemon_link.LOG
            final_statuses=(3, 4),  # = server.daemon.__main__.HELD, SUPERSEDED_STATUS
        ),
    )


def daemon_environment(env: Mapping[str, str]) -> dict[str, str]:
    """The daemon service's environment: the recorded settings, and no idle exit unless one is
    recorded (a service that exits cleanly after half an hour alone is not restarted, and the
    next session would wait for a relay to start it again)."""
    return {"MCP_MEMORY_DAEMON_IDLE_EXIT": "0", **env}


def systemd_unit(python: str, env: Mapping[str, str], service: Service) -> str:
    environment = "".join(
        f"Environment={shlex.quote(f'{k}={v}')}\n" for k, v in sorted(env.items())
    )
    final = " ".join(str(s) for s in service.final_statuses)
    prevent = f"RestartPreventExitStatus={final}\n" if final else ""
    return (
        "[Unit]\n"
        f"Description={service.description}\n"
        "\n[Service]\n"
        f"ExecStart={shlex.join([python, '-m', *service.module])}\n"
        f"{environment}"
        f"Restart=on-failure\nRestartSec=5\n{prevent}"
        "\n[Install]\nWantedBy=default.target\n"
    )


def launchd_plist(python: str, env: Mapping[str, str], service: Service, log: Path) -> str:
    from xml.sax.saxutils import escape

    args = "".join(f"    <string>{escape(a)}</string>\n" for a in (python, "-m", *service.module))
    envs = "".join(
        f"    <key>{escape(k)}</key><string>{escape(v)}</string>\n" for k, v in sorted(env.items())
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" '
        '"http://www.apple.com/DTDs/PropertyList-1.0.dtd">\n'
        '<plist version="1.0">\n<dict>\n'
        f"  <key>Label</key><string>{service.label}</string>\n"
        f"  <key>ProgramArguments</key>\n  <array>\n{args}  </array>\n"
        f"  <key>EnvironmentVariables</key>\n  <dict>\n{envs}  </dict>\n"
        "  <key>RunAtLoad</key><true/>\n  <key>KeepAlive</key><dict><key>SuccessfulExit</key>"
        "<false/></dict>\n"
        f"  <key>StandardErrorPath</key><string>{escape(str(log))}</string>\n"
        "</dict>\n</plist>\n"
    )


def service_path(
    platform: str, home: Path, config_home: Path | None = None, service: Service | None = None
) -> Path:
    """The launchd agent (macOS) or systemd user unit (elsewhere) of ``service`` (default: the
    warm server's); ``config_home`` is ``$XDG_CONFIG_HOME`` (default ``~/.config``)."""
    name, label = (service.name, service.label) if service else (SERVICE_NAME, LAUNCHD_LABEL)
    if platform == "darwin":
        return home / "Library" / "LaunchAgents" / f"{label}.plist"
    return (config_home or home / ".config") / "systemd" / "user" / f"{name}.service"


def plan_service(
    plan: Plan,
    *,
    remove: bool,
    python: str,
    env: dict[str, str],
    port: int,
    logs_dir: Path,
    platform: str,
    home: Path,
    config_home: Path | None = None,
    daemon: bool = True,
) -> None:
    """Both services; the daemon's only while the daemon is on (``MCP_MEMORY_DAEMON``): off,
    an existing daemon unit is stopped and removed."""
    for service in services(port):
        is_daemon = service.name == DAEMON_SERVICE_NAME
        keep = not remove and (daemon or not is_daemon)
        _plan_one(
            plan,
            service,
            keep=keep,
            python=python,
            env=daemon_environment(env) if is_daemon else env,
            log=logs_dir / service.log,
            path=service_path(platform, home, config_home, service),
            platform=platform,
        )


def _plan_one(
    plan: Plan,
    service: Service,
    *,
    keep: bool,
    python: str,
    env: dict[str, str],
    log: Path,
    path: Path,
    platform: str,
) -> None:
    before = path.read_text(encoding="utf-8") if path.is_file() else None
    if platform == "darwin":
        after = launchd_plist(python, env, service, log) if keep else None
        plan.changes.append(Change(path, before, after))
        if not keep and before is not None:
            plan.commands.insert(0, ["launchctl", "unload", "-w", str(path)])
        elif keep:
            plan.commands.append(["launchctl", "load", "-w", str(path)])
        return
    after = systemd_unit(python, env, service) if keep else None
    plan.changes.append(Change(path, before, after))
    unit = f"{service.name}.service"
    if not keep and before is not None:
        plan.commands.insert(0, ["systemctl", "--user", "disable", "--now", unit])
        plan.commands.append(["systemctl", "--user", "daemon-reload"])
    elif keep:
        plan.commands += [
            ["systemctl", "--user", "daemon-reload"],
            ["systemctl", "--user", "enable", "--now", unit],
        ]
