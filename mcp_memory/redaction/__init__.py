"""Redaction: secrets and ``<private>`` blocks are removed before anything is stored or sent to a
model. Pure text work on the hook path: the standard library only.

- ``redact``: :func:`redact` and :class:`Redaction`: every rule applied, spans merged, markers
- ``rules``: the rules that find secrets by their form or their place
- ``assignments``: the ``NAME=value`` rule: secrets found by the name they are assigned to

Import :func:`~mcp_memory.redaction.redact.redact` from its module: re-exported here it would
shadow the module of the same name, so this ``__init__`` exports nothing and imports nothing.
"""

__all__: list[str] = []
