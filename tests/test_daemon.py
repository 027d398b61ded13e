"""The daemon and the thin stdio relay (issue #16), with real processes, sockets and clients.

Pins: ``serve`` relays to one daemon per data home that it starts itself (detached, once), and
imports no MCP SDK, numpy, ONNX Runtime or SQLite driver; sessions from two project folders are
served by one daemon and land in their own projects; the socket is 0600 in a 0700 folder, and a
socket that is not private is never sent a byte (the session is served in-process instead); a
relay whose settings differ from the daemon's is served in-process; the daemon killed with
SIGKILL mid-session is restarted by the relay, the session goes on, and no acknowledged write is
lost; ``MCP_MEMORY_DAEMON=false`` keeps today's in-process server.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters

from mcp_memory.daemon_link import socket_path
from mcp_memory.store.database import Store

REPO = Path(__file__).resolve().parents[1]
SERVE = ["-m", "mcp_memory.cli", "serve"]
HEAVY = ("mcp", "numpy", "onnxruntime", "apsw", "anyio", "pydantic", "tokenizers")


def environment(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCP_MEMORY_")}
    env.update(
        MCP_MEMORY_HOME=str(home),
        MCP_MEMORY_MODEL="minilm",
        MCP_MEMORY_EMBED_PORT="1",  # no warm server: the daemon holds the model
        PYTHONPATH=str(REPO),
        **extra,
    )
    return env


def daemon_pid(home: Path) -> int | None:
    try:
        return int(json.loads((home / "run" / "daemon.pid").read_text())["pid"])
    except (OSError, ValueError, KeyError):
        return None


def running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def project(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / name
    (folder / ".git").mkdir(parents=True)
    return folder


class Session:
    """One MCP session over stdio to ``python -m mcp_memory.cli serve`` (the relay)."""

    def __init__(self, home: Path, cwd: Path, **env: str) -> None:
        self.params = StdioServerParameters(
            command=sys.executable, args=SERVE, env=environment(home, **env), cwd=str(cwd)
        )

    async def __aenter__(self) -> Client:
        self.stack = AsyncExitStack()
        return await self.stack.enter_async_context(Client(self.params))

    async def __aexit__(self, *exc: object) -> None:
        await self.stack.aclose()


def structured(result: Any) -> dict[str, Any]:
    assert not result.is_error, result.content
    return dict(result.structured_content)


def test_relay_imports_no_sdk_numpy_onnx_or_sqlite_driver(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = environment(home)
    # The first run starts the daemon; the second is what every later session costs.
    subprocess.run([sys.executable, *SERVE], env=env, stdin=subprocess.DEVNULL, timeout=120)
    assert daemon_pid(home) is not None
    run = subprocess.run(
        [sys.executable, "-X", "importtime", *SERVE],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    imported = {line.split("|")[-1].strip() for line in run.stderr.splitlines() if "|" in line}
    assert "mcp_memory.server.daemon.relay" in imported
    loaded = sorted(m for m in imported if m.split(".")[0] in HEAVY)
    assert loaded == [], loaded


def test_two_sessions_share_one_daemon_and_keep_their_projects(tmp_path: Path) -> None:
    home = tmp_path / "home"
    alpha, beta = project(tmp_path, "alpha"), project(tmp_path, "beta")

    async def main() -> tuple[dict[str, Any], ...]:
        async with Session(home, alpha) as a, Session(home, beta) as b:
            ra = structured(await a.call_tool("remember", {"content": "alpha deploys on fridays"}))
            rb = structured(await b.call_tool("remember", {"content": "beta uses postgres 16"}))
            ha = structured(await a.call_tool("recall", {"query": "what database and deploys"}))
            sa = structured(await a.call_tool("stats", {}))
            return ra, rb, ha, sa

    ra, rb, hits, stats = anyio.run(main)
    assert ra["memories"][0]["project"] == str(alpha.resolve())
    assert rb["memories"][0]["project"] == str(beta.resolve())
    assert [h["id"] for h in hits["hits"]] == [ra["id"]]  # alpha's session sees alpha (+global)
    assert stats["current_project"] == str(alpha.resolve())
    pid = daemon_pid(home)
    assert pid is not None and running(pid)
    daemons = [
        p
        for p in os.listdir("/proc")
        if p.isdigit()
        and b"mcp_memory.server.daemon" in _cmdline(int(p))
        and _home_of(int(p)) == home
    ]
    assert daemons == [str(pid)]  # one daemon served both sessions
    run_dir = home / "run"
    assert run_dir.stat().st_mode & 0o777 == 0o700
    assert socket_path(run_dir).stat().st_mode & 0o777 == 0o600


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _home_of(pid: int) -> Path | None:
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return None
    for item in environ:
        if item.startswith(b"MCP_MEMORY_HOME="):
            return Path(item.split(b"=", 1)[1].decode())
    return None


class Squatter:
    """A listener someone else could own, recording every byte it is sent and, with ``reply``,
    answering each received chunk with that line (a made-up proof, say)."""

    def __init__(self, sock: socket.socket, reply: bytes | None = None) -> None:
        self.sock = sock
        self.sock.settimeout(0.2)
        self.reply = reply
        self.received = b""
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve)
        self.thread.start()

    @classmethod
    def at_path(cls, path: Path) -> Squatter:
        """A Unix socket at the daemon's path that anyone could use (mode 0666)."""
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(str(path))
        os.chmod(path, 0o666)
        sock.listen()
        return cls(sock)

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(1)
                try:
                    while data := conn.recv(65536):
                        self.received += data
                        if self.reply is not None:
                            conn.sendall(self.reply)
                except OSError:
                    pass

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.sock.close()


@pytest.fixture
def squatter(tmp_path: Path) -> Iterator[Squatter]:
    home = tmp_path / "home"
    (home / "run").mkdir(parents=True, mode=0o700)
    os.chmod(home / "run", 0o700)
    s = Squatter.at_path(socket_path(home / "run"))
    yield s
    s.close()


def test_a_socket_others_can_use_gets_nothing_and_the_session_works_in_process(
    tmp_path: Path, squatter: Squatter
) -> None:
    home = tmp_path / "home"
    cwd = project(tmp_path, "proj")
    secret = "the vault unseal key is in the red binder"

    async def main() -> dict[str, Any]:
        async with Session(home, cwd) as client:
            return structured(await client.call_tool("remember", {"content": secret}))

    stored = anyio.run(main)
    assert squatter.received == b""
    assert daemon_pid(home) is None  # no daemon was started next to the squatter
    store = Store.open(home / "memory.db")
    try:
        assert store.get(stored["id"]).content == secret  # served in-process
    finally:
        store.close()


def test_a_relay_with_other_settings_is_served_in_process(tmp_path: Path) -> None:
    home = tmp_path / "home"
    cwd = project(tmp_path, "proj")

    async def session(**env: str) -> dict[str, Any]:
        async with Session(home, cwd, **env) as client:
            return structured(await client.call_tool("stats", {}))

    anyio.run(session)
    pid = daemon_pid(home)
    assert pid is not None
    other = anyio.run(lambda: session(MCP_MEMORY_MAX_CONTENT_CHARS="5000"))
    assert other["counts"]["total"] == 0 and daemon_pid(home) == pid  # same daemon, left alone
    in_process = anyio.run(lambda: session(MCP_MEMORY_DAEMON="false"))
    assert in_process["current_project"] == str(cwd.resolve())


def test_daemon_killed_mid_session_is_restarted_and_the_session_goes_on(tmp_path: Path) -> None:
    home = tmp_path / "home"
    cwd = project(tmp_path, "proj")

    async def main() -> tuple[int, int, list[int], list[int]]:
        async with Session(home, cwd) as client:
            first = structured(await client.call_tool("remember", {"content": "first: use uv"}))
            killed = daemon_pid(home)
            assert killed is not None
            os.kill(killed, signal.SIGKILL)
            second = structured(
                await client.call_tool("remember", {"content": "second: pin ruff 0.8"})
            )
            hits = structured(await client.call_tool("recall", {"query": "use uv, pin ruff"}))
            return (
                killed,
                second["id"],
                [first["id"], second["id"]],
                [h["id"] for h in hits["hits"]],
            )

    killed, _, ids, hits = anyio.run(main)
    assert sorted(hits) == sorted(ids)
    restarted = daemon_pid(home)
    assert restarted is not None and restarted != killed and running(restarted)


def test_kill_9_in_a_loop_while_four_sessions_write_loses_no_acknowledged_write(
    tmp_path: Path,
) -> None:
    """Four relay sessions write without pause while the daemon is SIGKILLed again and again
    (each time a few more writes were acknowledged since the last kill); every write a session
    got an answer for is in the database afterwards, and none is stored twice."""
    home = tmp_path / "home"
    folders = [project(tmp_path, f"p{n}") for n in range(4)]
    acknowledged: dict[int, str] = {}
    done = threading.Event()
    kills: list[int] = []
    rounds = 5

    def killer() -> None:
        """A kill whenever 6 more writes were acknowledged, and whenever the daemon is back
        after one: the loop goes on for as long as the sessions write."""
        mark = 0
        while not done.wait(0.005) and len(kills) < rounds:
            pid = daemon_pid(home)
            if len(acknowledged) < mark + 6 or pid is None or pid in kills or not running(pid):
                continue
            os.kill(pid, signal.SIGKILL)
            kills.append(pid)
            mark = len(acknowledged)

    async def writer(n: int, cwd: Path) -> None:
        async with Session(home, cwd) as client:
            i = after = 0
            while after < 3:  # write until the last kill, then 3 more (to the new daemon)
                after += len(kills) >= rounds
                text = f"session {n} fact {i}: the build step {i} runs after lint"
                reply = structured(await client.call_tool("remember", {"content": text}))
                acknowledged[reply["id"]] = text
                i += 1

    async def main() -> None:
        async with Session(home, folders[0]) as warm:  # the daemon is up before the killer
            await warm.call_tool("stats", {})
        thread = threading.Thread(target=killer)
        thread.start()
        try:
            with anyio.fail_after(120):
                async with anyio.create_task_group() as tg:
                    for n, cwd in enumerate(folders):
                        tg.start_soon(writer, n, cwd)
        finally:
            done.set()
            thread.join(10)

    anyio.run(main)
    assert len(kills) == rounds and len(set(kills)) == rounds
    assert len(acknowledged) >= 6 * rounds + 4 * 3
    store = Store.open(home / "memory.db")
    try:
        for mid, text in acknowledged.items():
            assert store.get(mid).content == text
        assert store.counts()["total"] == len(acknowledged)  # none stored twice by a replay
    finally:
        store.close()


def test_serve_in_process_flag_and_setting_keep_todays_server(tmp_path: Path) -> None:
    home = tmp_path / "home"
    hello = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "raw", "version": "0"},
        },
    }
    for args, extra in (([*SERVE, "--in-process"], {}), (SERVE, {"MCP_MEMORY_DAEMON": "off"})):
        run = subprocess.run(
            [sys.executable, *args],
            input=json.dumps(hello) + "\n",
            env=environment(home, **extra),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert (
            json.loads(run.stdout.splitlines()[0])["result"]["serverInfo"]["name"] == "mcp-memory"
        )
    assert daemon_pid(home) is None and not socket_path(home / "run").exists()


def test_daemon_cli_start_status_logs_stop(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = environment(home)

    def memcycle(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "mcp_memory.cli", "daemon", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    down = memcycle("status")
    assert down.returncode == 3 and "not running" in down.stdout
    started = memcycle("start", "--json")
    assert started.returncode == 0, started.stderr
    info = json.loads(started.stdout)
    assert info["status"] == "started" and info["pid"] == daemon_pid(home)
    assert json.loads(memcycle("start", "--json").stdout)["status"] == "already running"

    async def session() -> None:
        async with Session(home, project(tmp_path, "proj")) as client:
            await client.call_tool("stats", {})

    anyio.run(session)  # a session started after `daemon start` uses that daemon
    up = memcycle("status", "--json")
    assert up.returncode == 0
    assert json.loads(up.stdout)["pid"] == info["pid"] and json.loads(up.stdout)["served"] == 1
    logs = memcycle("logs")
    assert "listening on" in logs.stdout and "session" in logs.stdout
    stopped = memcycle("stop")
    assert stopped.returncode == 0 and "stopped the daemon" in stopped.stdout
    assert not running(info["pid"]) and memcycle("status").returncode == 3


def test_the_default_data_home_puts_the_socket_in_the_state_folder(tmp_path: Path) -> None:
    """Without ``MCP_MEMORY_HOME`` the relay finds the daemon where the daemon's own settings
    put it (``$XDG_STATE_HOME/memcycle/run``), not beside the data; a second session reuses it."""
    xdg = {
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }
    env = environment(tmp_path / "unused", **xdg)
    del env["MCP_MEMORY_HOME"]
    cwd = project(tmp_path, "alpha")
    params = StdioServerParameters(command=sys.executable, args=SERVE, env=env, cwd=str(cwd))

    async def one(text: str) -> dict[str, Any]:
        async with Client(params) as client:
            return structured(await client.call_tool("remember", {"content": text}))

    first = anyio.run(one, "alpha pins ruff in the dev extra")
    run_dir = tmp_path / "state" / "memcycle" / "run"
    pid = int(json.loads((run_dir / "daemon.pid").read_text())["pid"])
    second = anyio.run(one, "alpha runs mypy in strict mode")
    assert int(json.loads((run_dir / "daemon.pid").read_text())["pid"]) == pid  # reused
    assert socket_path(run_dir).stat().st_mode & 0o777 == 0o600
    assert not (tmp_path / "data" / "mcp-memory" / "run").exists()
    store = Store.open(tmp_path / "data" / "mcp-memory" / "memory.db")
    try:
        assert store.get(first["id"]).content == "alpha pins ruff in the dev extra"
        assert store.get(second["id"]).project == str(cwd.resolve())
    finally:
        store.close()
    os.kill(pid, signal.SIGTERM)


def daemons_of(home: Path) -> list[int]:
    return [
        int(p)
        for p in os.listdir("/proc")
        if p.isdigit()
        and b"mcp_memory.server.daemon" in _cmdline(int(p))
        and _home_of(int(p)) == home
    ]


def test_session_start_hook_launches_the_daemon_without_waiting_and_the_relay_uses_it(
    tmp_path: Path,
) -> None:
    """The SessionStart hook launches the daemon detached and returns at once (exit 0, no
    heavy import); the relay Claude Code starts a moment later waits for that daemon instead of
    launching a second one, and a second SessionStart launches nothing."""
    home = tmp_path / "home"
    alpha = project(tmp_path, "alpha")
    env = environment(home)
    payload = json.dumps(
        {
            "session_id": "s1",
            "transcript_path": str(tmp_path / "t.jsonl"),
            "cwd": str(alpha),
            "hook_event_name": "SessionStart",
            "source": "startup",
        }
    )
    try:
        _session_start_launches(tmp_path, home, alpha, env, payload)
    finally:  # the hook also launched the warm server (on port 1 when running as root)
        subprocess.run(
            [sys.executable, "-m", "mcp_memory.cli", "embed-server", "stop"],
            env=env,
            capture_output=True,
            timeout=60,
        )


def _session_start_launches(
    tmp_path: Path, home: Path, alpha: Path, env: dict[str, str], payload: str
) -> None:
    hook = [sys.executable, "-X", "importtime", "-m", "mcp_memory.cli", "hook", "SessionStart"]
    run = subprocess.run(hook, env=env, input=payload, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    imported = {line.split("|")[-1].strip() for line in run.stderr.splitlines() if "|" in line}
    assert sorted(m for m in imported if m.split(".")[0] in HEAVY) == []
    assert len(daemons_of(home)) == 1

    async def main() -> dict[str, Any]:
        async with Session(home, alpha) as a:
            return structured(await a.call_tool("stats", {}))

    stats = anyio.run(main)
    assert stats["current_project"] == str(alpha.resolve())
    pid = daemon_pid(home)
    assert pid is not None and daemons_of(home) == [pid]  # the relay launched no other
    again = subprocess.run(
        [sys.executable, "-m", "mcp_memory.cli", "hook", "SessionStart"],
        env=env,
        input=payload,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode == 0
    assert daemons_of(home) == [pid]
    off = subprocess.run(
        [sys.executable, "-m", "mcp_memory.cli", "hook", "SessionStart"],
        env=environment(tmp_path / "other", MCP_MEMORY_DAEMON="false"),
        input=payload,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert off.returncode == 0 and daemons_of(tmp_path / "other") == []


def older_package(tmp_path: Path) -> Path:
    """A copy of this checkout's ``mcp_memory`` that says it is version 0.0.1: the package as
    it was before an upgrade (its daemon and relays run that copy's code)."""
    import shutil

    root = tmp_path / "old"
    shutil.copytree(
        REPO / "mcp_memory", root / "mcp_memory", ignore=shutil.ignore_patterns("__pycache__")
    )
    init = root / "mcp_memory" / "__init__.py"
    text = init.read_text()
    assert '__version__ = "' in text
    init.write_text(text.replace('__version__ = "', '__version__ = "0.0.1"  # was "', 1))
    return root


def test_upgrading_the_package_replaces_a_daemon_of_another_version(tmp_path: Path) -> None:
    """A daemon of an older version (started by a session from before the upgrade) is replaced
    by the first relay of the new version, even while the old session is open: the old session
    goes on (served in-process from then on: the daemon its relay starts again is of the old
    version, and stands aside for the newer one), and no acknowledged write is lost."""
    from mcp_memory import __version__

    home = tmp_path / "home"
    cwd = project(tmp_path, "proj")
    old_env = {**environment(home), "PYTHONPATH": str(older_package(tmp_path))}
    old_params = StdioServerParameters(
        command=sys.executable, args=SERVE, env=old_env, cwd=str(cwd)
    )
    versions: dict[str, Any] = {}

    def recorded() -> tuple[int | None, str | None]:
        try:
            info = json.loads((home / "run" / "daemon.pid").read_text())
        except (OSError, ValueError):
            return None, None
        return info.get("pid"), info.get("version")

    async def main() -> list[int]:
        async with Client(old_params) as old:
            a = structured(await old.call_tool("remember", {"content": "old: deploys on fridays"}))
            versions["before"] = recorded()
            async with Session(home, cwd) as new:
                b = structured(await new.call_tool("remember", {"content": "new: uses uv 0.5"}))
                versions["after"] = recorded()
                c = structured(await old.call_tool("remember", {"content": "old: pin ruff 0.8"}))
                d = structured(await new.call_tool("remember", {"content": "new: lint first"}))
                hits = structured(await old.call_tool("recall", {"query": "uv ruff fridays"}))
                assert {a["id"], b["id"], c["id"]} <= {h["id"] for h in hits["hits"]}
            return [a["id"], b["id"], c["id"], d["id"]]

    ids = anyio.run(main)
    old_pid, old_version = versions["before"]
    new_pid, new_version = versions["after"]
    assert old_version == "0.0.1" and new_version == __version__
    assert old_pid is not None and new_pid is not None and old_pid != new_pid
    assert not running(old_pid) and running(new_pid)
    assert daemons_of(home) == [new_pid]
    store = Store.open(home / "memory.db")
    try:
        assert store.counts()["total"] == 4 and all(store.get(i) for i in ids)
    finally:
        store.close()


def test_the_service_daemon_waits_for_a_session_daemon_and_serves_every_relay(
    tmp_path: Path,
) -> None:
    """The daemon ``install --service`` runs (``--wait``, no idle exit) finds a daemon a session
    started holding the lock: it waits (no exit for the service manager to restart every 5 s;
    without ``--wait`` a second daemon exits with its own status, 3), takes over when that one
    stops, and serves relays whose settings lack its service-only ``DAEMON_IDLE_EXIT``."""
    home = tmp_path / "home"
    cwd = project(tmp_path, "proj")
    service_env = {**environment(home), "MCP_MEMORY_DAEMON_IDLE_EXIT": "0"}
    daemon = [sys.executable, "-m", "mcp_memory.server.daemon"]

    async def stats() -> dict[str, Any]:
        async with Session(home, cwd) as client:
            return structured(await client.call_tool("stats", {}))

    anyio.run(stats)
    first = daemon_pid(home)
    assert first is not None
    second = subprocess.run(daemon, env=service_env, capture_output=True, timeout=60)
    assert second.returncode == 3
    waiting = subprocess.Popen(daemon + ["--wait"], env=service_env, stderr=subprocess.PIPE)
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            waiting.wait(2)  # still there: waiting on the lock, not exiting
        assert daemon_pid(home) == first
        os.kill(first, signal.SIGTERM)
        for _ in range(600):
            if daemon_pid(home) == waiting.pid:
                break
            threading.Event().wait(0.05)
        assert daemon_pid(home) == waiting.pid
        anyio.run(stats)  # the relay's settings lack DAEMON_IDLE_EXIT: served all the same
        assert daemon_pid(home) == waiting.pid and waiting.poll() is None
        assert daemons_of(home) == [waiting.pid]
    finally:
        waiting.terminate()
        waiting.communicate(timeout=30)
