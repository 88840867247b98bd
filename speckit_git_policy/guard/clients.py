"""Ready SDK clients whose every request goes through the guard (docs/DESIGN.md §7).

Each SDK is given its own default HTTP client class (``DefaultHttpxClient``, with the
SDK's timeouts and limits) around a guarded transport of the flavour that class is built
on: ``httpx2`` for current ``openai`` and ``anthropic`` releases, ``httpx`` for older ones.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from speckit_git_policy.errors import BadInput

if TYPE_CHECKING:
    from speckit_git_policy.runs.run import Run


def flavour(client_class: type) -> str:
    """``httpx2`` or ``httpx``: the library an SDK's HTTP client class is built on."""
    for base in client_class.__mro__:
        if base.__module__.split(".")[0] == "httpx2":
            return "httpx2"
    return "httpx"


def transport_for(
    client_class: type, run: Run, role: str, stage: str, inner: Any, asynchronous: bool
) -> Any:
    if flavour(client_class) == "httpx2":
        from speckit_git_policy.guard import for_httpx2

        cls: Any = for_httpx2.AsyncPolicyTransport2 if asynchronous else for_httpx2.PolicyTransport2
    else:
        from speckit_git_policy.guard import for_httpx

        cls = for_httpx.AsyncPolicyTransport if asynchronous else for_httpx.PolicyTransport
    return cls(run, role=role, stage=stage, transport=inner)


def _client(
    sdk: Any,
    client_name: str,
    run: Run,
    role: str,
    stage: str,
    transport: Any,
    kwargs: dict[str, Any],
    asynchronous: bool,
) -> Any:
    if "http_client" in kwargs:
        raise BadInput(
            "the guarded client brings its own http_client; pass transport= for the transport "
            "under the guard (a proxy or a test transport)"
        )
    http_class = sdk.DefaultAsyncHttpxClient if asynchronous else sdk.DefaultHttpxClient
    guarded = transport_for(http_class, run, role, stage, transport, asynchronous)
    return getattr(sdk, client_name)(http_client=http_class(transport=guarded), **kwargs)


def openai_client(
    run: Run, *, role: str, stage: str, transport: Any | None = None, **client_kwargs: Any
) -> Any:
    """An ``openai.OpenAI`` client bound to ``run``, ``role`` and ``stage``."""
    import openai

    return _client(openai, "OpenAI", run, role, stage, transport, client_kwargs, False)


def async_openai_client(
    run: Run, *, role: str, stage: str, transport: Any | None = None, **client_kwargs: Any
) -> Any:
    """An ``openai.AsyncOpenAI`` client bound to ``run``, ``role`` and ``stage``."""
    import openai

    return _client(openai, "AsyncOpenAI", run, role, stage, transport, client_kwargs, True)


def anthropic_client(
    run: Run, *, role: str, stage: str, transport: Any | None = None, **client_kwargs: Any
) -> Any:
    """An ``anthropic.Anthropic`` client bound to ``run``, ``role`` and ``stage``."""
    import anthropic

    return _client(anthropic, "Anthropic", run, role, stage, transport, client_kwargs, False)


def async_anthropic_client(
    run: Run, *, role: str, stage: str, transport: Any | None = None, **client_kwargs: Any
) -> Any:
    """An ``anthropic.AsyncAnthropic`` client bound to ``run``, ``role`` and ``stage``."""
    import anthropic

    return _client(anthropic, "AsyncAnthropic", run, role, stage, transport, client_kwargs, True)
