"""A loopback HTTP server standing in for the Gemini API (and an OpenAI-compatible server).

It speaks ``POST /{version}/models/{model}:generateContent`` and ``POST /v1/chat/completions``,
answers from a queue of scripted :class:`Reply` objects (built with the helpers below), and
records every request so tests can assert on headers and bodies::

    with GeminiStandin() as g:
        g.queue.append(gemini_json({"memories": ["..."]}))
        provider = GeminiProvider(api_key="k", base_url=g.url)
        ...
        assert g.requests[0].headers["x-goog-api-key"] == "k"

An empty queue answers HTTP 500 with a message saying so. A :func:`hang` reply waits without
answering until the client gives up or the stand-in is closed (closing releases it at once).
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Reply:
    """One scripted answer: HTTP status, JSON (or raw) body, and how long to hang first."""

    status: int = 200
    body: Any = None  # JSON-serialisable, or bytes sent as they are
    hang: float = 0.0  # seconds to wait before answering (released when the stand-in closes)


@dataclass(frozen=True)
class Recorded:
    """One request as the stand-in received it."""

    method: str
    path: str
    headers: dict[str, str]  # names lowercased
    body: Any  # parsed JSON, or the raw text when it was not JSON

    def text(self) -> str:
        """The whole body as one string, to search for what was (not) sent."""
        return json.dumps(self.body) if not isinstance(self.body, str) else self.body


# --- Gemini replies -------------------------------------------------------------------------------


def gemini_usage(prompt: int = 120, output: int = 40, thoughts: int = 0) -> dict[str, int]:
    usage = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": output,
        "totalTokenCount": prompt + output + thoughts,
    }
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    return usage


def gemini_text(
    text: str, *, finish: str = "STOP", prompt: int = 120, output: int = 40, thoughts: int = 0
) -> Reply:
    """A normal answer whose only part is ``text``."""
    return Reply(
        body={
            "candidates": [
                {
                    "content": {"role": "model", "parts": [{"text": text}]},
                    "finishReason": finish,
                    "index": 0,
                }
            ],
            "usageMetadata": gemini_usage(prompt, output, thoughts),
            "modelVersion": "gemini-2.5-flash",
        }
    )


def gemini_json(payload: Any, **kwargs: Any) -> Reply:
    """A JSON-mode answer: ``payload`` serialised as the text part."""
    return gemini_text(json.dumps(payload), **kwargs)


def gemini_refusal() -> Reply:
    """What a refusal looks like in JSON mode: the apology inside the schema."""
    return gemini_json({"memories": ["I'm sorry, but I can't help with merging these notes."]})


def gemini_blocked(finish: str = "SAFETY") -> Reply:
    """A candidate stopped by a filter: no content, a finishReason such as SAFETY or RECITATION."""
    return Reply(
        body={
            "candidates": [
                {
                    "finishReason": finish,
                    "index": 0,
                    "safetyRatings": [
                        {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH"}
                    ],
                }
            ],
            "usageMetadata": gemini_usage(120, 0),
        }
    )


def gemini_no_candidates(block_reason: str | None = None) -> Reply:
    """An empty candidates list, optionally with the prompt's blockReason."""
    body: dict[str, Any] = {"candidates": [], "usageMetadata": gemini_usage(120, 0)}
    if block_reason:
        body["promptFeedback"] = {"blockReason": block_reason}
    return Reply(body=body)


def gemini_error(status: int) -> Reply:
    """An HTTP error with the body Google sends (429 RESOURCE_EXHAUSTED, 500 INTERNAL, ...)."""
    names = {
        400: ("INVALID_ARGUMENT", "Request contains an invalid argument."),
        403: ("PERMISSION_DENIED", "Method doesn't allow unregistered callers."),
        404: ("NOT_FOUND", "models/nope is not found for API version v1beta."),
        429: (
            "RESOURCE_EXHAUSTED",
            "You exceeded your current quota, please check your plan and billing details.",
        ),
        500: ("INTERNAL", "An internal error has occurred."),
        503: ("UNAVAILABLE", "The model is overloaded. Please try again later."),
    }
    name, message = names.get(status, ("UNKNOWN", "error"))
    return Reply(status, {"error": {"code": status, "message": message, "status": name}})


def hang(seconds: float = 30.0) -> Reply:
    """No answer for ``seconds`` (longer than the client's timeout)."""
    return Reply(hang=seconds, body={"late": True})


# --- OpenAI-compatible replies --------------------------------------------------------------------


def openai_json(
    payload: Any, *, finish: str = "stop", prompt: int = 90, completion: int = 30
) -> Reply:
    """A chat completion whose message content is ``payload`` serialised."""
    return Reply(
        body={
            "id": "chatcmpl-standin",
            "object": "chat.completion",
            "model": "local-model",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": json.dumps(payload)},
                    "finish_reason": finish,
                }
            ],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            },
        }
    )


def openai_error(status: int, message: str = "model overloaded") -> Reply:
    return Reply(status, {"error": {"message": message, "type": "server_error", "code": status}})


# --- the server -----------------------------------------------------------------------------------


@dataclass
class _State:
    queue: deque[Reply] = field(default_factory=deque)
    requests: list[Recorded] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    closing: threading.Event = field(default_factory=threading.Event)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean

    def do_POST(self) -> None:
        state = self.server.state
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = raw.decode("utf-8", "replace")
        headers = {k.lower(): v for k, v in self.headers.items()}
        known = self.path.startswith("/v1/chat/completions") or ":generateContent" in self.path
        with state.lock:
            state.requests.append(Recorded("POST", self.path, headers, body))
            reply = state.queue.popleft() if state.queue and known else None
        if reply is None:
            why = "stand-in queue is empty" if known else f"no route for {self.path}"
            reply = Reply(500 if known else 404, {"error": {"code": 500, "message": why}})
        if reply.hang and state.closing.wait(reply.hang):
            return  # closed while hanging: drop the connection
        data = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass  # the client gave up (timeout): nothing to tell it


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, state: _State) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hung up mid-request is expected here


class GeminiStandin:
    """The stand-in server on a free loopback port; use it as a context manager."""

    def __init__(self) -> None:
        self._state = _State()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def queue(self) -> deque[Reply]:
        return self._state.queue

    @property
    def requests(self) -> list[Recorded]:
        with self._state.lock:
            return list(self._state.requests)

    @property
    def url(self) -> str:
        """The Gemini base URL (give it to ``GeminiProvider(base_url=...)``)."""
        assert self._server is not None, "the stand-in is not running"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def openai_url(self) -> str:
        """The OpenAI-compatible base URL (``.../v1``)."""
        return self.url + "/v1"

    def __enter__(self) -> GeminiStandin:
        self._server = _Server(self._state)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None and self._thread is not None
        self._state.closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
