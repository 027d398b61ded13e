"""The MCP server: tools over the memory service.

``build_server(settings)`` returns an ``MCPServer``; the store opens in the lifespan (fast, no
model load), so the handshake never waits for a model. Tools run the synchronous service in a
worker thread and raise on bad input: the SDK turns the exception into an ``is_error`` result
whose message says what to do. Nothing here writes to stdout: over stdio, stdout is protocol.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any, Literal, TypeVar, cast

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from mcp_types import ToolAnnotations
from pydantic import BaseModel, ConfigDict

from mcp_memory import __version__
from mcp_memory.app import App, consolidator, open_app, router
from mcp_memory.config import Settings
from mcp_memory.errors import MCPMemoryError, ValidationError
from mcp_memory.lifecycle import actions as consolidation
from mcp_memory.projects import GLOBAL, normalize_project, search_scope
from mcp_memory.routing import actions as routing
from mcp_memory.routing.ledger import UndoResult
from mcp_memory.routing.plan import FileChange, RouteItem
from mcp_memory.service.briefing import BriefingContext, build_briefing
from mcp_memory.service.types import Hit, RecallFilters, Remembered

T = TypeVar("T")

INSTRUCTIONS = """Long-term memory for this user's coding work, stored locally.
Call `recall` before answering questions about past work, decisions, preferences or fixes in
this project; call `remember` when the user states a decision, preference or fact worth keeping,
or when you solved a problem that may recur. Memories belong to the current project unless
stored with project="global"."""


class RememberResult(BaseModel):
    id: int
    status: str
    memories: list[Remembered]


class RecallResult(BaseModel):
    query: str
    projects: list[str] | None
    count: int
    hits: list[Hit]


class ForgetResult(BaseModel):
    id: int
    state: str
    message: str


class ConsolidateResult(BaseModel):
    clusters: list[dict[str, Any]] = []
    outcomes: list[dict[str, Any]] = []
    undone: dict[str, Any] | None = None


class BriefingResult(BaseModel):
    text: str
    ids: list[int]
    tokens: int


class RouteResult(BaseModel):
    action: str  # plan | apply | undo | promote
    message: str
    counts: dict[str, int] = {}
    items: list[RouteItem] = []
    files: list[FileChange] = []
    embedded: int = 0
    unchecked: int = 0  # memories the configured LLM could not check (the offline rules decided)
    undone: UndoResult | None = None
    promoted: dict[str, Any] | None = None


class StatsResult(BaseModel):
    version: str
    database: str
    schema_version: int
    model: str
    dimension: int
    model_reason: str
    embedder: str
    current_project: str
    counts: dict[str, Any]
    llm_usage: list[dict[str, Any]]


def _forbid_unknown_arguments(server: MCPServer[Any]) -> None:
    """Unknown tool arguments (a misspelt filter) must be an error, not silently ignored."""
    for tool in server._tool_manager.list_tools():
        base = tool.fn_metadata.arg_model
        strict = type(
            base.__name__,
            (base,),
            {"model_config": ConfigDict(**{**base.model_config, "extra": "forbid"})},
        )
        tool.fn_metadata.arg_model = strict
        tool.parameters = {**tool.parameters, "additionalProperties": False}


def build_server(settings: Settings, cwd: Path | None = None) -> MCPServer[App]:
    # The lifespan's app, for the resources: the SDK gives a static resource no Context.
    opened: list[App] = []

    @asynccontextmanager
    async def lifespan(_: MCPServer[App]) -> AsyncIterator[App]:
        with await anyio.to_thread.run_sync(lambda: open_app(settings, cwd)) as app:
            opened.append(app)
            try:
                yield app
            finally:
                opened.remove(app)

    server: MCPServer[App] = MCPServer(
        name="mcp-memory", version=__version__, instructions=INSTRUCTIONS, lifespan=lifespan
    )

    # One MCP server process serves one Claude Code session: its recalls share a context, so
    # promotion counts distinct sessions (see MemoryService._promote).
    session_context = f"mcp:{os.getpid()}:{int(time.time())}"

    async def run_tool(ctx: Context, fn: Callable[[App], T]) -> T:
        app = cast(App, ctx.request_context.lifespan_context)
        try:
            return await anyio.to_thread.run_sync(lambda: fn(app))
        except MCPMemoryError as exc:  # expected failures: the message says what to do next
            raise ToolError(str(exc)) from exc

    @server.tool(
        annotations=ToolAnnotations(
            title="Remember", read_only_hint=False, destructive_hint=False, idempotent_hint=True
        )
    )
    async def remember(
        content: str | list[str],
        ctx: Context,
        tags: list[str] | None = None,
        type: Literal[
            "note", "decision", "user_note", "insight", "error_fix", "preference", "fact", "todo"
        ]
        | None = None,
        project: str | None = None,
    ) -> RememberResult:
        """Store a memory (or several) for later recall; returns its id.

        Use when: the user states a decision, preference, convention or fact worth keeping;
        you fixed a problem that may recur; the user says "remember ...". Keep each memory
        one self-contained statement with the why, e.g. "We use uv, not pip, because ...".
        Not for: secrets (they are redacted anyway), transient chatter, whole files.
        `project` defaults to the current project; use "global" for knowledge that applies
        everywhere (e.g. the user's personal preferences). `type` is inferred when omitted;
        decisions and user notes are protected from expiry. Exact repeats return the existing
        id; near-duplicates are reported in `near_duplicates`; `links` lists the related
        memories it was connected to.
        """
        contents = [content] if isinstance(content, str) else content

        def call(app: App) -> RememberResult:
            key = normalize_project(project, app.cwd)
            results = app.service.remember_many(
                contents, project=key, tags=tags, type=type, source="tool"
            )
            return RememberResult(id=results[0].id, status=results[0].status, memories=results)

        return await run_tool(ctx, call)

    @server.tool(annotations=ToolAnnotations(title="Recall", read_only_hint=True))
    async def recall(
        query: str,
        ctx: Context,
        k: int = 10,
        project: str | None = None,
        all_projects: bool = False,
        include_global: bool = True,
        tags: list[str] | None = None,
        types: list[str] | None = None,
        states: list[str] | None = None,
        since: str | None = None,
        until: str | None = None,
        include_irrelevant: bool = False,
    ) -> RecallResult:
        """Search memories by meaning and keywords; returns the best matches with scores.

        Use when: the user asks about past work, decisions, preferences, errors and their
        fixes, or before starting a task that may have history in this project.
        Not for: reading current files (read them) or general knowledge.
        Searches the current project plus global memories unless `project` names another
        project or `all_projects` is true. Filters: `tags` (all must match), `types`,
        `states` (default buffer and proven), `since`/`until` (ISO dates). `k` is 1-100.
        Returns only hits judged relevant (`relevance` is a calibrated probability); none
        means nothing stored answers it. `include_irrelevant` returns the rest too.
        """

        def call(app: App) -> RecallResult:
            scope = search_scope(
                project, app.cwd, all_projects=all_projects, include_global=include_global
            )
            filters = RecallFilters.build(
                tags=tags, types=types, states=states, since=since, until=until
            )
            hits = app.service.recall(
                query, projects=scope, k=k, filters=filters, context=session_context
            )
            if not include_irrelevant:
                hits = [h for h in hits if h.relevant]
            shown = None if scope is None else [_shown(p) for p in scope]
            return RecallResult(query=query, projects=shown, count=len(hits), hits=hits)

        return await run_tool(ctx, call)

    @server.tool(
        annotations=ToolAnnotations(
            title="Forget", read_only_hint=False, destructive_hint=True, idempotent_hint=True
        )
    )
    async def forget(id: int, ctx: Context, restore: bool = False) -> ForgetResult:
        """Soft-delete a memory by id (it leaves recall but can be restored).

        Use when: the user says a memory is wrong or obsolete. Not for: correcting a memory
        (remember the corrected statement, then forget the old one).
        With `restore=true`, brings a forgotten memory back.
        """

        def call(app: App) -> ForgetResult:
            if restore:
                m = app.service.restore(id)
                return ForgetResult(id=id, state=m.state, message=f"memory {id} restored")
            m = app.service.forget(id)
            return ForgetResult(
                id=id,
                state=m.state,
                message=f"memory {id} forgotten; restore with forget(id={id}, restore=true)",
            )

        return await run_tool(ctx, call)

    @server.tool(annotations=ToolAnnotations(title="Memory stats", read_only_hint=True))
    async def stats(ctx: Context) -> StatsResult:
        """Counts of memories by state, project and type, plus the model and database in use.

        Use when: the user asks what is remembered or whether memory works. Not for: search.
        """

        return await run_tool(ctx, stats_result)

    @server.tool(
        annotations=ToolAnnotations(
            title="Consolidate", read_only_hint=False, destructive_hint=False, idempotent_hint=False
        )
    )
    async def consolidate(
        ctx: Context,
        run: bool = False,
        dry_run: bool = False,
        ids: list[int] | None = None,
        undo: int | None = None,
        project: str | None = None,
    ) -> ConsolidateResult:
        """Merge clusters of related memories into proven knowledge (originals kept as lineage).

        Use when: the user asks to tidy up, merge or consolidate memories, or `stats` shows
        many buffer memories. With no arguments it only lists the clusters ready to merge;
        `run=true` merges them (`dry_run=true` shows what would happen first); `ids` merges
        exactly those buffer memories (asking again for a merge already done answers with it,
        status `already`); `undo=<consolidation id>` reverts one.
        Not for: deleting memories (use forget).
        """

        def call(app: App) -> ConsolidateResult:
            done = consolidation.consolidate(
                consolidator(app),
                project=normalize_project(project, app.cwd),
                run=run,
                dry_run=dry_run,
                ids=ids or (),
                undo=undo,
            )
            return ConsolidateResult(
                clusters=[asdict(c) for c in done.clusters],
                outcomes=[asdict(o) for o in done.outcomes],
                undone=done.undone,
            )

        return await run_tool(ctx, call)

    @server.tool(annotations=ToolAnnotations(title="Briefing", read_only_hint=True))
    async def briefing(
        ctx: Context,
        prompt: str | None = None,
        branch: str | None = None,
        recent_files: list[str] | None = None,
        max_tokens: int | None = None,
        project: str | None = None,
    ) -> BriefingResult:
        """The few memories that matter most for this project now (decisions, proven
        knowledge, what relates to the current task, recent activity), within a token budget.

        Use when: starting work on a task, or the user asks what you remember about this
        project. Not for: searching a specific question (use recall).
        """

        def call(app: App) -> BriefingResult:
            if max_tokens is not None and not 50 <= max_tokens <= 8000:
                raise ValidationError("max_tokens must be from 50 to 8000")
            brief = build_briefing(
                app.service,
                normalize_project(project, app.cwd),
                BriefingContext(branch, tuple(recent_files or ()), prompt),
                budget_tokens=max_tokens or app.settings.briefing_tokens,
            )
            return BriefingResult(text=brief.text, ids=brief.ids, tokens=brief.tokens)

        return await run_tool(ctx, call)

    @server.tool(
        annotations=ToolAnnotations(
            title="Route knowledge into CLAUDE.md",
            read_only_hint=False,
            destructive_hint=False,
            idempotent_hint=True,
        )
    )
    async def route(
        ctx: Context,
        apply: bool = False,
        force: bool = False,
        ids: list[int] | None = None,
        undo_memory: int | None = None,
        undo_file: str | None = None,
        promote: int | None = None,
        project: str | None = None,
    ) -> RouteResult:
        """Put proven memories into the CLAUDE.md / .claude/rules/*.md section they fit best.

        Use when: the user asks to write what was learned into CLAUDE.md or the rules files,
        to promote a memory ("this is proven", `promote=<id>`), or to take a routed memory
        back out. By default it only plans: each memory's target file and section, duplicates
        already there, possible conflicts shown next to the existing line, and a unified diff
        per file; nothing is written until `apply=true`. `force=true` also writes possible
        conflicts. `undo_memory=<id>` removes one memory's line again; `undo_file=<path>`
        restores a file to its content before the last routing (refused if it was edited
        since, unless `force=true`). Project memories go only to the project's files, global
        ones only to ~/.claude. Show the user the diff before applying.
        Not for: storing new memories (use remember) or editing CLAUDE.md by hand.
        """

        def call(app: App) -> RouteResult:
            done = routing.route(
                router(app),
                project=normalize_project(project, app.cwd),
                apply=apply,
                force=force,
                ids=ids or (),
                undo_memory=undo_memory,
                undo_file=undo_file,
                promote=promote,
            )
            plan, promoted = done.plan, done.promoted
            return RouteResult(
                action=done.action,
                message=done.message,
                counts=plan.counts if plan else {},
                items=plan.items if plan else [],
                files=plan.files if plan else [],
                embedded=plan.embedded if plan else 0,
                unchecked=plan.unchecked if plan else 0,
                undone=done.undone,
                promoted={"id": promoted.id, "state": promoted.state} if promoted else None,
            )

        return await run_tool(ctx, call)

    def opened_app() -> App:
        if not opened:
            raise ResourceError("the memory store is not open (the server is starting or stopping)")
        return opened[-1]

    @server.resource(
        "memory://briefing",
        name="briefing",
        title="Memory briefing for this project",
        description="The decisions, proven knowledge and recent work remembered for the current "
        "project (what the briefing tool returns with no arguments).",
        mime_type="text/markdown",
    )
    def briefing_resource() -> str:
        app = opened_app()
        try:
            brief = build_briefing(
                app.service,
                app.current_project,
                BriefingContext(),
                budget_tokens=app.settings.briefing_tokens,
            )
        except MCPMemoryError as exc:
            raise ResourceError(str(exc)) from exc
        return brief.text or "Nothing remembered for this project yet."

    @server.resource(
        "memory://stats",
        name="stats",
        title="Memory stats",
        description="Counts of memories by state, project and type; the model and database in "
        "use; recent LLM usage (what the stats tool returns).",
        mime_type="application/json",
    )
    def stats_resource() -> str:
        try:
            return stats_result(opened_app()).model_dump_json(indent=2)
        except MCPMemoryError as exc:
            raise ResourceError(str(exc)) from exc

    _forbid_unknown_arguments(server)
    return server


def stats_result(app: App) -> StatsResult:
    s = app.service.stats()
    return StatsResult(
        version=__version__,
        database=s.database,
        schema_version=s.schema_version,
        model=app.spec.id,
        dimension=app.embedder.dimension,
        model_reason=app.model_reason,
        embedder=describe_embedder(app),
        current_project=app.current_project,
        counts=asdict(s)["counts"],
        llm_usage=s.llm_usage,
    )


def describe_embedder(app: App) -> str:
    last = getattr(app.embedder, "last_source", None) or "none yet"
    return f"warm server at {app.settings.embed_url}, in-process fallback (last call: {last})"


def _shown(project: str) -> str:
    """A project key as the model reads it: "global" for the global key."""
    return "global" if project == GLOBAL else project
