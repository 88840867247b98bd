"""A small OpenAI- and Anthropic-compatible server on 127.0.0.1 for the guard's tests and
benchmark: chat completions, responses and messages, as JSON (gzip when asked) or as
server-sent events. Every request is recorded. Bounded: a socket timeout per request,
and ``stop()`` (or the context manager) shuts it down."""

from __future__ import annotations

import gzip
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

USAGE = {"chat": (11, 7), "responses": (13, 5), "messages": (17, 9)}


def served(model: str) -> str:
    return f"{model}-0001"


class StubServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self) -> StubServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self.thread.join(timeout=10)

    def paths(self) -> list[str]:
        with self.lock:
            return [request["path"] for request in self.requests]


@contextmanager
def running() -> Iterator[StubServer]:
    server = StubServer().start()
    try:
        yield server
    finally:
        server.stop()


def _sse(events: list[tuple[str | None, Any]]) -> bytes:
    out = []
    for name, data in events:
        head = f"event: {name}\n" if name else ""
        body = data if isinstance(data, str) else json.dumps(data)
        out.append(f"{head}data: {body}\n\n")
    return "".join(out).encode()


def chat(model: str, stream: bool, include_usage: bool) -> tuple[str, bytes]:
    prompt, completion = USAGE["chat"]
    usage = {"prompt_tokens": prompt, "completion_tokens": completion,
             "total_tokens": prompt + completion}
    if not stream:
        return "application/json", json.dumps({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": served(model),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"},
                         "finish_reason": "stop", "logprobs": None}],
            "usage": usage}).encode()
    base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0, "model": served(model)}
    extra = {"usage": None} if include_usage else {}
    events: list[tuple[str | None, Any]] = [
        (None, {**base, **extra, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "o"},
                                             "finish_reason": None}]}),
        (None, {**base, **extra, "choices": [{"index": 0, "delta": {"content": "k"}, "finish_reason": None}]}),
        (None, {**base, **extra, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
    ]
    if include_usage:
        events.append((None, {**base, "choices": [], "usage": usage}))
    events.append((None, "[DONE]"))
    return "text/event-stream", _sse(events)


def responses(model: str, stream: bool) -> tuple[str, bytes]:
    given, produced = USAGE["responses"]
    response = {
        "id": "resp_1", "object": "response", "created_at": 0, "model": served(model),
        "status": "completed", "parallel_tool_calls": True, "tool_choice": "auto", "tools": [],
        "output": [{"type": "message", "id": "msg_1", "status": "completed", "role": "assistant",
                    "content": [{"type": "output_text", "text": "ok", "annotations": []}]}],
        "usage": {"input_tokens": given, "output_tokens": produced, "total_tokens": given + produced,
                  "input_tokens_details": {"cached_tokens": 0},
                  "output_tokens_details": {"reasoning_tokens": 0}},
    }
    if not stream:
        return "application/json", json.dumps(response).encode()
    started = {**response, "status": "in_progress", "output": [], "usage": None}
    return "text/event-stream", _sse([
        ("response.created", {"type": "response.created", "sequence_number": 0, "response": started}),
        ("response.output_text.delta", {"type": "response.output_text.delta", "sequence_number": 1,
                                        "item_id": "msg_1", "output_index": 0, "content_index": 0,
                                        "delta": "ok", "logprobs": []}),
        ("response.completed", {"type": "response.completed", "sequence_number": 2, "response": response}),
    ])


def messages(model: str, stream: bool) -> tuple[str, bytes]:
    given, produced = USAGE["messages"]
    if not stream:
        return "application/json", json.dumps({
            "id": "msg_1", "type": "message", "role": "assistant", "model": served(model),
            "content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn",
            "stop_sequence": None, "usage": {"input_tokens": given, "output_tokens": produced}}).encode()
    return "text/event-stream", _sse([
        ("message_start", {"type": "message_start", "message": {
            "id": "msg_1", "type": "message", "role": "assistant", "model": served(model), "content": [],
            "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": given, "output_tokens": 1}}}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "text", "text": ""}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "text_delta", "text": "ok"}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                           "usage": {"output_tokens": produced}}),
        ("message_stop", {"type": "message_stop"}),
    ])


class _Handler(BaseHTTPRequestHandler):
    server: StubServer
    protocol_version = "HTTP/1.1"
    timeout = 10  # a stuck client cannot hold a server thread for ever

    def setup(self) -> None:
        super().setup()
        # Headers and body are two writes: without this, Nagle's algorithm and the client's
        # delayed ACK add ~40 ms to every keep-alive exchange.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 -- the base's name
        pass

    def do_POST(self) -> None:  # noqa: N802 -- http.server's name
        length = int(self.headers.get("content-length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        with self.server.lock:
            self.server.requests.append({"path": self.path, "body": body, "headers": dict(self.headers)})
        model, stream = str(body.get("model")), body.get("stream") is True
        if self.path.endswith("/chat/completions"):
            options = body.get("stream_options") or {}
            kind, data = chat(model, stream, options.get("include_usage") is True)
        elif self.path.endswith("/responses"):
            kind, data = responses(model, stream)
        elif self.path.endswith("/messages"):
            kind, data = messages(model, stream)
        else:
            self.send_error(404)
            return
        headers = {"content-type": kind, "x-request-id": f"req-{len(self.server.requests)}"}
        if kind == "application/json" and "gzip" in self.headers.get("accept-encoding", ""):
            data = gzip.compress(data)
            headers["content-encoding"] = "gzip"
        self.send_response(200)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
