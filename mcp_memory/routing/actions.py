"""What a routing request does, whoever sends it: the ``route`` MCP tool and ``memcycle route``
both call :func:`route`, so the two entry points share one order of steps (promote, then plan or
apply; or undo) and one set of validation errors. The entry points only parse arguments and
format the :class:`RouteOutcome`. (``memcycle promote`` only promotes: it calls
:func:`~mcp_memory.routing.router.promote`, the function :func:`route` uses.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from mcp_memory.errors import ValidationError
from mcp_memory.projects import scope
from mcp_memory.routing.ledger import UndoResult
from mcp_memory.routing.plan import RoutePlan
from mcp_memory.routing.router import Router
from mcp_memory.routing.router import promote as promote_memory
from mcp_memory.store.base import Memory

Action = Literal["plan", "apply", "undo", "promote"]


@dataclass(frozen=True)
class RouteOutcome:
    """What one routing request did: a plan (or an applied one), an undo, and/or a promotion."""

    action: Action
    message: str
    plan: RoutePlan | None = None
    undone: UndoResult | None = None
    promoted: Memory | None = None


def route(
    router: Router,
    *,
    project: str,
    apply: bool = False,
    force: bool = False,
    ids: Sequence[int] = (),
    undo_memory: int | None = None,
    undo_file: str | None = None,
    promote: int | None = None,
) -> RouteOutcome:
    """Plan (or apply) the proven memories of ``project`` plus global into their files; first
    promote one memory by hand if asked (routing then covers that memory's project); or undo
    one memory's line or a file's last routing instead.

    A promotion stands even when routing cannot follow (e.g. its project names no directory):
    the outcome is then ``promote`` with the reason in its message.
    """
    if undo_memory is not None or undo_file is not None:
        both = undo_memory is not None and undo_file is not None
        if apply or promote is not None or ids or both:
            raise ValidationError(
                "undo takes one of undo_memory or undo_file, without apply, ids or promote"
            )
        undone = (
            router.undo_memory(undo_memory, force=force)
            if undo_memory is not None
            else router.undo_file(str(undo_file), project=project, force=force)
        )
        return RouteOutcome("undo", undone.message, undone=undone)
    projects = scope(project)
    chosen = list(ids)
    promoted = None
    if promote is not None:
        promoted = promote_memory(router.store, promote)
        chosen = chosen or [promote]
        projects = scope(promoted.project)
    try:
        run = router.apply if apply else router.plan
        plan = run(projects, ids=chosen or None, force=force)
    except ValidationError as exc:
        if promoted is None:
            raise
        return RouteOutcome(
            "promote",
            f"memory {promoted.id} is proven; it cannot be routed yet: {exc}",
            promoted=promoted,
        )
    action: Action = "apply" if apply else "promote" if promoted else "plan"
    proven = f"memory {promoted.id} is proven; " if promoted else ""
    return RouteOutcome(action, proven + plan.summary(), plan=plan, promoted=promoted)
