"""Canonical JSON (RFC 8785 / JCS) and the hashes taken over it."""

from __future__ import annotations

import json
from typing import Any

# rfc8785 is imported where it is used: the listings only parse.


def canonical_bytes(document: Any) -> bytes:
    """The RFC 8785 canonical UTF-8 bytes of a JSON-compatible value.

    A value nested deeper than the encoder's recursion allows raises ValueError,
    like any other value JSON cannot carry."""
    import rfc8785

    try:
        return rfc8785.dumps(document)
    except RecursionError as e:
        raise ValueError("nested too deeply to be written as canonical JSON") from e


def sha256_hex(data: bytes) -> str:
    from speckit_git_policy.hashing import sha256_hex as digest

    return digest(data)


def parse_json_bytes(data: bytes) -> Any:
    """Parse JSON strictly: NaN/Infinity, duplicate keys and nesting beyond the
    decoder's recursion are refused (ValueError)."""

    def no_constants(name: str) -> Any:
        raise ValueError(f"{name} is not valid JSON")

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        # dict() in C, then the names only when it lost some: listings parse
        # thousands of documents, and a loop in Python per object was half the cost.
        result = dict(pairs)
        if len(result) != len(pairs):
            seen: set[str] = set()
            for key, _value in pairs:
                if key in seen:
                    raise ValueError(f"duplicate key {key!r}")
                seen.add(key)
        return result

    try:
        return json.loads(
            data.decode("utf-8"), parse_constant=no_constants, object_pairs_hook=no_duplicates
        )
    except RecursionError as e:
        raise ValueError("nested too deeply to be read as JSON") from e
