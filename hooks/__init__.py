"""Claude Code hook entry points (see ``run.py``); the logic lives in ``mcp_memory.hook_events``."""
