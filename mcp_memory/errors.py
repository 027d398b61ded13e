"""Project exceptions. Only entry points (CLI, MCP tools, hooks) turn them into messages.

MCPMemoryError
├── ConfigError            a setting is invalid; names the variable
├── ModelError             a model is unknown, not installed, or unusable
│   └── ModelMismatchError the database was built with another model or dimension
├── EmbeddingError         the engine or the warm server failed to produce valid vectors
│   └── WarmServerError    the warm server is unreachable, foreign, or replied badly
├── StoreError             the database cannot be opened, migrated or written
│   ├── CorruptDatabaseError   the file is damaged or not a database (doctor --repair salvages)
│   ├── ReadOnlyDatabaseError  the file or its directory cannot be written (reads still work)
│   ├── DiskFullError          the disk (or a size limit) is full; nothing was written
│   ├── DatabaseUnreachableError  the team database does not answer (writes can be queued)
│   └── DatabaseRefusedError   the team database answered but refused: credentials, database
├── ValidationError        a caller's input is invalid (what to change is in the message)
│   └── UnsafePathError    a routing target escapes its root, is a link, or is not a .md file
├── NotFoundError          no memory with that id
└── LLMError               the language model failed, refused, or answered unusably
    ├── BudgetExceeded     a per-run or per-day call/token limit would be passed
    ├── MergeRejected      a merged answer failed the checks (empty, refusal, longer, facts lost)
    └── NeedsModel         the offline merge cannot make one memory of these; an LLM could
"""

from __future__ import annotations

from typing import Protocol

# This module imports nothing of the package: every module may import it, so it must never close
# an import cycle.


class Cost(Protocol):
    """What a model call cost; :class:`mcp_memory.llm.provider.Usage` is the one implementation.
    A protocol, so that this module needs no import of the llm package."""

    @property
    def calls(self) -> int: ...

    @property
    def input_tokens(self) -> int: ...

    @property
    def output_tokens(self) -> int: ...


class MCPMemoryError(Exception):
    """Base class of every error this package raises on purpose."""


class ConfigError(MCPMemoryError):
    """A configuration value is invalid."""


class ModelError(MCPMemoryError):
    """A model is unknown, missing, or cannot be loaded."""


class ModelMismatchError(ModelError):
    """Vectors from two different models would be mixed."""


class EmbeddingError(MCPMemoryError):
    """Embedding failed or produced invalid vectors."""


class WarmServerError(EmbeddingError):
    """The warm embedding server could not be used."""


class StoreError(MCPMemoryError):
    """The database could not be opened, migrated or written."""


class CorruptDatabaseError(StoreError):
    """SQLite found a damaged page or header: the good data is still in the file."""


class ReadOnlyDatabaseError(StoreError):
    """The database cannot be written here (read-only file, directory or file system)."""


class DiskFullError(StoreError):
    """A write needed space the disk (or SQLite's page limit) does not have."""


class DatabaseUnreachableError(StoreError):
    """The team database (PostgreSQL) is down or out of reach; nothing was written, and an
    entry point may queue the write locally until it answers again."""


class DatabaseRefusedError(StoreError):
    """The team database answered but refused the connection: a wrong user or password, a
    database or role that does not exist, no ``pg_hba.conf`` entry, TLS the server does not
    offer. Retrying cannot help, so nothing is queued: the URL (or the server's setup) must be
    fixed."""


class ValidationError(MCPMemoryError):
    """Input from a caller is invalid."""


class UnsafePathError(ValidationError):
    """A file routing would write is outside its root, reached through a link, or not Markdown."""


class NotFoundError(MCPMemoryError):
    """No memory with the given id."""


class LLMError(MCPMemoryError):
    """The language model could not be used, or its answer was unusable.

    ``usage`` is what the failed call still cost, so the caller can charge it to the budget: the
    tokens of an answer that was then found unusable, one call without tokens for an HTTP error
    or a timeout, None when the request never reached the server.
    """

    def __init__(self, message: str, *, usage: Cost | None = None) -> None:
        super().__init__(message)
        self.usage = usage


class BudgetExceeded(LLMError):
    """A call would pass an LLM budget; ``setting`` names the variable that raises it."""

    def __init__(self, message: str, *, setting: str) -> None:
        super().__init__(message)
        self.setting = setting


class MergeRejected(LLMError):
    """A merged answer failed a check; ``dropped`` lists the facts it lost, if that was why."""

    def __init__(
        self, message: str, *, dropped: tuple[str, ...] = (), usage: Cost | None = None
    ) -> None:
        super().__init__(message, usage=usage)
        self.dropped = dropped


class NeedsModel(LLMError):
    """The offline (extractive) merge cannot write these memories as one statement without
    gluing them together; the cluster waits for a configured LLM."""
