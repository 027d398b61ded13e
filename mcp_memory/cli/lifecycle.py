"""``memcycle`` lifecycle commands: consolidate, maintain, briefing, route, promote."""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from typing import Any

from mcp_memory.cli.output import emit, one_line, project_label
from mcp_memory.config import Settings


def cmd_consolidate(args: argparse.Namespace, settings: Settings) -> int:
    from mcp_memory.app import consolidator, open_app
    from mcp_memory.lifecycle.actions import consolidate
    from mcp_memory.projects import project_or_all

    if args.undo is not None and args.command == "consolidate":
        print(
            "memcycle: note: `consolidate --undo N` is now `memcycle unconsolidate N`",
            file=sys.stderr,
        )
    with open_app(settings) as app:
        done = consolidate(
            consolidator(app, args.provider),
            project=project_or_all(
                args.project, app.cwd, app.store.project_keys(), all_projects=args.all_projects
            ),
            run=args.run,
            dry_run=args.dry_run,
            ids=args.ids or (),
            undo=args.undo,
        )
    if done.action == "undo":
        emit(
            args,
            done.undone,
            lambda d: (
                f"undone consolidation {d['consolidation_id']}: restored {d['restored']}, "
                f"removed {d['removed']}"
            ),
        )
        return 0
    if done.action == "list":
        emit(
            args,
            done.clusters,
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

    def show(items: list[Any]) -> str:
        if not items:
            return "no clusters to consolidate"
        lines = []
        for o in items:
            lines.append(f"{o.status:<8} {o.sources} via {o.provider}: {o.reason}".rstrip(": "))
            if o.merged:  # in full: a merge is judged by its text (never cut with "...")
                lines.append("  would merge into:" if o.status == "dry_run" else "  merged into:")
            for text in o.merged:
                lines.append(f"  => {' '.join(text.split())}")
            if o.consolidation_id is not None:
                lines.append(
                    f"  consolidation {o.consolidation_id} -> memories {o.results} "
                    f"(undo: memcycle unconsolidate {o.consolidation_id})"
                )
        return "\n".join(lines)

    emit(args, done.outcomes, show)
    return 1 if done.rejected else 0


def cmd_maintain(args: argparse.Namespace, settings: Settings) -> int:
    from mcp_memory.app import open_app, run_maintenance
    from mcp_memory.cli.progress import Bar

    bars: dict[str, Bar] = {}

    def progress(step: str, done: int, total: int) -> None:
        if not args.json:  # a bar per step, only on a terminal
            bars.setdefault(step, Bar(f"maintain: {step}"))(done, total)

    with open_app(settings) as app:
        report = run_maintenance(app, dry_run=args.dry_run, progress=progress)

    def lines(r: dict[str, Any]) -> list[str]:
        if not r["ran"]:
            return [r["message"]]
        a = r["age"]
        return [
            f"embedded {r['embedded']}, connected {r['connected']} ({r['links']} links)",
            f"aging{' (dry run)' if args.dry_run else ''}: {len(a['candidates'])} candidates, "
            f"{len(a['expired'])} expired, {len(a['reprieved'])} reprieved, "
            f"{len(a['purged'])} purged",
            f"consolidations: {len(r['consolidations'])}"
            + (f" ({r['message']})" if r["message"] else ""),
        ]

    def show(r: Any) -> str:
        text = lines(asdict(r))
        if r.team is not None:  # hybrid use: the team database's part
            text = ["local database:", *text, "team database:", *lines(r.team)]
        return "\n".join(text)

    emit(args, report, show)
    return 0


def cmd_verify(args: argparse.Namespace, settings: Settings) -> int:
    """List the memories whose code changed since they were stored (their anchors)."""
    from mcp_memory.anchors.verify import verify_project
    from mcp_memory.app import open_app

    with open_app(settings) as app:
        project = None if args.all_projects else app.project(args.project)
        report = verify_project(app.service.anchoring, project)

    def show(r: Any) -> str:
        if not r.stale:
            return f"{r.checked} anchored memories checked: none is out of date"
        lines = [f"{len(r.stale)} of {r.checked} anchored memories may be out of date:"]
        for s in r.stale:
            gone = ", every anchored file deleted" if s.all_deleted else ""
            lines.append(f"[{s.id}] {s.type}{gone}: {s.preview}")
            lines.append(f"    {s.note}")
        return "\n".join(lines)

    emit(args, report, show)
    return 0


def cmd_briefing(args: argparse.Namespace, settings: Settings) -> int:
    from mcp_memory.app import llm_waiting_note, open_app
    from mcp_memory.service.briefing import BriefingContext

    with open_app(settings) as app:
        context = BriefingContext(
            branch=args.branch, recent_files=tuple(args.file or ()), prompt=args.prompt
        )
        project = app.project(args.project)
        brief = app.memory.briefing(
            project,
            context,
            budget_tokens=args.tokens or settings.briefing_tokens,
            footer=llm_waiting_note(app, project),
        )
    emit(args, brief, lambda b: b.text or "nothing to brief yet")
    return 0


def cmd_route(args: argparse.Namespace, settings: Settings) -> int:
    from mcp_memory.app import open_app, router
    from mcp_memory.routing.actions import route

    if args.command == "route" and (args.undo_memory is not None or args.undo_file is not None):
        flag, value = (
            ("--undo-memory", args.undo_memory)
            if args.undo_memory is not None
            else ("--undo-file", args.undo_file)
        )
        now = f"unroute {value}" if flag == "--undo-memory" else f"unroute --file {value}"
        print(f"memcycle: note: `route {flag}` is now `memcycle {now}`", file=sys.stderr)
    with open_app(settings) as app:
        done = route(
            router(app),
            project=app.project("global" if args.global_ else args.project),
            apply=args.apply,
            force=args.force,
            ids=args.id or (),
            undo_memory=args.undo_memory,
            undo_file=args.undo_file,
        )
    if done.undone is not None:
        emit(args, done.undone, lambda u: u.message)
        return 0

    def show(p: Any) -> str:
        lines = []
        for i in p.items:
            where = f"{i.target} # {i.section}"
            if i.action == "write":
                lines.append(
                    f"write     [{i.memory_id}] -> {where} ({i.similarity:.2f}"
                    f"{', forced' if i.forced else ''})"
                )
                if i.below:  # it adds to that line: written directly below it
                    lines.append(f"    below:    {one_line(i.existing or '')}")
            elif i.action == "routed":
                lines.append(f"routed    [{i.memory_id}] already in {where}")
            elif i.action == "held":
                lines.append(f"held      [{i.memory_id}] {i.reason}")
            else:
                lines.append(f"{i.action:<9} [{i.memory_id}] {where} ({i.similarity:.2f})")
                lines.append(f"    memory:   {one_line(i.content)}")
                lines.append(f"    existing: {one_line(i.existing or '')}")
        for f in p.files:
            lines.append("")
            lines.append(f.diff.rstrip("\n"))
        if lines:
            lines.append("")
        lines.append(p.summary())
        return "\n".join(lines)

    emit(args, done.plan, show)
    return 0


def cmd_promote(args: argparse.Namespace, settings: Settings) -> int:
    from mcp_memory.app import open_app
    from mcp_memory.routing.router import promote

    with open_app(settings) as app:
        m = promote(app.store, args.id)
    emit(
        args,
        {"id": m.id, "state": m.state},
        lambda d: f"memory {d['id']} is proven; `memcycle route` shows where it would go",
    )
    return 0
