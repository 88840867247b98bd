"""SHA-1 and SHA-256 without loading OpenSSL.

``import hashlib`` loads ``_hashlib`` and with it OpenSSL's libcrypto: about an eighth
of a Python start-up, paid by every command and hook that hashes a few kilobytes.
CPython's own implementations (``_sha1``, ``_sha256``; ``_sha2`` from 3.12: those
hashlib falls back to without OpenSSL) give the same digests and load in a fraction
of that; hashlib serves where they are missing.
"""

from __future__ import annotations

from functools import cache

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


@cache
def _constructor(name: str) -> Callable[[bytes], Any]:
    import importlib

    for module in {"sha1": ("_sha1",), "sha256": ("_sha2", "_sha256")}[name]:
        try:
            return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]
        except (ImportError, AttributeError):
            continue
    import hashlib

    return getattr(hashlib, name)  # type: ignore[no-any-return]


def sha1_hex(data: bytes) -> str:
    return str(_constructor("sha1")(data).hexdigest())


def sha256_hex(data: bytes) -> str:
    return str(_constructor("sha256")(data).hexdigest())
