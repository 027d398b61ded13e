"""A loopback stand-in for the Anthropic Messages API that plays a script to Claude Code.

The real Claude Code CLI (tests/claude) is pointed at it with ``ANTHROPIC_BASE_URL``. Each
request of the main conversation gets the next turn of a script (a text answer or a tool call),
so a test decides what "the model" does, while everything around it is real: the CLI, its tool
execution, its hooks and the MCP server it starts. Requests that are not the main conversation
(Claude Code's side requests: session titles, Bash command checks, summaries, small-model calls)
get a short text answer and do not consume the script. Every request body is recorded, so a
test can assert what reached the model: the tool list, the tool results and the context that
hooks injected.

What arrives (Claude Code 2.1.332, ``CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1``): only main
requests in these scenarios, streaming, with the model given by ``--model``; no title or
Bash-prefix side requests. ``/compact`` sends one request with the conversation, the tools and
the main model ("CRITICAL: Respond with TEXT ONLY..."): it counts as main and takes a turn (its
answer becomes the summary). MCP tools are deferred (listed in a system reminder for
``ToolSearch``, not in ``tools``), yet a direct ``tool_use`` of ``mcp__memory__remember`` runs.

Wire format (what the CLI reads): ``POST /v1/messages`` with ``"stream": true`` gets SSE events
``message_start``, per content block ``content_block_start`` / ``content_block_delta``
(``text_delta``, or ``input_json_delta`` carrying the tool input as a JSON string) /
``content_block_stop``, then ``message_delta`` (``stop_reason`` ``tool_use`` or ``end_turn``)
and ``message_stop``; without ``stream`` one JSON message. ``POST /v1/messages/count_tokens``
answers a rough count.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MAIN_MODEL = "claude-sonnet-4-5"  # passed to the CLI with --model; side requests use others
SIDE_REPLY = "OK"


@dataclass(frozen=True)
class Turn:
    """One answer of the scripted model: ``text``, or a call of ``tool`` with ``input``."""

    text: str = ""
    tool: str | None = None
    input: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def say(cls, text: str) -> Turn:
        return cls(text=text)

    @classmethod
    def call(cls, tool: str, **tool_input: Any) -> Turn:
        return cls(tool=tool, input=tool_input)


@dataclass
class Request:
    """One recorded request: its path, its JSON body, and whether it was the main conversation
    (it then received ``turn``, the script's turn with that index; None when the script had
    run out and a closing text was sent)."""

    path: str
    body: dict[str, Any]
    main: bool
    turn: int | None = None


def is_main(body: dict[str, Any]) -> bool:
    """The main conversation is the one that offers Claude Code's tools with the main model.
    Side requests (title generation, Bash prefix checks, small-model helpers) offer no tools
    or use another model."""
    tools = body.get("tools") or []
    names = {t.get("name") for t in tools if isinstance(t, dict)}
    return body.get("model") == MAIN_MODEL and "Bash" in names


class MessagesStandin:
    """The server: ``with MessagesStandin(script) as api: ... api.url ... api.requests``."""

    def __init__(self, script: list[Turn]) -> None:
        self.script = list(script)
        self.requests: list[Request] = []
        self._next = 0
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> MessagesStandin:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def main_requests(self) -> list[Request]:
        return [r for r in self.requests if r.main]

    @property
    def consumed(self) -> int:
        return self._next

    def answer(self, path: str, body: dict[str, Any]) -> Turn:
        """Record the request and pick its answer (the next script turn for the main one)."""
        with self._lock:
            main = is_main(body)
            request = Request(path, body, main)
            self.requests.append(request)
            if not main:
                return Turn.say(SIDE_REPLY)
            if self._next < len(self.script):
                request.turn = self._next
                self._next += 1
                return self.script[request.turn]
            return Turn.say("Done.")

    def message_id(self) -> str:
        return f"msg_standin_{next(self._ids):04d}"


# -- the HTTP side -------------------------------------------------------------------------------


def _handler(api: MessagesStandin) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet: pytest shows failures
            pass

        def do_HEAD(self) -> None:
            self._json(200, {})

        def do_GET(self) -> None:
            self._json(200, {"data": [], "has_more": False})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                self._json(400, {"type": "error", "error": {"type": "invalid_request_error"}})
                return
            path = self.path.split("?", 1)[0]
            if path.endswith("/count_tokens"):
                api.requests.append(Request(path, body, main=False))
                self._json(200, {"input_tokens": max(1, len(json.dumps(body)) // 4)})
                return
            if not path.endswith("/v1/messages"):
                self._json(404, {"type": "error", "error": {"type": "not_found_error"}})
                return
            turn = api.answer(path, body)
            message = _message(api.message_id(), str(body.get("model") or MAIN_MODEL), turn)
            if body.get("stream"):
                self._stream(message)
            else:
                self._json(200, message)

        def _json(self, status: int, data: dict[str, Any]) -> None:
            payload = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _stream(self, message: dict[str, Any]) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            for event, data in _events(message):
                self.wfile.write(f"event: {event}\ndata: {json.dumps(data)}\n\n".encode())
            self.wfile.flush()
            self.close_connection = True

    return Handler


def _message(message_id: str, model: str, turn: Turn) -> dict[str, Any]:
    if turn.tool is not None:
        block: dict[str, Any] = {
            "type": "tool_use",
            "id": f"toolu_{message_id[-4:]}",
            "name": turn.tool,
            "input": turn.input,
        }
        stop = "tool_use"
    else:
        block = {"type": "text", "text": turn.text}
        stop = "end_turn"
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [block],
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 5},
    }


def _events(message: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    start = {**message, "content": [], "stop_reason": None}
    start["usage"] = {"input_tokens": 10, "output_tokens": 1}
    yield "message_start", {"type": "message_start", "message": start}
    for index, block in enumerate(message["content"]):
        if block["type"] == "tool_use":
            opening = {**block, "input": {}}
            delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
        else:
            opening = {"type": "text", "text": ""}
            delta = {"type": "text_delta", "text": block["text"]}
        yield (
            "content_block_start",
            {"type": "content_block_start", "index": index, "content_block": opening},
        )
        yield "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}
        yield "content_block_stop", {"type": "content_block_stop", "index": index}
    yield (
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
            "usage": {"output_tokens": 5},
        },
    )
    yield "message_stop", {"type": "message_stop"}


# -- reading what reached the model --------------------------------------------------------------


def texts(body: dict[str, Any]) -> list[str]:
    """Every text of a request: the system prompt and each message's text, tool_result and
    their nested text blocks, in order."""
    out: list[str] = []
    system = body.get("system")
    if isinstance(system, str):
        out.append(system)
    elif isinstance(system, list):
        out += [b.get("text", "") for b in system if isinstance(b, dict)]
    for message in body.get("messages") or []:
        out += _block_texts(message.get("content"))
    return out


def _block_texts(content: Any) -> list[str]:
    if isinstance(content, str):
        return [content]
    out: list[str] = []
    for block in content or []:
        if not isinstance(block, dict):
            continue
        if isinstance(block.get("text"), str):
            out.append(block["text"])
        if block.get("type") == "tool_result":
            out += _block_texts(block.get("content"))
    return out


_HOOK_CONTEXT = re.compile(r"(\w+) hook additional context: ")


def hook_contexts(body: dict[str, Any], event: str) -> list[str]:
    """The context each ``event`` hook injected into a request, as the CLI wraps it
    (``<event> hook additional context: ...``), one string per injection."""
    found = []
    for text in texts(body):
        for match in _HOOK_CONTEXT.finditer(text):
            if match.group(1) != event:
                continue
            rest = text[match.end() :]
            following = _HOOK_CONTEXT.search(rest)
            chunk = rest[: following.start()] if following else rest
            found.append(chunk.split("</system-reminder>", 1)[0].strip())
    return found


def tool_names(body: dict[str, Any]) -> list[str]:
    return [t["name"] for t in body.get("tools") or [] if isinstance(t, dict) and "name" in t]


def tool_results(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Every tool_result block of a request's messages, in order (``content`` flattened)."""
    out = []
    for message in body.get("messages") or []:
        content = message.get("content")
        for block in content if isinstance(content, list) else []:
            if isinstance(block, dict) and block.get("type") == "tool_result":
                out.append(
                    {
                        "tool_use_id": block.get("tool_use_id"),
                        "is_error": bool(block.get("is_error")),
                        "text": "\n".join(_block_texts(block.get("content"))),
                    }
                )
    return out
