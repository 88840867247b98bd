"""The wire formats the guard reads: what a request asks for, and what a response says it used.

OpenAI chat completions (``POST …/chat/completions``), OpenAI responses (``POST
…/responses``) and Anthropic messages (``POST …/messages``), as JSON or as a stream of
server-sent events. Nothing here imports an HTTP library: the transports hand in bytes.

Streaming usage (docs/DESIGN.md §7):

* OpenAI chat completions report usage in a stream only when asked
  (``stream_options.include_usage``). The guard asks on every streamed request; when the
  caller had not asked, the one extra chunk that carries the usage (its ``choices`` is
  empty) is dropped from what the caller reads, so the caller sees the stream it asked for.
* OpenAI responses carry it in ``response.completed`` (or ``.incomplete``/``.failed``).
* Anthropic messages carry the input in ``message_start`` and the output, cumulative, in
  ``message_delta``; ``message_stop`` ends the message.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

CHAT = "openai.chat.completions"
RESPONSES = "openai.responses"
MESSAGES = "anthropic.messages"
# A call that names a model but reports no usage we account (embeddings, token counts,
# legacy completions...): its model is checked, nothing is recorded.
OTHER = "other"

MAX_BODY = 64 * 1024 * 1024  # a request body the guard will parse as JSON
MAX_EVENT = 16 * 1024 * 1024  # one server-sent event, buffered to be read whole


@dataclass
class Call:
    """What one request asks for."""

    api: str
    model: str
    max_tokens: int
    stream: bool
    body: dict[str, Any]
    caller_asked_usage: bool = True  # OpenAI chat streams: the caller set include_usage
    rewritten: bytes | None = None  # the body as sent, when the guard changed it


def read_request(method: str, path: str, content_type: str, body: bytes) -> Call | None:
    """The call a request makes; None for a request that names no model (a GET, a file
    upload, a body that is not a JSON object)."""
    if method.upper() != "POST" or "json" not in content_type.lower() or len(body) > MAX_BODY:
        return None
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    if not isinstance(document, dict) or not isinstance(document.get("model"), str):
        return None
    trimmed = path.rstrip("/")
    limit_key: tuple[str, ...]
    if trimmed.endswith("/chat/completions"):
        api, limit_key = CHAT, ("max_completion_tokens", "max_tokens")
    elif trimmed.endswith("/responses"):
        api, limit_key = RESPONSES, ("max_output_tokens",)
    elif trimmed.endswith("/messages"):
        api, limit_key = MESSAGES, ("max_tokens",)
    else:
        api, limit_key = OTHER, ()
    limit = next((document[key] for key in limit_key if _is_count(document.get(key))), 0)
    stream = document.get("stream") is True
    call = Call(api, document["model"], limit, stream and api != OTHER, document)
    if api == CHAT and stream:
        options = document.get("stream_options")
        call.caller_asked_usage = isinstance(options, dict) and options.get("include_usage") is True
        if not call.caller_asked_usage:
            extended = dict(options) if isinstance(options, dict) else {}
            extended["include_usage"] = True
            call.rewritten = json.dumps({**document, "stream_options": extended}).encode()
    return call


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


# ---- usage -------------------------------------------------------------------------------
@dataclass
class Usage:
    """What a response said it used."""

    model_served: str | None = None
    reported: dict[str, Any] = field(default_factory=dict)
    input_tokens: int | None = None
    output_tokens: int | None = None
    complete: bool = False

    def take(self, api: str, usage: object, model: object = None) -> None:
        if isinstance(model, str) and model:
            self.model_served = model
        if not isinstance(usage, dict):
            return
        self.reported.update(usage)  # Anthropic's message_delta adds to message_start's
        counts = {key: value for key, value in self.reported.items() if _is_count(value)}
        if api == CHAT:
            self.input_tokens = counts.get("prompt_tokens")
            self.output_tokens = counts.get("completion_tokens")
        elif api == MESSAGES:
            if "input_tokens" in counts:
                self.input_tokens = (
                    counts["input_tokens"]
                    + counts.get("cache_creation_input_tokens", 0)
                    + counts.get("cache_read_input_tokens", 0)
                )
            self.output_tokens = counts.get("output_tokens")
        else:
            self.input_tokens = counts.get("input_tokens")
            self.output_tokens = counts.get("output_tokens")


def usage_of_json(api: str, body: bytes) -> Usage:
    """The usage of a whole JSON response (all three formats name ``model`` and ``usage``)."""
    usage = Usage()
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return usage
    if isinstance(document, dict):
        usage.take(api, document.get("usage"), document.get("model"))
        usage.complete = usage.input_tokens is not None and usage.output_tokens is not None
    return usage


class StreamMeter:
    """Reads a server-sent event stream as it passes: ``feed`` returns the bytes to hand
    on (whole events; the usage chunk the caller did not ask for dropped) and whether the
    final usage has now been seen, when the call is to be recorded."""

    def __init__(self, call: Call) -> None:
        self.call = call
        self.usage = Usage()
        self.finished = False
        self._buffer = b""

    def feed(self, chunk: bytes) -> tuple[bytes, bool]:
        self._buffer += chunk
        out: list[bytes] = []
        finished_now = False
        while True:
            end = _event_end(self._buffer)
            if end is None:
                if len(self._buffer) > MAX_EVENT:  # not an event stream we can read: hand on
                    out.append(self._buffer)
                    self._buffer = b""
                break
            raw, self._buffer = self._buffer[:end], self._buffer[end:]
            keep, final = self._event(raw)
            if keep:
                out.append(raw)
            if final and not self.finished:
                self.finished = finished_now = True
        return b"".join(out), finished_now

    def flush(self) -> bytes:
        """What is left when the stream ends (an event without its closing blank line)."""
        rest, self._buffer = self._buffer, b""
        if rest.strip():
            keep, final = self._event(rest)
            if final and not self.finished:
                self.finished = True
            return rest if keep else b""
        return rest

    def _event(self, raw: bytes) -> tuple[bool, bool]:
        """(hand this event on, it carried the final usage)."""
        name, data = _parse_event(raw)
        if data is None or data == "[DONE]":
            return True, False
        try:
            document = json.loads(data)
        except (ValueError, RecursionError):
            return True, False
        if not isinstance(document, dict):
            return True, False
        api = self.call.api
        kind = document.get("type") if isinstance(document.get("type"), str) else name
        if api == CHAT:
            self.usage.take(api, None, document.get("model"))
            if isinstance(document.get("usage"), dict):
                self.usage.take(api, document["usage"])
                self.usage.complete = True
                extra = not document.get("choices") and not self.call.caller_asked_usage
                return not extra, True
            return True, False
        if api == RESPONSES:
            response = document.get("response")
            if isinstance(response, dict):
                self.usage.take(api, response.get("usage"), response.get("model"))
            if kind in ("response.completed", "response.incomplete", "response.failed"):
                self.usage.complete = self.usage.input_tokens is not None
                return True, True
            return True, False
        if kind == "message_start" and isinstance(document.get("message"), dict):
            message = document["message"]
            self.usage.take(api, message.get("usage"), message.get("model"))
        elif kind == "message_delta":
            self.usage.take(api, document.get("usage"))
        elif kind == "message_stop":
            self.usage.complete = (
                self.usage.input_tokens is not None and self.usage.output_tokens is not None
            )
            return True, True
        return True, False


def _event_end(buffer: bytes) -> int | None:
    """The end (after the blank line) of the first whole event in ``buffer``, if any.
    Lines end in CRLF, LF or CR; a CR at the very end may be half of a CRLF."""
    best: int | None = None
    for separator in (b"\n\n", b"\r\n\r\n", b"\r\r"):
        at = buffer.find(separator)
        if at != -1:
            end = at + len(separator)
            if separator == b"\r\r" and buffer[end : end + 1] == b"\n":
                continue  # "\r\r\n": the second CR starts a CRLF
            if best is None or end < best:
                best = end
    return best


def _parse_event(raw: bytes) -> tuple[str | None, str | None]:
    """(event name, data) of one server-sent event."""
    name: str | None = None
    data: list[str] = []
    text = raw.decode("utf-8", "replace")
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if not line or line.startswith(":"):
            continue
        key, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if key == "event":
            name = value
        elif key == "data":
            data.append(value)
    return name, "\n".join(data) if data else None
