"""Which prompts are the user's: Claude Code also submits text it generated itself.

A background job's end arrives as a ``UserPromptSubmit`` prompt that is a
``<task-notification>`` block; slash commands leave ``<command-name>`` plumbing, their output
(``<local-command-stdout>``) and a caveat in the transcript; system reminders and compaction
preambles are in it too. None of that is a request: the prompt hook searches no memory for it
and session summaries do not count it (issue 13). A prompt that starts with ``#remember`` is a
note for memory (stored as such by the hook), not a request about the project either.

Standard library only, no compiled pattern at import: the prompt hook imports this on every
prompt.
"""

from __future__ import annotations

import re

SYSTEM_PREFIXES = (
    "<task-notification>",
    "<command-name>",
    "<command-message>",
    "<command-args>",
    "<local-command-stdout>",
    "<local-command-stderr>",
    "<local-command-caveat>",
    "<bash-input>",
    "<bash-stdout>",
    "<bash-stderr>",
    "<system-reminder>",
    "<user-memory-input>",
    "Caveat: The messages below",
    "This session is being continued from a previous conversation",
    "[Request interrupted",
)


def is_system_generated(prompt: str) -> bool:
    """True for text Claude Code generated (a task notification, slash-command plumbing, a
    caveat, a system reminder, a compaction preamble), not typed by the user."""
    return prompt.lstrip().startswith(SYSTEM_PREFIXES)


def is_note(prompt: str) -> bool:
    """True when the whole prompt is a ``#remember`` note."""
    return bool(re.match(r"(?i)#remember\b", prompt.lstrip()))
