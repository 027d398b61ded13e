"""Redaction: secrets and ``<private>`` blocks are removed before anything is stored or sent to a
model. Pure text work on the hook path: the standard library only.

- ``redact``: :func:`redact` and :class:`Redaction`: every rule applied, spans merged, markers
- ``rules``: the rules that find secrets by their form or their place
- ``assignments``: the ``NAME=value`` rule: secrets found by the name they are assigned to
- ``base``: what every rule is made of (:class:`Rule`) and the checks on values and names
- ``keys``: private keys: PEM blocks, base64-wrapped PEM, key bodies whose BEGIN line was cut off
- ``commands``: secrets on command lines (password flags) and in what commands print
- ``context``: secrets found by what surrounds them: prose cues, prompts, name/value fields

Import :func:`~mcp_memory.redaction.redact.redact` from its module: re-exported here it would
shadow the module of the same name, so this ``__init__`` exports nothing and imports nothing.
"""

__all__: list[str] = []
