"""Linking a little below the threshold on a word only the two texts share
(linking.RARE_MARGIN), with the real model: in a project full of one domain's vocabulary, a name
that no other memory uses says two texts are about the same thing."""

from __future__ import annotations

import pytest

from mcp_memory.embedding.local import LocalEmbedder
from mcp_memory.embedding.specs import MINILM
from mcp_memory.service import boilerplate, linking
from mcp_memory.service.memories import MemoryService
from mcp_memory.service.types import Options
from mcp_memory.store.database import Store

# Two notes on one library in other words (cosine 0.39 with MiniLM: below the 0.44 threshold).
FIRST = (
    "Server state lives in TanStack Query, not Redux. We removed Redux Toolkit in the cart "
    "rewrite because most of the store was cached API responses with hand-written loading "
    "flags. The cart itself is a small Zustand store."
)
SECOND = (
    "TanStack Query retries a failed query 3 times with exponential backoff by default, so an "
    "expired session took ~7s to reach the login redirect. Our queryClient uses retry: (n, err) "
    "=> err.status >= 500 && n < 2."
)
# The rest of the project: the same web-app vocabulary, other topics, no "tanstack".
PROJECT = [
    "The checkout page is a React route that posts the cart to the BFF and shows the errors.",
    "Vite builds the app into dist/; the preview server runs on port 4173 for smoke tests.",
    "Product images are served from the CDN with a one-year cache and hashed file names.",
    "Playwright end-to-end tests run against the preview build in CI on every pull request.",
    "Translations are extracted with pnpm i18n:extract and reviewed by the localisation team.",
    "The search box debounces input by 250 ms before calling the product search endpoint.",
    "Feature flags are loaded once at boot from the BFF and read with a React hook.",
    "ESLint and Prettier run in a pre-commit hook; CI fails on any lint warning.",
    "The login form stores no password; the BFF sets an httpOnly session cookie.",
    "Analytics page views fire from the router, not from components, to avoid double counts.",
    "Storybook documents every shared component; visual diffs run on the main branch.",
    "The cart badge reads its count from the cart store and updates without a reload.",
]
MENTIONS = "A spike compared TanStack Query with SWR for the product list; we kept the former."


@pytest.fixture
def store(backend_store: Store) -> Store:
    """Both backends: the rule counts a word's memories with each one's full-text search."""
    return backend_store


def linked(service: MemoryService, project: str, before: list[str]) -> float | None:
    """SECOND's link to FIRST (its similarity) when ``before`` are stored first in ``project``,
    or None."""
    for text in before:
        service.remember(text, project=project)
    first = service.remember(FIRST, project=project).id
    links = service.remember(SECOND, project=project).links
    return next((link.similarity for link in links if link.id == first), None)


def test_a_word_no_other_memory_holds_links_a_pair_just_below_the_threshold(
    store: Store, minilm: LocalEmbedder
) -> None:
    """Alone the pair does not link (no scope: "no other memory holds it" says nothing); among
    twelve other memories of the project it links at its own similarity, below the threshold;
    once a third memory names the library too, the word is no longer rare and it does not.
    Each case is a project of its own (scopes never mix)."""
    service = MemoryService(store, minilm, Options(link_threshold=MINILM.link_threshold))
    assert linked(service, "alone", []) is None
    sim = linked(service, "webshop", PROJECT)
    assert sim is not None
    assert MINILM.link_threshold - linking.RARE_MARGIN <= sim < MINILM.link_threshold
    assert linked(service, "shop2", [*PROJECT[:-1], MENTIONS]) is None


def test_rare_words_are_letters_only_and_not_stopwords() -> None:
    assert linking.rare_words("The TanStack query_client v5 (x2) is 42") == {
        "tanstack",
        "query",
        "client",
    }
    assert boilerplate.opening("Benchmark (write, parquet): row groups") == "benchmark row"


def test_a_labels_remark_is_not_part_of_the_label() -> None:
    """ "Benchmark (write, parquet): ..." and "Benchmark (fetch): ..." share the label the
    boilerplate discount counts, so two of them in a project lose it from their topic text."""
    first = boilerplate.parse("Benchmark (write, parquet): row groups of 128k rows")[0]
    second = boilerplate.parse("Benchmark (fetch): 8 concurrent downloads")[0]
    assert first.label_key == second.label_key == "label:benchmark"
    assert first.body == "row groups of 128k rows"
    assert boilerplate.parse("chore(deps): bump x")[0].label_key == "label:chore(deps)"
