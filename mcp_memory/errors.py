"""Project exceptions. Only entry points (CLI, MCP tools, hooks) turn them into messages.

MCPMemoryError
├── ConfigError            a setting is invalid; names the variable
├── ModelError             a model is unknown, not installed, or unusable
│   └── ModelMismatchError the database was built with another model or dimension
├── EmbeddingError         the engine or the warm server failed to produce valid vectors
│   └── WarmServerError    the warm server is unreachable, foreign, or replied badly
├── StoreError             the database cannot be opened, migrated or written
├── ValidationError        a caller's input is invalid (what to change is in the message)
└── NotFoundError          no memory with that id
"""

from __future__ import annotations


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


class ValidationError(MCPMemoryError):
    """Input from a caller is invalid."""


class NotFoundError(MCPMemoryError):
    """No memory with the given id."""
