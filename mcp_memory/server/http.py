"""The streamable-HTTP MCP endpoint (``memcycle serve --http``, ``make run``), locked to this user.

Any local process or user can open a loopback port, so the address proves nothing. Three checks
run before the SDK sees a request (:class:`Guard`):

- **Bearer token**: a random token in ``run/http-token`` (0600, in the 0700 run directory), made
  at the first start, when it is printed once with the ``claude mcp add --header`` line that
  passes it; later starts print the line with ``$(cat <file>)``. A request without
  ``Authorization: Bearer <token>`` gets 401 (compared in constant time); it never reaches a tool.
- **Origin**: a request that carries an ``Origin`` (a web page) gets 403 unless the origin is in
  an exact list: ``MCP_MEMORY_HTTP_ORIGINS`` (comma-separated), by default only the endpoint's own
  loopback origins. The SDK's default allowed ``http://localhost:*``, any local web page.
- **Host**: only ``127.0.0.1:PORT``, ``localhost:PORT`` and ``[::1]:PORT`` (and the bound host),
  so a DNS-rebound name gets 421.

The session's project comes from the ``X-Memcycle-Project`` header (an absolute folder), sent
with each request (:func:`project_scope`), never from the folder the server was started in: a
session without it is told how to send it. (MCP roots would be the other source, but the SDK
deprecates them as of protocol 2026-07-28.)
"""

from __future__ import annotations

import hmac
import os
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from mcp_memory.app import App, session_view
from mcp_memory.config import LOOPBACK_HOSTS, Settings
from mcp_memory.errors import ConfigError, ValidationError
from mcp_memory.files import atomic_write, private_dir

if TYPE_CHECKING:
    from mcp.server.mcpserver import Context
    from starlette.types import ASGIApp, Receive, Scope, Send

PROJECT_HEADER = "X-Memcycle-Project"
TOKEN_FILE = "http-token"


def load_token(settings: Settings) -> tuple[str, bool]:
    """This data home's HTTP token and whether it was made just now (the first start)."""
    path = settings.run_dir / TOKEN_FILE
    private_dir(settings.run_dir)
    token = secrets.token_urlsafe(32)
    # Created only if absent: two servers starting at once for the first time agree on one
    # token (the one that loses reads the winner's), so neither's clients get 401.
    if atomic_write(path, token + "\n", replace=False):
        return token, True
    info = os.lstat(path)
    if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise ConfigError(
            f"{path} is not a private file of yours (mode {info.st_mode & 0o777:04o}); "
            "delete it and start the server again to make a new token"
        )
    token = path.read_text().strip()
    if len(token) < 32:
        raise ConfigError(f"{path} holds no valid token; delete it and start the server again")
    return token, False


def allowed_hosts(host: str, port: int) -> list[str]:
    names = {"127.0.0.1", "localhost", "[::1]", f"[{host}]" if ":" in host else host}
    return sorted(f"{name}:{port}" for name in names)


def allowed_origins(settings: Settings, port: int) -> list[str]:
    """The exact origins a browser request may come from: the configured list, else only the
    endpoint's own loopback origins."""
    if settings.http_origins:
        return [o.strip() for o in settings.http_origins.split(",") if o.strip()]
    return [f"http://{name}:{port}" for name in ("127.0.0.1", "localhost", "[::1]")]


class Guard:
    """ASGI middleware: Origin, Host and bearer token, checked before the MCP app runs."""

    def __init__(self, app: ASGIApp, token: str, origins: list[str], hosts: list[str]) -> None:
        self.app = app
        self.token = token.encode()
        self.origins = frozenset(origins)
        self.hosts = frozenset(hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # the lifespan
            await self.app(scope, receive, send)
            return
        from starlette.datastructures import Headers
        from starlette.responses import PlainTextResponse

        headers = Headers(scope=scope)
        origin = headers.get("origin")
        refusal: PlainTextResponse | None = None
        if origin is not None and origin not in self.origins:
            refusal = PlainTextResponse(f"origin {origin} is not allowed", status_code=403)
        elif headers.get("host") not in self.hosts:
            refusal = PlainTextResponse("invalid Host header", status_code=421)
        elif not self._authorized(headers.get("authorization", "")):
            refusal = PlainTextResponse(
                "send Authorization: Bearer <the token in the data home's run/http-token>",
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _authorized(self, value: str) -> bool:
        scheme, _, given = value.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), self.token
        )


def project_scope(app: App, ctx: Context) -> App:
    """The app as this HTTP session sees it: its project from the ``X-Memcycle-Project`` header."""
    headers: Mapping[str, str] = ctx.headers or {}
    wanted = PROJECT_HEADER.lower()
    value = next((v for k, v in headers.items() if k.lower() == wanted), None)
    if not value:
        raise ValidationError(
            f"this HTTP session sends no {PROJECT_HEADER} header, so its project is unknown: add "
            f'--header "{PROJECT_HEADER}: /absolute/path/to/the/project" to `claude mcp add '
            "--transport http ...`, or connect over stdio (`memcycle serve`)"
        )
    folder = Path(value)
    if not folder.is_absolute():
        raise ValidationError(f"{PROJECT_HEADER} must be an absolute folder, not {value!r}")
    session = next((v for k, v in headers.items() if k.lower() == "mcp-session-id"), "none")
    return session_view(app, folder, f"http:{session}")


def connect_lines(settings: Settings, port: int, token: str, created: bool) -> list[str]:
    """How to connect Claude Code: the token itself only when it was just made."""
    url = f"http://127.0.0.1:{port}/mcp"
    secret = token if created else f"$(cat {settings.run_dir / TOKEN_FILE})"
    lines = [f"MCP over HTTP on {url}; every request needs the bearer token and the project:"]
    if created:
        lines.append(f"  new token (shown once; kept in {settings.run_dir / TOKEN_FILE}):")
    lines.append(
        f'  claude mcp add --transport http memory {url} --header "Authorization: Bearer '
        f'{secret}" --header "{PROJECT_HEADER}: $PWD"'
    )
    return lines


def serve(settings: Settings, host: str, port: int, token: str) -> None:
    """Serve MCP over streamable HTTP behind :class:`Guard` until interrupted; ``token`` is
    :func:`load_token`'s (the caller prints :func:`connect_lines` first)."""
    import uvicorn
    from mcp.server.transport_security import TransportSecuritySettings

    from mcp_memory.server.tools import build_server

    if host not in LOOPBACK_HOSTS and not settings.http_origins:
        raise ConfigError(
            f"serving beyond loopback on {host}: set MCP_MEMORY_HTTP_ORIGINS to the exact "
            "origins allowed (or serve on 127.0.0.1)"
        )
    origins = allowed_origins(settings, port)
    hosts = allowed_hosts(host, port)
    server = build_server(settings, scope=project_scope)
    security = TransportSecuritySettings(allowed_hosts=hosts, allowed_origins=origins)
    app = server.streamable_http_app(transport_security=security, host=host)
    guarded = Guard(app, token, origins, hosts)
    config = uvicorn.Config(guarded, host=host, port=port, log_level=settings.log_level.lower())
    uvicorn.Server(config).run()
