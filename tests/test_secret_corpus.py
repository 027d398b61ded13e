"""The secret corpus in tests/data/secrets/: no secret survives redaction, no look-alike is cut.

``corpus.jsonl`` and ``lookalikes.jsonl`` are the cases the rules were written against;
``heldout.jsonl`` and ``heldout_lookalikes.jsonl`` were written afterwards, without tuning the
rules on them, to show how the rules generalise. Every value is fake (see the folder's README).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mcp_memory.redaction.redact import redact

DATA = Path(__file__).parent / "data" / "secrets"


def _load(name: str) -> list[dict[str, Any]]:
    lines = (DATA / name).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


SECRETS = _load("corpus.jsonl") + _load("heldout.jsonl")
LOOKALIKES = _load("lookalikes.jsonl") + _load("heldout_lookalikes.jsonl")
# Held-out cases the rules miss. They were written before the rules and the rules were not
# tuned on them afterwards, so a miss is a known gap, recorded here instead of fitted away.
HELD_OUT_MISSES = {
    "sh03": "requests' auth=('user', 'password') tuple: no rule reads positional arguments",
}


def _secret_case(case: dict[str, Any]) -> Any:
    reason = HELD_OUT_MISSES.get(case["id"])
    marks = [pytest.mark.xfail(reason=reason, strict=True)] if reason else []
    return pytest.param(case, id=case["id"], marks=marks)


@pytest.mark.parametrize("case", [_secret_case(c) for c in SECRETS])
def test_no_secret_or_fragment_survives(case: dict[str, Any]) -> None:
    """The secret, and every fragment of it (or other secret in the text), is gone."""
    out = redact(case["text"]).text
    survivors = [s for s in [case["secret"], *case.get("fragments", ())] if s in out]
    assert survivors == [], out


@pytest.mark.parametrize("case", LOOKALIKES, ids=[c["id"] for c in LOOKALIKES])
def test_lookalike_survives(case: dict[str, Any]) -> None:
    """Hashes, ids, paths, references and placeholders that resemble secrets are kept whole."""
    out = redact(case["text"]).text
    assert [k for k in case["must_keep"] if k not in out] == [], out


@pytest.mark.parametrize("case", SECRETS, ids=[c["id"] for c in SECRETS])
def test_redaction_of_the_corpus_is_idempotent(case: dict[str, Any]) -> None:
    once = redact(case["text"])
    assert redact(once.text).text == once.text
    assert redact(once.text).count == 0


def test_corpus_is_valid_and_large() -> None:
    assert len(SECRETS) >= 168 + 25
    assert len(LOOKALIKES) >= 76 + 15
    assert len({c["id"] for c in SECRETS + LOOKALIKES}) == len(SECRETS) + len(LOOKALIKES)
