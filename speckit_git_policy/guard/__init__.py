"""Call-time enforcement (docs/DESIGN.md §7): HTTP transports that hold every LLM call an
agent makes to the run's policy, and SDK clients built on them::

    from speckit_git_policy import start_run
    from speckit_git_policy.guard import anthropic_client, openai_client

    run = start_run(".")
    run.stage("implement")
    client = openai_client(run, role="implementer", stage="implement")
    client.chat.completions.create(model="gpt-4o", messages=[...], max_tokens=500)

A model the role may not use, a stage over its token budget or a run at its cost hard
limit is refused before the request leaves the process (the SDK raises its
``PermissionDeniedError``; the refusal is recorded as a decision); every answered call is
recorded as a ``UsageRecorded`` event before it returns.

``PolicyTransport``/``AsyncPolicyTransport`` are ``httpx`` transports,
``PolicyTransport2``/``AsyncPolicyTransport2`` the same for ``httpx2``; both need the
``speckit-git-policy[guard]`` extra. Names are imported lazily: importing this package
imports no HTTP library.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_EXPORTS = {
    "PolicyTransport": "for_httpx",
    "AsyncPolicyTransport": "for_httpx",
    "PolicyTransport2": "for_httpx2",
    "AsyncPolicyTransport2": "for_httpx2",
    "openai_client": "clients",
    "async_openai_client": "clients",
    "anthropic_client": "clients",
    "async_anthropic_client": "clients",
    "Guard": "core",
    "Refusal": "core",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = list(_EXPORTS)
