"""The providers that call a model over HTTP: :class:`GeminiProvider` and
:class:`OpenAICompatProvider`, and the error mapping they share.

Each provider builds its own request and reads its own reply (:meth:`_RemoteProvider._send`);
:meth:`_RemoteProvider._ask` does the rest for both: it checks how the answer ended and parses
it. HTTP statuses, timeouts and unreachable servers become :class:`~mcp_memory.errors.LLMError`
with the usage the failed call still cost; nothing is retried.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pydantic

from mcp_memory.errors import ConfigError, LLMError
from mcp_memory.llm.provider import (
    CONFLICT_INSTRUCTION,
    JUDGE_INSTRUCTION,
    MERGE_INSTRUCTION,
    Answer,
    ConflictAnswer,
    JudgeAnswer,
    MergeAnswer,
    MergeOutput,
    Usage,
    conflict_prompt,
    judge_prompt,
    merge_prompt,
    parse_answer,
)

__all__ = ["DEFAULT_GEMINI_MODEL", "GeminiProvider", "OpenAICompatProvider"]

DEFAULT_GEMINI_MODEL = "gemini-2.5-flash"


# --- transport errors -----------------------------------------------------------------------------


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


@contextmanager
def _reaching(who: str, where: str, timeout: float) -> Iterator[None]:
    """Turn a timeout or a connection failure (httpx or httpx2) inside into an LLMError."""
    try:
        yield
    except Exception as e:
        mapped = _transport_error(who, where, timeout, e)
        if mapped is None:
            raise
        raise mapped from e


# --- what both providers share --------------------------------------------------------------------


_Schema = type[pydantic.BaseModel]  # what the answer's JSON must match


@dataclass(frozen=True)
class _Reply:
    """A model's answer as its API gave it: the text, how it ended, and what it cost."""

    text: str
    finish: str | None  # the finish reason, spelled as the API spells it
    usage: Usage


class _RemoteProvider(ABC):
    """A model behind an HTTP API. Subclasses build the request and read the reply (``_send``)
    and say how their API spells the end of an answer; the checks and the parsing are here."""

    name: str
    offline = False
    timeout: float
    _model: str
    _who: str  # who answered, in messages
    _finish_field: str  # the API's name for the finish reason
    _finished: tuple[str | None, ...]  # finish reasons of a complete answer
    _cut_off: str  # the finish reason of an answer cut off at the token limit
    _cut_off_message: str  # with {who} and {limit}

    def merge(self, texts: Sequence[str], *, max_output_tokens: int) -> MergeOutput:
        answer, usage = self._ask(
            MERGE_INSTRUCTION, merge_prompt(texts), MergeAnswer, max_output_tokens
        )
        return MergeOutput([m.strip() for m in answer.memories], usage, self.name, self._model)

    def judge_substance(self, text: str) -> tuple[bool, Usage]:
        answer, usage = self._ask(JUDGE_INSTRUCTION, judge_prompt(text), JudgeAnswer, 256)
        return answer.keep, usage

    def judge_conflict(self, memory: str, existing: str) -> tuple[str, str, Usage]:
        answer, usage = self._ask(
            CONFLICT_INSTRUCTION, conflict_prompt(memory, existing), ConflictAnswer, 256
        )
        return answer.verdict, answer.reason.strip(), usage

    def _ask(
        self, instruction: str, prompt: str, schema: type[Answer], max_output_tokens: int
    ) -> tuple[Answer, Usage]:
        reply = self._send(instruction, prompt, schema, max_output_tokens)
        who, finish, usage = self._who, reply.finish, reply.usage
        if finish == self._cut_off:
            message = self._cut_off_message.format(who=who, limit=max_output_tokens)
            raise LLMError(message, usage=usage)
        if finish not in self._finished:
            raise LLMError(
                f"{who} stopped without an answer ({self._finish_field}={finish})", usage=usage
            )
        if not reply.text.strip():
            raise LLMError(f"{who} returned an empty answer", usage=usage)
        return parse_answer(schema, reply.text, who, usage), usage

    @abstractmethod
    def _send(
        self, instruction: str, prompt: str, schema: _Schema, max_output_tokens: int
    ) -> _Reply:
        """Ask the model for JSON under ``schema``; LLMError if there is no answer to read."""


# --- Gemini ---------------------------------------------------------------------------------------

_GEMINI_URL = "https://generativelanguage.googleapis.com"


class GeminiProvider(_RemoteProvider):
    """Gemini through ``google-genai``; ``base_url`` points it elsewhere (a proxy, a stand-in)."""

    name = "gemini"
    _who = "Gemini"
    _finish_field = "finishReason"
    _finished = ("STOP", "FINISH_REASON_UNSPECIFIED", None)
    _cut_off = "MAX_TOKENS"
    _cut_off_message = "{who}'s answer was cut off at max_output_tokens={limit}"

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

    def _send(
        self, instruction: str, prompt: str, schema: _Schema, max_output_tokens: int
    ) -> _Reply:
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
        with _reaching("Gemini", where, self.timeout):
            try:
                with genai.Client(
                    api_key=self._api_key, vertexai=False, http_options=options
                ) as client:
                    response = client.models.generate_content(
                        model=self._model, contents=prompt, config=config
                    )
            except errors.APIError as e:
                detail = ": ".join(str(x) for x in (e.status, e.message) if x)
                raise _http_error("Gemini", e.code, detail) from e
            except ValueError as e:  # a reply body that is not JSON, or not Gemini's shape
                raise LLMError(
                    f"Gemini at {where} replied with something that is not its API",
                    usage=_ONE_CALL,
                ) from e
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
        parts = candidate.content.parts if candidate.content else None
        text = "".join(p.text for p in parts or () if p.text and not p.thought)
        return _Reply(text, _enum_name(candidate.finish_reason), usage)


def _enum_name(value: Any) -> str | None:
    if value is None:
        return None
    return str(getattr(value, "value", value))


# --- OpenAI-compatible servers --------------------------------------------------------------------


def _json_schema(model: type[pydantic.BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema()
    schema["additionalProperties"] = False  # strict mode wants it
    return {"name": model.__name__, "strict": True, "schema": schema}


class OpenAICompatProvider(_RemoteProvider):
    """Any server with OpenAI's ``/chat/completions`` (llama.cpp, Ollama, vLLM, LM Studio...).

    ``base_url`` is the API root, usually ending in ``/v1``.
    """

    name = "openai"
    _finish_field = "finish_reason"
    _finished = ("stop", None)
    _cut_off = "length"
    _cut_off_message = "{who} cut its answer off at max_tokens={limit}"

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
        self._who = f"the model server at {self.base_url}"

    def _send(
        self, instruction: str, prompt: str, schema: _Schema, max_output_tokens: int
    ) -> _Reply:
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
        who = self._who
        try:
            with (
                _reaching("the model server", url, self.timeout),
                httpx.Client(timeout=self.timeout) as client,
            ):
                response = client.post(url, json=body, headers=headers)
        except httpx.HTTPError as e:  # not a transport error: a redirect loop, a bad encoding
            raise LLMError(f"{who} failed: {e}") from e
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
        if message.get("refusal"):
            raise LLMError(f"{who} refused: {message['refusal']}", usage=usage)
        text = message.get("content") or ""
        return _Reply(text if isinstance(text, str) else "", choice.get("finish_reason"), usage)


def _error_detail(response: httpx.Response) -> str:
    try:
        error = response.json().get("error")
        message = error.get("message") if isinstance(error, dict) else error
        return str(message or "")[:300]
    except (ValueError, AttributeError):
        return response.text[:300]
