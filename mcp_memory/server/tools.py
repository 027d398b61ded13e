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
from contextvars import ContextVar
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Literal, TypeVar, cast

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field

from mcp_memory import __version__
from mcp_memory.app import (
    App,
    consolidator,
    llm_waiting_note,
    open_app,
    queue_remember,
    router,
    team_status,
)
from mcp_memory.config import Settings
from mcp_memory.errors import DatabaseUnreachableError, MCPMemoryError, StoreError
from mcp_memory.lifecycle import actions as consolidation
from mcp_memory.projects import GLOBAL
from mcp_memory.routing import actions as routing
from mcp_memory.server.results import (
    MAX_K,
    MAX_QUERY_CHARS,
    BriefingResult,
    ConsolidateResult,
    ForgetResult,
    Ids,
    MemoryId,
    MemoryType,
    Project,
    RecallResult,
    RememberResult,
    RouteResult,
    State,
    StatsResult,
    Tags,
    finish_tools,
    preview,
    recall_summary,
    remember_summary,
    reply,
)
from mcp_memory.service.briefing import BriefingContext
from mcp_memory.service.detail import MemoryDetail
from mcp_memory.service.types import RecallFilters

T = TypeVar("T")

INSTRUCTIONS = """Long-term memory for this user's coding work, stored locally.
Call `recall` before answering questions about past work, decisions, preferences or fixes in
this project; call `remember` when the user states a decision, preference or fact worth keeping,
or when you solved a problem that may recur. Memories belong to the current project unless
stored with project="global"."""


class Unavailable:
    """The lifespan state when the database could not be opened: the error every tool reports."""

    def __init__(self, error: StoreError) -> None:
        self.error = error


# The session's app, for the resources (the SDK gives a static resource no Context): set by the
# lifespan here, or per connection by the daemon (:mod:`mcp_memory.server.daemon.sessions`), and seen by
# every task the session starts.
SESSION_APP: ContextVar[App | None] = ContextVar("mcp_memory_session_app", default=None)


# How a transport narrows the shared app to one session's (its project from a header, over HTTP:
# :func:`mcp_memory.server.http.project_scope`); raises MCPMemoryError when it cannot.
SessionScope = Callable[[App, Context], App]


def build_server(
    settings: Settings, cwd: Path | None = None, *, scope: SessionScope | None = None
) -> MCPServer[App]:
    @asynccontextmanager
    async def lifespan(_: MCPServer[App]) -> AsyncIterator[App]:
        try:
            app = await anyio.to_thread.run_sync(lambda: open_app(settings, cwd))
        except StoreError as exc:
            # A damaged or unreadable database must not end the session at start-up (Claude
            # Code would only show the server as failed): every tool answers with the diagnosis
            # and the repair (``memcycle doctor --repair``), and nothing touches the file.
            yield cast(App, Unavailable(exc))
            return
        with app:
            token = SESSION_APP.set(app)
            try:
                yield app
            finally:
                SESSION_APP.reset(token)

    server: MCPServer[App] = MCPServer(
        name="mcp-memory", version=__version__, instructions=INSTRUCTIONS, lifespan=lifespan
    )

    # One MCP server process serves one Claude Code session: its recalls share a context, so
    # promotion counts distinct sessions (see MemoryService._promote). The daemon serves many
    # sessions from one server and gives each session's app its own (``App.session``).
    session_context = f"mcp:{os.getpid()}:{int(time.time())}"

    async def run_tool(ctx: Context, fn: Callable[[App], T]) -> T:
        app = cast(App, ctx.request_context.lifespan_context)
        if isinstance(app, Unavailable):
            raise ToolError(str(app.error))
        try:
            if scope is not None:
                app = scope(app, ctx)
            return await anyio.to_thread.run_sync(lambda: fn(app))
        except MCPMemoryError as exc:  # expected failures: the message says what to do next
            raise ToolError(str(exc)) from exc

    @server.tool(
        annotations=ToolAnnotations(
            title="Remember", read_only_hint=False, destructive_hint=False, idempotent_hint=True
        )
    )
    async def remember(
        content: Annotated[
            str | list[str],
            Field(
                description="The memory: one self-contained statement with its why (at most "
                "20,000 characters), or a list of up to 100 such statements"
            ),
        ],
        ctx: Context,
        tags: Tags = None,
        type: Annotated[
            MemoryType | None,
            Field(description="The memory's type; classified from the text when omitted"),
        ] = None,
        project: Project = None,
        visibility: Annotated[
            Literal["team", "private"] | None,
            Field(
                description="On a shared team database: 'private' keeps it to this user, "
                "'team' shares it; default: team"
            ),
        ] = None,
    ) -> Annotated[CallToolResult, RememberResult]:
        """Store a memory (or several) for later recall; returns its id.

        Use when: the user states a decision, preference, convention or fact worth keeping;
        you fixed a problem that may recur; the user says "remember ...". Keep each memory
        one self-contained statement with the why, e.g. "We use uv, not pip, because ...".
        Not for: secrets (they are redacted anyway), transient chatter, whole files.
        `project` defaults to the current project; use "global" for knowledge that applies
        everywhere (e.g. the user's personal preferences). `type` is inferred when omitted;
        decisions, conventions, preferences and user notes are protected from expiry. Exact
        repeats return the existing id; near-duplicates are reported in `near_duplicates`;
        `links` lists the related memories it was connected to. `visibility` "private" on a
        team database keeps a personal note away from teammates.
        """
        contents = [content] if isinstance(content, str) else content

        def call(app: App) -> CallToolResult:
            key = app.project(project, create=True)
            results = app.memory.remember_many(
                contents, project=key, tags=tags, type=type, source="tool", visibility=visibility
            )
            done = RememberResult(id=results[0].id, status=results[0].status, memories=results)
            return reply(done, remember_summary(done))

        state = ctx.request_context.lifespan_context
        try:
            return await run_tool(ctx, call)
        except ToolError as exc:
            cause = state.error if isinstance(state, Unavailable) else exc.__cause__
            if not isinstance(cause, DatabaseUnreachableError):
                raise
        # The team database is down: the write waits on this machine, durably, instead.
        waiting = await anyio.to_thread.run_sync(
            lambda: queue_remember(
                settings,
                contents,
                project=project,
                tags=tags,
                type=type,
                source="tool",
                visibility=visibility,
                cwd=cwd,
            )
        )
        raise ToolError(
            f"{cause}. The memory was queued on this machine ({waiting} write(s) waiting) and "
            "is stored when the team database answers again; do not repeat it"
        )

    @server.tool(annotations=ToolAnnotations(title="Recall", read_only_hint=True))
    async def recall(
        query: Annotated[
            str,
            Field(
                description="What to look for, in words (a question or keywords)",
                max_length=MAX_QUERY_CHARS,
            ),
        ],
        ctx: Context,
        k: Annotated[int, Field(description="How many memories to return", ge=1, le=MAX_K)] = 10,
        project: Project = None,
        all_projects: Annotated[
            bool, Field(description="Search every project (not with `project`)")
        ] = False,
        include_global: Annotated[
            bool, Field(description="Also search the global memories")
        ] = True,
        tags: Tags = None,
        types: Annotated[
            list[MemoryType] | None, Field(description="Only these types", max_length=10)
        ] = None,
        states: Annotated[
            list[State] | None,
            Field(description="Only these states (default: buffer and proven)", max_length=5),
        ] = None,
        since: Annotated[
            str | None,
            Field(description="Only memories created on or after this ISO date", max_length=40),
        ] = None,
        until: Annotated[
            str | None,
            Field(description="Only memories created on or before this ISO date", max_length=40),
        ] = None,
        include_irrelevant: Annotated[
            bool,
            Field(description="Also return hits judged not relevant (default: only relevant ones)"),
        ] = False,
    ) -> Annotated[CallToolResult, RecallResult]:
        """Search memories by meaning and keywords; returns the best matches with scores.

        Use when: the user asks about past work, decisions, preferences, errors and their
        fixes, or before starting a task that may have history in this project.
        Not for: reading current files (read them) or general knowledge.
        Searches the current project plus global memories unless `project` names another
        project or `all_projects` is true. Filters: `tags` (all must match), `types`,
        `states` (default buffer and proven), `since`/`until` (ISO dates). Long memories come
        back whole; `get` adds a memory's links and lineage. Returns only hits judged relevant
        (`relevance` is a calibrated probability); none means nothing stored answers it.
        `include_irrelevant` returns the rest too. A hit's `anchors` are the files it is about,
        checked now; `stale` ("may be out of date: ...") says which changed since it was
        stored: verify against the code before acting on it.
        """

        def call(app: App) -> CallToolResult:
            scope = app.search_scope(
                project, all_projects=all_projects, include_global=include_global
            )
            filters = RecallFilters.build(
                tags=tags, types=types, states=states, since=since, until=until
            )
            recalled = app.memory.recall(
                query, projects=scope, k=k, filters=filters, context=app.session or session_context
            )
            hits = recalled.hits
            if not include_irrelevant:
                hits = [h for h in hits if h.relevant]
            shown = None if scope is None else [_shown(p) for p in scope]
            found = RecallResult(
                query=query, projects=shown, count=len(hits), hits=hits, team_note=recalled.note
            )
            return reply(found, recall_summary(found))

        return await run_tool(ctx, call)

    @server.tool(annotations=ToolAnnotations(title="Get a memory", read_only_hint=True))
    async def get(id: MemoryId, ctx: Context) -> Annotated[CallToolResult, MemoryDetail]:
        """One memory in full by id: its whole text, type, state, protection, dates, where it
        was routed, the memories it is linked to, and its lineage (the consolidation that
        made it from other memories, or merged it into others).

        Use when: the briefing or a recall shortened a memory ("...") and you need all of it,
        or you want to know where a memory came from or what it relates to.
        Not for: searching (use recall).
        """

        def call(app: App) -> CallToolResult:
            detail = app.memory.detail(id)
            text = f"[{detail.id}] {detail.state} {detail.type}: {preview(detail.content)}"
            if detail.stale:
                text += f" ({detail.stale})"
            return CallToolResult(
                content=[TextContent(type="text", text=text)], structured_content=asdict(detail)
            )

        return await run_tool(ctx, call)

    @server.tool(
        annotations=ToolAnnotations(
            title="Forget", read_only_hint=False, destructive_hint=True, idempotent_hint=True
        )
    )
    async def forget(
        id: MemoryId,
        ctx: Context,
        restore: Annotated[
            bool, Field(description="Bring a forgotten memory back instead")
        ] = False,
    ) -> Annotated[CallToolResult, ForgetResult]:
        """Soft-delete a memory by id (it leaves recall but can be restored).

        Use when: the user says a memory is wrong or obsolete. Not for: correcting a memory
        (remember the corrected statement, then forget the old one).
        With `restore=true`, brings a forgotten memory back.
        """

        def call(app: App) -> CallToolResult:
            if restore:
                m = app.memory.restore(id)
                done = ForgetResult(id=id, state=m.state, message=f"memory {id} restored")
            else:
                m = app.memory.forget(id)
                done = ForgetResult(
                    id=id,
                    state=m.state,
                    message=f"memory {id} forgotten; restore with forget(id={id}, restore=true)",
                )
            return reply(done, done.message)

        return await run_tool(ctx, call)

    @server.tool(annotations=ToolAnnotations(title="Memory stats", read_only_hint=True))
    async def stats(ctx: Context) -> Annotated[CallToolResult, StatsResult]:
        """Counts of memories by state, project and type, plus the model and database in use.

        Use when: the user asks what is remembered or whether memory works. Not for: search.
        """

        def call(app: App) -> CallToolResult:
            done = stats_result(app)
            total = done.counts.get("total", 0)
            return reply(done, f"{total} memories; model {done.model}; database {done.database}")

        return await run_tool(ctx, call)

    @server.tool(
        annotations=ToolAnnotations(
            title="Consolidate", read_only_hint=False, destructive_hint=False, idempotent_hint=False
        )
    )
    async def consolidate(
        ctx: Context,
        run: Annotated[bool, Field(description="Merge the clusters ready to merge")] = False,
        dry_run: Annotated[
            bool, Field(description="Show what merging would do, including the merged text")
        ] = False,
        ids: Ids = None,
        undo: Annotated[int | None, Field(description="A consolidation id to revert", ge=1)] = None,
        project: Project = None,
    ) -> Annotated[CallToolResult, ConsolidateResult]:
        """Merge clusters of related memories into proven knowledge (originals kept as lineage).

        Use when: the user asks to tidy up, merge or consolidate memories, or `stats` shows
        many buffer memories. With no arguments it only lists the clusters ready to merge;
        `run=true` merges them (`dry_run=true` shows the merged text first); `ids` merges
        exactly those buffer memories (asking again for a merge already done answers with it,
        status `already`); `undo=<consolidation id>` reverts one. Without an LLM, a cluster
        whose memories say different things is left as it is (status `needs_llm`).
        Not for: deleting memories (use forget).
        """

        def call(app: App) -> CallToolResult:
            done = consolidation.consolidate(
                consolidator(app),
                project=app.project(project),
                run=run,
                dry_run=dry_run,
                ids=ids or (),
                undo=undo,
            )
            result = ConsolidateResult(
                clusters=[asdict(c) for c in done.clusters],
                outcomes=[asdict(o) for o in done.outcomes],
                undone=done.undone,
            )
            if done.action == "list":
                summary = f"{len(done.clusters)} cluster(s) ready to consolidate"
            elif done.action == "undo":
                summary = "consolidation undone"
            else:
                summary = "; ".join(f"{o.status} {o.sources}" for o in done.outcomes) or (
                    "no clusters to consolidate"
                )
            return reply(result, summary)

        return await run_tool(ctx, call)

    @server.tool(annotations=ToolAnnotations(title="Briefing", read_only_hint=True))
    async def briefing(
        ctx: Context,
        prompt: Annotated[
            str | None,
            Field(description="What the session is about", max_length=MAX_QUERY_CHARS),
        ] = None,
        branch: Annotated[
            str | None, Field(description="The current git branch", max_length=200)
        ] = None,
        recent_files: Annotated[
            list[Annotated[str, Field(max_length=1000)]] | None,
            Field(description="Files touched recently", max_length=50),
        ] = None,
        max_tokens: Annotated[
            int | None,
            Field(description="Token budget (default: the configured one)", ge=50, le=8000),
        ] = None,
        project: Project = None,
    ) -> Annotated[CallToolResult, BriefingResult]:
        """The few memories that matter most for this project now (decisions, proven
        knowledge, what relates to the current task, recent activity), within a token budget.

        Use when: starting work on a task, or the user asks what you remember about this
        project. Not for: searching a specific question (use recall).
        """

        def call(app: App) -> CallToolResult:
            key = app.project(project)
            brief = app.memory.briefing(
                key,
                BriefingContext(branch, tuple(recent_files or ()), prompt),
                budget_tokens=max_tokens or app.settings.briefing_tokens,
                footer=llm_waiting_note(app, key),
            )
            done = BriefingResult(text=brief.text, ids=brief.ids, tokens=brief.tokens)
            return reply(done, f"briefing: {len(done.ids)} memories, ~{done.tokens} tokens")

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
        apply: Annotated[bool, Field(description="Write the planned changes")] = False,
        force: Annotated[
            bool,
            Field(description="Write possible conflicts too; undo a file edited since"),
        ] = False,
        ids: Ids = None,
        undo_memory: Annotated[
            int | None, Field(description="Take this memory's routed line out again", ge=1)
        ] = None,
        undo_file: Annotated[
            str | None,
            Field(description="Restore this file to before the last routing", max_length=1000),
        ] = None,
        promote: Annotated[
            int | None, Field(description="Mark this buffer memory as proven", ge=1)
        ] = None,
        project: Project = None,
        confirm: Annotated[
            str | None,
            Field(
                description="The token a first apply returned: writes the user-global files "
                "it showed (only after the user agreed to that diff)",
                max_length=200,
            ),
        ] = None,
    ) -> Annotated[CallToolResult, RouteResult]:
        """Put proven memories into the CLAUDE.md / .claude/rules/*.md section they fit best.

        Use when: the user asks to write what was learned into CLAUDE.md or the rules files,
        to promote a memory ("this is proven", `promote=<id>`), or to take a routed memory
        back out. By default it only plans: each memory's target file and section (a memory
        that adds a detail to a line goes directly below that line: `below`), duplicates
        already there, possible conflicts shown next to the existing line, memories too long
        for a rules line (held), and a unified diff per file; nothing is written until
        `apply=true`. `force=true` also writes possible conflicts. `undo_memory=<id>` removes
        one memory's line again; `undo_file=<path>` restores a file to its content before the
        last routing (refused if it was edited since, unless `force=true`). Project memories
        go only to the project's files, global ones only to ~/.claude. Show the user the diff
        before applying. Writes only into this
        session's project; user-global files (~/.claude) need a second call with the
        `confirm` token the first apply returns, after the user agreed to the diff.
        Not for: storing new memories (use remember) or editing CLAUDE.md by hand.
        """

        def call(app: App) -> CallToolResult:
            done = routing.route(
                router(app),
                project=app.project(project),
                apply=apply,
                force=force,
                ids=ids or (),
                undo_memory=undo_memory,
                undo_file=undo_file,
                promote=promote,
                serving=app.current_project,
                confirm=confirm,
            )
            plan, promoted = done.plan, done.promoted
            result = RouteResult(
                action=done.action,
                message=done.message,
                counts=plan.counts if plan else {},
                items=plan.items if plan else [],
                files=plan.files if plan else [],
                embedded=plan.embedded if plan else 0,
                unchecked=plan.unchecked if plan else 0,
                undone=done.undone,
                promoted={"id": promoted.id, "state": promoted.state} if promoted else None,
                confirm=done.confirm,
            )
            return reply(result, done.message)

        return await run_tool(ctx, call)

    def opened_app() -> App:
        app = SESSION_APP.get()
        if app is None:
            raise ResourceError("the memory store is not open (the server is starting or stopping)")
        return app

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
            brief = app.memory.briefing(
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

    finish_tools(server)
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
        team=team_status(app),
    )


def describe_embedder(app: App) -> str:
    last = getattr(app.embedder, "last_source", None) or "none yet"
    return f"warm server at {app.settings.embed_url}, in-process fallback (last call: {last})"


def _shown(project: str) -> str:
    """A project key as the model reads it: "global" for the global key."""
    return "global" if project == GLOBAL else project
