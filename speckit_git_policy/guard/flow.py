"""One guarded exchange, written once for both HTTP libraries (``httpx`` and ``httpx2`` share
their transport API; the module is passed in as ``http``).

Responses are handed on decoded (``Content-Encoding`` removed): the guard has to read the
usage in them, and reading it from the decoded bytes is what the SDK would do anyway.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from speckit_git_policy.guard.core import REFUSED_STATUS, WARNING_HEADER, Admitted, Refusal
from speckit_git_policy.guard.wire import Call, StreamMeter, read_request, usage_of_json

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from speckit_git_policy.guard.core import Guard

# Headers that describe the bytes on the wire, not the decoded body handed on.
_WIRE_HEADERS = ("content-encoding", "content-length", "transfer-encoding")


def request_id(response: Any) -> str | None:
    headers = response.headers
    value = headers.get("x-request-id") or headers.get("request-id")
    return str(value) if value else None


def may_be_call(request: Any) -> bool:
    """Only a JSON POST can name a model: anything else passes unread (an upload is not
    read into memory for nothing)."""
    return bool(
        request.method == "POST" and "json" in request.headers.get("content-type", "").lower()
    )


def call_of(request: Any, body: bytes) -> Call | None:
    return read_request(
        request.method, request.url.path, request.headers.get("content-type", ""), body
    )


def refusal_response(http: Any, request: Any, refusal: Refusal) -> Any:
    return http.Response(
        REFUSED_STATUS, headers=refusal.headers(), content=refusal.body(), request=request
    )


def rewritten_request(http: Any, request: Any, call: Call) -> Any:
    """The request as sent: the body the guard changed (a chat stream asked for usage)."""
    if call.rewritten is None:
        return request
    headers = [(k, v) for k, v in request.headers.multi_items() if k.lower() != "content-length"]
    headers.append(("content-length", str(len(call.rewritten))))
    return http.Request(
        request.method,
        request.url,
        headers=headers,
        content=call.rewritten,
        extensions=request.extensions,
    )


def handed_on_headers(response: Any, admitted: Admitted) -> list[tuple[str, str]]:
    headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in _WIRE_HEADERS]
    if admitted.warning:
        headers.append((WARNING_HEADER, admitted.warning))
    return headers


def is_event_stream(response: Any) -> bool:
    return "text/event-stream" in response.headers.get("content-type", "").lower()


def whole_response(http: Any, guard: Guard, admitted: Admitted, request: Any, response: Any) -> Any:
    """A JSON response, read whole (it is, by the SDK, anyway), recorded, handed on."""
    usage = usage_of_json(admitted.call.api, response.content)
    guard.record(admitted, usage, streamed=False, request_id=request_id(response))
    return http.Response(
        response.status_code,
        headers=handed_on_headers(response, admitted),
        content=response.content,
        extensions=response.extensions,
        request=request,
    )


class _Metered:
    """The part of a guarded stream both flavours share: meter, record once."""

    def __init__(self, guard: Guard, admitted: Admitted, response: Any) -> None:
        self.guard = guard
        self.admitted = admitted
        self.response = response
        self.meter = StreamMeter(admitted.call)
        self.recorded = False

    def record(self) -> None:
        if not self.recorded:
            self.recorded = True
            self.guard.record(
                self.admitted,
                self.meter.usage,
                streamed=True,
                request_id=request_id(self.response),
            )


def sync_stream_class(http: Any) -> type:
    class GuardedStream(http.SyncByteStream, _Metered):  # type: ignore[misc]
        """Hands the stream on event by event; records when the final usage passes (before
        the caller reads it), or when the stream ends or is closed without it."""

        def __iter__(self) -> Iterator[bytes]:
            for chunk in self.response.iter_bytes():
                out, finished = self.meter.feed(chunk)
                if finished:
                    self.record()
                if out:
                    yield out
            tail = self.meter.flush()
            self.record()
            if tail:
                yield tail

        def close(self) -> None:
            try:
                self.response.close()
            finally:
                self.record()

    return GuardedStream


def async_stream_class(http: Any) -> type:
    class AsyncGuardedStream(http.AsyncByteStream, _Metered):  # type: ignore[misc]
        async def __aiter__(self) -> AsyncIterator[bytes]:
            async for chunk in self.response.aiter_bytes():
                out, finished = self.meter.feed(chunk)
                if finished:
                    await _in_thread(self.record)
                if out:
                    yield out
            tail = self.meter.flush()
            await _in_thread(self.record)
            if tail:
                yield tail

        async def aclose(self) -> None:
            try:
                await self.response.aclose()
            finally:
                await _in_thread(self.record)

    return AsyncGuardedStream


async def _in_thread(function: Any, *args: Any) -> Any:
    """A capsule append off the event loop (it writes files and takes a lock), awaited:
    the call still returns only after it."""
    import anyio.to_thread

    return await anyio.to_thread.run_sync(function, *args)
