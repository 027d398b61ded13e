"""Claude Code hook entry point: ``memcycle hook EVENT`` (or, from a checkout,
``python hooks/run.py EVENT``).

``memcycle install`` writes the first command into ``settings.json`` for each event it handles
(``SessionStart``, ``UserPromptSubmit``, ``PostToolUse``, ``PostToolUseFailure``, ``PreCompact``,
``SessionEnd``). The event's JSON arrives on stdin; the additional context, if any, leaves on
stdout as one JSON object. Whatever happens, the exit status is 0: a memory hook must never
block or break a Claude Code session. All the logic is in :mod:`mcp_memory.hooks.events`.
"""

from __future__ import annotations

import io
import sys


def main(event: str | None = None) -> int:
    """Run the hook for ``event`` (default: the first command-line argument)."""
    if event is None:
        event = sys.argv[1] if len(sys.argv) > 1 else ""
    try:
        from mcp_memory.hooks.events import run

        # UTF-8 whatever the locale: prompts and file names are not ASCII.
        stdin = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace")
        stdout = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", errors="replace")
        run(event, stdin, stdout)
        stdout.flush()
    except BaseException:  # not even an import error may fail the session
        pass
    return 0


def exit_now() -> None:
    """Exit 0 without the interpreter's teardown (freeing every module costs ~5-10 ms of a
    hook's budget); everything the hook wrote is flushed and closed by then."""
    import contextlib
    import os

    with contextlib.suppress(BaseException):
        sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
    exit_now()
