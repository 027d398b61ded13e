"""Composition root: settings -> store -> embedder -> service.

Opening is fast and never loads a model: the embedder loads lazily on the first text it must
embed (or uses the warm server), so the MCP handshake does not wait for a model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .config import Settings
from .errors import ModelMismatchError
from .models import ModelSpec, choose_model, get_spec
from .projects import project_for_dir
from .service import MemoryService, Options
from .store import Store
from .warm_client import AutoEmbedder, make_embedder


@dataclass
class App:
    settings: Settings
    store: Store
    embedder: AutoEmbedder
    service: MemoryService
    spec: ModelSpec
    model_reason: str
    cwd: Path

    @property
    def current_project(self) -> str:
        return project_for_dir(self.cwd)

    def close(self) -> None:
        self.store.close()


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


def open_app(settings: Settings, cwd: Path | None = None) -> App:
    store = Store.open(settings.db)
    try:
        spec, dimension, why = resolve_model(settings, store)
        embedder = make_embedder(settings, spec, dimension)
        service = MemoryService(
            store,
            embedder,
            Options(
                max_content_chars=settings.max_content_chars,
                near_duplicates=settings.near_duplicates,
                duplicate_threshold=spec.duplicate_threshold,
                link_threshold=settings.link_threshold or spec.link_threshold,
            ),
        )
    except BaseException:
        store.close()
        raise
    return App(settings, store, embedder, service, spec, why, (cwd or Path.cwd()).resolve())
