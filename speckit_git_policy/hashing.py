"""SHA-1 and SHA-256 without loading OpenSSL.

``import hashlib`` loads ``_hashlib`` and with it OpenSSL's libcrypto: about an eighth
of a Python start-up, paid by every command and hook that hashes a few kilobytes.
CPython's own implementations (``_sha1``, ``_sha256``; ``_sha2`` from 3.12: those
hashlib falls back to without OpenSSL) give the same digests and load in a fraction
of that; hashlib serves where they are missing.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

# Found once per process (a dict, not functools.cache: functools and collections behind it
# are not on the git hooks' path).
_FOUND: dict[str, Callable[[bytes], Any]] = {}


def _constructor(name: str) -> Callable[[bytes], Any]:
    found = _FOUND.get(name)
    if found is not None:
        return found
    for module in {"sha1": ("_sha1",), "sha256": ("_sha2", "_sha256")}[name]:
        try:
            found = getattr(__import__(module), name)
            break
        except (ImportError, AttributeError):
            continue
    else:
        import hashlib

        found = getattr(hashlib, name)
    _FOUND[name] = found
    return found  # type: ignore[no-any-return]


def sha1_hex(data: bytes) -> str:
    return str(_constructor("sha1")(data).hexdigest())


def sha256_hex(data: bytes) -> str:
    return str(_constructor("sha256")(data).hexdigest())
