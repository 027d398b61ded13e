"""Pure text helpers below every other layer (standard library only).

- ``keywords``: tokens, stopwords and the FTS5 query built from free text.
- ``labels``: the name label a memory's text opens with ("Caroline: ...").
"""

__all__: list[str] = []
