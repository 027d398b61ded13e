"""The query-form rule (mcp_memory/text/form.py) on text written for this test, not taken from any
benchmark: questions, task descriptions and spellings, including the borderline shapes (a question
without its question mark, an imperative that contains a question word, a pasted error)."""

from __future__ import annotations

import pytest

from mcp_memory.service.query import has_identifier
from mcp_memory.text.form import query_form


def form(text: str) -> str:
    return query_form(text, spelled=has_identifier(text))


@pytest.mark.parametrize(
    "text",
    [
        "how does the nightly export pick which tenants to include?",
        "why is the thumbnail worker so slow on Mondays?",
        "which region hosts the analytics warehouse?",
        "is the feature store shared between staging and prod?",
        "do we encrypt backups at rest",
        "should I bump the schema version when I add a nullable column",
        "can the mobile app talk to the admin API directly?",
        "What happens to drafts when an editor's account is deleted",
        "where do we keep the signing keys for release artifacts?",
        "tell me how invoices get numbered",
        "the search results are empty after reindexing, any idea why?",
        "Does the mailer retry bounced messages?",
    ],
)
def test_questions(text: str) -> None:
    assert form(text) == "question"


@pytest.mark.parametrize(
    "text",
    [
        "add a dark mode toggle to the settings page",
        "rename the tenants table to organisations",
        "write a script that archives old audit rows",
        "set up a nightly job to compact the event log",
        "upgrade the charting library to the next major version",
        "make the upload form show how much is left",  # a question word inside is not a question
        "bump the mailer to the new template engine",
        "wire the billing page to the new pricing plans",
        "migrate the image cache from disk to object storage",
        "new endpoint for exporting a user's data",
    ],
)
def test_tasks(text: str) -> None:
    assert form(text) == "task"


@pytest.mark.parametrize(
    "text",
    [
        "why does `make release` fail on a clean checkout?",
        "KeyError: 'tenant_id' in the invoice worker",
        "TypeError: cannot read properties of undefined in the cart drawer",
        "what does config/limits.yaml control?",
        "fix the flaky test_upload_resumes",
    ],
)
def test_spellings_win_over_the_sentence_shape(text: str) -> None:
    assert form(text) == "spelled"
