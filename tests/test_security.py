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

from support import free_port
from warm_helpers import serving, serving_handler

from mcp_memory.cli.doctor import run_checks
from mcp_memory.cli.security import unsafe_calls
from mcp_memory.config import Settings, load_settings
from mcp_memory.embedding.local import LocalEmbedder

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
    with serving(minilm.engine()) as server:
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
        assert _post(port, {"Host": "evil.example"}) in (403, 421)
        assert _post(port, {"Host": "evil.example:80"}) in (403, 421)
        assert _post(port, {"Origin": "https://evil.example"}) == 403
        assert _post(port, {"Origin": f"http://127.0.0.1:{port}"}) == 200
        assert _post(port, {}) == 200
    finally:
        proc.terminate()
        proc.wait(15)
        assert proc.stderr is not None
        proc.stderr.close()
    assert proc.returncode is not None
