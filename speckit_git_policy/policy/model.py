"""The pydantic models of ``model_policy.toml``: the single source of truth of the policy's rules.

They are the typed API an agent runner reads a policy through (a frozen
``Policy`` and its sub-models), and the JSON Schema is generated from them
(``schema.py``) with no edit afterwards: every rule a schema keyword can state is
declared here, on the field or the model (``Field`` constraints, ``pattern``,
``json_schema_extra``). The few rules no keyword can state live in ``rules.py``
and are called from here as from the checker.

The git hooks, ``validate`` and capture do not import pydantic (building these
models costs a hook more than a whole commit may): ``checker.py`` interprets the
generated schema instead. ``tests/test_checks.py`` requires both to accept
exactly the same documents, at the same keys, with canonical-bytes-identical
blocks.

Patterns are written with ``\\uXXXX`` escapes and no ``$`` anchor so that
pydantic's regex engine, Python's ``re`` (the checker) and an editor's
ECMAScript engine read them alike (Python's ``$`` also matches before a final
newline).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    StrictBool,
    StrictInt,
    StrictStr,
    StringConstraints,
    ValidationError,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError
from typing_extensions import TypeAliasType

from speckit_git_policy.errors import PolicyInvalid, PolicyIssue
from speckit_git_policy.policy.checker import check_document
from speckit_git_policy.policy.rules import (
    FLOAT_MAX,
    FREE_FORM_TABLES,
    JSON_SAFE_INT,
    POLICY_BLOCKS,
    cost_problem,
    exact_json,
)
from speckit_git_policy.policy.toml import dotted_key, parse_toml

if TYPE_CHECKING:
    from speckit_git_policy.policy.toml import LineLookup

__all__ = [
    "CAPTURE_MODES",
    "FREE_FORM_TABLES",
    "JSON_SAFE_INT",
    "POLICY_BLOCKS",
    "Policy",
    "json_schema",
    "load_policy",
    "parse_toml",
    "pydantic_issues",
    "validate_document",
]

# Every hook run compiles these patterns afresh, so they are kept to what Python's re
# compiles fast (a class mixing C1 and U+2028 costs it ten times more than two classes).
# C0, DEL, C1 (U+009B is a terminal's CSI), and the line and paragraph separators:
# printed raw, they move a terminal's cursor or forge output lines.
CONTROL_CHARACTERS = (r"[\u0000-\u001f\u007f-\u009f]", r"[\u2028\u2029]")
# Not blank: one character that is not white space. Engines differ on whether a few
# control characters are white space; those are refused by CONTROL_CHARACTERS anyway,
# so a value is refused alike by pydantic's engine and Python's re (an ECMAScript
# editor also counts U+FEFF as white space).
NON_BLANK = r"\S"
# http or https (either case), then a host: the first character after // starts it.
HTTP_URL = r"^[Hh][Tt][Tt][Pp][Ss]?://[^\s/?#]"

# An error message for editors (VS Code reads these keywords); the checker reports the same words.
BLANK_MODEL_ID = "expected a model id, got a blank string"
CONTROL_IN_MODEL_ID = "model ids must not contain control characters"
CONTROL_IN_URL = "URLs must not contain control characters"
NOT_HTTP_URL = "expected an http:// or https:// URL"


def _no_control_characters(value: str) -> str:
    if any(re.search(pattern, value) for pattern in CONTROL_CHARACTERS):
        raise ValueError("contains control characters")
    return value


def _unique(items: list[str]) -> list[str]:
    duplicates = sorted({item for item in items if items.count(item) > 1})
    if duplicates:
        raise ValueError(f"duplicate item {duplicates[0]!r}")
    return items


ModelId = TypeAliasType(
    "ModelId",
    Annotated[
        StrictStr,
        StringConstraints(pattern=NON_BLANK),
        AfterValidator(_no_control_characters),
        Field(
            json_schema_extra={
                "patternErrorMessage": BLANK_MODEL_ID,
                "allOf": [
                    {"not": {"pattern": pattern}, "errorMessage": CONTROL_IN_MODEL_ID}
                    for pattern in CONTROL_CHARACTERS
                ],
            }
        ),
    ],
)
Candidates = Annotated[
    list[ModelId],
    Field(
        min_length=1,
        json_schema_extra={
            "uniqueItems": True,
            "description": "Candidate model ids for the role, in order of preference.",
        },
    ),
    AfterValidator(_unique),
]
Endpoint = Annotated[
    StrictStr,
    StringConstraints(pattern=HTTP_URL),
    AfterValidator(_no_control_characters),
    Field(
        json_schema_extra={
            "patternErrorMessage": NOT_HTTP_URL,
            "allOf": [
                {"not": {"pattern": pattern}, "errorMessage": CONTROL_IN_URL}
                for pattern in CONTROL_CHARACTERS
            ],
        }
    ),
]
PositiveTokens = Annotated[StrictInt, Field(gt=0, le=JSON_SAFE_INT)]
CaptureMode = Literal["none", "prompts_only", "full_io"]
CAPTURE_MODES: tuple[str, ...] = get_args(CaptureMode)

# What the free-form tables may hold, for editors: values JSON carries exactly. A
# number that is not an integer keeps a JSON integer beyond 2^53 from passing as a
# number. The checker and the validator below apply rules.exact_json instead,
# whose messages say why TOML's value cannot be carried (a date-time, 2^60, NaN).
if TYPE_CHECKING:  # mypy does not follow a recursive TypeAliasType
    JsonValue = Any
else:
    JsonValue = TypeAliasType(
        "JsonValue",
        Annotated[
            StrictStr
            | StrictBool
            | Annotated[StrictInt, Field(ge=-JSON_SAFE_INT, le=JSON_SAFE_INT)]
            | Annotated[
                float,
                Field(ge=-FLOAT_MAX, le=FLOAT_MAX, json_schema_extra={"not": {"type": "integer"}}),
            ]
            | list["JsonValue"]
            | dict[str, "JsonValue"],
            Field(description="A value JSON carries exactly."),
        ],
    )


def _free_form_table(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PydanticCustomError("dict_type", "Input should be a valid dictionary")
    copy, issues = exact_json(value, ())
    if issues:
        raise ValidationError.from_exception_data(
            "JsonValue",
            [
                InitErrorDetails(
                    type=PydanticCustomError("json_exact", message), loc=loc, input=value
                )
                for loc, message in issues
            ],
        )
    result: dict[str, Any] = copy
    return result


FreeForm = Annotated[
    dict[str, Any], PlainValidator(_free_form_table, json_schema_input_type=dict[str, JsonValue])
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class Reflex(_Strict):
    """The local reflex model; endpoint and model are required when enabled."""

    model_config = ConfigDict(
        json_schema_extra={
            "if": {"properties": {"enabled": {"const": True}}, "required": ["enabled"]},
            "then": {"required": ["endpoint", "model"]},
        }
    )

    enabled: StrictBool = False
    endpoint: Endpoint | None = None
    model: ModelId | None = None

    @model_validator(mode="after")
    def _required_when_enabled(self) -> Reflex:
        missing = [name for name in ("endpoint", "model") if getattr(self, name) is None]
        if self.enabled and missing:
            raise ValueError(f"{' and '.join(missing)} required when enabled = true")
        return self


class Routing(_Strict):
    cloud: dict[str, Candidates] = Field(min_length=1)
    reflex: Reflex = Reflex()


class Capture(_Strict):
    mode: CaptureMode
    store_embeddings: StrictBool = False


class Cost(_Strict):
    """warn_threshold must be <= hard_limit."""

    warn_threshold: float = Field(ge=0, le=FLOAT_MAX)
    hard_limit: float = Field(ge=0, le=FLOAT_MAX)

    @model_validator(mode="after")
    def _warn_not_above_hard(self) -> Cost:
        problem = cost_problem(self.warn_threshold, self.hard_limit)
        if problem is not None:
            raise ValueError(problem)
        return self


class Budgets(_Strict):
    tokens: dict[str, PositiveTokens]
    cost: Cost


class ReflexPromotion(_Strict):
    p95_latency_ms: float = Field(gt=0, le=FLOAT_MAX)
    success_parity_percent: float = Field(ge=0, le=100)


class LocalMemorySunset(_Strict):
    retrieval_p95_parity: StrictBool
    stability_days: StrictInt = Field(ge=0, le=JSON_SAFE_INT)


class Gates(_Strict):
    reflex_promotion: ReflexPromotion
    local_memory_sunset: LocalMemorySunset


class Policy(_Strict):
    """The whole of model_policy.toml."""

    routing: Routing
    capture: Capture
    budgets: Budgets
    gates: Gates
    model_settings: FreeForm = Field(default={}, alias="model_config")
    weights: FreeForm = {}
    prompts: FreeForm = {}

    model_config = ConfigDict(
        # Only the TOML name validates: the Python attribute name (model_settings,
        # since pydantic reserves model_config) is not a table of the policy.
        validate_by_alias=True,
        validate_by_name=False,
        title="model_policy.toml",
        protected_namespaces=(),
        json_schema_extra={
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": "https://speckit-git-policy.invalid/schema/model_policy.json",
        },
    )

    def blocks(self) -> dict[str, Any]:
        """The policy blocks as they go into a snapshot (JSON values only)."""
        return self.model_dump(mode="json", by_alias=True)


# ---- validation -----------------------------------------------------------------


def error_loc(error: Any) -> tuple[str | int, ...]:
    """Where a pydantic error is, as a document location (pydantic's own tags removed)."""
    return tuple(
        part
        for part in error["loc"]
        if not (isinstance(part, str) and part.startswith("function-"))
    )


def pydantic_issues(document: dict[str, Any], lines: LineLookup, file: str) -> list[PolicyIssue]:
    """Every issue of ``document`` as the pydantic models see it (their own words), in line order."""
    try:
        Policy.model_validate(document)
    except ValidationError as e:
        issues = [
            PolicyIssue(file, lines.line_of(error_loc(err)), dotted_key(error_loc(err)), err["msg"])
            for err in e.errors()
        ]
        return sorted(issues, key=lambda issue: (issue.line or 0, issue.key))
    return []


def validate_document(document: dict[str, Any], lines: LineLookup, file: str) -> Policy:
    """Validate a parsed TOML document; raise PolicyInvalid with every issue.

    The issues are the checker's (what the hooks report); a document it accepts
    becomes the pydantic model."""
    check_document(document, lines, file)
    try:
        return Policy.model_validate(document)
    except (
        ValidationError
    ) as e:  # the two disagree: a bug that tests/test_checks.py exists to catch
        raise PolicyInvalid(pydantic_issues(document, lines, file)) from e


def load_policy(data: bytes, file: str) -> Policy:
    document, lines = parse_toml(data, file)
    return validate_document(document, lines, file)


def json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of ``model_policy.toml``, as generated from the models."""
    return Policy.model_json_schema(by_alias=True, mode="validation")
