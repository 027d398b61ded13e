"""Re-capture tests/fixtures/claude_payloads/ from the pinned Claude Code CLI.

Run after moving the pin in tests/claude/package.json::

    PYTHONPATH=$PWD python tests/e2e/capture_payloads.py

It plays, in one sandbox (tests/e2e/harness.py), a session that fails a test run, reads, edits,
passes, starts a background job, calls the MCP server (once with an error); then ``/compact``
on it with ``--continue``; then ``claude mcp list``. Each hook input the CLI sent is copied as
it arrived (the harness's payload tee), one file per kind, with the session transcript.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from e2e.harness import CLAUDE, REPO, Sandbox, WarmServer, make_sandbox  # noqa: E402
from e2e.messages_standin import Turn  # noqa: E402

OUT = REPO / "tests" / "fixtures" / "claude_payloads"
TRIM_CHARS = 300
README = """\
# Real Claude Code hook inputs

Captured from Claude Code {version} by `tests/e2e/capture_payloads.py` (re-run it after moving
the pin in tests/claude/package.json): each `<event>[-<variant>].json` is one hook's stdin,
exactly as the CLI sent it in a sandbox (paths are the sandbox's). `transcript-fix-loop.jsonl`
is that session's transcript after `/compact`; long strings of entries other than user and
assistant messages (Claude Code's system prompt, skill listings) are shortened.
"""
Pick = Callable[[dict[str, Any]], bool]


def tool(name: str, *, background: bool = False) -> Pick:
    def pick(p: dict[str, Any]) -> bool:
        bg = bool((p.get("tool_input") or {}).get("run_in_background"))
        return p.get("tool_name") == name and bg == background

    return pick


def source(value: str) -> Pick:
    return lambda p: p.get("source") == value


def prompt(notification: bool) -> Pick:
    return lambda p: str(p.get("prompt", "")).startswith("<task-notification>") == notification


WANTED: list[tuple[str, str, Pick]] = [
    ("sessionstart-startup", "SessionStart", source("startup")),
    ("sessionstart-resume", "SessionStart", source("resume")),
    ("sessionstart-compact", "SessionStart", source("compact")),
    ("userpromptsubmit", "UserPromptSubmit", prompt(False)),
    ("userpromptsubmit-task-notification", "UserPromptSubmit", prompt(True)),
    ("posttoolusefailure-bash", "PostToolUseFailure", tool("Bash")),
    ("posttooluse-read", "PostToolUse", tool("Read")),
    ("posttooluse-edit", "PostToolUse", tool("Edit")),
    ("posttooluse-bash", "PostToolUse", tool("Bash")),
    ("posttooluse-bash-background", "PostToolUse", tool("Bash", background=True)),
    ("posttooluse-mcp", "PostToolUse", tool("mcp__memory__remember")),
    ("posttoolusefailure-mcp", "PostToolUseFailure", tool("mcp__memory__forget")),
    ("precompact-manual", "PreCompact", lambda p: True),
    ("sessionend", "SessionEnd", lambda p: True),
]


def play(box: Sandbox) -> str:
    """The sessions; returns the first session's transcript path."""
    box.cli("remember", "The calc project rounds money with decimal.Decimal, never float")
    source_file = str(box.project / "calc" / "__init__.py")
    script = [
        Turn.call("Bash", command="pytest -x tests/test_calc.py", description="Run the tests"),
        Turn.call("Read", file_path=source_file),
        Turn.call("Edit", file_path=source_file, old_string="a - b", new_string="a + b"),
        Turn.call("Bash", command="pytest -q tests/test_calc.py", description="Run them again"),
        Turn.call(
            "Bash",
            command="sleep 1; echo built",
            description="Build in the background",
            run_in_background=True,
        ),
        Turn.call("mcp__memory__remember", content="calc.add adds; it subtracted before"),
        Turn.call("mcp__memory__forget", id=999),
        Turn.say("Fixed; the build runs in the background."),
        Turn.say("The build finished."),
    ]
    run = box.claude("Fix the failing calc tests, then build in the background.", script)
    assert run.returncode == 0, run.stderr
    box.settle()
    first = box.payloads("SessionStart")[0]["transcript_path"]
    run = box.claude(
        "/compact", [Turn.say("<summary>Fixed calc.add.</summary>")], args=["--continue"]
    )
    assert run.returncode == 0, run.stderr
    box.settle()
    return str(first)


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="claude-payloads-") as tmp:
        warm = WarmServer(Path(tmp) / "warm").start()
        box = make_sandbox(Path(tmp) / "box", warm)
        try:
            transcript = play(box)
            shutil.copyfile(transcript, Path(tmp) / "transcript.jsonl")
            before = len(box.payloads())
            box.claude_command("mcp", "list")
            box.settle()
            listing_end = box.payloads()[before:]
            payloads = box.payloads()
        finally:
            box.close()
            warm.stop()
        OUT.mkdir(parents=True, exist_ok=True)
        for name, event, pick in WANTED:
            found = [p for p in payloads if p.get("hook_event_name") == event and pick(p)]
            if not found:
                print(f"not seen: {name}", file=sys.stderr)
                continue
            write(name, found[0])
        for p in listing_end:
            if p.get("hook_event_name") == "SessionEnd":
                write("sessionend-mcp-list", p)
        trim_transcript(Path(tmp) / "transcript.jsonl", OUT / "transcript-fix-loop.jsonl")
        version = subprocess.run([str(CLAUDE), "--version"], capture_output=True, text=True)
        (OUT / "README.md").write_text(README.format(version=version.stdout.strip()))
    print(f"wrote {OUT}")
    return 0


def trim_transcript(source: Path, target: Path) -> None:
    """Copy a transcript, shortening the long strings of entries that are not the conversation
    (``prompt_snapshot`` and ``api-request-*`` entries carry Claude Code's whole system prompt:
    hundreds of kilobytes of its text, not ours to keep). Keys and entry types stay."""
    lines = []
    for line in source.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        if entry.get("type") not in ("user", "assistant"):
            entry = _shorten(entry)
        lines.append(json.dumps(entry, ensure_ascii=False))
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _shorten(value: Any) -> Any:
    if isinstance(value, str) and len(value) > TRIM_CHARS:
        return value[:TRIM_CHARS] + "…[trimmed by capture_payloads.py]"
    if isinstance(value, list):
        return [_shorten(v) for v in value]
    if isinstance(value, dict):
        return {k: _shorten(v) for k, v in value.items()}
    return value


def write(name: str, payload: dict[str, Any]) -> None:
    text = json.dumps(payload, indent=2, ensure_ascii=False) + "\n"
    (OUT / f"{name}.json").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
