"""Plain-Python validation of ``model_policy.toml`` against SPEC §2, for the hook's hot path.

The pydantic models in ``model.py`` are the schema (``git speckit-policy schema``)
and, in the tests, the oracle; importing pydantic and building them costs a git
hook more than everything else it does, so the hooks, ``validate`` and capture
check a document here instead. ``tests/test_checks.py`` generates documents, valid
and broken in every way §2 names, and requires this module to accept exactly what
``Policy.model_validate`` accepts, report the same issues (file, line, dotted key,
message) and produce canonical-bytes-identical policy blocks. A rule changes in
both places, or that test fails.

The checker mirrors pydantic's order of work so that the issue lists match: a
model checks its fields in declaration order, then reports unknown keys, and
runs its cross-field rule only when every field passed.
"""

from __future__ import annotations

import math
import sys

from speckit_git_policy.errors import PolicyInvalid, PolicyIssue

# typing is imported for type checkers only: the git hook's hot path must not pay for it.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, Protocol

    from speckit_git_policy.policy.tomlpos import KeyLines

    Loc = tuple[str | int, ...]
    Errors = list[tuple[Loc, str]]
    # A check takes (value, location, errors) and returns the normalized value, or
    # INVALID after appending at least one error.
    Check = Callable[[Any, Loc, Errors], Any]

    class LineLookup(Protocol):
        """Where a dotted key is written (``tomlpos.KeyLines`` or ``SourceLines``)."""

        def line_of(self, key: tuple[object, ...]) -> int | None: ...

        def line_of_dotted(self, dotted: str) -> int | None: ...

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# RFC 8785 (and every JSON reader that uses doubles) carries integers exactly up to
# 2^53 - 1; 2^53 itself is already ambiguous (2^53 + 1 reads back as 2^53).
JSON_SAFE_INT = 2**53 - 1
CAPTURE_MODES = ("none", "prompts_only", "full_io")
POLICY_BLOCKS = ("routing", "capture", "budgets", "gates", "model_config", "weights", "prompts")
FREE_FORM_TABLES = ("model_config", "weights", "prompts")

INVALID: Any = object()
REQUIRED: Any = object()


# ---- parsing ----------------------------------------------------------------------



class SourceLines:
    """``KeyLines`` of a text, scanned on first use: a valid policy, the usual
    commit, never pays for locating keys."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._key_lines: KeyLines | None = None

    def key_lines(self) -> KeyLines:
        if self._key_lines is None:
            from speckit_git_policy.policy.tomlpos import KeyLines

            self._key_lines = KeyLines(self.text)
        return self._key_lines

    def line_of(self, key: tuple[object, ...]) -> int | None:
        return self.key_lines().line_of(key)

    def line_of_dotted(self, dotted: str) -> int | None:
        return self.key_lines().line_of_dotted(dotted)


def parse_toml(data: bytes, file: str) -> tuple[dict[str, Any], SourceLines]:
    """Decode and parse TOML; errors become PolicyInvalid located at file:line."""
    if not data.strip():
        raise PolicyInvalid([PolicyIssue(file, 1, "", "file is empty; expected the policy tables")])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise PolicyInvalid([PolicyIssue(file, line, "", "is not valid UTF-8")]) from e
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        error_line: int | None = getattr(e, "lineno", None)
        message = str(e)
        if error_line is None and "(at line " in message:
            error_line = int(message.rsplit("(at line ", 1)[1].split(",")[0])
        message = message.split(" (at line ")[0]
        raise PolicyInvalid([PolicyIssue(file, error_line, "", f"invalid TOML: {message}")]) from e
    return document, SourceLines(text)


# ---- messages (the same words model.py makes of pydantic's errors) -----------------


def describe_input(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return "a table" if isinstance(value, dict) else "an array"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def dotted_key(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in loc).replace(".[", "[")


def unknown_key_message(key: str, known: list[str]) -> str:
    import difflib  # only when there is an unknown key

    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    return "unknown key" + (f"; did you mean {close[0]!r}?" if close else "")


def _expected(what: str, value: Any) -> str:
    return f"expected {what}, got {describe_input(value)}"


# ---- value checks -----------------------------------------------------------------


def _bool(value: Any, loc: Loc, errors: Errors) -> Any:
    if isinstance(value, bool):
        return value
    errors.append((loc, _expected("a valid boolean", value)))
    return INVALID


def _str(value: Any, loc: Loc, errors: Errors) -> Any:
    if isinstance(value, str):
        return value
    errors.append((loc, _expected("a valid string", value)))
    return INVALID


def _bounds(value: Any, number: float, loc: Loc, errors: Errors,
            gt: float | None, ge: float | None, le: float | None) -> bool:
    for limit, words, broken in (
        (gt, "greater than", gt is not None and not number > gt),
        (ge, "greater than or equal to", ge is not None and not number >= ge),
        (le, "less than or equal to", le is not None and not number <= le),
    ):
        if broken:
            errors.append((loc, _expected(f"{words} {limit}", value)))
            return False
    return True


def _int(*, gt: int | None = None, ge: int | None = None, le: int | None = None) -> Check:
    def check(value: Any, loc: Loc, errors: Errors) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            errors.append((loc, _expected("a valid integer", value)))
            return INVALID
        return value if _bounds(value, value, loc, errors, gt, ge, le) else INVALID

    return check


def _float(*, gt: float | None = None, ge: float | None = None, le: float | None = None) -> Check:
    def check(value: Any, loc: Loc, errors: Errors) -> Any:
        number: float | None = None
        if isinstance(value, float):
            number = value
        elif isinstance(value, int) and not isinstance(value, bool):
            try:
                number = float(value)
            except OverflowError:
                number = None  # pydantic calls an int beyond a double "not a valid number"
        if number is None:
            errors.append((loc, _expected("a valid number", value)))
            return INVALID
        if not math.isfinite(number):
            errors.append((loc, _expected("a finite number", value)))
            return INVALID
        return number if _bounds(value, number, loc, errors, gt, ge, le) else INVALID

    return check


def _literal(*choices: str) -> Check:
    quoted = [repr(choice) for choice in choices]
    words = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]

    def check(value: Any, loc: Loc, errors: Errors) -> Any:
        if isinstance(value, str) and value in choices:
            return value
        errors.append((loc, _expected(words, value)))
        return INVALID

    return check


def _dict_of(item: Check, *, min_length: int = 0) -> Check:
    def check(value: Any, loc: Loc, errors: Errors) -> Any:
        if not isinstance(value, dict):
            errors.append((loc, _expected("a valid dictionary", value)))
            return INVALID
        out = {}
        valid = True
        for key, entry in value.items():
            result = item(entry, (*loc, key), errors)
            valid = valid and result is not INVALID
            out[key] = result
        if not valid:
            return INVALID
        if len(out) < min_length:
            errors.append((loc, f"expected at least {min_length} entry, got none"))
            return INVALID
        return out

    return check


def _json_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _json_copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_copy(item) for item in value]
    return value


def _free_form(value: Any, loc: Loc, errors: Errors) -> Any:
    # Values JSON cannot carry are reported by json_exact_issues, before this runs.
    if not isinstance(value, dict):
        errors.append((loc, _expected("a valid dictionary", value)))
        return INVALID
    return _json_copy(value)


def _model(class_name: str, fields: dict[str, tuple[Check, Any]],
           rule: Callable[[dict[str, Any]], str | None] | None = None) -> Check:
    """A table with known keys; ``fields`` maps key → (check, default factory or REQUIRED)."""
    known = list(fields)

    def check(value: Any, loc: Loc, errors: Errors) -> Any:
        if not isinstance(value, dict):
            errors.append((loc, _expected(f"a valid dictionary or instance of {class_name}", value)))
            return INVALID
        out: dict[str, Any] = {}
        valid = True
        for name, (field_check, default) in fields.items():
            if name in value:
                result = field_check(value[name], (*loc, name), errors)
                valid = valid and result is not INVALID
                out[name] = result
            elif default is REQUIRED:
                errors.append(((*loc, name), "required key is missing"))
                valid = False
            else:
                out[name] = default()
        for key in value:
            if key not in fields:
                errors.append(((*loc, key), unknown_key_message(str(key), known)))
                valid = False
        if not valid:
            return INVALID
        if rule is not None:
            message = rule(out)
            if message is not None:
                errors.append((loc, message))
                return INVALID
        return out

    return check


# ---- the rules of §2 --------------------------------------------------------------


def _candidates(value: Any, loc: Loc, errors: Errors) -> Any:
    if not isinstance(value, list):
        errors.append((loc, _expected("a valid list", value)))
        return INVALID
    results = [_str(item, (*loc, i), errors) for i, item in enumerate(value)]
    if any(result is INVALID for result in results):
        return INVALID
    message = candidates_problem(results)
    if message is not None:
        errors.append((loc, message))
        return INVALID
    return results


def candidates_problem(models: list[str]) -> str | None:
    """What is wrong with a role's list of model ids, if anything."""
    if not models:
        return "expected a non-empty list of model ids"
    if any(not model.strip() for model in models):
        return "model ids must be non-empty strings"
    duplicates = sorted({m for m in models if models.count(m) > 1})
    if duplicates:
        return f"duplicate model id {duplicates[0]!r}"
    return None


def endpoint_problem(value: str) -> str | None:
    from urllib.parse import urlparse

    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        return "expected an http:// or https:// URL"
    return None


def model_id_problem(value: str) -> str | None:
    return "expected a non-empty model id" if not value.strip() else None


def reflex_problem(enabled: bool, endpoint: str | None, model: str | None) -> str | None:
    if enabled:
        missing = [name for name, value in (("endpoint", endpoint), ("model", model)) if value is None]
        if missing:
            return f"{' and '.join(missing)} required when enabled = true"
    return None


def cost_problem(warn_threshold: float, hard_limit: float) -> str | None:
    if warn_threshold > hard_limit:
        return f"warn_threshold ({warn_threshold}) must be <= hard_limit ({hard_limit})"
    return None


def _optional_str(problem: Callable[[str], str | None]) -> Check:
    def check(value: Any, loc: Loc, errors: Errors) -> Any:
        if value is None:
            return None
        if _str(value, loc, errors) is INVALID:
            return INVALID
        message = problem(value)
        if message is not None:
            errors.append((loc, message))
            return INVALID
        return value

    return check


def _none() -> None:
    return None


def _false() -> bool:
    return False


def _empty() -> dict[str, Any]:
    return {}


_REFLEX = _model(
    "Reflex",
    {
        "enabled": (_bool, _false),
        "endpoint": (_optional_str(endpoint_problem), _none),
        "model": (_optional_str(model_id_problem), _none),
    },
    lambda r: reflex_problem(r["enabled"], r["endpoint"], r["model"]),
)
_POLICY = _model(
    "Policy",
    {
        "routing": (_model("Routing", {
            "cloud": (_dict_of(_candidates, min_length=1), REQUIRED),
            "reflex": (_REFLEX, lambda: {"enabled": False, "endpoint": None, "model": None}),
        }), REQUIRED),
        "capture": (_model("Capture", {
            "mode": (_literal(*CAPTURE_MODES), REQUIRED),
            "store_embeddings": (_bool, _false),
        }), REQUIRED),
        "budgets": (_model("Budgets", {
            "tokens": (_dict_of(_int(gt=0, le=JSON_SAFE_INT)), REQUIRED),
            "cost": (_model("Cost", {
                "warn_threshold": (_float(ge=0), REQUIRED),
                "hard_limit": (_float(ge=0), REQUIRED),
            }, lambda c: cost_problem(c["warn_threshold"], c["hard_limit"])), REQUIRED),
        }), REQUIRED),
        "gates": (_model("Gates", {
            "reflex_promotion": (_model("ReflexPromotion", {
                "p95_latency_ms": (_float(gt=0), REQUIRED),
                "success_parity_percent": (_float(ge=0, le=100), REQUIRED),
            }), REQUIRED),
            "local_memory_sunset": (_model("LocalMemorySunset", {
                "retrieval_p95_parity": (_bool, REQUIRED),
                "stability_days": (_int(ge=0, le=JSON_SAFE_INT), REQUIRED),
            }), REQUIRED),
        }), REQUIRED),
        "model_config": (_free_form, _empty),
        "weights": (_free_form, _empty),
        "prompts": (_free_form, _empty),
    },
)


# ---- validation -------------------------------------------------------------------


def json_exact_issues(value: Any, key: str) -> list[tuple[str, str]]:
    """(dotted key, message) for each value JSON cannot carry exactly."""
    if isinstance(value, (bool, str)):
        return []
    if isinstance(value, int):
        if abs(value) > JSON_SAFE_INT:
            return [(key, f"integer {value} is outside ±(2^53 - 1) and cannot be carried exactly in JSON")]
        return []
    if isinstance(value, float):
        if not math.isfinite(value):
            return [(key, f"{value} is not a finite number; JSON cannot carry it")]
        return []
    if isinstance(value, list):
        return [issue for i, item in enumerate(value) for issue in json_exact_issues(item, f"{key}[{i}]")]
    if isinstance(value, dict):
        return [issue for k, v in value.items() for issue in json_exact_issues(v, f"{key}.{k}")]
    import datetime  # only for a value that is already not JSON

    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return [(key, "TOML date/time values cannot be carried in JSON; quote it as a string")]
    return [(key, f"unsupported value of type {type(value).__name__}")]


def free_form_issues(document: dict[str, Any], lines: LineLookup, file: str) -> list[PolicyIssue]:
    return [
        PolicyIssue(file, lines.line_of_dotted(key), key, message)
        for table in FREE_FORM_TABLES if table in document
        for key, message in json_exact_issues(document[table], table)
    ]


def sort_issues(issues: list[PolicyIssue]) -> list[PolicyIssue]:
    return sorted(issues, key=lambda issue: (issue.line or 0, issue.key))


def check_document(document: dict[str, Any], lines: LineLookup, file: str) -> dict[str, Any]:
    """The normalized policy blocks of a parsed document (defaults filled, numbers of
    float fields as floats), exactly as ``Policy.model_validate(document).blocks()``
    gives them; raise PolicyInvalid with every issue, in line order."""
    issues = free_form_issues(document, lines, file)
    errors: Errors = []
    blocks = _POLICY(document, (), errors)
    issues.extend(PolicyIssue(file, lines.line_of(loc), dotted_key(loc), message) for loc, message in errors)
    if issues or blocks is INVALID:
        raise PolicyInvalid(sort_issues(issues))
    result: dict[str, Any] = blocks
    return result


def check_policy_bytes(data: bytes, file: str) -> dict[str, Any]:
    """Parse and check ``model_policy.toml``'s bytes; the normalized policy blocks."""
    document, lines = parse_toml(data, file)
    return check_document(document, lines, file)
