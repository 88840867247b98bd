"""The guarded transports, built for one HTTP library module (``httpx`` or ``httpx2``).

``transport_classes(http)`` returns ``(sync class, async class)`` subclassing that module's
``BaseTransport``/``AsyncBaseTransport``; ``guard.httpx`` and ``guard.httpx2`` name them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from speckit_git_policy.guard import flow
from speckit_git_policy.guard.core import Guard, Refusal

if TYPE_CHECKING:
    from speckit_git_policy.runs.run import Run


def transport_classes(http: Any, suffix: str = "") -> tuple[type, type]:
    stream_class = flow.sync_stream_class(http)
    async_stream_class = flow.async_stream_class(http)

    class PolicyTransport(http.BaseTransport):  # type: ignore[misc]
        """An HTTP transport that enforces the run's policy on every LLM call it carries
        and records each call's usage in the run (docs/DESIGN.md §7)."""

        def __init__(
            self, run: Run, *, role: str, stage: str, transport: Any | None = None
        ) -> None:
            self.guard = Guard(run, role=role, stage=stage)
            self.transport = transport if transport is not None else http.HTTPTransport()

        def handle_request(self, request: Any) -> Any:
            if not flow.may_be_call(request):
                return self.transport.handle_request(request)
            call = flow.call_of(request, request.read())
            if call is None:
                return self.transport.handle_request(request)
            admitted = self.guard.admit(call)
            if isinstance(admitted, Refusal):
                return flow.refusal_response(http, request, admitted)
            sent = flow.rewritten_request(http, request, call)
            try:
                response = self.transport.handle_request(sent)
                if not 200 <= response.status_code < 300:
                    self.guard.release(admitted)  # no usage to account; the SDK raises
                    return response
                if flow.is_event_stream(response):
                    return http.Response(
                        response.status_code,
                        headers=flow.handed_on_headers(response, admitted),
                        stream=stream_class(self.guard, admitted, response),
                        extensions=response.extensions,
                        request=request,
                    )
                response.read()
            except BaseException:
                self.guard.release(admitted)
                raise
            return flow.whole_response(http, self.guard, admitted, request, response)

        def close(self) -> None:
            self.transport.close()

    class AsyncPolicyTransport(http.AsyncBaseTransport):  # type: ignore[misc]
        """The asynchronous PolicyTransport: decisions and appends run in a worker thread
        and are awaited, so the call returns only after them."""

        def __init__(
            self, run: Run, *, role: str, stage: str, transport: Any | None = None
        ) -> None:
            self.guard = Guard(run, role=role, stage=stage)
            self.transport = transport if transport is not None else http.AsyncHTTPTransport()

        async def handle_async_request(self, request: Any) -> Any:
            if not flow.may_be_call(request):
                return await self.transport.handle_async_request(request)
            call = flow.call_of(request, await request.aread())
            if call is None:
                return await self.transport.handle_async_request(request)
            admitted = await flow._in_thread(self.guard.admit, call)
            if isinstance(admitted, Refusal):
                return flow.refusal_response(http, request, admitted)
            sent = flow.rewritten_request(http, request, call)
            try:
                response = await self.transport.handle_async_request(sent)
                if not 200 <= response.status_code < 300:
                    self.guard.release(admitted)
                    return response
                if flow.is_event_stream(response):
                    return http.Response(
                        response.status_code,
                        headers=flow.handed_on_headers(response, admitted),
                        stream=async_stream_class(self.guard, admitted, response),
                        extensions=response.extensions,
                        request=request,
                    )
                await response.aread()
            except BaseException:
                self.guard.release(admitted)
                raise
            return await flow._in_thread(
                flow.whole_response, http, self.guard, admitted, request, response
            )

        async def aclose(self) -> None:
            await self.transport.aclose()

    for cls in (PolicyTransport, AsyncPolicyTransport):
        cls.__name__ = cls.__qualname__ = cls.__name__ + suffix
        cls.__module__ = f"speckit_git_policy.guard.for_{http.__name__}"
    return PolicyTransport, AsyncPolicyTransport
