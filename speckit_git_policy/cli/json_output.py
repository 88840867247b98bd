"""The command line's JSON documents: exactly ``json.dumps(document, indent=2,
ensure_ascii=False)``, written through the C encoder.

With ``indent`` set, ``json.dumps`` runs the pure-Python encoder (the C one serves
only ``indent=None``): at 100,000 runs ``run list --json`` spent as long encoding as
reading. Here every container whose items are all scalars (a listing's rows) is
encoded by the C encoder, its item separator carrying the newline and indentation
of its level, and only the containers around them are walked in Python. Nothing
in the text changes: scripts parse it, and tests compare it. Anything unusual (keys
that are not text inside a nested container, values of other types, nesting too
deep, a cycle, no C encoder) is left to ``json.dumps`` itself, errors included.
"""

from __future__ import annotations

import json
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

_SCALARS = frozenset((str, int, float, bool, type(None)))
# newline and indentation of a level -> the C encoder of a flat container at that level
_ENCODERS: dict[str, Callable[[object, int], tuple[str, ...] | list[str]]] = {}


class _Unusual(Exception):
    """What only ``json.dumps`` writes as ``json.dumps`` does."""


def dumps(document: object) -> str:
    """``json.dumps(document, indent=2, ensure_ascii=False)``, the same text."""
    if c_make_encoder is None:
        return json.dumps(document, indent=2, ensure_ascii=False)
    out: list[str] = []
    try:
        _write(document, "\n", out)
    except (_Unusual, RecursionError):
        return json.dumps(document, indent=2, ensure_ascii=False)
    return "".join(out)


def _not_serializable(value: object) -> object:
    raise _Unusual  # never reached: flat containers hold scalars only


def _flat(newline: str) -> Callable[[object, int], tuple[str, ...] | list[str]]:
    encoder = _ENCODERS.get(newline)
    if encoder is None:
        # (markers, default, encoder, indent, key separator, item separator, sort_keys,
        # skipkeys, allow_nan): json.dumps' own defaults, but the item separator.
        encoder = _ENCODERS[newline] = c_make_encoder(
            None, _not_serializable, encode_basestring, None, ": ", "," + newline,
            False, False, True,
        )  # fmt: skip
    return encoder


def _flat_text(value: object, newline: str) -> str | None:
    """``value`` at the level whose lines start with ``newline`` when it is a scalar or
    a container of scalars (the C encoder's text); None for any other container."""
    kind = type(value)
    if kind in _SCALARS:
        return "".join(_flat(newline)(value, 0))
    if kind is dict or kind is list or kind is tuple:
        assert isinstance(value, (dict, list, tuple))
        if not value:
            return "{}" if kind is dict else "[]"
        items = value.values() if isinstance(value, dict) else value
        if set(map(type, items)) <= _SCALARS:
            inner = newline + "  "
            text = "".join(_flat(inner)(value, 0))
            return text[0] + inner + text[1:-1] + newline + text[-1]
        return None
    raise _Unusual


def _flat_row(row: dict[object, object]) -> bool:
    return bool(row) and set(map(type, row.values())) <= _SCALARS


def _rows(rows: list[object] | tuple[object, ...], newline: str, inner: str) -> str:
    """A list of non-empty objects of scalars (a listing's rows) in one call of the C
    encoder. Its item separator is the rows' own (a comma, then a newline and their
    indentation), so it also comes out between two rows, where it is the only one
    after a "}" (a flat row holds no other "}" outside its strings, and no JSON
    string holds a raw newline): that one is made the list's."""
    row_inner = inner + "  "
    text = "".join(_flat(row_inner)(rows, 0))  # [{...,<row_inner>...},<row_inner>{...}]
    between = "}," + row_inner + "{"
    body = text[2:-2].replace(between, inner + "}," + inner + "{" + row_inner)
    return "[" + inner + "{" + row_inner + body + inner + "}" + newline + "]"


def _write(value: object, newline: str, out: list[str]) -> None:
    """``value`` at the level whose lines start with ``newline``."""
    text = _flat_text(value, newline)
    if text is not None:
        out.append(text)
        return
    assert isinstance(value, (dict, list, tuple))
    inner = newline + "  "
    if not isinstance(value, dict) and all(
        type(item) is dict and _flat_row(item) for item in value
    ):
        out.append(_rows(value, newline, inner))
        return
    if isinstance(value, dict):
        separator = "{" + inner
        for key, item in value.items():
            if type(key) is not str:
                raise _Unusual
            text = _flat_text(item, inner)
            if text is None:
                out.append(separator + encode_basestring(key) + ": ")
                _write(item, inner, out)
            else:
                out.append(separator + encode_basestring(key) + ": " + text)
            separator = "," + inner
        out.append(newline + "}")
    else:
        separator = "[" + inner
        for item in value:
            text = _flat_text(item, inner)
            if text is None:
                out.append(separator)
                _write(item, inner, out)
            else:
                out.append(separator + text)
            separator = "," + inner
        out.append(newline + "]")
