"""The warm embedding server: one loaded model shared by every Claude Code session.

- ``app``: a thin stdlib HTTP layer over ``service``
- ``service``: health and embed over :mod:`mcp_memory.embedding.engine`, with bounded work
- ``__main__``: its entry point (``mcp-memory-embed-server``)
- ``process``: start, stop and status as a detached process, for the CLI and hooks
- ``pidfile``: the server's pid file, the lock it holds while it lives, and its token file

Clients reach it through :mod:`mcp_memory.embedding.warm_client`, which falls back to the
in-process engine when it is down. Other packages import ``process`` as a module, so ``__all__``
is empty and importing the package loads nothing.
"""

__all__: list[str] = []
