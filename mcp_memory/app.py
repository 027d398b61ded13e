"""Composition root: settings -> store -> embedder -> service.

Opening is fast and never loads a model: the embedder loads lazily on the first text it must
embed (or uses the warm server), so the MCP handshake does not wait for a model.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from mcp_memory.config import Settings
from mcp_memory.embedding.local import LocalEmbedder
from mcp_memory.embedding.protocol import token_path
from mcp_memory.embedding.specs import ModelSpec, choose_model, get_spec
from mcp_memory.embedding.warm_client import AutoEmbedder, WarmClient
from mcp_memory.errors import (
    ConfigError,
    DatabaseRefusedError,
    DatabaseUnreachableError,
    LLMError,
    ModelMismatchError,
    StoreError,
    ValidationError,
)
from mcp_memory.lifecycle.aging import AgePolicy, Judge
from mcp_memory.lifecycle.consolidate import Consolidator, waiting_note
from mcp_memory.lifecycle.maintenance import MaintainReport, maintain
from mcp_memory.llm.budget import BudgetLimits, estimate_tokens
from mcp_memory.llm.extractive import substance_heuristic
from mcp_memory.llm.factory import make_provider
from mcp_memory.llm.provider import Provider
from mcp_memory.llm.spending import Spending
from mcp_memory.projects import resolve, routed, scope
from mcp_memory.routing.plan import FALLBACK, THRESHOLDS, Thresholds
from mcp_memory.routing.router import RouteConfig, Router
from mcp_memory.routing.verdict import LLMVerdict
from mcp_memory.service.hybrid import HybridMemory, Routing, TeamLink
from mcp_memory.service.memories import MemoryService
from mcp_memory.service.types import Options
from mcp_memory.store import driver
from mcp_memory.store.base import ModelInfo
from mcp_memory.store.database import Store
from mcp_memory.store.recover import Recovery, recover


@dataclass
class App:
    settings: Settings
    store: Store
    embedder: AutoEmbedder
    service: MemoryService
    spec: ModelSpec
    model_reason: str
    cwd: Path
    # The MCP session this app serves, for promotion's distinct-session count ("" = the
    # server's own): the daemon gives each connection a view of one App with its own cwd and
    # session (:func:`session_view`).
    session: str = ""

    # Hybrid use (``team_projects``): the team database the chosen projects live on; ``store``
    # and ``service`` are then the local SQLite's. None: one database, ``store``.
    team: TeamLink | None = None

    @property
    def memory(self) -> HybridMemory:
        """Remember, recall, get, forget and restore routed to the database each project or id
        lives on (:mod:`mcp_memory.service.hybrid`); the plain service without a team link."""
        return HybridMemory(self.service, Routing(self.settings.team_keys), self.team)

    @property
    def current_project(self) -> str:
        return self.project(None) if self.settings.team_keys else self._resolve(None)

    def project(self, name: str | None, *, create: bool = False) -> str:
        """The project key ``name`` means (see :func:`mcp_memory.projects.resolve`), checked
        against the projects this database (both, in hybrid use) knows."""
        team = self.settings.team_keys
        if team:
            known = self.project_keys() if name is not None else ()
            return routed(name, self.cwd, known, team=team, create=create)
        return self._resolve(name, create=create)

    def search_scope(
        self, name: str | None, *, all_projects: bool = False, include_global: bool = True
    ) -> list[str] | None:
        """The projects a recall searches (see :func:`mcp_memory.projects.search_scope`):
        ``name`` (or the current project) plus global, or None for every project."""
        if all_projects:
            if name:
                raise ValidationError("give either project or all_projects, not both")
            return None
        return scope(self.project(name), include_global=include_global)

    def _resolve(self, name: str | None, *, create: bool = False) -> str:
        known = self.store.project_keys() if name is not None else ()
        return resolve(
            name, self.cwd, known, create=create, portable=bool(self.settings.database_url)
        )

    def project_keys(self) -> list[str]:
        """The project keys a caller may name: this database's, and in hybrid use the team
        projects listed and those the team database holds (when it answers)."""
        keys = list(self.store.project_keys())
        if self.team is not None:
            keys += [k for k in self.settings.team_keys if k != "*"]
            with contextlib.suppress(DatabaseUnreachableError):
                keys += self.team.call(lambda s: s.store.project_keys())
        return list(dict.fromkeys(keys))

    def close(self) -> None:
        self.embedder.close()  # connections to the warm server
        if self.team is not None:
            self.team.close()
        self.store.close()

    def __enter__(self) -> App:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def session_view(app: App, cwd: Path, session: str) -> App:
    """``app`` as one daemon session sees it: the same store, embedder and service, with the
    session's project root and name. Close only ``app`` itself, never a view."""
    return replace(app, cwd=cwd.resolve(), session=session)


def resolve_model(settings: Settings, store: Store) -> tuple[ModelSpec, int, str]:
    """The database's model if it has one; else the configured (or automatic) choice."""
    if store.model is not None:
        spec = get_spec(store.model.model_id)
        wrong_model = settings.model not in ("auto", spec.id)
        wrong_dim = settings.dimension not in (0, store.model.dimension)
        if wrong_model or wrong_dim:
            raise ModelMismatchError(
                f"database {store.path} was built with {spec.id} ({store.model.dimension}-d) "
                f"but MCP_MEMORY_MODEL={settings.model} MCP_MEMORY_DIMENSION="
                f"{settings.dimension} is configured; mixing vector spaces would corrupt "
                f"recall. Set MCP_MEMORY_MODEL={spec.id} and unset MCP_MEMORY_DIMENSION, "
                "or point MCP_MEMORY_DB at another database"
            )
        return spec, store.model.dimension, f"recorded in the database {store.path}"
    spec, why = choose_model(settings.model, settings.models_dir)
    return spec, spec.dimension_for(settings.dimension), why


def make_embedder(settings: Settings, spec: ModelSpec, dimension: int = 0) -> AutoEmbedder:
    """The embedder entry points hand to the service: warm server first, in-process fallback,
    both with the configured address, timeouts, model directory and threads."""
    local = LocalEmbedder(
        spec, settings.models_dir, threads=settings.intra_threads, dimension=dimension
    )
    client = WarmClient(
        settings.embed_host,
        settings.embed_port,
        model_id=spec.id,
        dimension=local.dimension,
        token_file=token_path(settings.run_dir, settings.embed_port),
        connect_timeout=settings.embed_connect_timeout,
        timeout=settings.embed_timeout,
    )
    return AutoEmbedder(local, client)


def open_app(settings: Settings, cwd: Path | None = None) -> App:
    """The store, embedder and service for ``settings``; use it as ``with open_app(s) as app:``
    so the database and the warm-server connections are closed whatever happens. A team
    database that answers again gets the writes queued while it did not (:func:`flush_queue`)."""
    store = open_store(settings)
    if settings.database_url and not settings.team_keys:
        flush_queue(settings)
    try:
        spec, dimension, why = resolve_model(settings, store)
        embedder = make_embedder(settings, spec, dimension)
        options = Options(
            max_content_chars=settings.max_content_chars,
            near_duplicates=settings.near_duplicates,
            duplicate_threshold=spec.duplicate_threshold,
            link_threshold=settings.link_threshold or spec.link_threshold,
            strong_recall=spec.strong_recall,
            relevance_gate=settings.relevance_gate,
        )
        service = MemoryService(store, embedder, options)
    except BaseException:
        store.close()
        raise
    team = None
    if settings.team_keys:
        team = TeamLink(lambda: open_team_service(settings, embedder, options))
    cwd = (cwd or Path.cwd()).resolve()
    return App(settings, store, embedder, service, spec, why, cwd, team=team)


def open_team_service(
    settings: Settings, embedder: AutoEmbedder, options: Options
) -> MemoryService:
    """The team database's service in hybrid use, with the local database's model (a team
    database built with another model is refused: vector spaces never mix). Opening it
    starts the worker that stores the writes queued while it did not answer."""
    store = open_team_store(settings)
    try:
        model = store.model
        if model is not None and (model.model_id, model.dimension) != (
            embedder.model_id,
            embedder.dimension,
        ):
            raise ModelMismatchError(
                f"the team database {store.path} was built with {model.model_id} "
                f"({model.dimension}-d) but the local database uses {embedder.model_id} "
                f"({embedder.dimension}-d); hybrid use needs one model for both. Set "
                f"MCP_MEMORY_MODEL={model.model_id} with a fresh local database, or use a "
                "team database built with the local model"
            )
        service = MemoryService(store, embedder, options)
    except BaseException:
        store.close()
        raise
    flush_queue(settings)
    return service


# -- the database without a model (entry points reach the store through these) ------------


def open_store(settings: Settings) -> Store:
    """The configured database alone (opened and migrated), for commands that embed nothing
    (export, the graph) or bring their own model (reindex); the caller closes it.

    ``database_url`` set: the team database on PostgreSQL (needs ``memcycle[postgres]``),
    read and written as ``settings.user``; else, and in hybrid use (``team_projects``), the
    SQLite file ``db``."""
    if settings.team_keys:
        return open_database(settings.db, settings.user)
    return open_database(settings.database_url or settings.db, settings.user)


def open_team_store(settings: Settings) -> Store:
    """The team database of hybrid use (``database_url``) alone; the caller closes it."""
    return open_database(settings.database_url, settings.user)


def is_url(location: str | Path) -> bool:
    """Whether a database location names a PostgreSQL server rather than a SQLite file."""
    return isinstance(location, str) and location.startswith(("postgresql://", "postgres://"))


# -- writes queued while the team database is unreachable ----------------------------------


def queue_remember(
    settings: Settings,
    contents: list[str],
    *,
    project: str | None,
    tags: list[str] | None,
    type: str | None,
    source: str,
    visibility: str | None,
    cwd: Path | None = None,
) -> int:
    """Queue ``remember`` calls the team database could not take: each text, redacted first
    (no secret reaches the disk), becomes a job file (0600, written and synced atomically) in
    the hooks' spool, which the hook worker stores once the database answers. Returns how
    many jobs wait. The project is resolved without the database (a directory, ``global``)."""
    from mcp_memory.capture import spool
    from mcp_memory.redaction.redact import redact

    here = (cwd or Path.cwd()).resolve()
    if settings.team_keys:
        listed = [k for k in settings.team_keys if k != "*"]
        key = routed(project, here, listed, team=settings.team_keys, create=True)
    else:
        key = resolve(project, here, (), create=True, portable=True)
    for text in contents:
        spool.enqueue(
            settings.run_dir,
            {
                "kind": "remember",
                "content": redact(text).text,
                "project": key,
                "type": type,
                "tags": list(tags or ()),
                "source": source,
                "visibility": visibility,
                "embed": True,
            },
        )
    return queued_writes(settings)


def team_status(app: App) -> dict[str, object] | None:
    """Hybrid use, for ``stats`` and ``doctor``: the team database (named without its
    password), the projects routed to it, whether it answers now (and why not), and the writes
    queued for it. None without hybrid use."""
    if app.team is None:
        return None
    reachable = app.team.reachable
    return {
        "database": database_name(app.settings.database_url),
        "projects": list(app.settings.team_keys),
        "reachable": reachable,
        "error": None if reachable else str(app.team.error),
        "queued_writes": queued_writes(app.settings),
    }


def queued_writes(settings: Settings) -> int:
    """Jobs waiting in the spool for the database (queued writes and hook captures)."""
    from mcp_memory.capture import spool

    return len(spool.pending_jobs(settings.run_dir))


def flush_queue(settings: Settings) -> int | None:
    """Start the hook worker to store the queued jobs, unless none wait or a worker is at it
    already; its pid, or None."""
    from mcp_memory.capture import spool

    if not spool.pending_jobs(settings.run_dir) or spool.worker_running(settings.run_dir):
        return None
    return spool.spawn_detached(
        [sys.executable, "-m", "mcp_memory.hooks.worker"],
        spool.log_path(settings.logs_dir),
        settings.home,
    )


def database_name(location: str | Path) -> str:
    """A database location as messages may show it: a URL without its password."""
    if not is_url(location):
        return str(location)
    from mcp_memory.store.postgres.connection import redact  # psycopg: only for a URL

    return redact(str(location))


def open_database(location: str | Path, user: str) -> Store:
    """The database at ``location`` (a ``postgresql://`` URL or a SQLite file), opened and
    migrated, read and written as ``user``; the caller closes it."""
    if not is_url(location):
        store = Store.open(Path(location))
        store.user = user
        return store
    assert isinstance(location, str)
    try:
        from mcp_memory.store.postgres.database import PgStore
    except ImportError as exc:
        raise ConfigError(
            f"MCP_MEMORY_DATABASE_URL points at PostgreSQL but its driver is missing ({exc.name}); "
            "install it with `pip install 'memcycle[postgres]'`"
        ) from exc
    return PgStore.connect(location, user=user)


@dataclass(frozen=True)
class DriverCheck:
    """What the SQLite driver offers: apsw's version, its SQLite's, and whether it has FTS5."""

    apsw: str
    sqlite: str
    fts5: bool


def check_driver() -> DriverCheck:
    """The SQLite driver, asked of a throwaway in-memory connection (for doctor)."""
    apsw_version, sqlite_version = driver.versions()
    return DriverCheck(apsw_version, sqlite_version, driver.has_fts5())


def check_sqlite_vec() -> str:
    """The sqlite-vec version, loaded into a fresh connection; raises when it does not load."""
    return driver.sqlite_vec_version()


@dataclass(frozen=True)
class DatabaseCheck:
    """The configured database as doctor reports it."""

    schema_version: int
    model: ModelInfo | None  # None until the first vectors are stored
    quick_check: str  # SQLite's ``PRAGMA quick_check``: ``ok`` or the first problem


def check_database(settings: Settings) -> DatabaseCheck:
    """Open the configured database (which migrates it, as every open does), run SQLite's
    quick check and read its schema version and model; the database is closed again."""
    store = open_store(settings)
    try:
        result = store.quick_check()
        return DatabaseCheck(store.schema_version, store.model, result)
    finally:
        store.close()


def recover_database(settings: Settings, destination: Path) -> Recovery:
    """Copy everything readable of the configured database into ``destination`` (a new file;
    the original is only read): ``memcycle doctor --repair``."""
    sqlite_only(settings, "doctor --repair", REPAIR_ON_POSTGRES)
    return recover(settings.db, destination)


# What to use instead of the commands that work on a SQLite file only (see sqlite_only).
BACKUP_ON_POSTGRES = (
    "back it up with PostgreSQL's own tool, e.g. `pg_dump --format=custom "
    "--file=memcycle.dump <the database URL>` (`pg_restore` puts it back), or copy the "
    "memories into a SQLite file with `memcycle migrate --to FILE.db`"
)
REPAIR_ON_POSTGRES = (
    "PostgreSQL recovers from a crash by itself. `memcycle doctor` checks that it answers; "
    "for damage, check it with `pg_amcheck`, rebuild a damaged index with `REINDEX`, or "
    "restore a `pg_dump` backup"
)
REINDEX_ON_POSTGRES = (
    "re-embedding a team database in place is not supported yet. To move it to another "
    "model: `memcycle migrate --to FILE.db`, re-embed that copy (`memcycle reindex --model "
    "MODEL` with MCP_MEMORY_DATABASE_URL unset and MCP_MEMORY_DB=FILE.db), then "
    "`memcycle migrate --to` a new, empty PostgreSQL database and point "
    "MCP_MEMORY_DATABASE_URL at it"
)


def sqlite_only(settings: Settings, command: str, instead: str) -> None:
    """Refuse ``command``, which works on the SQLite file, while the memories are on a team
    database: run anyway it would act on a local file that is not the user's memory."""
    if settings.database_url:
        raise StoreError(
            f"`memcycle {command}` works on a SQLite file, and the memories are on the team "
            f"database {database_name(settings.database_url)}: {instead}"
        )


# -- lifecycle wiring (entry points call these; the lifecycle modules read no settings) -----


def llm_provider(settings: Settings, kind: str | None = None) -> Provider:
    """The configured provider; ``auto`` is Gemini with a key, else the offline merge."""
    return make_provider(
        kind or settings.llm_provider,
        model=settings.llm_model or None,
        api_key=settings.llm_api_key or None,
        base_url=settings.llm_base_url or None,
        timeout=settings.llm_timeout,
    )


def llm_configured(settings: Settings) -> bool:
    """True when the user chose a provider (maintain then consolidates on its own)."""
    if settings.llm_provider == "auto":
        return bool(settings.llm_api_key)
    return settings.llm_provider != "none"


def budget_limits(settings: Settings) -> BudgetLimits:
    return BudgetLimits(
        max_calls_per_run=settings.llm_max_calls_per_run,
        max_tokens_per_run=settings.llm_max_tokens_per_run,
        max_calls_per_day=settings.llm_max_calls_per_day,
        max_tokens_per_day=settings.llm_max_tokens_per_day,
    )


def consolidator(app: App, kind: str | None = None) -> Consolidator:
    return Consolidator(app.service, llm_provider(app.settings, kind), budget_limits(app.settings))


def llm_waiting_note(app: App, project: str | None) -> str:
    """The note "N cluster(s) wait for an LLM ..." when the offline merge leaves clusters of
    ``project`` (None: every project) for a model, else "" (for the briefing and ``doctor``)."""
    return waiting_note(consolidator(app).waiting_for_llm(project))


def age_policy(settings: Settings) -> AgePolicy:
    return AgePolicy(
        age_after=settings.age_after,
        max_reprieves=settings.max_reprieves,
        retention_days=settings.retention_days,
    )


def substance_judge(settings: Settings, store: Store) -> Judge:
    """The LLM's verdict when one is configured, else the documented heuristic. LLM calls
    count against the budget (``llm_usage``); past it, or when the LLM fails, a loner is kept."""
    if not llm_configured(settings):
        return substance_heuristic
    provider = llm_provider(settings)
    if provider.offline:
        return substance_heuristic
    spending = Spending(store, provider.name, budget_limits(settings), offline=False)

    def judge(text: str) -> tuple[bool, str]:
        try:
            spending.check(estimate_tokens(text), 256)
            keep, usage = provider.judge_substance(text)
        except LLMError as exc:  # an unavailable LLM must not expire anything by accident
            spending.record_failure(exc)
            return True, f"kept: substance check failed ({exc})"
        spending.record(usage)
        return keep, f"{provider.name} judged it {'worth keeping' if keep else 'noise'}"

    return judge


def run_maintenance(
    app: App, *, dry_run: bool = False, progress: Callable[[str, int, int], None] | None = None
) -> MaintainReport:
    """``maintain`` on the configured database; in hybrid use then on the team database too
    (``report.team``), so the team project's hook captures get their vectors. The team part
    runs under the team database's maintenance lock (one machine at a time); a team database
    that does not answer or refuses is reported there, after the local part is done."""
    report = _maintain(app, app.service, "maintain.lock", dry_run, progress)
    if app.team is not None:
        team = app.team

        def team_progress(step: str, done: int, total: int) -> None:
            if progress:
                progress(f"team {step}", done, total)

        try:
            done = team.call(
                lambda s: _maintain(app, s, "maintain-team.lock", dry_run, team_progress)
            )
        except (DatabaseUnreachableError, DatabaseRefusedError, ModelMismatchError) as exc:
            why = "was not reachable" if isinstance(exc, DatabaseUnreachableError) else "refused"
            done = MaintainReport(
                ran=False,
                message=f"the team database {why} ({exc}); only the local database was maintained",
            )
        report.team = {k: v for k, v in asdict(done).items() if k != "team"}
    return report


def _maintain(
    app: App,
    service: MemoryService,
    lock_name: str,
    dry_run: bool,
    progress: Callable[[str, int, int], None] | None,
) -> MaintainReport:
    settings = app.settings
    consolidate = (
        Consolidator(service, llm_provider(settings), budget_limits(settings))
        if llm_configured(settings)
        else None
    )
    return maintain(
        service,
        lock_path=settings.run_dir / lock_name,
        policy=age_policy(settings),
        consolidator=consolidate,
        judge=substance_judge(settings, service.store),
        dry_run=dry_run,
        progress=progress,
    )


def router(app: App) -> Router:
    """The router over this app's store and model, with the configured targets and thresholds.

    A threshold set to 0 keeps the model's calibrated value (routing.THRESHOLDS)."""
    s = app.settings
    base = THRESHOLDS.get(app.spec.id, FALLBACK)
    thresholds = Thresholds(
        route=s.route_threshold or base.route,
        duplicate=s.route_duplicate or base.duplicate,
        conflict_band=s.route_conflict_band or base.conflict_band,
    )
    config = RouteConfig(
        claude_home=s.claude_home,
        backup_dir=s.home / "backups" / "routes",
        targets=tuple(t for t in s.route_targets.split(",") if t),
        default=s.route_default,
        thresholds=thresholds,
    )
    return Router(app.store, app.service.embedder, config, route_verdict(app))


def route_verdict(app: App) -> LLMVerdict | None:
    """The LLM's second look at memories routing would write, when one is configured."""
    s = app.settings
    if not (s.route_llm_check and llm_configured(s)):
        return None
    provider = llm_provider(s)
    if provider.offline:
        return None
    return LLMVerdict(provider, Spending(app.store, provider.name, budget_limits(s), offline=False))
