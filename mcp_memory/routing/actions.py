"""What a routing request does, whoever sends it: the ``route`` MCP tool and ``memcycle route``
both call :func:`route`, so the two entry points share one order of steps (promote, then plan or
apply; or undo) and one set of validation errors. The entry points only parse arguments and
format the :class:`RouteOutcome`.

The MCP server passes ``serving``, the project of the session it serves (its working directory):
a model can be steered by text it read (a README, a command's output), so over MCP routing

- writes only into the files of the project it serves: applying (or undoing) for another
  project is refused, with the command to run in that project's directory instead;
- writes the user-global files (``~/.claude``, loaded in every project; also a project whose
  default target lies there, such as ``$HOME``) only in a second, separate call: ``apply``
  returns the plan and a confirmation token that hashes the exact changes, and only
  ``apply`` with ``confirm=<token>`` writes them, so the user sees the diff before it lands and
  a changed plan needs a new confirmation;
- never releases a memory captured from tool output or files (held as ``review``), not even with
  ``force``; the CLI (a user at a terminal) can, with ``--apply --force``. (``memcycle promote`` only promotes: it calls
:func:`~mcp_memory.routing.router.promote`, the function :func:`route` uses.)
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from mcp_memory.errors import ValidationError
from mcp_memory.projects import GLOBAL, scope
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
    confirm: str | None = None  # the token that applies this plan's user-global changes (MCP)


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
    serving: str | None = None,
    confirm: str | None = None,
) -> RouteOutcome:
    """Plan (or apply) the proven memories of ``project`` plus global into their files; first
    promote one memory by hand if asked (routing then covers that memory's project); or undo
    one memory's line or a file's last routing instead.

    A promotion stands even when routing cannot follow (e.g. its project names no directory):
    the outcome is then ``promote`` with the reason in its message. ``serving`` (the MCP
    server's project; None from the CLI) and ``confirm`` restrict writes as the module says.
    """
    if undo_memory is not None or undo_file is not None:
        both = undo_memory is not None and undo_file is not None
        if apply or promote is not None or ids or both:
            raise ValidationError(
                "undo takes one of undo_memory or undo_file, without apply, ids or promote"
            )
        if serving is not None:
            owner = router.store.get(undo_memory).project if undo_memory is not None else project
            _only_served(owner, serving, "undo")
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
    release = force and serving is None  # only a user at a terminal releases captured memories
    try:
        if apply and serving is None:
            plan = router.apply(projects, ids=chosen or None, force=force, release_captured=release)
            return _outcome("apply", plan, promoted)
        if apply:
            _only_served(promoted.project if promoted else project, serving or "", "apply")
        plan = router.plan(projects, ids=chosen or None, force=force, release_captured=release)
        token = _global_token(plan, router.config.claude_home)
        if apply and token is not None and confirm != token:
            proven = f"memory {promoted.id} is proven; " if promoted else ""
            files = ", ".join(f.target for f in plan.files)
            return RouteOutcome(
                "plan",
                f"{proven}{plan.summary()}. Nothing was written: this changes user-global "
                f"files loaded in every project ({files}). Show the user the diff; only if "
                f"they agree, call route(apply=true, confirm='{token}')",
                plan=plan,
                promoted=promoted,
                confirm=token,
            )
        if apply:
            plan = router.apply(projects, ids=chosen or None, force=force, release_captured=release)
    except ValidationError as exc:
        if promoted is None:
            raise
        return RouteOutcome(
            "promote",
            f"memory {promoted.id} is proven; it cannot be routed yet: {exc}",
            promoted=promoted,
        )
    return _outcome("apply" if apply else "promote" if promoted else "plan", plan, promoted)


def _outcome(action: Action, plan: RoutePlan, promoted: Memory | None) -> RouteOutcome:
    proven = f"memory {promoted.id} is proven; " if promoted else ""
    return RouteOutcome(action, proven + plan.summary(), plan=plan, promoted=promoted)


def _only_served(project: str, serving: str, verb: str) -> None:
    """Refuse an MCP write into a project other than the one the server serves."""
    if project in (serving, GLOBAL):
        return
    raise ValidationError(
        f"route over MCP writes only into the project this session serves ({serving}), not "
        f"{project}; to {verb} there, run `memcycle route --apply` in that project's directory"
    )


def _global_token(plan: RoutePlan, claude_home: Path) -> str | None:
    """A short hash of the exact changes to files under ``claude_home`` (None: there are
    none), so a confirmation applies only the plan the user was shown."""
    home = claude_home.resolve()
    changes = sorted(
        (f.path, f.diff) for f in plan.files if Path(f.path).resolve().is_relative_to(home)
    )
    if not changes:
        return None
    digest = hashlib.sha256(repr(changes).encode("utf-8", "surrogatepass"))
    return digest.hexdigest()[:16]
