"""Run the warm embedding server from a checkout: ``python embed_server``.

Not a package and not installed: the installed commands are ``memcycle embed-server start``
and ``python -m mcp_memory.embed_server``. The server itself is :mod:`mcp_memory.embed_server`.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mcp_memory.embed_server.__main__ import main  # noqa: E402

sys.exit(main())
