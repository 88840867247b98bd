"""The guarded transports for ``httpx2`` (current ``openai`` and ``anthropic`` SDKs, which
refuse or convert an ``httpx`` client). Importing this module imports httpx2."""

from __future__ import annotations

import httpx2

from speckit_git_policy.guard.transports import transport_classes

PolicyTransport2, AsyncPolicyTransport2 = transport_classes(httpx2, "2")

__all__ = ["AsyncPolicyTransport2", "PolicyTransport2"]
