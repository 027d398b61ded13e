"""``memcycle`` commands on memories: remember, recall, show, forget, restore, purge, stats, links,
graph."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from mcp_memory import __version__
from mcp_memory.cli.output import emit, match_reasons, one_line, project_label
from mcp_memory.config import Settings
from mcp_memory.errors import DatabaseUnreachableError, MCPMemoryError

# -- memory commands ---------------------------------------------------------------------


def cmd_remember(args: argparse.Namespace, settings: Settings) -> int:
    from mcp_memory.app import open_app

    text = sys.stdin.read() if args.text == "-" else args.text
    project = "global" if args.global_ else args.project

    def queued(exc: DatabaseUnreachableError, cwd: Path | None = None) -> int:
        """Queue the memory while its database does not answer, and say so (exit 0)."""
        from mcp_memory.app import queue_remember

        waiting = queue_remember(
            settings,
            [text],
            project=project,
            tags=args.tag,
            type=args.type,
            source="cli",
            visibility=args.visibility,
            cwd=cwd,
        )
        print(
            f"{exc}\nqueued the memory locally ({waiting} write(s) waiting); it is stored "
            "when the team database answers again (the next memcycle command that reaches it)",
            file=sys.stderr,
        )
        return 0

    try:
        app = open_app(settings)
    except DatabaseUnreachableError as exc:
        return queued(exc)
    with app:
        key = app.project(project, create=True)
        try:
            result = app.memory.remember(
                text,
                project=key,
                tags=args.tag,
                type=args.type,
                source="cli",
                visibility=args.visibility,
            )
        except DatabaseUnreachableError as exc:  # hybrid use: a team project's write waits
            return queued(exc, app.cwd)

    def show(r: Any) -> str:
        line = f"{r.status} memory {r.id} ({r.type}) in {project_label(r.project)}"
        for link in r.links:
            line += f"\n  linked to {link.id} (similarity {link.similarity:.3f})"
        if r.redactions:
            line += f"; {r.redactions} secret(s) redacted"
        for near in r.near_duplicates:
            line += f"\n  near-duplicate of {near.id} (similarity {near.similarity:.3f})"
        return line

    emit(args, result, show)
    return 0


def cmd_recall(args: argparse.Namespace, settings: Settings) -> int:
    from mcp_memory.app import open_app
    from mcp_memory.service.types import RecallFilters

    with open_app(settings) as app:
        scope = app.search_scope(args.project, all_projects=args.all_projects)
        filters = RecallFilters.build(
            tags=args.tag, types=args.type, states=args.state, since=args.since, until=args.until
        )
        recalled = app.memory.recall(args.query, projects=scope, k=args.k, filters=filters)

    if recalled.note:  # hybrid use: the team database did not answer
        print(f"memcycle: note: {recalled.note}", file=sys.stderr)
    emit(args, recalled.hits, lambda items: _recall_text(args.query, items))
    return 0


def _recall_text(query: str, hits: list[Any]) -> str:
    """A table of hits (id, score, date, project, type, state, why) each followed by its text."""
    from mcp_memory.cli.terminal import clip, table, when, wrapped

    if not hits:
        return f"no memories found for {query!r}"
    rows = [
        [
            f"[{h.id}]",
            f"{h.score:.4f}",
            when(h.created_at),
            project_label(h.project),
            h.type,
            h.state,
            match_reasons(h.signals),
        ]
        for h in hits
    ]
    lines = table(
        ["id", "score", "created", "project", "type", "state", "matched by"],
        rows,
        right=(1,),
        flex=6,
    ).split("\n")
    out = [
        f"{len(hits)} memor{'y' if len(hits) == 1 else 'ies'} for {clip(query, 60)!r}",
        *lines[:2],
    ]
    for line, h in zip(lines[2:], hits, strict=True):
        out.append(line)
        out.append(wrapped(h.content, "      ", lines=3))
    return "\n".join(out)


def cmd_forget(args: argparse.Namespace, settings: Settings) -> int:
    from mcp_memory.app import open_app

    if args.restore:  # the old spelling; `memcycle restore ID` is the command
        print("memcycle: note: `forget --restore` is now `memcycle restore ID`", file=sys.stderr)
        return cmd_restore(args, settings)
    with open_app(settings) as app:
        already = app.memory.get(args.id).state == "deleted"
        m = app.memory.forget(args.id) if not already else app.memory.get(args.id)
    said = "is already forgotten" if already else "forgotten (memcycle restore brings it back)"
    emit(args, {"id": m.id, "state": m.state}, lambda d: f"memory {d['id']} {said}")
    return 0


def cmd_restore(args: argparse.Namespace, settings: Settings) -> int:
    from mcp_memory.app import open_app

    with open_app(settings) as app:
        m = app.memory.restore(args.id)
    emit(args, {"id": m.id, "state": m.state}, lambda d: f"memory {d['id']} restored")
    return 0


PURGE_HELP = (
    "delete memories for good: text, vectors, index entries, tags, links, recall events and "
    "lineage rows, with the freed bytes zeroed and the -wal emptied, so a leaked secret leaves "
    "no trace in the database; lists backups and other files it cannot reach. Asks first on a "
    "terminal (--yes skips). A CLI command only, not an MCP tool: a model cannot hard-delete"
)


def cmd_purge(args: argparse.Namespace, settings: Settings) -> int:
    from mcp_memory.app import open_store
    from mcp_memory.service.purge import purge

    store = open_store(settings)
    try:
        if not args.yes:
            _confirm_purge(store, args.ids, args.with_lineage)
        report = purge(store, args.ids, with_lineage=args.with_lineage, data_dir=settings.home)
    finally:
        store.close()
    emit(args, report, _purge_text)
    return 0


def _confirm_purge(store: Any, ids: list[int], with_lineage: bool) -> None:
    """Show what goes and ask; without a terminal to ask on, refuse (``--yes`` to script it)."""
    if not sys.stdin.isatty():
        raise MCPMemoryError(
            "purge deletes for good and asks first; run it on a terminal, or pass --yes"
        )
    found = store.get_many(ids)
    for mid in ids:
        print(f"  [{mid}] {one_line(found[mid].content, 70)}" if mid in found else f"  [{mid}] ?")
    extra = " and every memory merged from or into them" if with_lineage else ""
    answer = input(
        f"purge {len(ids)} memor{'y' if len(ids) == 1 else 'ies'}{extra} for good? [y/N] "
    )
    if answer.strip().lower() not in ("y", "yes"):
        raise MCPMemoryError("nothing was purged")


def _purge_text(r: Any) -> str:
    lines = [
        f"purged {len(r.purged)} memor{'y' if len(r.purged) == 1 else 'ies'}: "
        f"{', '.join(map(str, r.purged))}"
        + ("" if r.wal_checkpointed else " (the -wal could not be emptied yet)")
    ]
    if r.restored:
        lines.append(f"merge sources back in their earlier state: {r.restored}")
    if r.lineage_note:
        lines.append(r.lineage_note)
    for title, paths in (
        ("backups", r.backups),
        ("files still containing the text", r.other_files),
        ("files routing wrote it into", r.routed_files),
    ):
        lines += [f"{title}:", *(f"  {p}" for p in paths)] if paths else []
    lines.append(f"not reached: {r.unreachable}")
    return "\n".join(lines)


def cmd_stats(args: argparse.Namespace, settings: Settings) -> int:
    from mcp_memory.app import database_name, open_app, queued_writes, team_status

    try:
        app = open_app(settings)
    except DatabaseUnreachableError as exc:
        down = {
            "database": database_name(settings.database_url),
            "reachable": False,
            "error": str(exc),
            "queued_writes": queued_writes(settings),
        }
        emit(
            args,
            down,
            lambda d: (
                f"team database {d['database']} is unreachable; "
                f"{d['queued_writes']} write(s) queued locally\n{d['error']}"
            ),
        )
        return 1
    with app:
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
        if settings.database_url and not settings.team_projects:
            data["queued_writes"] = queued_writes(settings)
        team = team_status(app)
        if team is not None:
            data["team"] = team

    emit(args, data, _stats_text)
    return 0


def _team_text(t: dict[str, Any]) -> str:
    """Hybrid use in one line: where the team projects live, whether it answers, the queue."""
    state = "reachable" if t["reachable"] else f"NOT reachable ({t['error']})"
    return (
        f"{t['database']} for {', '.join(t['projects'])}: {state}; "
        f"{t['queued_writes']} write(s) queued locally"
    )


def _stats_text(d: dict[str, Any]) -> str:
    """Stats as a header and tables: states, projects, types, recent LLM usage."""
    from mcp_memory.cli.terminal import field, number, share_bar, table

    c = d["counts"]
    total = int(c["total"])
    active = sum(int(n) for n in c["by_project"].values())
    out = [
        field("database", f"{d['database']} (schema v{d['schema_version']})"),
        field("model", f"{d['model']} ({d['dimension']}-d): {d['model_reason']}"),
        *(
            [field("queued", f"{d['queued_writes']} write(s) waiting for the team database")]
            if d.get("queued_writes")
            else []
        ),
        *([field("team", _team_text(d["team"]))] if d.get("team") else []),
        field(
            "memories",
            f"{number(total)} in all, {number(c['vectors'])} embedded "
            f"({number(c['unembedded'])} waiting for `maintain`), {number(c['links'])} links",
        ),
        "",
        table(
            ["state", "memories", "share"],
            [[s, number(n), share_bar(int(n), total)] for s, n in c["by_state"].items()],
            right=(1,),
        ),
        "",
    ]
    current = d.get("current_project")
    projects = sorted(c["by_project"].items(), key=lambda kv: (-kv[1], kv[0]))
    out.append(
        table(
            ["project", "active", "share", "key"],
            [
                [
                    project_label(p) + (" (here)" if p == current else ""),
                    number(n),
                    share_bar(int(n), active),
                    p,
                ]
                for p, n in projects
            ]
            or [["-", "0", "", ""]],
            right=(1,),
            flex=3,
        )
    )
    types = sorted(c["by_type"].items(), key=lambda kv: (-kv[1], kv[0]))
    if types:
        out += [
            "",
            table(
                ["type", "active", "share"],
                [[t, number(n), share_bar(int(n), active)] for t, n in types],
                right=(1,),
            ),
        ]
    if d["llm_usage"]:
        out += [
            "",
            table(
                ["day", "LLM provider", "calls", "tokens in", "tokens out"],
                [
                    [
                        u["day"],
                        u["provider"],
                        number(u["calls"]),
                        number(u["input_tokens"]),
                        number(u["output_tokens"]),
                    ]
                    for u in d["llm_usage"][:7]
                ],
                right=(2, 3, 4),
            ),
        ]
    return "\n".join(out)


def cmd_show(args: argparse.Namespace, settings: Settings) -> int:
    from mcp_memory.app import open_app

    with open_app(settings) as app:
        detail = app.memory.detail(args.id)

    def show(d: Any) -> str:
        protected = ", protected" if d.protected else ""
        lines = [
            f"[{d.id}] {d.type}, {d.state}{protected}, {project_label(d.project)}",
            f"created {d.created_at} by {d.source}, recalled {d.recall_count} time(s)"
            + (f", tags {', '.join(d.tags)}" if d.tags else ""),
            "",
            d.content,
            "",
        ]
        if d.routed_to:
            lines.append(f"routed to {d.routed_to}")
        for a in d.anchors:
            lines.append(
                f"anchor {a.path} ({a.kind}{' ' + a.selector if a.selector else ''}): {a.status}"
            )
        if d.stale:
            lines.append(d.stale)
        if d.merged_from:
            lines.append(f"made by consolidation {d.merged_from.consolidation_id} from:")
            lines += [f"  [{m.id}] {m.state:<10} {m.preview}" for m in d.merged_from.memories]
        if d.merged_into:
            lines.append(f"merged by consolidation {d.merged_into.consolidation_id} into:")
            lines += [f"  [{m.id}] {m.state:<10} {m.preview}" for m in d.merged_into.memories]
        lines.append("links:" if d.links else "no links")
        lines += [f"  [{m.id}] {m.similarity:.3f} {m.state:<10} {m.preview}" for m in d.links]
        return "\n".join(lines)

    emit(args, detail, show)
    return 0


def cmd_links(args: argparse.Namespace, settings: Settings) -> int:
    from mcp_memory.app import open_app

    with open_app(settings) as app:
        memory = app.store.get(args.id)
        links = app.store.links_of(args.id)
        others = app.store.get_many([i for i, _ in links])
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
        lines = [f"[{d['id']}] {one_line(d['content'])}"]
        if not d["links"]:
            lines.append("  no links")
        for link in d["links"]:
            lines.append(
                f"  -> [{link['id']}] {link['similarity']:.3f} {link['state']:<10} "
                f"{one_line(link['content'], 80)}"
            )
        return "\n".join(lines)

    emit(args, data, show)
    return 0


def cmd_graph(args: argparse.Namespace, settings: Settings) -> int:

    from mcp_memory.app import open_store
    from mcp_memory.graph.page import DEFAULT_STATES, write_graph
    from mcp_memory.projects import resolve, scope
    from mcp_memory.service.validation import validate_states

    states = validate_states(args.state) if args.state else DEFAULT_STATES
    out = Path(args.out).expanduser() if args.out else settings.home / "graph.html"
    store = open_store(settings)
    try:
        projects = None
        if args.project:
            projects = scope(resolve(args.project, Path.cwd(), store.project_keys()))
        summary = write_graph(
            store, out.resolve(), projects=projects, states=states, age_after=settings.age_after
        )
    finally:
        store.close()
    uri = Path(summary.path).as_uri()
    emit(
        args,
        {**summary.__dict__, "uri": uri},
        lambda d: (
            f"wrote {d['path']}: {d['nodes']:,} memories, {d['links']:,} links, {d['clusters']:,} "
            f"clusters, {d['consolidations']:,} consolidations ({d['lineage']:,} lineage arrows) "
            f"in {d['projects']} project(s), {d['seconds']:.1f} s\nopen {d['uri']}"
        ),
    )
    if args.open:
        import webbrowser

        webbrowser.open(uri)
    return 0
