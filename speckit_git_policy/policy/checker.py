"""The hook path's validator: the generated JSON Schema, interpreted in plain Python.

The pydantic models (``model.py``) are the policy's rules; importing pydantic and
building them costs a git hook more than everything else it does. So the hooks,
``validate`` and capture check a document against the schema generated from the
models (``model_policy.schema.json``, read as JSON), plus the few rules no schema
keyword can state (``rules.py``: warn <= hard, values JSON cannot carry, nesting,
finite numbers). The messages are ours ("expected a table, got an array").

The checker interprets the subset of JSON Schema the models generate (``KEYWORDS``;
a test fails when the schema uses another), reading TOML's types as TOML has
them: an integer is not a number with no fraction, and a number field normalizes
to a float, as pydantic dumps it. It follows pydantic's order of work so that both
reject a document at the same keys: a table checks its keys, and its cross-field
rules (``if``/``then``, ``CROSS_FIELD``) run only when every key passed; a value
gets one issue, its first. ``tests/test_checks.py`` holds the two to agreeing on
acceptance, on the keys of every issue and on canonical-bytes-identical blocks.
"""

from __future__ import annotations

import os

from speckit_git_policy.errors import PolicyInvalid, PolicyIssue
from speckit_git_policy.policy.rules import (
    FREE_FORM_TABLES,
    JSON_SAFE_INT,
    POLICY_BLOCKS,
    cost_problem,
    exact_json,
)
from speckit_git_policy.policy.toml import SourceLines, dotted_key, parse_toml

# typing is imported for type checkers only: the git hook's hot path must not pay for it.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from speckit_git_policy.policy.toml import LineLookup

    Loc = tuple[str | int, ...]
    Errors = list[tuple[Loc, str]]
    Schema = dict[str, Any]

__all__ = [
    "FREE_FORM_TABLES",
    "JSON_SAFE_INT",
    "KEYWORDS",
    "POLICY_BLOCKS",
    "SCHEMA_FILE",
    "SourceLines",
    "check_document",
    "check_policy_bytes",
    "dotted_key",
    "load_schema",
    "parse_toml",
    "schema_text",
]

INVALID: Any = object()

# Generated from the models by ``schema.py``, shipped as package data.
SCHEMA_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "model_policy.schema.json")
_loaded: dict[str, Any] | None = None


def schema_text() -> str:
    """The committed schema, as shipped."""
    with open(SCHEMA_FILE, encoding="utf-8") as file:
        return file.read()


def load_schema() -> dict[str, Any]:
    """The committed schema as data, parsed once per process."""
    global _loaded
    if _loaded is None:
        from speckit_git_policy.cjson import loads

        _loaded = loads(schema_text())
    return _loaded


# The keywords the checker acts on, and those it reads for words or ignores.
VALIDATING = frozenset(
    {
        "$ref",
        "type",
        "enum",
        "const",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "pattern",
        "allOf",
        "anyOf",
        "not",
        "properties",
        "required",
        "additionalProperties",
        "propertyNames",
        "minProperties",
        "items",
        "minItems",
        "uniqueItems",
        "if",
        "then",
    }
)
ANNOTATIONS = frozenset(
    {
        "$schema",
        "$id",
        "$defs",
        "title",
        "description",
        "default",
        "patternErrorMessage",
        "errorMessage",
    }
)
KEYWORDS = VALIDATING | ANNOTATIONS

TYPE_WORDS = {
    "object": "a table",
    "array": "an array",
    "string": "a string",
    "boolean": "a boolean",
    "integer": "an integer",
    "number": "a number",
    "null": "no value",
}
RANGES: tuple[tuple[str, str, Callable[[Any, Any], bool]], ...] = (
    ("exclusiveMinimum", "greater than", lambda value, limit: value > limit),
    ("minimum", "of at least", lambda value, limit: value >= limit),
    ("exclusiveMaximum", "less than", lambda value, limit: value < limit),
    ("maximum", "of at most", lambda value, limit: value <= limit),
)


# ---- messages -----------------------------------------------------------------------


def describe_input(value: Any) -> str:
    """A value as a message shows it: TOML's spelling, control characters escaped."""
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, bool):
        return "true" if value else "false"
    text = value.isoformat() if hasattr(value, "isoformat") else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def unknown_key_message(key: str, known: list[str]) -> str:
    from speckit_git_policy.text import did_you_mean  # only when there is an unknown key

    return "unknown key" + did_you_mean(key, known)


def _choices(values: list[Any]) -> str:
    quoted = [describe_input(value) for value in values]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


def sort_issues(issues: list[PolicyIssue]) -> list[PolicyIssue]:
    return sorted(issues, key=lambda issue: (issue.line or 0, issue.key))


# ---- the rules no keyword states, by the definition they belong to ------------------


def _json_value(value: Any, loc: Loc, errors: Errors) -> Any:
    copy, issues = exact_json(value, loc)
    errors.extend(issues)
    return INVALID if issues else copy


# Definitions checked by code alone: their schema is for editors, and the reason a
# value fails (a TOML date-time, 2^60, NaN) is not a schema keyword's to give.
CODE_CHECKED: dict[str, Callable[[Any, Loc, Errors], Any]] = {"JsonValue": _json_value}
# Rules that compare the keys of a definition's table, run once its keys passed.
CROSS_FIELD: dict[str, Callable[[dict[str, Any]], str | None]] = {
    "Cost": lambda cost: cost_problem(cost["warn_threshold"], cost["hard_limit"]),
}


# ---- the interpreter ----------------------------------------------------------------


class _Checker:
    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self.definitions: dict[str, Schema] = schema.get("$defs", {})
        self.errors: Errors = []

    def check(self, node: Schema, value: Any, loc: Loc) -> Any:
        """``value`` normalized as pydantic dumps it, or INVALID after recording its issue(s)."""
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[-1]
            if name in CODE_CHECKED:
                return CODE_CHECKED[name](value, loc, self.errors)
            value = self.check(self.definitions[name], value, loc)
            if value is not INVALID and name in CROSS_FIELD:
                problem = CROSS_FIELD[name](value)
                if problem is not None:
                    self.errors.append((loc, problem))
                    return INVALID
            if value is INVALID or VALIDATING.isdisjoint(node.keys() - {"$ref"}):
                return value
            node = {key: item for key, item in node.items() if key != "$ref"}
        if "anyOf" in node:
            return self._any_of(node, value, loc)
        problem = self._scalar_problem(node, value)
        if problem is not None:
            self.errors.append((loc, node.get("errorMessage", problem)))
            return INVALID
        if node.get("type") == "number":
            value = float(value)  # a float field dumps 30 as 30.0; the range check saw it finite
        for sub in node.get("allOf", ()):
            if self.check(sub, value, loc) is INVALID:
                return INVALID
        if "not" in node and self._matches(node["not"], value, loc):
            self.errors.append(
                (loc, node.get("errorMessage", "is a value this key does not allow"))
            )
            return INVALID
        if isinstance(value, dict):
            return self._table(node, value, loc)
        if isinstance(value, list):
            return self._array(node, value, loc)
        return value

    def _matches(self, node: Schema, value: Any, loc: Loc) -> bool:
        before = len(self.errors)
        self.check(node, value, loc)
        matched = len(self.errors) == before
        del self.errors[before:]
        return matched

    def _any_of(self, node: Schema, value: Any, loc: Loc) -> Any:
        branches = [branch for branch in node["anyOf"] if branch != {"type": "null"}]
        if value is None and len(branches) < len(node["anyOf"]):
            return None
        if (
            len(branches) == 1
        ):  # an optional value: TOML has no null, so only the other form is seen
            return self.check(branches[0], value, loc)
        for branch in branches:
            if self._matches(branch, value, loc):
                return self.check(branch, value, loc)
        words = [TYPE_WORDS.get(branch.get("type", ""), "another form") for branch in branches]
        self.errors.append((loc, f"expected {' or '.join(words)}, got {describe_input(value)}"))
        return INVALID

    def _scalar_problem(self, node: Schema, value: Any) -> str | None:
        """The first problem of ``value`` with the node's type, choices, range or pattern."""
        if "enum" in node or "const" in node:
            choices = node["enum"] if "enum" in node else [node["const"]]
            if not any(type(value) is type(choice) and value == choice for choice in choices):
                return f"expected {_choices(choices)}, got {describe_input(value)}"
            return None
        kind = node.get("type")
        if kind is not None and not _is_type(value, kind):
            return f"expected {TYPE_WORDS[kind]}, got {describe_input(value)}"
        if kind == "number":
            import math

            try:
                finite = math.isfinite(value)
            except OverflowError:  # an integer beyond a double
                finite = False
            if not finite:
                return f"expected a finite number, got {describe_input(value)}"
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number = float(value) if kind == "number" else value
            for keyword, words, holds in RANGES:
                if keyword in node and not holds(number, node[keyword]):
                    what = TYPE_WORDS.get(kind or "number", "a number")
                    return f"expected {what} {words} {node[keyword]}, got {describe_input(value)}"
        if isinstance(value, str) and "pattern" in node:
            if not pattern_found(node["pattern"], value):
                return str(
                    node.get(
                        "patternErrorMessage", f"expected a string matching {node['pattern']!r}"
                    )
                )
        return None

    def _table(self, node: Schema, value: dict[str, Any], loc: Loc) -> Any:
        properties: dict[str, Schema] = node.get("properties", {})
        required = node.get("required", ())
        out: dict[str, Any] = {}
        valid = True
        for name, sub in properties.items():
            if name in value:
                out[name] = self.check(sub, value[name], (*loc, name))
                valid = valid and out[name] is not INVALID
            elif name in required:
                self.errors.append(((*loc, name), "required key is missing"))
                valid = False
            elif "default" in sub:
                out[name] = _copy(sub["default"])
        additional = node.get("additionalProperties", True)
        names: Schema | None = node.get("propertyNames")  # [pricing]'s keys are model ids
        for key in value:
            if names is not None and self.check(names, key, (*loc, key)) is INVALID:
                valid = False
            if key in properties:
                continue
            if additional is False:
                self.errors.append(((*loc, key), unknown_key_message(str(key), list(properties))))
                valid = False
            elif isinstance(additional, dict):
                out[key] = self.check(additional, value[key], (*loc, key))
                valid = valid and out[key] is not INVALID
            else:
                out[key] = _copy(value[key])
        if not valid:
            return INVALID
        if len(value) < node.get("minProperties", 0):
            self.errors.append(
                (
                    loc,
                    "expected a non-empty table"
                    if node["minProperties"] == 1
                    else f"expected at least {node['minProperties']} keys",
                )
            )
            return INVALID
        if "if" in node and "then" in node and self._matches(node["if"], value, loc):
            return self._then(node, value, loc, out)
        return out

    def _then(self, node: Schema, value: dict[str, Any], loc: Loc, out: dict[str, Any]) -> Any:
        then: Schema = node["then"]
        missing = [name for name in then.get("required", ()) if name not in value]
        if missing:
            condition = " and ".join(
                f"{key} = {describe_input(sub.get('const'))}"
                for key, sub in node["if"].get("properties", {}).items()
            )
            self.errors.append((loc, f"{' and '.join(missing)} required when {condition}"))
            return INVALID
        rest = {key: item for key, item in then.items() if key != "required"}
        return out if self.check(rest, value, loc) is not INVALID else INVALID

    def _array(self, node: Schema, value: list[Any], loc: Loc) -> Any:
        items: Schema = node.get("items", {})
        out = [self.check(items, item, (*loc, i)) for i, item in enumerate(value)]
        if any(item is INVALID for item in out):
            return INVALID
        least = node.get("minItems", 0)
        if len(value) < least:
            self.errors.append(
                (
                    loc,
                    "expected a non-empty array"
                    if least == 1
                    else f"expected at least {least} items",
                )
            )
            return INVALID
        if node.get("uniqueItems"):
            seen: list[Any] = []
            for item in value:
                if item in seen:
                    self.errors.append((loc, f"duplicate item {describe_input(item)}"))
                    return INVALID
                seen.append(item)
        return out


def _copy(value: Any) -> Any:
    return exact_json(value, ())[0] if isinstance(value, (dict, list)) else value


def _is_type(value: Any, kind: str) -> bool:
    if kind == "object":
        return isinstance(value, dict)
    if kind == "array":
        return isinstance(value, list)
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return kind == "null" and value is None


# ---- patterns --------------------------------------------------------------------------

# The patterns the shipped schema holds, each as the test ``re.search(pattern, text) is
# not None`` amounts to: importing re is a third of what the pre-commit hook costs.
# Any other pattern (a schema of another version) goes to re. tests/test_checker_patterns.py
# holds each to re's answer.
_C0_C1 = frozenset([chr(code) for code in range(0x20)] + [chr(code) for code in range(0x7F, 0xA0)])
_URL_STOP = frozenset("/?#")


def _web_url(text: str) -> bool:
    """``^[Hh][Tt][Tt][Pp][Ss]?://[^\\s/?#]``"""
    if len(text) < 8 or text[0] not in "Hh" or text[1] not in "Tt" or text[2] not in "Tt":
        return False
    if text[3] not in "Pp":
        return False
    at = 5 if text[4] in "Ss" else 4
    after = text[at + 3 : at + 4]
    return (
        text[at : at + 3] == "://"
        and after != ""
        and not after.isspace()
        and after not in _URL_STOP
    )


KNOWN_PATTERNS: dict[str, Callable[[str], bool]] = {
    r"[\u0000-\u001f\u007f-\u009f]": lambda text: not _C0_C1.isdisjoint(text),
    r"[\u2028\u2029]": lambda text: "\u2028" in text or "\u2029" in text,
    r"\S": lambda text: text != "" and not text.isspace(),
    r"^[Hh][Tt][Tt][Pp][Ss]?://[^\s/?#]": _web_url,
}


def pattern_found(pattern: str, text: str) -> bool:
    """``re.search(pattern, text) is not None``."""
    known = KNOWN_PATTERNS.get(pattern)
    if known is not None:
        return known(text)
    import re

    return re.search(pattern, text) is not None


# ---- validation -----------------------------------------------------------------------


def check_document(document: dict[str, Any], lines: LineLookup, file: str) -> dict[str, Any]:
    """The normalized policy blocks of a parsed document (defaults filled, numbers of
    float fields as floats), exactly as ``Policy.model_validate(document).blocks()``
    gives them; raise PolicyInvalid with every issue, in line order."""
    schema = load_schema()
    checker = _Checker(schema)
    blocks = checker.check(schema, document, ())
    if checker.errors or blocks is INVALID:
        raise PolicyInvalid(
            sort_issues(
                [
                    PolicyIssue(file, lines.line_of(loc), dotted_key(loc), message)
                    for loc, message in checker.errors
                ]
            )
        )
    result: dict[str, Any] = blocks
    return result


def check_policy_bytes(data: bytes, file: str) -> dict[str, Any]:
    """Parse and check ``model_policy.toml``'s bytes; the normalized policy blocks."""
    document, lines = parse_toml(data, file)
    return check_document(document, lines, file)
