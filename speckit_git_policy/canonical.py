"""Canonical JSON (RFC 8785 / JCS) and the hashes taken over it.

json and rfc8785 (which imports typing and re) are imported on first need: what a git
hook writes, bindings and a snapshot assembled from the parts pre-commit canonicalized,
is made of plain values (``plain_bytes``) that need neither.
"""

from __future__ import annotations

import hashlib

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# The largest integer JSON carries exactly (IEEE 754 doubles); RFC 8785 writes one in
# plain decimal digits.
_SAFE_INT = 2**53 - 1


def canonical_bytes(document: Any) -> bytes:
    """The RFC 8785 canonical UTF-8 bytes of a JSON-compatible value.

    A value nested deeper than the encoder's recursion allows raises ValueError,
    like any other value JSON cannot carry."""
    plain = plain_bytes(document)
    if plain is not None:
        return plain
    import rfc8785

    try:
        return rfc8785.dumps(document)
    except RecursionError as e:
        raise ValueError("nested too deeply to be written as canonical JSON") from e


def plain_bytes(value: Any, depth: int = 0) -> bytes | None:
    """``canonical_bytes(value)`` for a value built of plain parts only, else None: objects
    with plain keys, arrays, plain strings (printable ASCII without a quote or a
    backslash, which RFC 8785 writes as they are), booleans, null and integers JSON
    carries exactly. Floats and any other text go to the RFC 8785 encoder."""
    if value is None:
        return b"null"
    if value is True:
        return b"true"
    if value is False:
        return b"false"
    kind = type(value)
    if kind is str:
        return b'"%s"' % value.encode() if is_plain_text(value) else None
    if kind is int:
        return b"%d" % value if -_SAFE_INT <= value <= _SAFE_INT else None
    if depth >= 64:
        return None  # deep nesting: the encoder decides (and says why)
    if kind is list:
        items: list[bytes] = []
        for item in value:
            encoded = plain_bytes(item, depth + 1)
            if encoded is None:
                return None
            items.append(encoded)
        return b"[" + b",".join(items) + b"]"
    if kind is dict:
        parts: dict[str, bytes] = {}
        for key, item in value.items():
            encoded = plain_bytes(item, depth + 1)
            if encoded is None or type(key) is not str:
                return None
            parts[key] = encoded
        return object_bytes(parts)
    return None


def object_bytes(parts: dict[str, bytes]) -> bytes | None:
    """The canonical bytes of an object whose members' values are canonical already
    (``parts``: name → bytes), or None unless every name is plain text. RFC 8785 orders
    names by their UTF-16 code units, which for ASCII is the order of ``sorted``."""
    if not all(is_plain_text(name) for name in parts):
        return None
    return (
        b"{" + b",".join(b'"%s":%s' % (name.encode(), parts[name]) for name in sorted(parts)) + b"}"
    )


def is_plain_text(text: str) -> bool:
    """Text that canonical JSON writes between quotes as it is."""
    return text.isascii() and text.isprintable() and '"' not in text and "\\" not in text


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def parse_json_bytes(data: bytes) -> Any:
    """Parse JSON strictly: NaN/Infinity, duplicate keys and nesting beyond the
    decoder's recursion are refused (ValueError)."""
    import json

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
