"""``python -m mcp_memory.cli``: the command line, as the console script runs it."""

import sys

from mcp_memory.cli.main import main

sys.exit(main())
