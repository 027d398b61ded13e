"""``python -m mcp_memory.server.daemon [--wait]``: the daemon's entry point (the relay and
``memcycle daemon start`` launch it detached). It alone reads the configuration; logs go to
stderr, which the launcher points at ``logs/daemon.log``; nothing is printed to stdout.

When another daemon for the data home holds the daemon lock, it exits with :data:`HELD` (3),
or with ``--wait`` (what the ``install --service`` unit runs) waits for that one to exit and
then takes over: a daemon a session started before the service does not make the service
manager restart the unit every few seconds."""

from __future__ import annotations

import logging
import os
import sys

from mcp_memory import __version__
from mcp_memory.config import load_settings
from mcp_memory.daemon_link import LOCK, PORT, superseded_by
from mcp_memory.errors import MCPMemoryError
from mcp_memory.files import acquire_lock, private_dir

log = logging.getLogger("mcp_memory.server.daemon")

HELD = 3  # exit status: another daemon holds the lock (the service unit never restarts on it)
SUPERSEDED_STATUS = 4  # a newer version runs for this data home (daemon_link.superseded_by)


def main() -> int:
    os.environ.setdefault("OMP_WAIT_POLICY", "passive")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("mcp_memory")
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    root.propagate = False  # the SDK may configure the root logger: one line per record
    try:
        settings = load_settings()
        if settings.log_level == "DEBUG":
            root.setLevel(logging.DEBUG)
        # The daemon lock first, before the second of imports below: a launcher that finds it
        # held (launch.daemon_starting) waits for this daemon instead of launching another.
        private_dir(settings.run_dir)
        lock = acquire_lock(settings.run_dir / LOCK)
        if lock is None and "--wait" in sys.argv[1:]:
            log.info("another daemon for %s is running; waiting for it to exit", settings.home)
            lock = acquire_lock(settings.run_dir / LOCK, wait=True)
        if lock is None:
            log.warning("another daemon for %s is running or starting; exiting", settings.home)
            return HELD
        newer = superseded_by(settings.run_dir, __version__)
        if newer is not None:
            log.warning("version %s replaced this daemon's %s; not starting", newer, __version__)
            return SUPERSEDED_STATUS
        # A port file left by a killed daemon names a port another program may own now; with
        # the lock held, clients would trust that file again (daemon_link.connect_tcp).
        (settings.run_dir / PORT).unlink(missing_ok=True)
        from mcp_memory.server.daemon.server import run

        return run(settings, lock)
    except MCPMemoryError as exc:
        log.error("%s", exc)
        return 2


if __name__ == "__main__":
    sys.exit(main())
