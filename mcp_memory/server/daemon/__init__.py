"""The daemon: one long-lived process per user and data home that serves MCP for every session.

- ``server``: :func:`run`: one App (store, RAM index, embedder, service) and the Unix socket
- ``sessions``: each connection as one MCP session over a per-session view of that App
- ``relay``: ``memcycle serve``: the thin stdio relay Claude Code starts (standard library only)
- ``launch``: connect to the daemon, starting it detached and once (standard library only)

Its files in the private run directory and the checks that make its socket trusted are in
:mod:`mcp_memory.daemon_link`, a leaf the hooks import too.
- ``hook_requests``: the hooks' one-shot requests (embed a prompt, store a memory)
- ``control``: start, stop, status and logs for ``memcycle daemon``
- ``__main__``: its entry point (``python -m mcp_memory.server.daemon``)

Nothing is imported by other packages' modules at import time, so ``__all__`` is empty.
"""

__all__: list[str] = []
