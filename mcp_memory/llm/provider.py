"""The :class:`Provider` protocol and what providers share: :class:`Usage`, :class:`MergeOutput`,
the prompts, the answer schemas and the parsing of a model's answer.

The providers themselves live in :mod:`mcp_memory.llm.http` (Gemini, OpenAI-compatible) and
:mod:`mcp_memory.llm.extractive` (offline); :mod:`mcp_memory.llm.factory` chooses one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, TypeVar

import pydantic

from mcp_memory.errors import LLMError
from mcp_memory.redaction.redact import redact

__all__ = [
    "CONFLICT_INSTRUCTION",
    "JUDGE_INSTRUCTION",
    "MERGE_INSTRUCTION",
    "Answer",
    "ConflictAnswer",
    "JudgeAnswer",
    "MergeAnswer",
    "MergeOutput",
    "Provider",
    "Usage",
    "conflict_prompt",
    "judge_prompt",
    "merge_prompt",
    "parse_answer",
]


@dataclass(frozen=True)
class Usage:
    """Calls and tokens spent (output tokens include a model's thinking tokens)."""

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.calls + other.calls,
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
        )

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True)
class MergeOutput:
    """The merged memories (not yet checked), what they cost, and who made them."""

    memories: list[str]
    usage: Usage
    provider: str
    model: str | None


class Provider(Protocol):
    name: str
    model: str | None
    offline: bool  # True: no network, no cost

    def merge(self, texts: Sequence[str], *, max_output_tokens: int) -> MergeOutput:
        """Merge ``texts`` (oldest first) into as few memories as possible."""
        ...

    def judge_substance(self, text: str) -> tuple[bool, Usage]:
        """True when ``text`` is worth keeping."""
        ...

    def judge_conflict(self, memory: str, existing: str) -> tuple[str, str, Usage]:
        """Whether ``memory`` contradicts, repeats or fits with ``existing`` (a line a config
        file already holds): ("contradicts" | "same" | "compatible", reason, usage)."""
        ...


# --- prompts and answer schemas -------------------------------------------------------------------

MERGE_INSTRUCTION = """\
You consolidate notes from a coding assistant's long-term memory. You get several related notes,
oldest first. Merge them into the fewest self-contained statements.
- Keep every fact: numbers and units, file paths, commands, flags, names, identifiers, versions,
  URLs, decisions and their reasons. Copy them exactly as written.
- Drop repetition and filler. If notes contradict each other, keep the later one and mention the
  earlier value as replaced.
- Never add facts, advice or explanations that are not in the notes.
- Each statement must make sense on its own. Together they must be no longer than the input.
Answer with JSON: {"memories": ["...", ...]}."""

JUDGE_INSTRUCTION = """\
You review one note from a coding assistant's long-term memory. Keep it when it holds durable
substance: a fact about a project or environment, a decision and its reason, a preference, a
command, a path, a version, an error and its fix. Do not keep chit-chat, greetings,
acknowledgements or transient status ("done", "looks good").
Answer with JSON: {"keep": true or false, "reason": "<one short sentence>"}."""


CONFLICT_INSTRUCTION = """\
You check a note before it is added to a coding assistant's instruction file (CLAUDE.md). You get
the note and one line the file already holds. Answer "contradicts" when following both would be
impossible or they state different values for the same thing (another tool, version, number,
limit, setting, policy, or one says never/not where the other says do). Answer "same" when the
note only repeats what the line says. Answer "compatible" when the note adds something the line
does not cover, or the two are about different things.
Answer with JSON: {"verdict": "contradicts" | "same" | "compatible", "reason": "<one short
sentence>"}."""


class MergeAnswer(pydantic.BaseModel):
    memories: list[str]


class JudgeAnswer(pydantic.BaseModel):
    keep: bool
    reason: str


class ConflictAnswer(pydantic.BaseModel):
    verdict: Literal["contradicts", "same", "compatible"]
    reason: str


Answer = TypeVar("Answer", MergeAnswer, JudgeAnswer, ConflictAnswer)


def merge_prompt(texts: Sequence[str]) -> str:
    """The user turn of a merge: the redacted notes, numbered, oldest first."""
    notes = "\n\n".join(
        f"<note {i}>\n{redact(t).text.strip()}\n</note {i}>" for i, t in enumerate(texts, 1)
    )
    return f"Merge these {len(texts)} notes (oldest first).\n\n{notes}"


def judge_prompt(text: str) -> str:
    """The user turn of a substance judgement: the redacted note."""
    return f"<note>\n{redact(text).text.strip()}\n</note>"


def conflict_prompt(memory: str, existing: str) -> str:
    """The user turn of a conflict check: the redacted note and the line it would sit beside."""
    return (
        f"<note>\n{redact(memory).text.strip()}\n</note>\n"
        f"<existing_line>\n{redact(existing).text.strip()}\n</existing_line>"
    )


_FENCED = re.compile(r"\A\s*```(?:json)?\s*(.*?)\s*```\s*\Z", re.DOTALL)


def parse_answer(model: type[Answer], text: str, who: str, usage: Usage) -> Answer:
    """``text`` (bare or in a code fence) read as ``model``; LLMError, costing ``usage``, if not."""
    fenced = _FENCED.match(text)
    try:
        return model.model_validate_json(fenced.group(1) if fenced else text)
    except pydantic.ValidationError as e:
        shown = text if len(text) <= 200 else text[:200] + "..."
        raise LLMError(
            f"{who} answered something other than the JSON asked for "
            f"({e.errors()[0]['msg']}): {shown!r}",
            usage=usage,
        ) from e
