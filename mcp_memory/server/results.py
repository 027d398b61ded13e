"""What the MCP tools take and return: bounded, described parameter types, the result models
(their JSON schemas become each tool's output schema), :func:`finish_tools` (strict arguments,
dedented descriptions) and :func:`reply`, which sends a result
once as structured content with a one-line text summary beside it.

Why not the SDK's default (the whole JSON as text *and* as structured content): a recall of
three memories came back twice, 2.1 KB where 1 KB says it all, and Claude Code hands the model
the structured content when there is some, so the text copy only cost context. The summary
still tells a client that reads only text what came back (ids and the start of each memory).
"""

from __future__ import annotations

import inspect
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import MCPServer
from mcp_types import CallToolResult, TextContent
from pydantic import BaseModel, ConfigDict, Field

from mcp_memory.routing.ledger import UndoResult
from mcp_memory.routing.plan import FileChange, RouteItem
from mcp_memory.service.types import Hit, MemoryRef, Remembered

# -- parameters ------------------------------------------------------------------------------
# Literal enums: the schema lists every value (tests/test_mcp_server.py checks they match
# service.classify.TYPES and store.schema.STATES).
MemoryType = Literal[
    "note",
    "decision",
    "user_note",
    "session_summary",
    "insight",
    "error_fix",
    "preference",
    "convention",
    "fact",
    "todo",
]
State = Literal["buffer", "proven", "superseded", "expired", "deleted"]

MAX_K = 50
MAX_IDS = 100
MAX_QUERY_CHARS = 4000

MemoryId = Annotated[
    Annotated[int, Field(ge=1)]
    | Annotated[str, Field(pattern=r"^\s*(?:[tT]:)?[0-9]+\s*$", max_length=24)],
    Field(
        description="A memory id as recall or the briefing show it: a number, or t:<number> "
        "for a memory on the team database"
    ),
]
Project = Annotated[
    str | None,
    Field(
        description='Project name, key or directory; "global" for memories shared by every '
        "project. Default: the current project.",
        max_length=1000,
    ),
]
Ids = Annotated[
    list[Annotated[int, Field(ge=1)]] | None,
    Field(description="Memory ids", max_length=MAX_IDS),
]
Tags = Annotated[
    list[Annotated[str, Field(max_length=64)]] | None,
    Field(description="Tags: single words such as 'billing' (at most 20)", max_length=20),
]


# -- results ---------------------------------------------------------------------------------


class RememberResult(BaseModel):
    id: MemoryRef
    status: str
    memories: list[Remembered]


class RecallResult(BaseModel):
    query: str
    projects: list[str] | None
    count: int
    hits: list[Hit]
    # Hybrid use: why the team database's memories are missing (it did not answer); None
    # when it was searched or there is none.
    team_note: str | None = None


class ForgetResult(BaseModel):
    id: MemoryRef
    state: str
    message: str


class ConsolidateResult(BaseModel):
    clusters: list[dict[str, Any]] = []
    outcomes: list[dict[str, Any]] = []
    undone: dict[str, Any] | None = None


class BriefingResult(BaseModel):
    text: str
    ids: list[MemoryRef]  # t:<id> for a memory on the team database
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
    confirm: str | None = None  # apply with confirm=<this> writes the user-global files shown


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
    # Hybrid use: the team database, whether it answers, and the writes queued for it.
    team: dict[str, Any] | None = None


def finish_tools(server: MCPServer[Any]) -> None:
    """Unknown tool arguments (a misspelt filter) must be an error, not silently ignored; and
    descriptions are the docstrings dedented (the model reads them: no 8-space indents)."""
    for tool in server._tool_manager.list_tools():
        tool.description = inspect.cleandoc(tool.description or "")
        base = tool.fn_metadata.arg_model
        strict = type(
            base.__name__,
            (base,),
            {"model_config": ConfigDict(**{**base.model_config, "extra": "forbid"})},
        )
        tool.fn_metadata.arg_model = strict
        tool.parameters = {**tool.parameters, "additionalProperties": False}


# -- replies ---------------------------------------------------------------------------------

PREVIEW = 60


def preview(text: str, chars: int = PREVIEW) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= chars else flat[: chars - 1].rstrip() + "…"


def reply(result: BaseModel, summary: str) -> CallToolResult:
    """``result`` once, as structured content, with ``summary`` as its text."""
    return CallToolResult(
        content=[TextContent(type="text", text=summary)],
        structured_content=result.model_dump(mode="json"),
    )


def recall_summary(result: RecallResult) -> str:
    if not result.hits:
        note = f"; {result.team_note}" if result.team_note else ""
        return f"no memories found for {preview(result.query)!r}{note}"
    shown = "; ".join(
        f"[{h.id}] {preview(h.content)}" + (f" ({h.stale})" if h.stale else "") for h in result.hits
    )
    note = f" ({result.team_note})" if result.team_note else ""
    return f"{result.count} memories for {preview(result.query)!r}: {shown}{note}"


def remember_summary(result: RememberResult) -> str:
    parts = [f"{m.status} memory {m.id} ({m.type})" for m in result.memories]
    return "; ".join(parts)
