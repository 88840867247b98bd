"""The guarded transports for ``httpx`` (the ``openai`` SDK before it moved to ``httpx2``,
and any ``httpx.Client``). Importing this module imports httpx."""

from __future__ import annotations

import httpx

from speckit_git_policy.guard.transports import transport_classes

PolicyTransport, AsyncPolicyTransport = transport_classes(httpx)

__all__ = ["AsyncPolicyTransport", "PolicyTransport"]
