"""Shared by the routing tests."""

from __future__ import annotations

from mcp_memory.routing.managed import remove_block
from mcp_memory.routing.targets import parse


def strip_blocks(text: str) -> str:
    """The file without its managed blocks (sections' own and those below a line): what the
    user wrote."""
    eol = "\r\n" if "\r\n" in text else "\n"
    blocks = [b for section in parse(text) for b in section.blocks]
    for block in sorted(blocks, key=lambda b: -b.start):
        text = remove_block(text, block, eol)
    return text
