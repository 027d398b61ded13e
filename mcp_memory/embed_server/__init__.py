"""The warm embedding server: one loaded model shared by every Claude Code session.

A thin HTTP layer over :mod:`mcp_memory.embedding.engine` (``app``), its entry point (``__main__``) and
the start/stop/status helpers the CLI and hooks use (``process``). Clients reach it through
:mod:`mcp_memory.embedding.warm_client`, which falls back to the in-process engine when it is down.
"""
