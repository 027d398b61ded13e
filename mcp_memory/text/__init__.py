"""Pure text helpers below every other layer (standard library only).

- ``keywords``: tokens, stopwords and the FTS5 query built from free text.
- ``labels``: the name label a memory's text opens with ("Caroline: ...").
- ``facts``: the hard facts of a text (numbers, paths, identifiers) a merge must keep; the
  lifecycle's merge check and the LLM layer's offline merge both use them.
- ``form``: a query's form (question, task, spelled), which the relevance gate reads.
"""

__all__: list[str] = []
