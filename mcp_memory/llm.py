"""Language models for the lifecycle: merge a cluster of memories, judge whether one has substance.

Every provider satisfies :class:`Provider`:

- :class:`GeminiProvider` (``google-genai``, JSON output under a schema),
- :class:`OpenAICompatProvider` (``POST {base_url}/chat/completions``: llama.cpp, Ollama, vLLM...),
- :class:`ExtractiveProvider` (offline, no model: drops repeated sentences),
- :class:`NoProvider` (``none``: merging disabled).

Texts are redacted before they leave the process. Providers never retry: a failure raises
:class:`~mcp_memory.errors.LLMError` at once, its ``usage`` set to what the failed call still
cost, and the caller decides. A provider does not judge its own answer either: the caller records
``MergeOutput.usage`` and then runs :func:`mcp_memory.merge_check.check_merge`, so the tokens of
a rejected answer are still counted. :class:`BudgetLedger` checks :class:`BudgetLimits` per run
and per day; persisting the day's usage (table ``llm_usage``) is the caller's job.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import httpx
import pydantic

from .errors import BudgetExceeded, ConfigError, LLMError
from .merge_check import missing_facts
from .redact import redact

__all__ = [
    "Budget",
    "BudgetLedger",
    "BudgetLimits",
    "ExtractiveProvider",
    "GeminiProvider",
    "MergeOutput",
    "NoProvider",
    "OpenAICompatProvider",
    "Provider",
    "Usage",
    "estimate_tokens",
    "make_provider",
    "substance_heuristic",
]

DEFAULT_GEMINI_MODEL = "gemini-2.5-flash"


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


def estimate_tokens(text: str) -> int:
    """A rough token count (4 characters a token), for budget checks before a call."""
    return math.ceil(len(text) / 4)


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


class MergeAnswer(pydantic.BaseModel):
    memories: list[str]


class JudgeAnswer(pydantic.BaseModel):
    keep: bool
    reason: str


_Answer = TypeVar("_Answer", MergeAnswer, JudgeAnswer)


def _merge_prompt(texts: Sequence[str]) -> str:
    notes = "\n\n".join(
        f"<note {i}>\n{redact(t).text.strip()}\n</note {i}>" for i, t in enumerate(texts, 1)
    )
    return f"Merge these {len(texts)} notes (oldest first).\n\n{notes}"


def _judge_prompt(text: str) -> str:
    return f"<note>\n{redact(text).text.strip()}\n</note>"


_FENCED = re.compile(r"\A\s*```(?:json)?\s*(.*?)\s*```\s*\Z", re.DOTALL)


def _parse(model: type[_Answer], text: str, who: str, usage: Usage) -> _Answer:
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


def _memories(answer: MergeAnswer) -> list[str]:
    return [m.strip() for m in answer.memories]


def _transport_errors() -> tuple[tuple[type[Exception], ...], tuple[type[Exception], ...]]:
    """Timeout and connection error classes of httpx and of httpx2 (google-genai's fork)."""
    timeouts: list[type[Exception]] = [httpx.TimeoutException]
    others: list[type[Exception]] = [httpx.TransportError]
    try:
        import httpx2  # type: ignore[import-not-found,unused-ignore]

        timeouts.append(httpx2.TimeoutException)
        others.append(httpx2.TransportError)
    except ImportError:
        pass
    return tuple(timeouts), tuple(others)


_ONE_CALL = Usage(calls=1)  # what a call that reached the server but got no answer costs


def _http_error(who: str, status: int, detail: str) -> LLMError:
    detail = f"HTTP {status}: {detail}" if detail else f"HTTP {status}"
    if status == 429:
        message = (
            f"{who} rate limit or quota exceeded ({detail}); retry later, or lower the budget "
            "(MCP_MEMORY_LLM_MAX_CALLS_PER_RUN, MCP_MEMORY_LLM_MAX_CALLS_PER_DAY)"
        )
    elif status in (401, 403):
        message = f"{who} refused the API key ({detail}); check the key"
    elif status == 404:
        message = f"{who} does not know this model or path ({detail}); check the model name"
    elif status >= 500:
        message = f"{who} server error ({detail}); try again later"
    else:
        message = f"{who} rejected the request ({detail})"
    return LLMError(message, usage=_ONE_CALL)


def _transport_error(who: str, where: str, timeout: float, error: Exception) -> LLMError | None:
    timeouts, others = _transport_errors()
    if isinstance(error, timeouts):
        return LLMError(f"{who} did not answer within {timeout:g} s ({where})", usage=_ONE_CALL)
    if isinstance(error, others):
        return LLMError(f"cannot reach {who} at {where}: {error or type(error).__name__}")
    return None


# --- Gemini ---------------------------------------------------------------------------------------

_GEMINI_URL = "https://generativelanguage.googleapis.com"


class GeminiProvider:
    """Gemini through ``google-genai``; ``base_url`` points it elsewhere (a proxy, a stand-in)."""

    name = "gemini"
    offline = False

    def __init__(
        self,
        api_key: str,
        model: str = DEFAULT_GEMINI_MODEL,
        base_url: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        if not api_key:
            raise ConfigError("the Gemini provider needs an API key")
        self.model: str | None = model
        self._api_key = api_key
        self._model = model
        self.base_url = base_url
        self.timeout = timeout

    def merge(self, texts: Sequence[str], *, max_output_tokens: int) -> MergeOutput:
        answer, usage = self._ask(
            MERGE_INSTRUCTION, _merge_prompt(texts), MergeAnswer, max_output_tokens
        )
        return MergeOutput(_memories(answer), usage, self.name, self._model)

    def judge_substance(self, text: str) -> tuple[bool, Usage]:
        answer, usage = self._ask(JUDGE_INSTRUCTION, _judge_prompt(text), JudgeAnswer, 256)
        return answer.keep, usage

    def _ask(
        self, instruction: str, prompt: str, schema: type[_Answer], max_output_tokens: int
    ) -> tuple[_Answer, Usage]:
        from google import genai  # imported on use: half a second that offline runs never pay
        from google.genai import errors, types

        options = types.HttpOptions(
            base_url=self.base_url,
            api_version="v1beta",
            timeout=max(1, round(self.timeout * 1000)),
            retry_options=types.HttpRetryOptions(attempts=1),  # a 429 fails fast; caller decides
        )
        config = types.GenerateContentConfig(
            system_instruction=instruction,
            response_mime_type="application/json",
            response_schema=schema,
            max_output_tokens=max_output_tokens,
            temperature=0.0,
            # 2.5 Flash thinks by default, and thinking tokens count against max_output_tokens.
            thinking_config=types.ThinkingConfig(thinking_budget=0)
            if self._model.startswith("gemini-2.5-flash")
            else None,
        )
        where = self.base_url or _GEMINI_URL
        try:
            with genai.Client(api_key=self._api_key, vertexai=False, http_options=options) as c:
                response = c.models.generate_content(
                    model=self._model, contents=prompt, config=config
                )
        except errors.APIError as e:
            detail = ": ".join(str(x) for x in (e.status, e.message) if x)
            raise _http_error("Gemini", e.code, detail) from e
        except ValueError as e:  # a reply body that is not JSON, or not Gemini's shape
            raise LLMError(
                f"Gemini at {where} replied with something that is not its API", usage=_ONE_CALL
            ) from e
        except Exception as e:
            mapped = _transport_error("Gemini", where, self.timeout, e)
            if mapped is None:
                raise
            raise mapped from e
        meta = response.usage_metadata
        usage = Usage(
            1,
            (meta.prompt_token_count or 0) if meta else 0,
            ((meta.candidates_token_count or 0) + (meta.thoughts_token_count or 0)) if meta else 0,
        )
        if not response.candidates:
            feedback = response.prompt_feedback
            reason = feedback.block_reason if feedback else None
            why = f" (prompt blocked: {_enum_name(reason)})" if reason else ""
            raise LLMError(f"Gemini returned no candidates{why}", usage=usage)
        candidate = response.candidates[0]
        finish = _enum_name(candidate.finish_reason)
        parts = candidate.content.parts if candidate.content else None
        text = "".join(p.text for p in parts or () if p.text and not p.thought)
        if finish == "MAX_TOKENS":
            raise LLMError(
                f"Gemini's answer was cut off at max_output_tokens={max_output_tokens}",
                usage=usage,
            )
        if finish not in ("STOP", "FINISH_REASON_UNSPECIFIED", None):
            raise LLMError(f"Gemini stopped without an answer (finishReason={finish})", usage=usage)
        if not text.strip():
            raise LLMError("Gemini returned an empty answer", usage=usage)
        return _parse(schema, text, "Gemini", usage), usage


def _enum_name(value: Any) -> str | None:
    if value is None:
        return None
    return str(getattr(value, "value", value))


# --- OpenAI-compatible servers --------------------------------------------------------------------


def _json_schema(model: type[pydantic.BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema()
    schema["additionalProperties"] = False  # strict mode wants it
    return {"name": model.__name__, "strict": True, "schema": schema}


class OpenAICompatProvider:
    """Any server with OpenAI's ``/chat/completions`` (llama.cpp, Ollama, vLLM, LM Studio...).

    ``base_url`` is the API root, usually ending in ``/v1``.
    """

    name = "openai"
    offline = False

    def __init__(
        self, base_url: str, api_key: str | None, model: str, timeout: float = 30.0
    ) -> None:
        if not base_url:
            raise ConfigError("the OpenAI-compatible provider needs a base URL (e.g. .../v1)")
        self.base_url = base_url.rstrip("/")
        self.model: str | None = model
        self._model = model
        self._api_key = api_key
        self.timeout = timeout

    def merge(self, texts: Sequence[str], *, max_output_tokens: int) -> MergeOutput:
        answer, usage = self._ask(
            MERGE_INSTRUCTION, _merge_prompt(texts), MergeAnswer, max_output_tokens
        )
        return MergeOutput(_memories(answer), usage, self.name, self._model)

    def judge_substance(self, text: str) -> tuple[bool, Usage]:
        answer, usage = self._ask(JUDGE_INSTRUCTION, _judge_prompt(text), JudgeAnswer, 256)
        return answer.keep, usage

    def _ask(
        self, instruction: str, prompt: str, schema: type[_Answer], max_output_tokens: int
    ) -> tuple[_Answer, Usage]:
        url = f"{self.base_url}/chat/completions"
        body = {
            "model": self._model,
            "messages": [
                {"role": "system", "content": instruction},
                {"role": "user", "content": prompt},
            ],
            "response_format": {"type": "json_schema", "json_schema": _json_schema(schema)},
            "max_tokens": max_output_tokens,
            "temperature": 0,
        }
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        who = f"the model server at {self.base_url}"
        try:
            with httpx.Client(timeout=self.timeout) as client:
                response = client.post(url, json=body, headers=headers)
        except httpx.HTTPError as e:
            mapped = _transport_error("the model server", url, self.timeout, e)
            raise (mapped or LLMError(f"{who} failed: {e}")) from e
        if response.status_code >= 400:
            raise _http_error(who, response.status_code, _error_detail(response))
        try:
            data = response.json()
            meta = data.get("usage") or {}
            usage = Usage(
                1, int(meta.get("prompt_tokens") or 0), int(meta.get("completion_tokens") or 0)
            )
            choices = data["choices"]
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise LLMError(
                f"{who} replied with something that is not a chat completion", usage=_ONE_CALL
            ) from e
        if not choices:
            raise LLMError(f"{who} returned no choices", usage=usage)
        choice = choices[0]
        message = choice.get("message") or {}
        finish = choice.get("finish_reason")
        if message.get("refusal"):
            raise LLMError(f"{who} refused: {message['refusal']}", usage=usage)
        if finish == "length":
            raise LLMError(
                f"{who} cut its answer off at max_tokens={max_output_tokens}", usage=usage
            )
        if finish not in ("stop", None):
            raise LLMError(f"{who} stopped without an answer (finish_reason={finish})", usage=usage)
        text = message.get("content") or ""
        if not isinstance(text, str) or not text.strip():
            raise LLMError(f"{who} returned an empty answer", usage=usage)
        return _parse(schema, text, who, usage), usage


def _error_detail(response: httpx.Response) -> str:
    try:
        error = response.json().get("error")
        message = error.get("message") if isinstance(error, dict) else error
        return str(message or "")[:300]
    except (ValueError, AttributeError):
        return response.text[:300]


# --- no model -------------------------------------------------------------------------------------

_FENCE_BLOCK = re.compile(r"^[ \t]*```.*?^[ \t]*```[^\n]*$", re.MULTILINE | re.DOTALL)
_BULLET = re.compile(r"^\s*(?:[-*+•]|\d{1,3}[.)])\s+")
_SENTENCE_END = re.compile(r"[.!?]+[\"')\]]*\s+")
_NEVER_END = frozenset(
    [
        "e.g.",
        "i.e.",
        "vs.",
        "cf.",
        "approx.",
        "incl.",
        "resp.",
        "esp.",
        "viz.",
        "mr.",
        "mrs.",
        "dr.",
        "st.",
        "fig.",
        "al.",
        "jr.",
        "sr.",
        "ca.",
    ]
)
_INITIAL = re.compile(r"[A-Z]\.")
_EDGE_PUNCT = ".,;:!?()[]{}\"'`*"
_CLOSERS = "\"')]}`*"


def _split_prose(chunk: str) -> list[str]:
    sentences: list[str] = []
    start = 0
    for m in _SENTENCE_END.finditer(chunk):
        word = chunk[start : m.start() + 1].rsplit(None, 1)[-1]
        following = chunk[m.end() : m.end() + 1]
        if word.lower().lstrip("(\"'") in _NEVER_END or _INITIAL.fullmatch(word):
            continue
        if following.islower():
            continue  # "approx. ten", "v. 2": not a new sentence
        sentences.append(chunk[start : m.end()].strip())
        start = m.end()
    sentences.append(chunk[start:].strip())
    return [s for s in sentences if s]


def _prose_chunks(text: str) -> list[str]:
    """Lines grouped into chunks: a bullet, a blank line or a capitalised line starts a chunk;
    a line that starts in lower case continues a hard-wrapped sentence."""
    chunks: list[list[str]] = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            chunks.append([])
            continue
        bullet = _BULLET.match(line)
        if bullet:
            chunks.append([line[bullet.end() :].strip()])
        elif chunks and chunks[-1] and stripped[0].islower():
            chunks[-1].append(stripped)
        else:
            chunks.append([stripped])
    return [" ".join(c) for c in chunks if c]


def split_sentences(text: str) -> list[str]:
    """``text`` as sentences and list items; fenced code blocks stay whole. A dot inside a word
    (``config.py``, ``3.11.2``) or after an abbreviation (``e.g.``) ends nothing."""
    units: list[str] = []
    pos = 0
    for m in _FENCE_BLOCK.finditer(text):
        for chunk in _prose_chunks(text[pos : m.start()]):
            units += _split_prose(chunk)
        units.append(m.group().strip())
        pos = m.end()
    for chunk in _prose_chunks(text[pos:]):
        units += _split_prose(chunk)
    return units


def _normal(sentence: str) -> str:
    return " ".join(sentence.lower().split()).strip(_EDGE_PUNCT + " ")


def _tokens(sentence: str) -> frozenset[str]:
    return frozenset(t.strip(_EDGE_PUNCT) for t in sentence.lower().split()) - {""}


def _covers(kept: tuple[str, frozenset[str]], other: tuple[str, frozenset[str]]) -> bool:
    """``kept`` may stand for ``other``: near-identical words, and every hard fact of ``other``."""
    a, b = kept[1], other[1]
    if not b <= a or (a and len(b) / len(a) < 0.8):  # b within a: Jaccard is |b| / |a|
        return False
    return not missing_facts([other[0]], [kept[0]])


class ExtractiveProvider:
    """Merging without a model: sentences of all texts in order of first appearance, repeats out.

    A sentence is a repeat when its normalised text equals an earlier one's, or when their word
    sets overlap by Jaccard >= 0.8, one's words contain the other's and every hard fact of the
    smaller is in the larger; the larger one then stands at the earlier one's place. The result
    is never longer than the inputs and keeps all their hard facts.
    """

    name = "extractive"
    model: str | None = None
    offline = True

    def merge(self, texts: Sequence[str], *, max_output_tokens: int = 0) -> MergeOutput:
        kept: list[tuple[str, frozenset[str]]] = []  # sentence, its words
        seen: set[str] = set()
        for text in texts:
            for sentence in split_sentences(text):
                normal = _normal(sentence)
                if normal in seen:
                    continue
                seen.add(normal)
                new = (sentence, _tokens(sentence))
                for i, earlier in enumerate(kept):
                    if _covers(earlier, new):
                        break
                    if _covers(new, earlier):
                        kept[i] = new
                        break
                else:
                    kept.append(new)
        merged = ""
        for sentence, _ in kept:
            if merged:  # a sentence without a full stop, a list item or code gets its own line
                ends = merged.rstrip(_CLOSERS).endswith((".", "!", "?"))
                merged += " " if ends and not sentence.startswith("```") else "\n"
            merged += sentence
        return MergeOutput([merged] if merged else [], Usage(), self.name, None)

    def judge_substance(self, text: str) -> tuple[bool, Usage]:
        return substance_heuristic(text)[0], Usage()


class NoProvider:
    """``none``: the lifecycle runs without merging. Substance is judged by the heuristic."""

    name = "none"
    model: str | None = None
    offline = True

    def merge(self, texts: Sequence[str], *, max_output_tokens: int = 0) -> MergeOutput:
        raise LLMError(
            "merging is disabled (LLM provider 'none'); choose extractive, gemini or openai"
        )

    def judge_substance(self, text: str) -> tuple[bool, Usage]:
        return substance_heuristic(text)[0], Usage()


# --- substance without a model --------------------------------------------------------------------

_FILE = re.compile(
    r"(?<![\w.~/-])(?:[\w.~-]*/)+[\w.-]+|\b[\w-]+\.(?:py|pyi|js|mjs|ts|tsx|jsx|json|toml|ya?ml|md|txt|cfg|ini"
    r"|sh|sql|rs|go|java|kt|c|h|cc|cpp|hpp|rb|php|lock|env|html|css|xml|csv|db|log|conf|ipynb)\b"
)
_COMMAND = re.compile(
    r"`[^`\n]+`|^\s*\$ \S|(?<![\w-])--[a-z][\w-]+|\b(?:pip3?|uv|uvx|npm|npx|pnpm|yarn|git|pytest"
    r"|docker|kubectl|cargo|brew|apt(?:-get)?|sudo|ruff|mypy|curl|psql|sqlite3|poetry|conda)"
    r" +(?:-{0,2}[a-z][\w-]*)",
    re.MULTILINE,
)
_VERSION_NUMBER = re.compile(r"\bv?\d+\.\d+(?:\.\d+)*\b")
_NUMBER = re.compile(r"\b\d{2,}\b|\b\d+(?:%|ms|s|m|h|d|k|x|gb|mb|kb)\b", re.IGNORECASE)
_DECISION = re.compile(
    r"\b(decided|decision|because|always|never|instead|must|prefer(?:s|red)?|avoid|"
    r"don't|do not|should(?:n't| not)?)\b",
    re.IGNORECASE,
)
_ERROR = re.compile(
    r"\b(errors?|exceptions?|traceback|fail(?:s|ed|ing|ure)?|flaky|bug|crash\w*|broken|timeout)\b",
    re.IGNORECASE,
)
_FIX = re.compile(
    r"\b(fix(?:ed|es)?|solved?|resolved?|workaround|pinn(?:ed|ing)|by (?:using|setting|adding))\b",
    re.IGNORECASE,
)
_ENV_VAR = re.compile(r"\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b")
_IDENTIFIER = re.compile(r"\b[A-Za-z]+_\w+\b|\b[a-z]+[A-Z]\w*\b")
SUBSTANCE_THRESHOLD = 2


def substance_heuristic(text: str) -> tuple[bool, str]:
    """Whether ``text`` is worth keeping, without a model, and why.

    Score: a file path or file name +2; a command (backticks, ``$ ``, ``--flag``, ``git``/``pip``/
    ``pytest``... with an argument) +2; a version number (``3.5.0``) +2, else another number (two
    or more digits, or with a unit: ``10s``, ``40%``) +1; an error word together with a fix word
    +2; each distinct decision word (decided, because, always, never, instead, must, prefer,
    avoid, don't, should) +1, at most +2; an environment variable name (``MCP_MEMORY_HOME``) +2,
    else an identifier (snake_case, camelCase) +1; 200 characters or more +1. Kept when the
    score is at least 2 (``SUBSTANCE_THRESHOLD``): "ok" and "thanks, looks good" score 0,
    "Always use uv instead of pip" scores 2.
    """
    signals: list[tuple[str, int]] = []
    if _FILE.search(text):
        signals.append(("file path", 2))
    if _COMMAND.search(text):
        signals.append(("command", 2))
    if _VERSION_NUMBER.search(text):
        signals.append(("version", 2))
    elif _NUMBER.search(text):
        signals.append(("number", 1))
    if _ERROR.search(text) and _FIX.search(text):
        signals.append(("error and fix", 2))
    decisions = {m.lower() for m in _DECISION.findall(text)}
    if decisions:
        signals.append(("decision words", min(2, len(decisions))))
    if _ENV_VAR.search(text):
        signals.append(("environment variable", 2))
    elif _IDENTIFIER.search(text):
        signals.append(("identifier", 1))
    if len(text) >= 200:
        signals.append(("long", 1))
    score = sum(points for _, points in signals)
    keep = score >= SUBSTANCE_THRESHOLD
    found = ", ".join(name for name, _ in signals) or "no path, command, number, decision or fix"
    verdict = ">=" if keep else "<"
    return keep, f"{found} (score {score} {verdict} {SUBSTANCE_THRESHOLD})"


# --- budget ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BudgetLimits:
    """LLM limits (settings ``MCP_MEMORY_LLM_MAX_*``); None means no limit, 0 allows nothing."""

    max_calls_per_run: int | None = 20
    max_tokens_per_run: int | None = 200_000
    max_calls_per_day: int | None = 200
    max_tokens_per_day: int | None = 2_000_000


Budget = BudgetLimits  # the shorter name


class BudgetLedger:
    """What this run and this day have spent, against :class:`BudgetLimits`. Pure: no storage.

    ``day_usage`` is what earlier runs spent today (the caller reads it from ``llm_usage``).
    Call :meth:`check` before each call and :meth:`record` after it, failed calls included.
    """

    def __init__(self, limits: BudgetLimits, day_usage: Usage = Usage()) -> None:
        self.limits = limits
        self.earlier = day_usage
        self.run = Usage()

    @property
    def day(self) -> Usage:
        return self.earlier + self.run

    def check(self, estimated_input_tokens: int, max_output_tokens: int = 0) -> None:
        """Raise :class:`BudgetExceeded` if one more call of this size would pass a limit."""
        tokens = estimated_input_tokens + max_output_tokens
        day = self.day
        for spent, limit, setting, what in (
            (self.run.calls + 1, self.limits.max_calls_per_run, "CALLS_PER_RUN", "calls this run"),
            (self.run.tokens + tokens, self.limits.max_tokens_per_run, "TOKENS_PER_RUN",
             "tokens this run"),
            (day.calls + 1, self.limits.max_calls_per_day, "CALLS_PER_DAY", "calls today"),
            (day.tokens + tokens, self.limits.max_tokens_per_day, "TOKENS_PER_DAY", "tokens today"),
        ):  # fmt: skip
            if limit is not None and spent > limit:
                name = f"MCP_MEMORY_LLM_MAX_{setting}"
                later = "the next run" if setting.endswith("RUN") else "tomorrow"
                raise BudgetExceeded(
                    f"LLM budget reached: this call would make {spent} {what}, over the limit of "
                    f"{limit} ({name}); raise {name} or wait for {later}",
                    setting=name,
                )

    def record(self, usage: Usage) -> None:
        self.run = self.run + usage


# --- choosing a provider --------------------------------------------------------------------------

PROVIDER_KINDS = ("auto", "gemini", "openai", "extractive", "none")


def make_provider(
    kind: str,
    *,
    model: str | None = None,
    api_key: str | None = None,
    base_url: str | None = None,
    timeout: float = 30.0,
) -> Provider:
    """The provider for ``kind``: auto is Gemini when an API key is given, else extractive."""
    if kind == "auto":
        kind = "gemini" if api_key else "extractive"
    if kind == "gemini":
        if not api_key:
            raise ConfigError(
                "LLM provider gemini needs an API key: set MCP_MEMORY_LLM_API_KEY or GEMINI_API_KEY"
            )
        return GeminiProvider(api_key, model or DEFAULT_GEMINI_MODEL, base_url, timeout)
    if kind == "openai":
        if not base_url or not model:
            raise ConfigError(
                "LLM provider openai needs MCP_MEMORY_LLM_BASE_URL (e.g. http://127.0.0.1:8080/v1) "
                "and MCP_MEMORY_LLM_MODEL"
            )
        return OpenAICompatProvider(base_url, api_key, model, timeout)
    if kind == "extractive":
        return ExtractiveProvider()
    if kind == "none":
        return NoProvider()
    raise ConfigError(
        f"unknown LLM provider {kind!r} (MCP_MEMORY_LLM_PROVIDER); "
        f"expected one of {', '.join(PROVIDER_KINDS)}"
    )
