"""Canonical JSON (RFC 8785 / JCS) and the hashes taken over it.

json and rfc8785 (which imports typing and re) are imported on first need: what a git
hook writes, bindings and a snapshot assembled from the parts pre-commit canonicalized,
is made of plain values (``plain_bytes``) that need neither.
"""

from __future__ import annotations

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
    fast = _as_jcs(document)  # floats, and text plain_bytes leaves: json.dumps where it is exact
    if fast is not None:
        return fast
    import rfc8785

    try:
        return rfc8785.dumps(document)
    except RecursionError as e:
        raise ValueError("nested too deeply to be written as canonical JSON") from e


# Items _plain looks at before it leaves a value to rfc8785: a cycle would never end.
_PLAIN_ITEMS_MAX = 1_000_000
_NOT_PLAIN, _PLAIN, _INTEGRAL_FLOATS = 0, 1, 2


def _as_jcs(value: Any) -> bytes | None:
    """``value``'s RFC 8785 bytes written by json's C encoder (``json.dumps``), or None
    when they might differ."""
    verdict = _plain(value)
    if verdict == _NOT_PLAIN:
        return None
    from speckit_git_policy.cjson import dumps_sorted

    try:
        if verdict == _INTEGRAL_FLOATS:
            value = _integral_floats_as_ints(value)
        return dumps_sorted(value).encode("utf-8")
    except (TypeError, ValueError, RecursionError):  # UnicodeEncodeError: a lone surrogate
        return None  # rfc8785 says what is wrong, in its own words


def _plain(value: Any) -> int:
    """Whether ``json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))``
    writes RFC 8785: _PLAIN, _INTEGRAL_FLOATS (it does once integral floats are ints), or
    _NOT_PLAIN.

    The two escape strings alike (the same characters, the same ``\\u00xx``). They differ on
    what this refuses: a type other than exactly dict, list, str, int, float, bool and None
    (subclasses may write themselves otherwise); an int beyond 2**53 - 1 (RFC 8785 has
    none); a float whose ``repr`` has an exponent (RFC 8785 writes ``1e-05`` as
    ``0.00001``; any other finite float as ``repr`` does, but for ``2.0`` and ``-0.0``,
    written ``2`` and ``0``, as their ints are); a key with a character beyond U+FFFF
    (RFC 8785 orders keys by UTF-16 code units, Python by code points: only there do they
    differ). A lone surrogate fails the UTF-8 encoding afterwards.
    """
    verdict = _PLAIN
    stack = [value]
    pop, extend = stack.pop, stack.extend
    budget = _PLAIN_ITEMS_MAX
    while stack:
        budget -= 1
        if budget < 0:
            return _NOT_PLAIN
        item = pop()
        kind = type(item)
        if kind is str or kind is bool or item is None:
            continue
        if kind is dict:
            for key in item:
                if type(key) is not str or not (key.isascii() or _bmp_only(key)):
                    return _NOT_PLAIN
            extend(item.values())
        elif kind is list:
            extend(item)
        elif kind is int:
            if not -_SAFE_INT <= item <= _SAFE_INT:
                return _NOT_PLAIN
        elif kind is float:
            text = repr(item)
            if "e" in text or "n" in text:  # an exponent, inf or nan
                return _NOT_PLAIN
            if text.endswith(".0"):
                verdict = _INTEGRAL_FLOATS
        else:
            return _NOT_PLAIN
    return verdict


def _integral_floats_as_ints(value: Any) -> Any:
    """A copy of a _plain value with every integral float an int (``2.0`` -> ``2``): what
    RFC 8785 writes for them (their ``repr`` has no exponent, so they are below 1e16)."""
    kind = type(value)
    if kind is dict:
        return {key: _integral_floats_as_ints(item) for key, item in value.items()}
    if kind is list:
        return [_integral_floats_as_ints(item) for item in value]
    if kind is float and value.is_integer():
        return int(value)
    return value


def _bmp_only(text: str) -> bool:
    return max(text, default="\0") <= "\uffff"


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
    from speckit_git_policy.hashing import sha256_hex as digest

    return digest(data)


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
