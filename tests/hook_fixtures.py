"""Realistic Claude Code hook inputs and a realistic session transcript (JSONL), for the hook
tests and bench/hooks.py and bench/sessions.py. Shapes are those of the real payloads captured
from Claude Code 2.1.x in tests/fixtures/claude_payloads/ (test_hooks pins that every builder
here has the keys of its captured counterpart): a Bash ``tool_response`` has ``stdout``,
``stderr``, ``interrupted``, ``isImage`` and ``noOutputExpected`` and never an exit code; a
non-zero exit arrives as ``PostToolUseFailure`` with ``error: "Exit code N\n<output>"``; an MCP
tool's ``tool_response`` is a JSON string; ``PreCompact.custom_instructions`` is null and
``SessionEnd.reason`` is ``"other"`` under ``-p``. The transcript follows the format Claude Code
writes to ``~/.claude/projects/<slug>/<session>.jsonl``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RUNNER = REPO / "hooks" / "run.py"
SESSION = "3f1c9a52-8d7e-4b1a-9c2e-5a6b7c8d9e0f"
AWS_KEY = "AKIAIOSFODNN7EXAMPLE"
GITHUB_TOKEN = "ghp_" + "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7c"
PRIVATE = "my home address is 12 Elm Street"


PROMPT_ID = "c215de88-a900-43ec-a830-275ac5b8300a"


def base(event: str, cwd: Path, transcript: Path | None = None) -> dict[str, Any]:
    """The envelope: SessionStart, PreCompact and SessionEnd carry no ``permission_mode``."""
    envelope: dict[str, Any] = {
        "session_id": SESSION,
        "transcript_path": str(transcript or cwd / "transcript.jsonl"),
        "cwd": str(cwd),
    }
    if event in ("UserPromptSubmit", "PostToolUse", "PostToolUseFailure"):
        envelope["prompt_id"] = PROMPT_ID
        envelope["permission_mode"] = "default"
    return {**envelope, "hook_event_name": event}


def session_start(cwd: Path, source: str = "startup") -> dict[str, Any]:
    """``startup`` carries only ``source``; ``compact`` adds ``prompt_id`` and ``model``."""
    payload = {**base("SessionStart", cwd), "source": source}
    if source == "compact":
        payload = {**payload, "prompt_id": PROMPT_ID, "model": "claude-sonnet-4-5"}
    return payload


def prompt(cwd: Path, text: str) -> dict[str, Any]:
    return {**base("UserPromptSubmit", cwd), "prompt": text}


def bash_failure(cwd: Path, command: str, error: str, code: int = 1) -> dict[str, Any]:
    """A non-zero exit: ``error`` is ``Exit code N`` and the output (added when missing)."""
    text = error if error.startswith("Exit code ") else f"Exit code {code}\n{error}"
    return {
        **base("PostToolUseFailure", cwd),
        "tool_name": "Bash",
        "tool_input": {"command": command, "description": "Run the tests"},
        "tool_use_id": "toolu_01FailXyZ",
        "error": text,
        "is_interrupt": False,
        "duration_ms": 745,
    }


def bash_success(cwd: Path, command: str, stdout: str = "") -> dict[str, Any]:
    """Exit 0 (or a pipeline whose last stage exited 0): no exit code anywhere."""
    return {
        **base("PostToolUse", cwd),
        "tool_name": "Bash",
        "tool_input": {"command": command, "description": "Run it"},
        "tool_response": {
            "stdout": stdout,
            "stderr": "",
            "interrupted": False,
            "isImage": False,
            "noOutputExpected": False,
        },
        "tool_use_id": "toolu_01OkAbC",
        "duration_ms": 861,
    }


def mcp_call(cwd: Path, tool: str, tool_input: dict[str, Any], result: Any) -> dict[str, Any]:
    """An MCP tool call: its ``tool_response`` is the result as a JSON string."""
    return {
        **base("PostToolUse", cwd),
        "tool_name": tool,
        "tool_input": tool_input,
        "tool_response": json.dumps(result, separators=(",", ":")),
        "tool_use_id": "toolu_01McpDef",
        "duration_ms": 262,
        "mcp_server": {"name": tool.split("__")[1], "source": "project"},
    }


def edit(cwd: Path, path: str, old: str = "timeout=5", new: str = "timeout=30") -> dict[str, Any]:
    file_path = str(cwd / path)
    return {
        **base("PostToolUse", cwd),
        "tool_name": "Edit",
        "tool_input": {
            "file_path": file_path,
            "old_string": old,
            "new_string": new,
            "replace_all": False,
        },
        "tool_response": {
            "filePath": file_path,
            "oldString": old,
            "newString": new,
            "originalFile": None,
            "structuredPatch": [],
            "userModified": False,
            "replaceAll": False,
        },
        "tool_use_id": "toolu_01EditQrs",
        "duration_ms": 7,
    }


def write(cwd: Path, path: str, content: str) -> dict[str, Any]:
    file_path = str(cwd / path)
    return {
        **base("PostToolUse", cwd),
        "tool_name": "Write",
        "tool_input": {"file_path": file_path, "content": content},
        "tool_response": {"type": "create", "filePath": file_path, "content": content},
        "tool_use_id": "toolu_01WriteTuv",
        "duration_ms": 9,
    }


def read(cwd: Path, path: str) -> dict[str, Any]:
    file_path = str(cwd / path)
    return {
        **base("PostToolUse", cwd),
        "tool_name": "Read",
        "tool_input": {"file_path": file_path},
        "tool_response": {
            "type": "text",
            "file": {
                "filePath": file_path,
                "content": "x = 1\n",
                "numLines": 1,
                "startLine": 1,
                "totalLines": 1,
            },
        },
        "tool_use_id": "toolu_01ReadWxy",
        "duration_ms": 14,
    }


def pre_compact(cwd: Path, transcript: Path, trigger: str = "manual") -> dict[str, Any]:
    return {
        **base("PreCompact", cwd, transcript),
        "prompt_id": PROMPT_ID,
        "trigger": trigger,
        "custom_instructions": None,
    }


def session_end(cwd: Path, transcript: Path, reason: str = "other") -> dict[str, Any]:
    return {**base("SessionEnd", cwd, transcript), "prompt_id": PROMPT_ID, "reason": reason}


PYTEST_ERROR = (
    "Exit code 1\n============================= test session starts ==============================\n"
    "collected 12 items\n\ntests/test_client.py ....F.......\n\n"
    "FAILED tests/test_client.py::test_retry_on_timeout - httpx.ReadTimeout: timed out\n"
    "========================= 1 failed, 11 passed in 2.31s =========================="
)


def transcript_entries(cwd: Path) -> list[dict[str, Any]]:
    """A session: a task, a failing test run, an edit, a passing run, routine commands, a
    sub-agent, slash-command plumbing, a compaction preamble, a secret and a private block."""
    n = 0
    parent: str | None = None

    def entry(kind: str, content: Any, **extra: Any) -> dict[str, Any]:
        nonlocal n, parent
        n += 1
        uuid = f"00000000-0000-4000-8000-{n:012d}"
        line = {
            "parentUuid": parent,
            "isSidechain": False,
            "userType": "external",
            "cwd": str(cwd),
            "sessionId": SESSION,
            "version": "2.0.14",
            "gitBranch": "fix/retry-timeouts",
            "type": kind,
            "uuid": uuid,
            "timestamp": f"2026-11-21T09:{n:02d}:00.000Z",
            "message": {"role": kind, "content": content},
        }
        if kind == "assistant":
            line["message"] = {
                "id": f"msg_{n:04d}",
                "type": "message",
                "role": "assistant",
                "model": "claude-sonnet-4-5",
                "content": content,
                "stop_reason": "tool_use",
                "usage": {"input_tokens": 1200, "output_tokens": 80},
            }
            line["requestId"] = f"req_{n:04d}"
        line.update(extra)
        parent = uuid
        return line

    def tool(name: str, tid: str, **tool_input: Any) -> dict[str, Any]:
        return entry(
            "assistant", [{"type": "tool_use", "id": tid, "name": name, "input": tool_input}]
        )

    def result(tid: str, text: str, is_error: bool = False, **extra: Any) -> dict[str, Any]:
        block: dict[str, Any] = {"tool_use_id": tid, "type": "tool_result", "content": text}
        if is_error:
            block["is_error"] = True
        return entry("user", [block], **extra)

    return [
        entry(
            "user",
            "<command-name>/clear</command-name>\n<command-message>clear</command-message>"
            "\n<command-args></command-args>",
        ),
        entry(
            "user",
            "Caveat: The messages below were generated by the user while running local "
            "commands. DO NOT respond to these messages.",
            isMeta=True,
        ),
        entry(
            "user",
            "The HTTP client in src/client.py should retry on timeouts; "
            "tests/test_client.py::test_retry_on_timeout fails.",
        ),
        entry("assistant", [{"type": "text", "text": "Let me look at the client first."}]),
        tool("Read", "toolu_01", file_path=str(cwd / "src/client.py")),
        result(
            "toolu_01",
            "     1\timport httpx\n     2\t\n     3\tTIMEOUT = 5\n",
            toolUseResult={"type": "text"},
        ),
        tool("Bash", "toolu_02", command="ls -la src", description="List sources"),
        result("toolu_02", "client.py\n__init__.py"),
        tool(
            "Bash",
            "toolu_03",
            command="python -m pytest -q tests/test_client.py",
            description="Run the client tests",
        ),
        result("toolu_03", PYTEST_ERROR, is_error=True),
        tool(
            "Edit",
            "toolu_04",
            file_path=str(cwd / "src/client.py"),
            old_string="TIMEOUT = 5",
            new_string="TIMEOUT = 30\nRETRIES = 3",
        ),
        result("toolu_04", "The file src/client.py has been updated."),
        tool(
            "Write",
            "toolu_05",
            file_path=str(cwd / "docs/adr/0007-retry-policy.md"),
            content="# 7. Retry idempotent requests three times\n\nWe retry GETs on timeouts.",
        ),
        result("toolu_05", "File created successfully"),
        tool(
            "Bash",
            "toolu_06",
            command="python -m pytest -q tests/test_client.py",
            description="Run the client tests",
        ),
        result("toolu_06", "12 passed in 2.02s"),
        tool("Bash", "toolu_07", command="git status"),
        result("toolu_07", "On branch fix/retry-timeouts"),
        entry("user", [{"type": "text", "text": "Subagent work"}], isSidechain=True),
        entry(
            "assistant",
            [
                {
                    "type": "tool_use",
                    "id": "toolu_side",
                    "name": "Edit",
                    "input": {"file_path": str(cwd / "src/sidechain.py")},
                }
            ],
            isSidechain=True,
        ),
        entry(
            "user",
            f"Push it with the token {GITHUB_TOKEN} and note that <private>{PRIVATE}"
            "</private> should never be stored.",
        ),
        tool("Bash", "toolu_08", command="git push origin fix/retry-timeouts"),
        result("toolu_08", "remote: Permission denied", is_error=True),
        entry(
            "user",
            "This session is being continued from a previous conversation that ran "
            "out of context. The conversation is summarized below: ...",
            isCompactSummary=True,
        ),
        {"type": "summary", "summary": "Retry HTTP client on timeouts", "leafUuid": parent},
        {"type": "system", "subtype": "stop_hook_summary", "hookCount": 1, "content": "done"},
    ]


def write_transcript(path: Path, cwd: Path, *, partial_tail: bool = True) -> Path:
    lines = [json.dumps(e) for e in transcript_entries(cwd)]
    text = "\n".join(lines) + "\n"
    if partial_tail:  # Claude Code may be writing the next line while we read
        text += '{"type": "user", "message": {"role": "us'
    path.write_text(text, encoding="utf-8")
    return path


# -- running hooks ---------------------------------------------------------------------------


def hook_env(home: Path, port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCP_MEMORY_")}
    env.update(
        {
            "MCP_MEMORY_HOME": str(home),
            "MCP_MEMORY_MODEL": "minilm",
            "MCP_MEMORY_EMBED_PORT": str(port),
            "MCP_MEMORY_THREADS": "1",
            # SessionStart launches the daemon for the relay; hook tests run no relay
            "MCP_MEMORY_DAEMON": "false",
            **extra,
        }
    )
    return env


def run_hook(
    event: str,
    payload: Mapping[str, Any] | str | bytes,
    env: Mapping[str, str],
    timeout: float = 30,
) -> tuple[subprocess.CompletedProcess[bytes], float]:
    """The hook as Claude Code runs it: a subprocess with the event JSON on stdin."""
    if isinstance(payload, Mapping):
        data = json.dumps(payload).encode()
    else:
        data = payload.encode() if isinstance(payload, str) else payload
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(RUNNER), event],
        input=data,
        env=dict(env),
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    return done, time.perf_counter() - start


def parse_output(event: str, stdout: bytes) -> str | None:
    """The additionalContext, after checking the documented output shape; None when empty."""
    text = stdout.decode("utf-8")
    if not text.strip():
        return None
    data = json.loads(text)
    assert set(data) == {"hookSpecificOutput"}, data
    specific = data["hookSpecificOutput"]
    assert set(specific) == {"hookEventName", "additionalContext"}, specific
    assert specific["hookEventName"] == event
    assert isinstance(specific["additionalContext"], str) and specific["additionalContext"]
    return str(specific["additionalContext"])


def wait_for(predicate: Any, timeout: float = 60.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.1)


def settle(run_dir: Path, timeout: float = 90.0) -> None:
    """Wait until the spool is drained and no worker runs (a just-spawned worker may not hold
    its lock yet, so jobs left with no worker for 2 s count as settled: a blocked database)."""
    from mcp_memory.capture import spool

    deadline = time.monotonic() + timeout
    idle_since: float | None = None
    while time.monotonic() < deadline:
        if spool.worker_running(run_dir):
            idle_since = None
        elif not spool.pending_jobs(run_dir):
            time.sleep(0.3)  # a worker spawned at the very end would show up by now
            if not spool.worker_running(run_dir):
                return
        else:
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since > 2.0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"hook workers in {run_dir} did not settle")
