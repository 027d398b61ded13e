"""Shared by the routing tests."""

from __future__ import annotations

from mcp_memory.routing.managed import remove_block
from mcp_memory.routing.targets import parse


def strip_blocks(text: str) -> str:
    """The file without its managed blocks: what the user wrote."""
    eol = "\r\n" if "\r\n" in text else "\n"
    for section in sorted(parse(text), key=lambda s: -(s.block.start if s.block else -1)):
        if section.block is not None:
            text = remove_block(text, section.block, eol)
    return text
