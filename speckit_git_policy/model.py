"""The pydantic models of ``model_policy.toml`` (SPEC §2), and validation whose
errors name the file, the line, the dotted key and what was expected."""

from __future__ import annotations

import datetime
import difflib
import math
import sys
from typing import Annotated, Any, Literal
from urllib.parse import urlparse

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

from .errors import PolicyInvalid, PolicyIssue
from .tomlpos import KeyLines

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# RFC 8785 (and every JSON reader that uses doubles) carries integers exactly up to
# 2^53 - 1; 2^53 itself is already ambiguous (2^53 + 1 reads back as 2^53).
JSON_SAFE_INT = 2**53 - 1
CAPTURE_MODES = ("none", "prompts_only", "full_io")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class Reflex(_Strict):
    enabled: StrictBool = False
    endpoint: str | None = None
    model: str | None = None

    @field_validator("endpoint")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return value
        parsed = urlparse(value)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError("expected an http:// or https:// URL")
        return value

    @field_validator("model")
    @classmethod
    def _non_empty(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("expected a non-empty model id")
        return value

    @model_validator(mode="after")
    def _required_when_enabled(self) -> Reflex:
        if self.enabled:
            missing = [name for name in ("endpoint", "model") if getattr(self, name) is None]
            if missing:
                raise ValueError(f"{' and '.join(missing)} required when enabled = true")
        return self


def _check_candidates(models: list[str]) -> list[str]:
    if not models:
        raise ValueError("expected a non-empty list of model ids")
    if any(not model.strip() for model in models):
        raise ValueError("model ids must be non-empty strings")
    duplicates = sorted({m for m in models if models.count(m) > 1})
    if duplicates:
        raise ValueError(f"duplicate model id {duplicates[0]!r}")
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
        if self.warn_threshold > self.hard_limit:
            raise ValueError(
                f"warn_threshold ({self.warn_threshold}) must be <= hard_limit ({self.hard_limit})"
            )
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
        extra="forbid", frozen=True, strict=True, allow_inf_nan=False, populate_by_name=True,
        title="model_policy.toml", protected_namespaces=(),
    )

    def blocks(self) -> dict[str, Any]:
        """The policy blocks as they go into a snapshot (JSON values only)."""
        return self.model_dump(mode="json", by_alias=True)


POLICY_BLOCKS = ("routing", "capture", "budgets", "gates", "model_config", "weights", "prompts")
FREE_FORM_TABLES = ("model_config", "weights", "prompts")


# ---- validation -----------------------------------------------------------------


def _json_exact_issues(value: Any, key: str) -> list[tuple[str, str]]:
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
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return [(key, "TOML date/time values cannot be carried in JSON; quote it as a string")]
    if isinstance(value, list):
        return [issue for i, item in enumerate(value) for issue in _json_exact_issues(item, f"{key}[{i}]")]
    if isinstance(value, dict):
        return [issue for k, v in value.items() for issue in _json_exact_issues(v, f"{key}.{k}")]
    return [(key, f"unsupported value of type {type(value).__name__}")]


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


def _describe_input(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return "a table" if isinstance(value, dict) else "an array"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _issue_from_error(error: Any, file: str, lines: KeyLines) -> PolicyIssue:
    loc = tuple(error["loc"])
    # pydantic puts a model_validator's error at the model's location; strip the
    # "function-after" tag pieces it may add.
    loc = tuple(part for part in loc if not (isinstance(part, str) and part.startswith("function-")))
    dotted = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in loc).replace(".[", "[")
    kind = error["type"]
    if kind == "extra_forbidden":
        parent = _model_at(loc[:-1])
        hint = ""
        if parent is not None:
            close = difflib.get_close_matches(str(loc[-1]), _known_fields(parent), n=1, cutoff=0.6)
            if close:
                hint = f"; did you mean {close[0]!r}?"
        message = "unknown key" + hint
    elif kind == "missing":
        message = "required key is missing"
    elif kind == "too_short":
        message = f"expected at least {error['ctx']['min_length']} entry, got none"
    elif kind.endswith("_type") or kind in (
        "literal_error", "enum", "greater_than", "greater_than_equal", "less_than",
        "less_than_equal", "finite_number",
    ):
        message = f"expected {error['msg'].removeprefix('Input should be ')}, got {_describe_input(error.get('input'))}"
    else:
        message = error["msg"].removeprefix("Value error, ")
    return PolicyIssue(file, lines.line_of(loc), dotted, message)


def parse_toml(data: bytes, file: str) -> tuple[dict[str, Any], KeyLines]:
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
    return document, KeyLines(text)


def validate_document(document: dict[str, Any], lines: KeyLines, file: str) -> Policy:
    """Validate a parsed TOML document against §2; raise PolicyInvalid with every issue."""
    issues: list[PolicyIssue] = []
    for table in FREE_FORM_TABLES:
        if table in document:
            for key, message in _json_exact_issues(document[table], table):
                issues.append(PolicyIssue(file, lines.line_of_dotted(key), key, message))
    try:
        policy = Policy.model_validate(document)
    except ValidationError as e:
        issues.extend(_issue_from_error(err, file, lines) for err in e.errors())
        policy = None
    if issues or policy is None:
        issues.sort(key=lambda issue: (issue.line or 0, issue.key))
        raise PolicyInvalid(issues)
    return policy


def load_policy(data: bytes, file: str) -> Policy:
    document, lines = parse_toml(data, file)
    return validate_document(document, lines, file)


def json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of ``model_policy.toml``, for editors."""
    schema = Policy.model_json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://speckit-git-policy.invalid/schema/model_policy.json"
    return schema
