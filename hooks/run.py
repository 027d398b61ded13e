"""Run a Claude Code hook from a checkout: ``python hooks/run.py EVENT``.

Not a package and not installed: the installed command is ``memcycle hook EVENT``. This file
only lets a checkout run the same code (:mod:`mcp_memory.hooks.run`) without installing it.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mcp_memory.hooks.run import exit_now, main  # noqa: E402

main()
exit_now()
