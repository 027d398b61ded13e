"""The Claude Code hooks: a hook process must start in milliseconds and never break a session.

- ``run``: the entry a hook runs (``python hooks/run.py EVENT``); always exits 0
- ``events``: what each event does, behind one fail-open runner
- ``reader``: hook-time recall: read-only SQL without the Store, numpy or a model (the one
  documented SQL exception outside ``store/``)
- ``daemon_calls``: where a daemon runs, a prompt's query vector from its warm model and a
  memory stored by it at once (else the warm server and the spool)
- ``worker``: the detached process (``python -m mcp_memory.hooks.worker``) that stores the jobs
  hooks leave in the spool (:mod:`mcp_memory.capture.spool`), then refreshes briefings and runs
  maintenance

This ``__init__`` imports nothing and exports nothing: the hook path pays only for the modules it
imports (no numpy, apsw, ONNX Runtime or mcp; tests/test_hooks.py checks).
"""

__all__: list[str] = []
