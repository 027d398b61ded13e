"""The form of a query: a question, a task description, or a spelling (identifier or error text).

Relevance means something different for each form. A question asks for a fact or a reason, and
when no memory states it nothing is relevant, however many words the best hit shares with it. A
task ("add a retry to the export job") is work a memory only helps with: the memory that helps
rarely repeats the task's words and sits at a low cosine, so a cut that keeps such answers must
be lower. A query that spells an identifier or pastes an error is judged by that spelling.
:mod:`mcp_memory.service.relevance` calibrates its decision per form.

The rule uses the query's shape alone (it must work on text never seen): a spelling wins (an
error pasted with "why does ... fail?" is still answered by the memory holding that error); then
a question mark, or an opening interrogative or auxiliary verb ("how", "which", "is", "can"), or
an opening "I/we" + modal that asks ("do we", "should I") makes a question; everything else
(imperatives, noun phrases, statements) is a task. Standard library only: the prompt hook's reader
uses it too.
"""

from __future__ import annotations

import re
from typing import Literal

Form = Literal["question", "task", "spelled"]
FORMS: tuple[Form, ...] = ("question", "task", "spelled")

# Words that open a question in English. Auxiliaries count only as the first word ("is the
# cache shared?" asks; "cache is shared" states). "Tell me"/"explain" open a request for
# knowledge and are questions in all but punctuation.
_OPENERS = frozenset(
    [
        "how",
        "what",
        "why",
        "which",
        "where",
        "when",
        "who",
        "whom",
        "whose",
        "whether",
        "is",
        "are",
        "was",
        "were",
        "am",
        "do",
        "does",
        "did",
        "can",
        "could",
        "should",
        "would",
        "will",
        "shall",
        "may",
        "might",
        "must",
        "has",
        "have",
        "had",
        "isn't",
        "aren't",
        "wasn't",
        "weren't",
        "don't",
        "doesn't",
        "didn't",
        "can't",
        "couldn't",
        "shouldn't",
        "wouldn't",
        "won't",
        "hasn't",
        "haven't",
        "tell",
        "explain",
        "describe",
        "remind",
    ]
)
_FIRST_WORD = re.compile(r"[A-Za-z']+")


def query_form(query: str, *, spelled: bool) -> Form:
    """The form of ``query``; ``spelled`` is whether it names something by its exact spelling
    (:func:`mcp_memory.service.query.has_identifier`), which the caller has already computed."""
    if spelled:
        return "spelled"
    text = query.strip()
    if "?" in text:
        return "question"
    first = _FIRST_WORD.match(text.lstrip("\"'([ ").lower())
    if first is not None and first.group(0) in _OPENERS:
        return "question"
    return "task"
