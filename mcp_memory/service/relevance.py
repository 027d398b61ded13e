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
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

FEATURES = ("bias", "cosine", "margin", "below_top", "keyword", "spelled", "spelled_keyword")


@dataclass(frozen=True)
class Calibration:
    """One model's logistic coefficients (in :data:`FEATURES` order) and its decision cut."""

    weights: tuple[float, ...]
    cut: float


# Written by ``bench/coding.py --fit`` (calibration half); see the module docstring.
CALIBRATIONS: dict[str, Calibration] = {
    "minilm": Calibration(
        weights=(-3.3138, 2.3016, 1.5153, -2.6829, 2.071, -0.8945, 1.0665), cut=0.045
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
    calibration = CALIBRATIONS.get(model_id)
    if calibration is None:
        return None
    z = sum(w * x for w, x in zip(calibration.weights, values, strict=True))
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))


def is_relevant(model_id: str, p: float | None) -> bool:
    """Whether probability ``p`` clears the model's cut (True for an uncalibrated model)."""
    calibration = CALIBRATIONS.get(model_id)
    return calibration is None or p is None or p >= calibration.cut
