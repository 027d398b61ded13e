"""Settings: one frozen object built from the environment and an optional TOML file.

Only entry points (CLI, MCP server, warm server, hooks) call :func:`load_settings`; everything
else receives the object. Environment variables (prefix ``MCP_MEMORY_``) override the file,
which overrides the defaults. A bad value fails here, at startup, with the variable's name.

Where things live (XDG on Linux, platformdirs' equivalents elsewhere):

- the config file: ``$MCP_MEMORY_CONFIG``; else ``$MCP_MEMORY_HOME/config.toml`` when
  ``MCP_MEMORY_HOME`` is set and that file exists; else ``$XDG_CONFIG_HOME/memcycle/config.toml``
  (``~/.config/memcycle/config.toml``);
- data (database, models, backups): ``home``, ``$XDG_DATA_HOME/mcp-memory`` by default;
- state (logs, pid files, the hooks' spool and session state): ``$XDG_STATE_HOME/memcycle``
  (``~/.local/state/memcycle``) with the default data directory, but inside the data directory
  when one is chosen (``MCP_MEMORY_HOME`` or ``home`` in the file): a spool belongs to one
  database, so two data directories must never share one. ``MCP_MEMORY_STATE`` overrides both.

Earlier versions kept the config file, ``logs/`` and ``run/`` in the default data directory; the
first entry point that finds them there (and nothing at the new place) moves them, once, and
says so on stderr (:func:`_move_legacy`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from mcp_memory.errors import ConfigError

PREFIX = "MCP_MEMORY_"
DEFAULT_EMBED_PORT = 52525
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


# The data directory keeps the project's first name: renaming it (or the MCP_MEMORY_ variables)
# for the `memcycle` distribution would orphan every existing user's memories. The config and
# state folders are newer and take the command's name, where a user looks for them.
APP_DIR = "mcp-memory"
CONFIG_APP_DIR = "memcycle"

# platformdirs' defaults on Linux when the XDG variable is unset or blank.
_XDG_DEFAULTS = {"data": "~/.local/share", "config": "~/.config", "state": "~/.local/state"}


def _user_dir(kind: str, app: str, env: Mapping[str, str]) -> Path:
    """``$XDG_<KIND>_HOME/app`` when ``env`` sets it (an absolute path, as the XDG spec asks),
    else platformdirs' user directory of that kind (``~/.config``, ``~/.local/state``, ...)."""
    variable = f"XDG_{kind.upper()}_HOME"
    xdg = env.get(variable, "")
    if sys.platform not in ("darwin", "win32") and os.path.isabs(xdg):
        return Path(xdg) / app
    if (
        sys.platform == "linux"
        and "ANDROID_DATA" not in os.environ
        and not os.environ.get(variable, "").strip()
    ):
        # platformdirs' own answer on Linux, without importing it (~5 ms of every hook)
        return Path(os.path.expanduser(_XDG_DEFAULTS[kind])) / app
    import platformdirs  # here, not at the top: hooks with every path set never need it

    return Path(getattr(platformdirs, f"user_{kind}_dir")(app, appauthor=False))


def default_home(env: Mapping[str, str] | None = None) -> Path:
    """The per-user data directory when ``MCP_MEMORY_HOME`` is unset: platformdirs' user data
    dir, the same place earlier versions computed by hand (``$XDG_DATA_HOME/mcp-memory``, else
    ``~/.local/share/mcp-memory``; on macOS ``~/Library/Application Support/mcp-memory``)."""
    return _user_dir("data", APP_DIR, os.environ if env is None else env)


def default_config_file(env: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CONFIG_HOME/memcycle/config.toml`` (``~/.config/memcycle/config.toml``)."""
    return _user_dir("config", CONFIG_APP_DIR, os.environ if env is None else env) / "config.toml"


def default_state(env: Mapping[str, str] | None = None) -> Path:
    """``$XDG_STATE_HOME/memcycle`` (``~/.local/state/memcycle``): logs, pid files, spool."""
    return _user_dir("state", CONFIG_APP_DIR, os.environ if env is None else env)


def fallback_logs_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where a hook logs a failure when the settings themselves could not be loaded: the
    state folder as :func:`load_settings` would have chosen it from the environment alone."""
    env = os.environ if env is None else env
    chosen = env.get(PREFIX + "STATE") or env.get(PREFIX + "HOME")
    return (Path(chosen).expanduser() if chosen else default_state(env)) / "logs"


@dataclass(frozen=True)
class Settings:
    """Every tunable of the product. Field ``x`` is read from ``MCP_MEMORY_X``."""

    home: Path
    db: Path
    state: Path  # logs, pid files, the hooks' spool: see the module docstring
    config: Path  # the config file read, or where one would be read (it may not exist)
    # A shared team database (postgresql://user:password@host/db?sslmode=require) instead of
    # the SQLite file `db`; never printed (repr=False), messages name it without the password.
    database_url: str = field(default="", repr=False)
    user_id: str = ""  # who this user's memories are by; empty = OS user @ host name
    # Hybrid use: only these projects (portable keys, comma-separated, or "*" for every
    # project but global) live on the team database `database_url`; everything else stays in
    # the SQLite file. Empty: `database_url`, when set, holds everything. Text, like every
    # setting (the warm server gets them as text); `team_keys` is the list.
    team_projects: str = ""
    model: str = "auto"  # auto | qwen3-0.6b | minilm | e5-small
    dimension: int = 0  # 0 = the model's native dimension; else Matryoshka truncation
    threads: int = 0  # ONNX intra-op threads; 0 = min(4, cores)
    embed_host: str = "127.0.0.1"
    embed_port: int = DEFAULT_EMBED_PORT
    embed_connect_timeout: float = 0.25  # seconds; short so a dead server costs little
    embed_timeout: float = 30.0  # seconds for a whole embed reply
    embed_allow_remote: bool = False  # bind beyond loopback only when explicitly asked
    max_content_chars: int = 20_000
    near_duplicates: str = "keep"  # keep | merge
    # the query-level relevance gate (service/coverage.py): opt-in, see docs/benchmarks.md
    # "Coding memories": it abstains on 9/22 held-out unanswerable questions but drops 4 more of
    # 51 answers and costs ~2.6x recall time, so it is off until it keeps answers as well
    relevance_gate: bool = False
    http_host: str = "127.0.0.1"
    http_port: int = 8765
    http_origins: str = ""  # exact browser origins allowed over HTTP; "" = the endpoint's own
    log_level: str = "WARNING"
    # the daemon: one process serving every session's MCP over a Unix socket (mcp_memory.server.daemon)
    daemon: bool = True  # false: `serve` runs the whole server in its own process, as before
    daemon_jobs: int = 4  # database and inference jobs the daemon runs at once
    daemon_idle_exit: float = 1800.0  # seconds without a session before it exits; 0 = never
    daemon_transport: str = "auto"  # auto: its Unix socket when it can; tcp: loopback + token
    # lifecycle
    link_threshold: float = 0.0  # 0 = the model's calibrated threshold
    age_after: int = 50  # a buffer memory still unlinked after this many newer ones may expire
    max_reprieves: int = 3
    retention_days: float = 30.0  # expired tombstones are purged after this long
    briefing_tokens: int = 800
    # LLM for consolidation and substance checks
    llm_provider: str = "auto"  # auto | gemini | openai | extractive | none
    llm_model: str = ""  # empty = the provider's default
    llm_base_url: str = ""  # e.g. http://127.0.0.1:8080/v1 for a local OpenAI-compatible server
    llm_api_key: str = field(default="", repr=False)  # else GEMINI_API_KEY / GOOGLE_API_KEY
    llm_timeout: float = 30.0
    llm_max_calls_per_run: int = 20
    llm_max_tokens_per_run: int = 200_000
    llm_max_calls_per_day: int = 200
    llm_max_tokens_per_day: int = 2_000_000
    # routing proven knowledge into CLAUDE.md and rules files (routing.py)
    claude_home: Path = field(default_factory=lambda: Path.home() / ".claude")
    route_targets: str = (
        ""  # extra files, comma-separated: relative to the project, or ~/.claude/...
    )
    route_default: str = ".claude/rules/memory.md"  # where memories no section fits go
    route_threshold: float = 0.0  # 0 = the model's calibrated value (routing.THRESHOLDS)
    route_duplicate: float = 0.0
    route_conflict_band: float = 0.0
    # With an LLM configured, ask it about memories the offline rules would write next to a
    # similar line; it can only hold more (a contradiction they missed), never write more.
    route_llm_check: bool = True

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def run_dir(self) -> Path:
        return self.state / "run"

    @property
    def logs_dir(self) -> Path:
        return self.state / "logs"

    @property
    def user(self) -> str:
        """The author recorded on this user's memories (``user_id``, else ``user@host``)."""
        if self.user_id:
            return self.user_id
        import getpass
        import socket

        return f"{getpass.getuser()}@{socket.gethostname()}"

    @property
    def team_keys(self) -> tuple[str, ...]:
        """The project keys hybrid use routes to the team database (``team_projects``)."""
        return tuple(k for k in self.team_projects.split(",") if k)

    @property
    def intra_threads(self) -> int:
        return self.threads or min(4, os.cpu_count() or 1)

    @property
    def embed_url(self) -> str:
        host = f"[{self.embed_host}]" if ":" in self.embed_host else self.embed_host
        return f"http://{host}:{self.embed_port}"


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError("expected true or false")


def _choice(*allowed: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in allowed:
            raise ValueError(f"expected one of {', '.join(allowed)}")
        return text

    return parse


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise ValueError("expected a positive integer")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError("expected 0 or a positive integer")
    return value


def _unit_float(text: str) -> float:
    value = float(text)
    if not 0.0 <= value < 1.0:
        raise ValueError("expected a number from 0 to 1 (0 = the model's default)")
    return value


def _database_url(text: str) -> str:
    if not text.startswith(("postgresql://", "postgres://")):
        raise ValueError("expected a postgresql:// URL (or leave it empty for the SQLite file)")
    return text


def _team_projects(text: str) -> str:
    keys = tuple(dict.fromkeys(k.strip() for k in text.split(",") if k.strip()))
    if "*" in keys and len(keys) > 1:
        raise ValueError("'*' means every project; give it alone or list project keys")
    if any(k.lower() in ("global", "@global") for k in keys):
        raise ValueError("global memories stay local; list project keys (or '*')")
    return ",".join(keys)


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise ValueError("expected a port number 0-65535")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise ValueError("expected a positive number of seconds")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise ValueError("expected 0 or a positive number of seconds")
    return value


def _route_file(text: str) -> str:
    value = text.strip()
    parts = Path(value).parts
    if not value.endswith(".md") or ".." in parts:
        raise ValueError("expected a Markdown (.md) file path without '..'")
    if Path(value).is_absolute() or (value.startswith("~") and not value.startswith("~/.claude/")):
        raise ValueError("expected a path relative to the project root, or ~/.claude/...")
    return value


def _route_files(text: str) -> str:
    """Comma-separated files, each checked; kept as text so the setting round-trips via str()."""
    return ",".join(_route_file(item) for item in text.split(",") if item.strip())


def _route_default(text: str) -> str:
    value = _route_file(text)
    if value.startswith("~"):
        raise ValueError(
            "expected a path relative to the project root (global memories go to "
            "~/.claude/rules/memory.md)"
        )
    return value


_PARSERS: dict[str, Callable[[str], Any]] = {
    "home": lambda t: Path(t).expanduser(),
    "db": lambda t: Path(t).expanduser(),
    "state": lambda t: Path(t).expanduser(),
    "database_url": _database_url,
    "user_id": str,
    "team_projects": _team_projects,
    "model": _choice("auto", "qwen3-0.6b", "minilm", "e5-small"),
    "dimension": _non_negative_int,
    "threads": _non_negative_int,
    "embed_host": str,
    "embed_port": _port,
    "embed_connect_timeout": _positive_float,
    "embed_timeout": _positive_float,
    "embed_allow_remote": _parse_bool,
    "max_content_chars": _positive_int,
    "near_duplicates": _choice("keep", "merge"),
    "relevance_gate": _parse_bool,
    "http_host": str,
    "http_port": _port,
    "http_origins": str,
    "log_level": _choice("DEBUG", "INFO", "WARNING", "ERROR"),
    "daemon": _parse_bool,
    "daemon_jobs": _positive_int,
    "daemon_idle_exit": _non_negative_float,
    "daemon_transport": _choice("auto", "tcp"),
    "link_threshold": _unit_float,
    "age_after": _positive_int,
    "max_reprieves": _non_negative_int,
    "retention_days": _positive_float,
    "briefing_tokens": _positive_int,
    "llm_provider": _choice("auto", "gemini", "openai", "extractive", "none"),
    "llm_model": str,
    "llm_base_url": str,
    "llm_api_key": str,
    "llm_timeout": _positive_float,
    "llm_max_calls_per_run": _non_negative_int,
    "llm_max_tokens_per_run": _non_negative_int,
    "llm_max_calls_per_day": _non_negative_int,
    "llm_max_tokens_per_day": _non_negative_int,
    "claude_home": lambda t: Path(t).expanduser(),
    "route_targets": _route_files,
    "route_default": _route_default,
    "route_threshold": _unit_float,
    "route_duplicate": _unit_float,
    "route_conflict_band": _unit_float,
    "route_llm_check": _parse_bool,
}


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build settings from defaults < config file < environment < explicit overrides."""
    env = os.environ if environ is None else environ
    raw: dict[str, Any] = {}
    config_path = config_file(env)
    if config_path.is_file():
        import tomllib  # only when there is a file: hooks start in tens of milliseconds

        try:
            file_values = tomllib.loads(config_path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"config file {config_path} is not valid TOML: {exc}") from exc
        for key, value in file_values.items():
            if key not in _PARSERS:
                raise ConfigError(
                    f"config file {config_path}: unknown setting {key!r}; "
                    f"known: {', '.join(sorted(_PARSERS))}"
                )
            given = ",".join(map(str, value)) if isinstance(value, list) else str(value)
            raw[key] = _parse(key, given, f"{key} in {config_path}")
    for key in _PARSERS:
        text = env.get(PREFIX + key.upper())
        if text is not None and text != "":
            raw[key] = _parse(key, text, PREFIX + key.upper())
    if "llm_api_key" not in raw:  # the providers' own conventional variables
        api_key = env.get("GEMINI_API_KEY") or env.get("GOOGLE_API_KEY")
        if api_key:
            raw["llm_api_key"] = api_key
    raw.update({k: v for k, v in overrides.items() if v is not None})
    chosen_home = "home" in raw
    raw.setdefault("home", default_home(env))
    raw.setdefault("db", Path(raw["home"]) / "memory.db")
    if "state" not in raw:
        raw["state"] = Path(raw["home"]) if chosen_home else default_state(env)
        if not chosen_home:
            _move_legacy(Path(raw["home"]), ("logs", "run"), Path(raw["state"]))
    raw["config"] = config_path
    settings = Settings(**raw)
    if settings.team_projects and not settings.database_url:
        raise ConfigError(
            f"{PREFIX}TEAM_PROJECTS names projects for the team database, but "
            f"{PREFIX}DATABASE_URL is not set; set it to the team's postgresql:// URL"
        )
    if settings.embed_host not in LOOPBACK_HOSTS and not settings.embed_allow_remote:
        raise ConfigError(
            f"{PREFIX}EMBED_HOST={settings.embed_host} is not a loopback address; "
            f"set {PREFIX}EMBED_ALLOW_REMOTE=true if you really want that"
        )
    return settings


def config_file(env: Mapping[str, str]) -> Path:
    """The config file to read (see the module docstring); the legacy one is moved first."""
    named = env.get(PREFIX + "CONFIG")
    if named:
        return Path(named).expanduser()
    home_text = env.get(PREFIX + "HOME")
    if home_text:
        in_home = Path(home_text).expanduser() / "config.toml"
        if in_home.is_file():
            return in_home
    path = default_config_file(env)
    if not home_text:
        _move_legacy(default_home(env), ("config.toml",), path.parent)
    return path


def _move_legacy(old_dir: Path, names: tuple[str, ...], new_dir: Path) -> None:
    """Move each of ``names`` from the default data directory, where earlier versions kept it,
    to its XDG folder, once: only when it exists there and not yet here. A move that fails
    (another file system, no permission) leaves the file where it was and says how to move it."""
    if old_dir == new_dir:
        return
    for name in names:
        old, new = old_dir / name, new_dir / name
        if not os.path.lexists(old) or os.path.lexists(new):
            continue
        try:
            _private_dirs(new_dir)
            os.rename(old, new)
        except FileNotFoundError:  # another process moved it meanwhile
            continue
        except OSError as exc:
            _warn("could not move %s to %s (%s); move it by hand", old, new, exc)
            continue
        _warn("moved %s to %s (memcycle now keeps it there)", old, new)


def _warn(message: str, *args: object) -> None:
    """A warning on this module's logger; ``logging`` is imported here, not at the top, since
    every hook loads the settings and most never warn (the import costs a hook ~6 ms)."""
    import logging

    logging.getLogger(__name__).warning(message, *args)


def _private_dirs(path: Path) -> None:
    """``path`` and its missing parents, each 0700: what ``files.private_dir`` does, which this
    leaf module may not import (the other entry points' folders come from there)."""
    for directory in reversed([path, *path.parents]):
        if not directory.exists():
            try:
                directory.mkdir(mode=0o700)
            except FileExistsError:
                continue
            os.chmod(directory, 0o700)


def _parse(key: str, text: str, where: str) -> Any:
    try:
        return _PARSERS[key](text)
    except ValueError as exc:
        shown = "<hidden: it may hold a password>" if key == "database_url" else repr(text)
        raise ConfigError(f"{where}={shown} is invalid: {exc}") from exc


SETTING_NAMES = tuple(f.name for f in fields(Settings))  # config is MCP_MEMORY_CONFIG
