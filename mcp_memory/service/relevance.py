"""Is a hit relevant? A calibrated probability per hit from the recall signals together.

A fixed cosine cut cannot say it: on coding memories the best hit's cosine overlaps between
questions a memory answers (0.07-0.72) and questions none does (0.00-0.53). What separates them
is the signals together: the cosine, how far the hit stands out from the next one in the vector
list, whether the keyword list ranks it too, and whether the query spells an identifier (where a
shared spelling is strong evidence). A tiny logistic model per embedding model turns them into a
probability that means the same for every query; ``relevant`` is that probability at or above the
model's cut.

Standard library only: the service's recall and the prompt hook's read-only reader
(:mod:`mcp_memory.hooks.reader`, which has no numpy) compute the same features with the same
coefficients, so the tool, the briefing and the hook agree on what is relevant.

Coefficients: fitted by ``bench/coding.py --fit`` on the calibration half of
``bench/data/coding/`` (L2-regularised logistic regression over the top 10 hits of every query, a
hit labelled relevant when it answers its query); the cut is the highest probability that keeps
at least 95% of answerable calibration queries' answers marked relevant. Figures for both halves
are in ``docs/benchmarks.md``, section "coding". Models without a fit have no entry: every hit of
theirs is reported relevant (no claim is better than an uncalibrated one).

Whether anything is relevant at all is a second, query-level decision (:data:`GATES`): the
per-hit cut must stay low enough to keep weak answers (a task whose helpful memory sits at cosine
0.07), and every unanswerable question's best hit clears it. The gate reads what separates them:
the query's form (:func:`mcp_memory.text.form.query_form`: a question no memory answers has a
concept no hit covers; a task is only helped), the late-interaction coverage of its best hits
(:mod:`mcp_memory.service.coverage`) and its top cosine. When the gate says "nothing answers
this", no hit is relevant. It needs token states, so it runs only where recall has the model
in-process; elsewhere (the prompt hook, a recall served by the warm server alone) hits are judged
by the per-hit model only, as before.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from mcp_memory.text.form import Form

FEATURES = ("bias", "cosine", "margin", "below_top", "keyword", "spelled", "spelled_keyword")


@dataclass(frozen=True)
class Calibration:
    """One model's logistic coefficients (in :data:`FEATURES` order) and its decision cut."""

    weights: tuple[float, ...]
    cut: float


# Written by ``bench/coding.py --fit`` (calibration half); see the module docstring.
CALIBRATIONS: dict[str, Calibration] = {
    "minilm": Calibration(
        weights=(-3.4679, 2.5467, 1.7719, -2.8991, 2.1282, -0.8653, 0.9103), cut=0.04
    ),
}


def features(
    cosine: float | None,
    next_cosine: float | None,
    top_cosine: float | None,
    keyword_rank: int | None,
    spelled: bool,
) -> tuple[float, ...]:
    """The model's inputs for one hit: its cosine to the query (None: not among the vector
    candidates), the cosine of the next vector candidate below it, the best cosine of the query,
    its rank in the keyword list (None: not in it) and whether the query spells an identifier."""
    cos = cosine if cosine is not None else 0.0
    margin = cos - next_cosine if cosine is not None and next_cosine is not None else 0.0
    below = (top_cosine - cos) if top_cosine is not None else 0.0
    keyword = 1.0 / keyword_rank if keyword_rank else 0.0
    spell = 1.0 if spelled else 0.0
    return (1.0, cos, margin, below, keyword, spell, spell * keyword)


def probability(model_id: str, values: Sequence[float]) -> float | None:
    """The calibrated probability that a hit with these :func:`features` is relevant, or None
    for a model without a calibration."""
    return _logistic(CALIBRATIONS.get(model_id), values)


def is_relevant(model_id: str, p: float | None) -> bool:
    """Whether probability ``p`` clears the model's cut (True for an uncalibrated model)."""
    return _clears(CALIBRATIONS.get(model_id), p)


def _logistic(fit: Calibration | None, values: Sequence[float]) -> float | None:
    """``fit``'s logistic model at ``values``, or None without a fit."""
    if fit is None:
        return None
    z = sum(w * x for w, x in zip(fit.weights, values, strict=True))
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))


def _clears(fit: Calibration | None, p: float | None) -> bool:
    """Whether ``p`` reaches ``fit``'s cut (True without a fit or without a probability)."""
    return fit is None or p is None or p >= fit.cut


GATE_FEATURES = ("bias", "top_cosine", "coverage", "question", "task")


# Written by ``bench/coding.py --fit`` (calibration half): L2-regularised logistic regression
# (lambda 0.1 on standardised inputs, folded back to raw ones here) of "some memory answers this"
# over the calibration queries, answerable 1 and unanswerable 0; the cut is the highest that keeps
# >= 95% of answerable calibration queries' answers relevant together with the per-hit cut.
GATES: dict[str, Calibration] = {
    "minilm": Calibration(weights=(-3.2343, -1.2318, 10.1346, 0.9077, 3.4374), cut=0.405),
}


def gate_features(top_cosine: float, coverage: float, form: Form) -> tuple[float, ...]:
    """The gate's inputs: the query's best cosine, its coverage (best of its first hits,
    :func:`mcp_memory.service.coverage.coverages`) and its form as two indicators."""
    return (1.0, top_cosine, coverage, float(form == "question"), float(form == "task"))


def answerable(model_id: str, values: Sequence[float]) -> float | None:
    """The gate's probability that some memory answers the query, or None for a model
    without a gate."""
    return _logistic(GATES.get(model_id), values)


def passes_gate(model_id: str, p: float | None) -> bool:
    """Whether the query may have relevant hits (True without a gate or without its inputs)."""
    return _clears(GATES.get(model_id), p)
