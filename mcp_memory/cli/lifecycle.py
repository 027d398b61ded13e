"""``memcycle`` lifecycle commands: consolidate, maintain, briefing, route, promote."""

from __future__ import annotations

import argparse
from typing import Any

from mcp_memory.cli.output import emit, one_line, project_label
from mcp_memory.config import Settings
from mcp_memory.errors import MCPMemoryError


def cmd_consolidate(args: argparse.Namespace, settings: Settings) -> int:
    from mcp_memory.app import consolidator, open_app
    from mcp_memory.projects import normalize_project

    app = open_app(settings)
    try:
        worker = consolidator(app, args.provider)
        if args.undo is not None:
            emit(
                args,
                worker.undo(args.undo),
                lambda d: (
                    f"undone consolidation {d['consolidation_id']}: restored {d['restored']}, "
                    f"removed {d['removed']}"
                ),
            )
            return 0
        project = None if args.all_projects else normalize_project(args.project, app.cwd)
        if not args.run and not args.ids:
            clusters = worker.clusters(project)
            emit(
                args,
                clusters,
                lambda cs: "\n".join(
                    [
                        f"{len(cs)} cluster(s) ready to consolidate"
                        + ("" if cs else " (need 3+ densely linked buffer memories)")
                    ]
                    + [
                        f"  {project_label(c.project)}: {list(c.members)} density {c.density} "
                        f"cohesion {c.cohesion}"
                        for c in cs
                    ]
                ),
            )
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
                lines.append(f"  => {one_line(text)}")
            if o.consolidation_id is not None:
                lines.append(
                    f"  consolidation {o.consolidation_id} -> memories {o.results} "
                    f"(undo: memcycle consolidate --undo {o.consolidation_id})"
                )
        return "\n".join(lines)

    emit(args, outcomes, show)
    return 1 if any(o.status == "rejected" for o in outcomes) else 0


def cmd_maintain(args: argparse.Namespace, settings: Settings) -> int:
    from mcp_memory.app import open_app, run_maintenance
    from mcp_memory.cli.progress import Bar

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
        return "\n".join(
            [
                f"embedded {r.embedded}, connected {r.connected} ({r.links} links)",
                f"aging{' (dry run)' if args.dry_run else ''}: {len(a['candidates'])} candidates, "
                f"{len(a['expired'])} expired, {len(a['reprieved'])} reprieved, "
                f"{len(a['purged'])} purged",
                f"consolidations: {len(r.consolidations)}"
                + (f" ({r.message})" if r.message else ""),
            ]
        )

    emit(args, report, show)
    return 0


def cmd_briefing(args: argparse.Namespace, settings: Settings) -> int:
    from mcp_memory.app import open_app
    from mcp_memory.projects import normalize_project
    from mcp_memory.service.briefing import BriefingContext, build_briefing

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
    emit(args, brief, lambda b: b.text or "nothing to brief yet")
    return 0


def cmd_route(args: argparse.Namespace, settings: Settings) -> int:
    from mcp_memory.app import open_app, router
    from mcp_memory.projects import normalize_project
    from mcp_memory.store.database import GLOBAL

    app = open_app(settings)
    try:
        worker = router(app)
        key = normalize_project("global" if args.global_ else args.project, app.cwd)
        if args.undo_memory is not None or args.undo_file is not None:
            if args.apply or args.id:
                raise MCPMemoryError(
                    "--undo-memory/--undo-file cannot be combined with --apply or --id"
                )
            undone = (
                worker.undo_memory(args.undo_memory, force=args.force)
                if args.undo_memory is not None
                else worker.undo_file(args.undo_file, project=key, force=args.force)
            )
            emit(args, undone, lambda u: u.message)
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
                lines.append(
                    f"write     [{i.memory_id}] -> {where} ({i.similarity:.2f}"
                    f"{', forced' if i.forced else ''})"
                )
            elif i.action == "routed":
                lines.append(f"routed    [{i.memory_id}] already in {where}")
            else:
                lines.append(f"{i.action:<9} [{i.memory_id}] {where} ({i.similarity:.2f})")
                lines.append(f"    memory:   {one_line(i.content)}")
                lines.append(f"    existing: {one_line(i.existing or '')}")
        for f in p.files:
            lines.append("")
            lines.append(f.diff.rstrip("\n"))
        lines.append("")
        lines.append(p.summary())
        return "\n".join(lines)

    emit(args, plan, show)
    return 0


def cmd_promote(args: argparse.Namespace, settings: Settings) -> int:
    from mcp_memory.app import open_app
    from mcp_memory.routing.router import promote

    app = open_app(settings)
    try:
        m = promote(app.store, args.id)
    finally:
        app.close()
    emit(
        args,
        {"id": m.id, "state": m.state},
        lambda d: f"memory {d['id']} is proven; `memcycle route` shows where it would go",
    )
    return 0
