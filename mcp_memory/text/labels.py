"""Name labels: a memory whose text opens with "Caroline: ..." is about Caroline.

The store records each memory's label when it is written; recall lifts a memory whose label
the query names (see :mod:`mcp_memory.service.query`).
"""

from __future__ import annotations

import re

from mcp_memory.text.keywords import STOPWORDS

_LABEL = re.compile(r"^\s*([A-Z][\w.'-]*(?: [A-Z][\w.'-]*){0,2}):\s")


def label_of(content: str) -> str | None:
    """The name a memory's text opens with ("Caroline: I went..." -> "caroline"): one to three
    capitalised words before a colon. Lower-cased first word, or None."""
    match = _LABEL.match(content)
    if match is None:
        return None
    first = match.group(1).split()[0].rstrip(".").lower()
    return first if len(first) > 1 and first not in STOPWORDS else None
