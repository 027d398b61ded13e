"""Checks on a merged answer before it may replace the memories it was made from.

:func:`check_merge` rejects (raises :class:`MergeRejected`) an answer that is empty, a refusal,
longer than its inputs, or that lost a *hard fact*: a number, a path, an identifier... that a
paraphrase must never change (:mod:`mcp_memory.text.facts` says what counts and how facts are
matched). Inputs are redacted first, so a secret the model never saw is not required.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from mcp_memory.errors import MergeRejected
from mcp_memory.redaction.redact import redact
from mcp_memory.text.facts import missing_facts, normalized

__all__ = ["check_merge"]


_REFUSAL_START = re.compile(
    r"i(?: (?:can['’]?t|cannot|can not|won['’]t|will not|am (?:unable|not able|sorry|afraid)"
    r"|apologi[sz]e)|['’]m (?:sorry|unable|not able|afraid))|sorry\b|unable to|as an ai\b"
)
_REFUSAL_ANYWHERE = re.compile(r"\bas an ai\b|\bas a (?:large )?language model\b")


def _refusal(memory: str, inputs: str) -> str | None:
    text = normalized(memory).lstrip("\"'*_ ")
    m = _REFUSAL_START.match(text) or _REFUSAL_ANYWHERE.search(text)
    if m and m.group() not in inputs:  # "Unable to connect to ..." may be a memory itself
        return m.group()
    return None


def check_merge(inputs: Sequence[str], outputs: Sequence[str]) -> None:
    """Raise :class:`MergeRejected` unless ``outputs`` is an acceptable merge of ``inputs``.

    Rejected, in this order: no output or an empty output text; a refusal (an output that opens
    with "I can't", "I'm sorry", "unable to", "as an AI"... unless an input says the same); an
    output longer than the inputs (whitespace-collapsed, joined by one space each); a hard fact
    of the inputs missing from the outputs (``MergeRejected.dropped`` lists them).
    """
    if not outputs:
        raise MergeRejected("merge rejected: the answer holds no memories")
    if any(not text.strip() for text in outputs):
        raise MergeRejected("merge rejected: the answer holds an empty memory")
    redacted = [redact(text).text for text in inputs]
    joined_in = " ".join(normalized(text) for text in inputs)
    joined_out = " ".join(normalized(text) for text in outputs)
    for memory in outputs:
        phrase = _refusal(memory, joined_in)
        if phrase:
            raise MergeRejected(f"merge rejected: the answer is a refusal ({phrase!r}...)")
    # A kept redaction marker may be longer than the secret it replaced.
    limit = max(len(joined_in), len(" ".join(normalized(text) for text in redacted)))
    if len(joined_out) > limit:
        raise MergeRejected(
            f"merge rejected: the answer ({len(joined_out)} chars) is longer than its inputs "
            f"({limit} chars)"
        )
    missing = missing_facts(redacted, outputs)
    if missing:
        raise MergeRejected(
            f"merge rejected: the answer dropped {len(missing)} fact(s): "
            + ", ".join(repr(f) for f in missing),
            dropped=tuple(missing),
        )
