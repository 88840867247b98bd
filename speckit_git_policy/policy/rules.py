"""The rules of ``model_policy.toml`` that JSON Schema cannot state, in plain Python.

Everything else about the policy is declared on the pydantic models (``model.py``)
and reaches the hook-path checker as the generated schema data. What is left
here is what a schema keyword cannot say:

* ``warn_threshold <= hard_limit`` compares two values;
* the free-form tables (``model_config``, ``weights``, ``prompts``) must hold only
  values JSON carries exactly, and the reason a value fails is TOML's, not JSON's
  (a date-time, an integer beyond 2^53, NaN): a schema can only say "no";
* nesting is bounded, so that no walk over a document (ours, the TOML parser's,
  the canonical JSON encoder's) can exhaust the stack.

Both the checker and the pydantic models call these functions, so each rule is
written once. The walks are iterative: they are what stands between a hostile
document and a ``RecursionError``.
"""

from __future__ import annotations

import math

# typing is imported for type checkers only: the git hook's hot path must not pay for it.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    Loc = tuple[str | int, ...]

# RFC 8785 (and every JSON reader that uses doubles) carries integers exactly up to
# 2^53 - 1; 2^53 itself is already ambiguous (2^53 + 1 reads back as 2^53).
JSON_SAFE_INT = 2**53 - 1
FLOAT_MAX = 1.7976931348623157e308
# Tables, inline tables and arrays count. Deep enough for any real model_config,
# shallow enough that every recursive walk (the TOML parser's included) has stack to spare.
MAX_DEPTH = 64
DEPTH_MESSAGE = (
    f"nested more than {MAX_DEPTH} levels deep (tables, inline tables and arrays "
    f"count); the policy allows at most {MAX_DEPTH}"
)

POLICY_BLOCKS = ("routing", "capture", "budgets", "gates", "model_config", "weights", "prompts")
FREE_FORM_TABLES = ("model_config", "weights", "prompts")


def too_deep(value: Any, loc: Loc = ()) -> Loc | None:
    """The location of the first value nested more than MAX_DEPTH levels deep, if any.

    ``loc`` is where ``value`` sits; its length counts towards the depth.
    """
    if len(loc) > MAX_DEPTH:
        return loc
    stack: list[tuple[Any, Loc]] = [(value, loc)] if isinstance(value, (dict, list)) else []
    while stack:  # only tables and arrays are pushed: this runs on every commit's policy
        item, where = stack.pop()
        for key, child in item.items() if isinstance(item, dict) else enumerate(item):
            if len(where) >= MAX_DEPTH:
                return (*where, key)
            if isinstance(child, (dict, list)):
                stack.append((child, (*where, key)))
    return None


def _scalar_problem(value: Any) -> str | None:
    if isinstance(value, (bool, str)):
        return None
    if isinstance(value, int):
        if abs(value) > JSON_SAFE_INT:
            return f"integer {value} is outside ±(2^53 - 1) and cannot be carried exactly in JSON"
        return None
    if isinstance(value, float):
        return (
            None
            if math.isfinite(value)
            else f"{value} is not a finite number; JSON cannot carry it"
        )
    import datetime  # only for a value that is already not JSON

    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return "TOML date/time values cannot be carried in JSON; quote it as a string"
    return f"unsupported value of type {type(value).__name__}"


def exact_json(value: Any, loc: Loc) -> tuple[Any, list[tuple[Loc, str]]]:
    """A copy of a free-form value, and (location, message) for each part JSON cannot
    carry exactly or that is nested too deep. Every message says "JSON" or "nested"."""
    issues: list[tuple[Loc, str]] = []
    root: list[Any] = [None]
    # (value, where, container of the copy, key or index in it)
    stack: list[tuple[Any, Loc, Any, Any]] = [(value, loc, root, 0)]
    while stack:
        item, where, parent, slot = stack.pop()
        if len(where) > MAX_DEPTH:
            issues.append((where, DEPTH_MESSAGE))
            continue
        if isinstance(item, dict):
            copy: Any = {}
            stack.extend((child, (*where, key), copy, key) for key, child in reversed(item.items()))
        elif isinstance(item, list):
            copy = [None] * len(item)
            stack.extend(
                (child, (*where, i), copy, i) for i, child in reversed(list(enumerate(item)))
            )
        else:
            problem = _scalar_problem(item)
            if problem is not None:
                issues.append((where, problem))
            copy = item
        parent[slot] = copy
    return root[0], issues


def cost_problem(warn_threshold: float, hard_limit: float) -> str | None:
    if warn_threshold > hard_limit:
        return f"warn_threshold ({warn_threshold}) must be <= hard_limit ({hard_limit})"
    return None
