"""Checks of what callers send the service: text, tags, choices, states, times, and the limits
on them.

Each check returns the clean value or raises :class:`~mcp_memory.errors.ValidationError` with a
message that says what to send instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from mcp_memory.errors import ValidationError
from mcp_memory.store.schema import STATES

SOURCES = ("tool", "hook", "user", "cli", "lifecycle", "import")
MAX_TAGS = 20
MAX_TAG_CHARS = 64
MAX_BATCH = 100
MAX_K = 100


def parse_time(value: str, name: str) -> float:
    """An ISO 8601 date or datetime (UTC if no zone) as a timestamp."""
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValidationError(
            f"{name} must be an ISO 8601 date like 2026-01-31 or 2026-01-31T09:00, not {value!r}"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def validate_text(value: object, name: str, max_chars: int, empty_hint: str) -> str:
    """A caller's text, stripped: a string of valid Unicode, no NUL, not empty, not too long."""
    if not isinstance(value, str):
        raise ValidationError(f"{name} must be a string")
    if "\x00" in value:
        raise ValidationError(f"{name} contains NUL bytes; remove them and try again")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError(
            f"{name} contains invalid Unicode (lone surrogates); send valid UTF-8 text"
        ) from None
    text = value.strip()
    if not text:
        raise ValidationError(f"{name} is empty; {empty_hint}")
    if len(text) > max_chars:
        raise ValidationError(
            f"{name} is {len(text)} characters; the limit is {max_chars} "
            "(MCP_MEMORY_MAX_CONTENT_CHARS). Split it into smaller memories"
        )
    return text


def validate_content(content: object, max_chars: int) -> str:
    return validate_text(content, "content", max_chars, "give the text to remember")


def validate_tags(tags: Sequence[str] | None) -> tuple[str, ...]:
    if not tags:
        return ()
    if isinstance(tags, str):
        tags = [tags]
    out: list[str] = []
    for tag in tags:
        if not isinstance(tag, str):
            raise ValidationError("tags must be strings")
        clean = tag.strip().lower()
        if (
            not clean
            or len(clean) > MAX_TAG_CHARS
            or any(c.isspace() for c in clean)
            or any(ord(c) < 32 for c in clean)
        ):
            raise ValidationError(
                f"tag {tag!r} is invalid: tags are 1-{MAX_TAG_CHARS} characters without spaces"
            )
        if clean not in out:
            out.append(clean)
    if len(out) > MAX_TAGS:
        raise ValidationError(f"at most {MAX_TAGS} tags per memory")
    return tuple(out)


def validate_states(states: Sequence[str]) -> tuple[str, ...]:
    """States a caller names (the graph's filter), each one a memory can be in (``STATES``)."""
    unknown = sorted(set(states) - set(STATES))
    if unknown:
        raise ValidationError(f"unknown state(s) {unknown}; states are {', '.join(STATES)}")
    return tuple(states)


def choice(value: str, allowed: Sequence[str], name: str) -> str:
    if value not in allowed:
        raise ValidationError(f"{name} must be one of {', '.join(allowed)}, not {value!r}")
    return value
