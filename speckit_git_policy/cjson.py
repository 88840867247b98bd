"""json's C encoder and scanner (the ``_json`` module), without the json package.

``import json`` costs the git hook as much as a whole Python start-up: the package
imports re, for the pure-Python paths that the C ones make unused. These are the
calls json.dumps and json.loads make into ``_json`` for the forms the hook writes
and reads, with json itself behind them wherever ``_json`` is absent or is not the
one this code knows (another Python). tests/test_cjson.py holds both to json's
answers.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_JSON_WS = " \t\n\r"


def _refuse(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def dumps_sorted(value: Any) -> str:
    """``json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"),
    allow_nan=False)``, with the same errors."""
    try:
        from _json import encode_basestring, make_encoder
    except ImportError:  # pragma: no cover -- a Python without the C accelerator
        return _json_dumps(value)
    if type(value) is str:
        return str(encode_basestring(value))
    try:
        # json.encoder.JSONEncoder.iterencode's call, argument for argument: a fresh
        # markers dict (cycles are refused), no indent.
        encode = make_encoder({}, _refuse, encode_basestring, None, ":", ",", True, False, False)
    except TypeError:  # pragma: no cover -- another Python's signature
        return _json_dumps(value)
    return "".join(encode(value, 0))


def _json_dumps(value: Any) -> str:
    import json

    return json.dumps(
        value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False
    )


class _Context:
    """What json's C scanner reads from its decoder: json.loads's defaults, but NaN and
    Infinity are refused."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = staticmethod(_constant)
    memo: dict[str, Any] = {}


def loads(text: str) -> Any:
    """``json.loads(text)`` for a document without NaN or Infinity (ValueError)."""
    try:
        from _json import make_scanner
    except ImportError:  # pragma: no cover
        return _json_loads(text)
    context: Any = _Context()  # what the scanner reads of it (the stub names another type)
    scan = make_scanner(context)
    start = len(text) - len(text.lstrip(_JSON_WS))
    try:
        value, end = scan(text, start)
    except StopIteration as e:
        raise ValueError(f"no JSON value at character {e.value}") from None
    if text[end:].strip(_JSON_WS):
        raise ValueError(f"extra data after the JSON value at character {end}")
    return value


def _json_loads(text: str) -> Any:
    import json

    return json.loads(text, parse_constant=_constant)
