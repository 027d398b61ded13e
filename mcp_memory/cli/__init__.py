"""The ``memcycle`` command line: an entry point that reads settings, opens the app and turns
project errors into messages.

- ``main``: the parser and dispatch; ``__main__`` runs it as ``python -m mcp_memory.cli``
- ``memory``: remember, recall, forget, stats, links, graph
- ``lifecycle``: consolidate, maintain, briefing, route, promote
- ``ops``: export, import, migrate, backup, reindex, serve, embed-server, model, doctor, demo
- ``install``: register the MCP server and the hooks with Claude Code, and undo it
- ``services``: the per-user services of ``install --service`` (warm server, daemon)
- ``launcher``: the stable command install writes, and the refusal of ephemeral caches (uvx)
- ``completion``: shell completion scripts (bash, zsh, fish) generated from the parser
- ``edits``: merging our entries into Claude Code's JSON files, with backups
- ``doctor``: each part of the stack checked, with a fix when it fails
- ``security``: the security checks ``doctor`` and the tests share
- ``demo``: the main job on the bundled model, end to end
- ``output``, ``terminal`` and ``progress``: ``--json`` or text, tables and dates, a progress bar

Nothing here is imported by other packages, so ``__all__`` is empty.
"""

__all__: list[str] = []
