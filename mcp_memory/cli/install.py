"""``memcycle install`` / ``uninstall``: register the MCP server and the hooks with Claude Code.

Where (the paths are parameters, so tests use temporary directories):

- ``--user`` (default): hooks in ``~/.claude/settings.json``, the server in ``~/.claude.json``
  (``mcpServers``), for every project;
- ``--project``: hooks in ``<project>/.claude/settings.json``, the server in
  ``<project>/.mcp.json``.

How: each file is parsed as JSON, changed only where it concerns us and written back atomically
(a temporary file renamed over it, mode kept), after a timestamped backup of the old content.
Everything else survives: unknown keys, other MCP servers, other hooks, including other hooks in
the same matcher group.

What: the absolute path of a stable ``memcycle`` command (:mod:`mcp_memory.cli.launcher`; an
ephemeral one, from a uvx or ``pipx run`` cache, is refused) with ``hook <Event>`` for each hook
and ``serve`` for the server. Our hook entries are recognized by their command: ``memcycle hook
<Event>`` (or ``memcycle hook``, ``-m mcp_memory.cli hook``), and the old form of earlier
versions, ``python .../hooks/run.py <Event>``, so a later install replaces, not duplicates, them
and uninstall cleans both up. Our server is the ``memory`` entry whose command is a ``memcycle
... serve`` (or ``memcycle``). Running install twice gives the same file (the second run
writes nothing); ``uninstall`` removes only those entries, dropping groups and event lists it
leaves empty.

Settings reach every entry the same way: install records the ``MCP_MEMORY_*`` variables (and
the ``XDG_*_HOME`` folders) set in its own environment into each entry it writes, as a prefix of
each hook command, the server's ``env`` and the service's environment (paths made absolute, as
the entries run in other directories), so a setting given only as a variable is not lost on
the way to Claude Code or systemd. Settings in the config file need nothing: every entry reads
it. The LLM API key is the one exception: a secret does not go into Claude Code's files, so
install says to put it into the config file instead (:func:`recorded_environment`).

``--service`` also installs per-user services that keep the warm embedding server and the daemon
(unless ``MCP_MEMORY_DAEMON`` is off) running from login: systemd user units on Linux, launchd
agents on macOS. Service managers are only
called when not in dry-run mode and when their binary exists.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mcp_memory.cli.edits import InstallError, Plan, apply, plan_json
from mcp_memory.cli.launcher import FIX, ephemeral_reason, stable_command
from mcp_memory.cli.services import plan_service

SERVER_NAME = "memory"
# Event -> (matcher or None, timeout in seconds). PostToolUse only for the tools capture reads:
# Claude Code then does not even start the hook for reads and searches.
HOOK_EVENTS: dict[str, tuple[str | None, int]] = {
    "SessionStart": (None, 15),
    "UserPromptSubmit": (None, 10),
    "PostToolUse": ("Bash|Edit|Write|MultiEdit|NotebookEdit|ExitPlanMode", 5),
    "PostToolUseFailure": ("Bash", 5),
    "PreCompact": (None, 10),
    "SessionEnd": (None, 10),
}
_EVENT = "(" + "|".join(HOOK_EVENTS) + r")\b"
_OURS = re.compile(
    r"(?:hooks[/\\]run\.py['\"]?\s+"  # the old form: python <checkout or site-packages>/hooks/run.py
    r"|(?:\bmemcycle(?:\.exe)?|\bmcp-memory(?:\.exe)?|\bmcp_memory\.cli)['\"]?\s+hook\s+)" + _EVENT
)
SERVER_NAMES = frozenset({"memcycle", "memcycle.exe", "mcp-memory", "mcp-memory.exe"})


@dataclass(frozen=True)
class Target:
    """Where to write: the hooks' settings file and the MCP registration file."""

    settings: Path
    mcp: Path

    @classmethod
    def user(cls, home: Path | None = None) -> Target:
        home = home or Path.home()
        return cls(home / ".claude" / "settings.json", home / ".claude.json")

    @classmethod
    def project(cls, root: Path) -> Target:
        return cls(root / ".claude" / "settings.json", root / ".mcp.json")


# -- what we install -----------------------------------------------------------------------------


XDG_FOLDERS = ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME")
SECRET_SETTINGS = frozenset({"llm_api_key"})
SECRET_VARIABLES = ("MCP_MEMORY_LLM_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY")
PATH_SETTINGS = frozenset({"home", "db", "state", "config", "claude_home"})


def recorded_environment(environ: Mapping[str, str], home: Path | None = None) -> dict[str, str]:
    """The variables every installed entry gets: each ``MCP_MEMORY_*`` setting set in
    ``environ`` (``home`` overrides ``MCP_MEMORY_HOME``) and each absolute ``XDG_*_HOME`` (they
    decide where the config file, the data and the state are), secrets left out, paths absolute."""
    from mcp_memory.config import PREFIX, SETTING_NAMES

    out = {name: environ[name] for name in XDG_FOLDERS if os.path.isabs(environ.get(name, ""))}
    for setting in SETTING_NAMES:
        variable = PREFIX + setting.upper()
        value = str(home) if setting == "home" and home else environ.get(variable, "")
        if not value or setting in SECRET_SETTINGS:
            continue
        out[variable] = (
            str(Path(value).expanduser().resolve()) if setting in PATH_SETTINGS else value
        )
    return out


def require_stable(command: Sequence[str], environ: Mapping[str, str] | None = None) -> None:
    """Refuse a command Claude Code could not run next week (see :mod:`launcher`)."""
    reason = ephemeral_reason(Path(command[0]), environ)
    if reason is not None:
        raise InstallError(
            f"{command[0]} would not last: {reason}, which is deleted or replaced without "
            f"notice, and Claude Code would then fail to start the hooks and the server; {FIX}"
        )


def hook_command(command: Sequence[str], event: str, env: dict[str, str]) -> str:
    """``[ENV=value ...] /abs/memcycle hook EVENT``, as one shell command line."""
    prefix = "".join(f"{k}={shlex.quote(v)} " for k, v in sorted(env.items()))
    return f"{prefix}{shlex.join([*command, 'hook', event])}"


def desired_hooks(command: Sequence[str], env: dict[str, str]) -> dict[str, dict[str, Any]]:
    groups = {}
    for event, (matcher, timeout) in HOOK_EVENTS.items():
        entry = {
            "type": "command",
            "command": hook_command(command, event, env),
            "timeout": timeout,
        }
        group: dict[str, Any] = {} if matcher is None else {"matcher": matcher}
        group["hooks"] = [entry]
        groups[event] = group
    return groups


def is_our_hook(entry: Any) -> bool:
    return (
        isinstance(entry, dict)
        and entry.get("type", "command") == "command"
        and isinstance(entry.get("command"), str)
        and _OURS.search(entry["command"]) is not None
    )


def is_our_server(entry: Any) -> bool:
    if not isinstance(entry, dict):
        return False
    argv = [entry.get("command"), *(entry.get("args") or [])]
    words = [str(a) for a in argv if a is not None]
    names = {Path(w).name for w in words}
    return "serve" in words and bool(SERVER_NAMES & names or "mcp_memory.cli" in words)


# -- merging -------------------------------------------------------------------------------------


def merge_hooks(
    settings: dict[str, Any], wanted: dict[str, dict[str, Any]] | None
) -> dict[str, Any]:
    """``settings`` with our hook entries replaced by ``wanted`` (None: removed), in place of the
    first group that held one of ours (else appended), everything else kept in order."""
    hooks = settings.get("hooks")
    if hooks is None:
        hooks = {}
    if not isinstance(hooks, dict):
        raise InstallError('"hooks" in the settings file is not an object; fix it by hand first')
    out = dict(hooks)
    for event in dict.fromkeys([*hooks, *(wanted or {})]):
        groups = hooks.get(event, [])
        if not isinstance(groups, list):
            raise InstallError(f'"hooks.{event}" in the settings file is not a list')
        kept: list[Any] = []
        slot: int | None = None
        for group in groups:
            entries = group.get("hooks") if isinstance(group, dict) else None
            if not isinstance(entries, list) or not any(is_our_hook(e) for e in entries):
                kept.append(group)
                continue
            if slot is None:
                slot = len(kept)
            others = [e for e in entries if not is_our_hook(e)]
            if others:
                kept.append({**group, "hooks": others})
        if wanted is not None and event in wanted:
            kept.insert(len(kept) if slot is None else slot, wanted[event])
        if kept:
            out[event] = kept
        else:
            out.pop(event, None)
    result = dict(settings)
    if out:
        result["hooks"] = out
    else:
        result.pop("hooks", None)
    return result


def merge_server(config: dict[str, Any], wanted: dict[str, Any] | None) -> dict[str, Any]:
    servers = config.get("mcpServers")
    if servers is None:
        servers = {}
    if not isinstance(servers, dict):
        raise InstallError('"mcpServers" is not an object; fix it by hand first')
    current = servers.get(SERVER_NAME)
    if current is not None and not is_our_server(current):
        if wanted is None:
            return config  # someone else's "memory" server: not ours to remove
        raise InstallError(
            f'an MCP server named "{SERVER_NAME}" that is not memcycle is already registered '
            "in this file; rename or remove it first"
        )
    out = dict(servers)
    if wanted is None:
        out.pop(SERVER_NAME, None)
    else:
        out[SERVER_NAME] = wanted
    result = dict(config)
    if out:
        result["mcpServers"] = out
    else:
        result.pop("mcpServers", None)
    return result


# -- entry points --------------------------------------------------------------------------------


def plan_install(
    target: Target,
    *,
    command: Sequence[str] | None = None,
    env: dict[str, str] | None = None,
    remove: bool = False,
    environ: Mapping[str, str] | None = None,
) -> Plan:
    """The file changes that install (or, with ``remove``, uninstall) hooks and server.
    ``command`` is the stable base command (default: this environment's ``memcycle``);
    ``environ`` is where the ephemeral-path check reads cache locations (default: os.environ)."""
    command = list(command or stable_command())
    env = dict(env or {})
    wanted_hooks = None
    server: dict[str, Any] | None = None
    if not remove:
        require_stable(command, environ)
        wanted_hooks = desired_hooks(command, env)
        server = {"type": "stdio", "command": command[0], "args": [*command[1:], "serve"]}
        if env:
            server["env"] = env
    plan = Plan()
    plan.changes.append(plan_json(target.settings, lambda d: merge_hooks(d, wanted_hooks)))
    plan.changes.append(plan_json(target.mcp, lambda d: merge_server(d, server)))
    return plan


def install(
    target: Target,
    *,
    dry_run: bool = False,
    service: bool = False,
    remove: bool = False,
    command: Sequence[str] | None = None,
    python: str | None = None,
    env: dict[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
    port: int = 52525,
    logs_dir: Path | None = None,
    platform: str = sys.platform,
    home: Path | None = None,
    config_home: Path | None = None,
    run: Callable[[list[str]], None] | None = None,
    daemon: bool = True,
) -> Plan:
    """Plan and apply; ``python`` runs the services (default: this interpreter); ``daemon``
    (the ``daemon`` setting) adds the daemon's service to the warm server's."""
    plan = plan_install(target, command=command, env=env, remove=remove, environ=environ)
    if service:
        plan_service(
            plan,
            remove=remove,
            python=python or sys.executable,
            env=dict(env or {}),
            port=port,
            logs_dir=logs_dir or Path.home(),
            platform=platform,
            home=home or Path.home(),
            config_home=config_home,
            daemon=daemon,
        )
    if not dry_run:
        precompile()
    apply(plan, dry_run=dry_run, run=run)
    return plan


def precompile(packages: Sequence[str] = ("mcp_memory",)) -> None:
    """Write the bytecode of the hook path now: with ``PYTHONDONTWRITEBYTECODE`` set, or a
    read-only install, every hook run would otherwise compile its modules again (~30 ms)."""
    import compileall
    import importlib.util

    for name in packages:
        spec = importlib.util.find_spec(name)
        for location in (spec.submodule_search_locations or []) if spec else []:
            compileall.compile_dir(location, quiet=2, workers=1)


# -- command line (registered by cli.build_parser) ----------------------------------------------


def add_parsers(command: Callable[..., Any]) -> None:
    """Add ``install`` and ``uninstall`` through cli.build_parser's ``command`` helper."""
    for name, helptext in (
        ("install", "register the MCP server and the hooks with Claude Code"),
        ("uninstall", "remove what install added (and nothing else)"),
    ):
        sp = command(name, cmd_install, helptext, json_flag=False)
        scope = sp.add_mutually_exclusive_group()
        scope.add_argument("--user", action="store_true", help="~/.claude (default)")
        scope.add_argument("--project", action="store_true", help="<project>/.claude, .mcp.json")
        sp.add_argument("--project-dir", type=Path, help="the project (default: git root of .)")
        sp.add_argument("--dry-run", action="store_true", help="print the diff, change nothing")
        sp.add_argument(
            "--service",
            action="store_true",
            help=(
                "also per-user services for the warm server and the daemon, running from "
                "login (systemd user units / launchd agents)"
            ),
        )
        if name == "install":
            sp.add_argument("--home", type=Path, help="MCP_MEMORY_HOME for the server and hooks")
            sp.epilog = (
                "The MCP_MEMORY_* variables (and XDG_*_HOME) set now are recorded into each "
                "entry, so the server, hooks and service see the same settings; re-run install "
                "after changing them, or put them into the config file every entry reads."
            )
        sp.set_defaults(remove=name == "uninstall")


def cmd_install(args: Any, settings: Any) -> int:
    from mcp_memory.projects import git_root

    if args.project:
        start = (args.project_dir or Path.cwd()).resolve()
        root = start if args.project_dir else (git_root(start) or start)
        target = Target.project(root)
    else:
        target = Target.user()
    env = recorded_environment(os.environ, getattr(args, "home", None))
    xdg = os.environ.get("XDG_CONFIG_HOME")
    plan = install(
        target,
        dry_run=args.dry_run,
        service=args.service,
        remove=args.remove,
        env=env,
        port=settings.embed_port,
        logs_dir=settings.logs_dir,
        config_home=Path(xdg) if xdg else None,
        daemon=settings.daemon,
    )
    print(plan.describe(args.dry_run) or "nothing to do")
    if not args.remove:
        print(f"command: {shlex.join(stable_command())} (hook EVENT | serve)")
        recorded = ", ".join(sorted(env)) or "none set"
        print(
            f"settings recorded in each entry: {recorded}; every entry also reads {settings.config}"
        )
        secrets = [v for v in SECRET_VARIABLES if os.environ.get(v)]
        if secrets:
            print(
                f"note: {secrets[0]} is not written into Claude Code's files; the hooks and the "
                "server see it only if Claude Code starts with it, the service never does. Put "
                f'llm_api_key = "..." into {settings.config} (chmod 600) for every entry'
            )
    if not args.dry_run and not args.remove:
        print("restart Claude Code (or open /hooks) to load the hooks; check with /mcp")
    return 0
