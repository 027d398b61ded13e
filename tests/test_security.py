"""Security review (issue #8, part 7).

Pins: no pickle/marshal/eval/exec/yaml.load anywhere in mcp_memory, embed_server or hooks (and
the scanner finds them when planted); the data directory is created 0700 and the database files
0600, and ``doctor`` flags looser modes with the chmod that fixes them; ``serve --http`` refuses
a foreign Host and a web page's Origin and will not bind beyond loopback unless told; ``doctor``
flags a program on the warm-server port that accepts forged headers, and passes our server;
``doctor`` confirms redaction works. The warm server's own Host/Origin checks are pinned in
test_warm_server.py; redaction before storage and before LLM calls in test_redact.py,
test_llm.py and test_hooks.py.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import stat
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from support import free_port
from warm_helpers import serving, serving_handler

from mcp_memory.cli.doctor import run_checks
from mcp_memory.cli.security import unsafe_calls
from mcp_memory.config import Settings, load_settings
from mcp_memory.embedding.local import LocalEmbedder
from mcp_memory.server.http import TOKEN_FILE

CLI = [sys.executable, "-m", "mcp_memory.cli"]


def env_for(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCP_MEMORY_")}
    env.update(
        MCP_MEMORY_HOME=str(settings.home),
        MCP_MEMORY_MODEL="minilm",
        MCP_MEMORY_EMBED_PORT=str(settings.embed_port),
    )
    return env


def checks(settings: Settings) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in run_checks(settings)}


def test_no_unsafe_deserialisation_or_dynamic_execution_in_our_code(tmp_path: Path) -> None:
    assert unsafe_calls() == []
    planted = tmp_path / "mcp_memory"
    planted.mkdir()
    (planted / "bad.py").write_text(
        "import pickle\nimport yaml\nx = pickle.loads(b'')\ny = eval('1')\nz = yaml.load('a')\n"
        "from marshal import loads\nexec('pass')\n"
    )
    found = unsafe_calls(tmp_path)
    assert sorted(f.split(" ", 1)[1] for f in found) == sorted(
        [
            "import pickle",
            "pickle.loads()",
            "eval()",
            "yaml.load()",
            "from marshal import",
            "exec()",
        ]
    )


def test_data_is_private_and_doctor_flags_and_fixes_loose_modes(settings: Settings) -> None:
    done = subprocess.run(
        [*CLI, "remember", "a private note", "--json"],
        env=env_for(settings),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(settings.home.stat().st_mode) == 0o700
    for path in settings.home.glob("memory.db*"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert checks(settings)["permissions"]["ok"]
    settings.home.chmod(0o755)
    settings.db.chmod(0o644)
    from mcp_memory.cli.security import private_paths

    assert len(private_paths(settings)) == 2
    bad = checks(settings)["permissions"]  # its database check re-opened (and re-closed) the db
    assert stat.S_IMODE(settings.db.stat().st_mode) == 0o600  # opening makes the files private
    assert not bad["ok"] and "755" in bad["detail"] and "chmod 700" in bad["fix"]
    subprocess.run(bad["fix"], shell=True, check=True)
    assert checks(settings)["permissions"]["ok"]


def test_doctor_confirms_redaction_and_clean_code(settings: Settings) -> None:
    found = checks(settings)
    assert found["redaction"]["ok"] and "aws_access_key_id" in found["redaction"]["detail"]
    assert found["code"]["ok"]


def test_doctor_flags_a_program_on_the_port_that_accepts_forged_headers(
    tmp_path: Path, minilm: LocalEmbedder
) -> None:
    class Anything(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: Any) -> None:
            pass

    with serving_handler(Anything) as port:
        settings = load_settings(
            {"MCP_MEMORY_HOME": str(tmp_path / "h"), "MCP_MEMORY_EMBED_PORT": str(port)}
        )
        network = checks(settings)["network"]
        assert not network["ok"] and "accepts a foreign Host" in network["detail"]
        assert network["level"] == "fail"  # not a warning: a security problem fails doctor
    with serving(minilm.engine(), run_dir=tmp_path / "h" / "run") as server:
        settings = load_settings(
            {"MCP_MEMORY_HOME": str(tmp_path / "h"), "MCP_MEMORY_EMBED_PORT": str(server.port)}
        )
        network = checks(settings)["network"]
        assert network["ok"] and "refuses foreign Host and Origin" in network["detail"]


def _post(port: int, headers: dict[str, str]) -> int:
    body = json.dumps(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "t", "version": "0"},
            },
        }
    )
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.putrequest("POST", "/mcp", skip_host=True, skip_accept_encoding=True)
        for name, value in {
            "Host": f"127.0.0.1:{port}",
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
            **headers,
        }.items():
            conn.putheader(name, value)
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body.encode())
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def test_serve_http_refuses_foreign_host_and_origin_and_remote_binding(settings: Settings) -> None:
    refused = subprocess.run(
        [*CLI, "serve", "--http", "--host", "0.0.0.0", "--port", "1"],
        env=env_for(settings),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 1 and "not a loopback address" in refused.stderr
    port = free_port()
    proc = subprocess.Popen(
        [*CLI, "serve", "--http", "--port", str(port)],
        env=env_for(settings),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None, (
                    "serve --http did not start"
                )
                time.sleep(0.1)
        token = (settings.run_dir / TOKEN_FILE).read_text().strip()
        auth = {"Authorization": f"Bearer {token}"}
        assert _post(port, {"Host": "evil.example", **auth}) in (403, 421)
        assert _post(port, {"Host": "evil.example:80", **auth}) in (403, 421)
        assert _post(port, {"Origin": "https://evil.example", **auth}) == 403
        assert _post(port, {"Origin": f"http://127.0.0.1:{port}", **auth}) == 200
        assert _post(port, auth) == 200
        assert _post(port, {}) == 401  # no bearer token (tests/test_http_endpoint.py)
    finally:
        proc.terminate()
        proc.wait(15)
        assert proc.stderr is not None
        proc.stderr.close()
    assert proc.returncode is not None


# -- issue 14: secrets in session files, hook acknowledgements, private modes, atomic writes ------

SECRET_DATA = Path(__file__).parent / "data" / "secrets"


def _corpus() -> list[dict[str, Any]]:
    lines = (SECRET_DATA / "corpus.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _survivors(case: dict[str, Any], text: str) -> list[str]:
    return [s for s in [case["secret"], *case.get("fragments", ())] if s in text]


def test_session_summary_redacts_each_piece_before_flattening_and_truncating() -> None:
    """Issue 14 item 1: a request, a command and an error tail are redacted whole, then cut to
    their summary lengths, so no part of a key or credentials file is kept (a cut value ending
    in "…" once passed as a placeholder)."""
    from mcp_memory.capture import transcript
    from mcp_memory.redaction.redact import redact

    leaked = {}
    for case in _corpus():
        text = case["text"]
        entries = [
            {"type": "user", "message": {"role": "user", "content": "please look: " + text}},
            {
                "type": "assistant",
                "message": {
                    "role": "assistant",
                    "content": [
                        {"type": "tool_use", "id": "t1", "name": "Bash", "input": {"command": text}}
                    ],
                },
            },
            {
                "type": "user",
                "message": {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "t1",
                            "is_error": True,
                            "content": "Error: exit 1\n" + text,
                        },
                    ],
                },
            },
        ]
        summary = transcript.summarize(transcript.parse(json.dumps(e) for e in entries))
        found = _survivors(case, summary) + _survivors(case, redact(summary).text)
        if found:
            leaked[case["id"]] = found
    assert leaked == {}


def _hook_env(home: Path) -> dict[str, str]:
    return {
        "MCP_MEMORY_HOME": str(home),
        "MCP_MEMORY_MODEL": "minilm",
        "MCP_MEMORY_EMBED_PORT": str(free_port()),
    }


def _run_hook(event: str, payload: dict[str, Any], home: Path) -> str:
    import io

    from mcp_memory.hooks.events import run

    out = io.StringIO()
    assert run(event, io.StringIO(json.dumps(payload)), out, _hook_env(home)) == 0
    return out.getvalue()


def _all_bytes(root: Path) -> str:
    return "\n".join(
        p.read_bytes().decode("utf-8", "replace") for p in root.rglob("*") if p.is_file()
    )


def test_session_state_holds_no_secret_of_a_failed_command(tmp_path: Path) -> None:
    """Issue 14 item 2: the failed command and its error tail are redacted before
    ``run/sessions/<id>.json`` is written (it lives until SessionEnd, or 7 days)."""
    home, cwd = tmp_path / "home", tmp_path / "project"
    cwd.mkdir()
    cases = [c for c in _corpus() if len(c["text"]) < 1500][:40]
    for i, case in enumerate(cases):
        payload = {
            "session_id": f"s{i}",
            "cwd": str(cwd),
            "hook_event_name": "PostToolUseFailure",
            "tool_name": "Bash",
            "tool_input": {"command": case["text"].splitlines()[0]},
            "error": "Exit code 1\n" + case["text"],
            "is_interrupt": False,
        }
        _run_hook("PostToolUseFailure", payload, home)
    states = list((home / "run" / "sessions").glob("*.json"))
    assert len(states) == len(cases)
    disk = _all_bytes(home)
    leaked = {c["id"]: _survivors(c, disk) for c in cases if _survivors(c, disk)}
    assert leaked == {}


def test_remember_note_the_worker_would_reject_is_not_acknowledged(tmp_path: Path) -> None:
    """Issue 14 item 9: a note over the content limit or holding a NUL byte is refused in the
    hook, with a message saying so, and never spooled; a good note is still acknowledged."""
    home, cwd = tmp_path / "home", tmp_path / "project"
    cwd.mkdir()
    base = {"session_id": "s1", "cwd": str(cwd), "hook_event_name": "UserPromptSubmit"}
    for bad in ["#remember " + "x" * 25_000, "#remember the build needs\x00 a NUL"]:
        out = _run_hook("UserPromptSubmit", {**base, "prompt": bad}, home)
        context = json.loads(out)["hookSpecificOutput"]["additionalContext"]
        assert "not saved" in context and "saved 1" not in context, context
    from mcp_memory.capture import spool

    assert spool.pending_jobs(home / "run") == []
    assert not (home / "run" / "spool" / "failed").exists()


def _modes(home: Path) -> dict[str, str]:
    loose = {}
    for path in [home, *home.rglob("*")]:
        if path.is_symlink():
            continue
        mode = stat.S_IMODE(path.stat().st_mode)
        want = 0o700 if path.is_dir() else 0o600
        if mode != want:
            loose[str(path.relative_to(home.parent))] = oct(mode)
    return loose


@pytest.mark.slow
def test_every_entry_point_creates_a_private_home_whatever_the_umask(tmp_path: Path) -> None:
    """Issue 14 item 11: a hook, its worker, the CLI, ``serve``, ``embed-server start`` and ``demo``
    (each the first to touch a fresh home, under umask 022) leave folders 0700, files 0600."""
    from hook_fixtures import RUNNER

    old = os.umask(0o022)
    try:
        homes: dict[str, Path] = {}

        def env(name: str) -> dict[str, str]:
            homes[name] = tmp_path / name / "data" / "home"
            base = {k: v for k, v in os.environ.items() if not k.startswith("MCP_MEMORY_")}
            return {**base, **_hook_env(homes[name]), "MCP_MEMORY_THREADS": "1"}

        cwd = tmp_path / "project"
        cwd.mkdir()
        hook_env = env("hook")
        prompt = {
            "session_id": "s1",
            "cwd": str(cwd),
            "hook_event_name": "UserPromptSubmit",
            "prompt": "#remember deploys go through the staging branch first",
        }
        subprocess.run(
            [sys.executable, str(RUNNER), "UserPromptSubmit"],
            input=json.dumps(prompt).encode(),
            env=hook_env,
            check=True,
            timeout=60,
        )
        from hook_fixtures import settle

        settle(homes["hook"] / "run")
        subprocess.run(
            [*CLI, "remember", "the CLI was here"],
            env=env("cli"),
            check=True,
            capture_output=True,
            timeout=120,
        )
        server_env = env("server")
        subprocess.run(
            [*CLI, "embed-server", "start"],
            env=server_env,
            capture_output=True,
            timeout=120,
            check=False,
        )
        subprocess.run(
            [*CLI, "embed-server", "stop"],
            env=server_env,
            capture_output=True,
            timeout=60,
            check=False,
        )
        subprocess.run(
            [*CLI, "serve"],
            env=env("serve"),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=120,
            check=False,
        )
        demo_env = env("demo")
        subprocess.run(
            [*CLI, "demo", "--no-serve"],
            env=demo_env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=300,
            check=False,
        )
        subprocess.run(
            [*CLI, "embed-server", "stop"],
            env=demo_env,
            capture_output=True,
            timeout=60,
            check=False,
        )
        loose = {name: _modes(home) for name, home in homes.items()}
    finally:
        os.umask(old)
    assert all(home.is_dir() for home in homes.values())
    assert {k: v for k, v in loose.items() if v} == {}


def test_graph_out_never_follows_a_planted_temporary_symlink(tmp_path: Path) -> None:
    """Issue 14 item 12: ``graph --out`` writes a fresh O_EXCL temporary (never a guessed
    ``.NAME.tmp``), so a symlink planted there leaves its target alone; the page is 0600."""
    from mcp_memory.graph.page import write_graph
    from mcp_memory.store import Store

    victim = tmp_path / "victim.txt"
    victim.write_text("do not touch", encoding="utf-8")
    out = tmp_path / "site" / "graph.html"
    out.parent.mkdir()
    (out.parent / ".graph.html.tmp").symlink_to(victim)
    store = Store.open(tmp_path / "memory.db")
    try:
        write_graph(store, out)
    finally:
        store.close()
    assert victim.read_text(encoding="utf-8") == "do not touch"
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert "<html" in out.read_text(encoding="utf-8").lower()
