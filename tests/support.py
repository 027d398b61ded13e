"""Small helpers shared by tests (importable as `support`)."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A loopback port that nothing listens on (bound and released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
