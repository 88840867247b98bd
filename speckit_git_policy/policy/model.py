"""The pydantic models of ``model_policy.toml`` (SPEC §2): the schema.

There are two implementations of §2, on purpose:

* these pydantic models, which give ``git speckit-policy schema`` (the JSON Schema
  editors use) and are the oracle in the tests;
* ``checks.py``, plain Python, which the git hooks, ``validate`` and capture use:
  importing pydantic and building these models costs more than a whole
  policy-changing commit may (SPEC §10: faster than a no-op pre-commit hook).

They cannot drift apart silently: the rules with words of their own (model-id
lists, endpoint, reflex, cost) are the same functions of ``checks.py``, and the
hypothesis test ``tests/test_checks.py`` requires both to accept exactly the same
documents, report the same issues and give canonical-bytes-identical blocks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)

from speckit_git_policy.policy.checker import (
    CAPTURE_MODES,
    FREE_FORM_TABLES,
    JSON_SAFE_INT,
    POLICY_BLOCKS,
    candidates_problem,
    check_document,
    cost_problem,
    describe_input,
    dotted_key,
    endpoint_problem,
    free_form_issues,
    model_id_problem,
    parse_toml,
    reflex_problem,
    sort_issues,
    unknown_key_message,
)

if TYPE_CHECKING:
    from speckit_git_policy.policy.checker import LineLookup
from speckit_git_policy.errors import PolicyInvalid, PolicyIssue

__all__ = [
    "CAPTURE_MODES", "FREE_FORM_TABLES", "JSON_SAFE_INT", "POLICY_BLOCKS", "Policy",
    "json_schema", "load_policy", "parse_toml", "pydantic_issues", "validate_document",
]


def _raise_if(problem: str | None) -> None:
    if problem is not None:
        raise ValueError(problem)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class Reflex(_Strict):
    enabled: StrictBool = False
    endpoint: str | None = None
    model: str | None = None

    @field_validator("endpoint")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None:
            _raise_if(endpoint_problem(value))
        return value

    @field_validator("model")
    @classmethod
    def _non_empty(cls, value: str | None) -> str | None:
        if value is not None:
            _raise_if(model_id_problem(value))
        return value

    @model_validator(mode="after")
    def _required_when_enabled(self) -> Reflex:
        _raise_if(reflex_problem(self.enabled, self.endpoint, self.model))
        return self


def _check_candidates(models: list[str]) -> list[str]:
    _raise_if(candidates_problem(models))
    return models


Candidates = Annotated[list[StrictStr], AfterValidator(_check_candidates)]
PositiveTokens = Annotated[StrictInt, Field(gt=0, le=JSON_SAFE_INT)]


class Routing(_Strict):
    cloud: dict[str, Candidates] = Field(min_length=1)
    reflex: Reflex = Field(default_factory=Reflex)


class Capture(_Strict):
    mode: Literal["none", "prompts_only", "full_io"]
    store_embeddings: StrictBool = False


class Cost(_Strict):
    warn_threshold: float = Field(ge=0)
    hard_limit: float = Field(ge=0)

    @model_validator(mode="after")
    def _warn_not_above_hard(self) -> Cost:
        _raise_if(cost_problem(self.warn_threshold, self.hard_limit))
        return self


class Budgets(_Strict):
    tokens: dict[str, PositiveTokens]
    cost: Cost


class ReflexPromotion(_Strict):
    p95_latency_ms: float = Field(gt=0)
    success_parity_percent: float = Field(ge=0, le=100)


class LocalMemorySunset(_Strict):
    retrieval_p95_parity: StrictBool
    stability_days: StrictInt = Field(ge=0, le=JSON_SAFE_INT)


class Gates(_Strict):
    reflex_promotion: ReflexPromotion
    local_memory_sunset: LocalMemorySunset


class Policy(_Strict):
    """The whole of ``model_policy.toml``."""

    routing: Routing
    capture: Capture
    budgets: Budgets
    gates: Gates
    model_settings: dict[str, Any] = Field(default_factory=dict, alias="model_config")
    weights: dict[str, Any] = Field(default_factory=dict)
    prompts: dict[str, Any] = Field(default_factory=dict)

    model_config = ConfigDict(
        # Only the TOML name validates: the Python attribute name (model_settings,
        # since pydantic reserves model_config) is not a table of §2.
        extra="forbid", frozen=True, strict=True, allow_inf_nan=False,
        validate_by_alias=True, validate_by_name=False,
        title="model_policy.toml", protected_namespaces=(),
    )

    def blocks(self) -> dict[str, Any]:
        """The policy blocks as they go into a snapshot (JSON values only)."""
        return self.model_dump(mode="json", by_alias=True)


# ---- validation -----------------------------------------------------------------
# The pydantic path below is the oracle of tests/test_checks.py; the tool itself
# validates with checks.check_document.


def _known_fields(model: type[BaseModel]) -> list[str]:
    return [field.alias or name for name, field in model.model_fields.items()]


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model class whose fields live at ``loc`` (for "did you mean")."""
    model: type[BaseModel] = Policy
    for part in loc:
        fields = {f.alias or n: f for n, f in model.model_fields.items()}
        field = fields.get(str(part))
        if field is None or not isinstance(field.annotation, type) or not issubclass(field.annotation, BaseModel):
            return None
        model = field.annotation
    return model


def _issue_from_error(error: Any, file: str, lines: LineLookup) -> PolicyIssue:
    loc = tuple(error["loc"])
    # pydantic puts a model_validator's error at the model's location; strip the
    # "function-after" tag pieces it may add.
    loc = tuple(part for part in loc if not (isinstance(part, str) and part.startswith("function-")))
    kind = error["type"]
    if kind == "extra_forbidden":
        parent = _model_at(loc[:-1])
        message = unknown_key_message(str(loc[-1]), _known_fields(parent) if parent is not None else [])
    elif kind == "missing":
        message = "required key is missing"
    elif kind == "too_short":
        message = f"expected at least {error['ctx']['min_length']} entry, got none"
    elif kind.endswith("_type") or kind in (
        "literal_error", "enum", "greater_than", "greater_than_equal", "less_than",
        "less_than_equal", "finite_number",
    ):
        message = f"expected {error['msg'].removeprefix('Input should be ')}, got {describe_input(error.get('input'))}"
    else:
        message = error["msg"].removeprefix("Value error, ")
    return PolicyIssue(file, lines.line_of(loc), dotted_key(loc), message)


def pydantic_issues(document: dict[str, Any], lines: LineLookup, file: str) -> list[PolicyIssue]:
    """Every issue of ``document`` as the pydantic models see it, in line order (the oracle)."""
    issues = free_form_issues(document, lines, file)
    try:
        Policy.model_validate(document)
    except ValidationError as e:
        issues.extend(_issue_from_error(err, file, lines) for err in e.errors())
    return sort_issues(issues)


def validate_document(document: dict[str, Any], lines: LineLookup, file: str) -> Policy:
    """Validate a parsed TOML document against §2; raise PolicyInvalid with every issue.

    The issues are those of ``checks.check_document`` (what the hooks report);
    a document it accepts becomes the pydantic model."""
    check_document(document, lines, file)
    try:
        return Policy.model_validate(document)
    except ValidationError as e:  # the two disagree: a bug that tests/test_checks.py exists to catch
        raise PolicyInvalid(pydantic_issues(document, lines, file)) from e


def load_policy(data: bytes, file: str) -> Policy:
    document, lines = parse_toml(data, file)
    return validate_document(document, lines, file)


FLOAT_MAX = 1.7976931348623157e308


def json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of ``model_policy.toml``, for editors.

    pydantic derives types, ranges and required keys from the models; the rules
    that live in validators are added here where JSON Schema can say them. One
    cannot be said (``warn_threshold <= hard_limit`` compares two values): it is
    in the description, and ``validate`` checks it.
    """
    schema = Policy.model_json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://speckit-git-policy.invalid/schema/model_policy.json"
    defs = schema["$defs"]
    non_blank = {"type": "string", "pattern": "\\S"}
    defs["Routing"]["properties"]["cloud"]["additionalProperties"] = {
        "type": "array", "items": non_blank, "minItems": 1, "uniqueItems": True,
        "description": "Candidate model ids for the role, in order of preference.",
    }
    reflex = defs["Reflex"]
    reflex["properties"]["endpoint"] = {"type": "string", "pattern": "^https?://[^/?#\\s]+"}
    reflex["properties"]["model"] = non_blank
    reflex["if"] = {"properties": {"enabled": {"const": True}}, "required": ["enabled"]}
    reflex["then"] = {"required": ["endpoint", "model"]}
    defs["Cost"]["description"] = "warn_threshold must be <= hard_limit."
    integer = {"type": "integer", "minimum": -JSON_SAFE_INT, "maximum": JSON_SAFE_INT}
    defs["Budgets"]["properties"]["tokens"]["additionalProperties"]["maximum"] = JSON_SAFE_INT
    defs["LocalMemorySunset"]["properties"]["stability_days"]["maximum"] = JSON_SAFE_INT
    for name, key in (("Cost", "warn_threshold"), ("Cost", "hard_limit"),
                      ("ReflexPromotion", "p95_latency_ms")):
        defs[name]["properties"][key]["maximum"] = FLOAT_MAX  # refuses TOML's inf
    # Free-form tables: any value JSON carries exactly (no date-times, no integer
    # beyond +-(2^53 - 1), no NaN or infinity).
    defs["JsonValue"] = {"anyOf": [
        {"type": "string"}, {"type": "boolean"}, integer,
        {"type": "number", "not": {"type": "integer"}, "minimum": -FLOAT_MAX, "maximum": FLOAT_MAX},
        {"type": "array", "items": {"$ref": "#/$defs/JsonValue"}},
        {"type": "object", "additionalProperties": {"$ref": "#/$defs/JsonValue"}},
    ]}
    for table in FREE_FORM_TABLES:
        schema["properties"][table]["additionalProperties"] = {"$ref": "#/$defs/JsonValue"}
    return schema
