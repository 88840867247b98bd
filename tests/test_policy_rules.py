"""The policy's rules as a table of hand-written documents and what must become of them.

Each case edits lines of ``BASE`` (a line replaced by another, or emptied, so that
line numbers stay put) and says the outcome: accepted, or rejected at exactly these
(dotted key, line) pairs. The table runs against the hook-path checker alone
(``check_policy_bytes``: no pydantic, no fallback) and, separately, against the
pydantic models alone, so neither implementation is the other's oracle. Messages
are not compared here: behaviour is.

``test_the_table_kills_each_mutant`` weakens the schema the checker reads, one rule
at a time, and requires the table to notice each time.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from speckit_git_policy.errors import PolicyInvalid
from speckit_git_policy.policy import checker
from speckit_git_policy.policy.checker import check_policy_bytes
from speckit_git_policy.policy.model import Policy

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

FILE = "model_policy.toml"
BASE_LINES = [
    "# the rule table's policy",                 # 1
    "[routing.cloud]",                            # 2
    'architect = ["claude-sonnet-4", "gpt-4o"]',  # 3
    'judge = ["claude-sonnet-4"]',                # 4
    "# spare line in routing.cloud",              # 5
    "[routing.reflex]",                           # 6
    "enabled = false",                            # 7
    'endpoint = "http://127.0.0.1:3009/v1"',      # 8
    'model = "qwen2.5-coder"',                    # 9
    "# spare line in routing.reflex",             # 10
    "[capture]",                                  # 11
    'mode = "prompts_only"',                      # 12
    "store_embeddings = true",                    # 13
    "[budgets.tokens]",                           # 14
    "plan = 8000",                                # 15
    "implement = 6000",                           # 16
    "[budgets.cost]",                             # 17
    "warn_threshold = 5.0",                       # 18
    "hard_limit = 25.0",                          # 19
    "[gates.reflex_promotion]",                   # 20
    "p95_latency_ms = 2000",                      # 21
    "success_parity_percent = 85",                # 22
    "[gates.local_memory_sunset]",                # 23
    "retrieval_p95_parity = true",                # 24
    "stability_days = 30",                        # 25
    "[model_config]",                             # 26
    "temperature = 0.2",                          # 27
    "max_output_tokens = 4096",                   # 28
    "[weights]",                                  # 29
    "judge_agreement = 0.6",                      # 30
    "[prompts]",                                  # 31
    'judge_system = "Answer PASS or FAIL."',      # 32
]
ACCEPTED: list[tuple[str, int]] = []


def document(edits: dict[int, str]) -> str:
    lines = list(BASE_LINES)
    for number, text in edits.items():
        lines[number - 1] = text
    return "\n".join(lines) + "\n"


# (name, edits by line number, expected (dotted key, line) of every issue; [] = accepted)
CASES: list[tuple[str, dict[int, str], list[tuple[str, int]]]] = [
    ("the base document", {}, ACCEPTED),
    # routing.cloud
    ("no role at all", {3: "", 4: ""}, [("routing.cloud", 2)]),
    ("routing without its cloud table", {2: "[routing]", 3: "", 4: ""}, [("routing.cloud", 2)]),
    ("another role", {5: 'reviewer = ["m1"]'}, ACCEPTED),
    ("an empty list of candidates", {4: "judge = []"}, [("routing.cloud.judge", 4)]),
    ("candidates not a list", {4: 'judge = "claude-sonnet-4"'}, [("routing.cloud.judge", 4)]),
    ("a blank model id", {4: 'judge = ["a", "  "]'}, [("routing.cloud.judge[1]", 4)]),
    ("an empty model id", {4: 'judge = [""]'}, [("routing.cloud.judge[0]", 4)]),
    ("a model id of no-break spaces", {4: 'judge = ["\\u00a0\\u3000"]'}, [("routing.cloud.judge[0]", 4)]),
    ("a model id with inner spaces", {4: 'judge = ["my model"]'}, ACCEPTED),
    ("a model id with ESC", {4: 'judge = ["x\\u001b[2J"]'}, [("routing.cloud.judge[0]", 4)]),
    ("a model id with BEL", {4: 'judge = ["x\\u0007"]'}, [("routing.cloud.judge[0]", 4)]),
    ("a model id with a newline", {4: 'judge = ["x\\ny"]'}, [("routing.cloud.judge[0]", 4)]),
    ("a model id ending in a newline", {4: 'judge = ["x\\n"]'}, [("routing.cloud.judge[0]", 4)]),
    ("a model id with a tab", {4: 'judge = ["x\\ty"]'}, [("routing.cloud.judge[0]", 4)]),
    ("a model id with DEL", {4: 'judge = ["x\\u007f"]'}, [("routing.cloud.judge[0]", 4)]),
    ("a model id with CSI (C1)", {4: 'judge = ["ok", "x\\u009b2J"]'}, [("routing.cloud.judge[1]", 4)]),
    ("a model id with NEL (C1)", {4: 'judge = ["x\\u0085"]'}, [("routing.cloud.judge[0]", 4)]),
    ("a model id with a line separator", {4: 'judge = ["x\\u2028y"]'}, [("routing.cloud.judge[0]", 4)]),
    ("a model id with a paragraph separator", {4: 'judge = ["x\\u2029"]'}, [("routing.cloud.judge[0]", 4)]),
    ("a model id that is not a string", {4: "judge = [7]"}, [("routing.cloud.judge[0]", 4)]),
    ("a duplicate model id", {4: 'judge = ["m", "x", "m"]'}, [("routing.cloud.judge", 4)]),
    ("non-ASCII model ids", {4: 'judge = ["café-ünï", "模型"]'}, ACCEPTED),
    # routing.reflex
    ("reflex enabled", {7: "enabled = true"}, ACCEPTED),
    ("reflex enabled without endpoint", {7: "enabled = true", 8: ""}, [("routing.reflex", 6)]),
    ("reflex enabled without model", {7: "enabled = true", 9: ""}, [("routing.reflex", 6)]),
    ("reflex enabled without either", {7: "enabled = true", 8: "", 9: ""}, [("routing.reflex", 6)]),
    ("reflex disabled without either", {8: "", 9: ""}, ACCEPTED),
    ("reflex table absent", {6: "", 7: "", 8: "", 9: ""}, ACCEPTED),
    ("reflex enabled not a boolean", {7: "enabled = 1"}, [("routing.reflex.enabled", 7)]),
    ("reflex endpoint ftp", {8: 'endpoint = "ftp://127.0.0.1/v1"'}, [("routing.reflex.endpoint", 8)]),
    ("reflex endpoint without a scheme", {8: 'endpoint = "127.0.0.1:3009"'}, [("routing.reflex.endpoint", 8)]),
    ("reflex endpoint without a host", {8: 'endpoint = "https://"'}, [("routing.reflex.endpoint", 8)]),
    ("reflex endpoint with a path and no host", {8: 'endpoint = "http:///v1"'}, [("routing.reflex.endpoint", 8)]),
    ("reflex endpoint with a space for a host", {8: 'endpoint = "http:// h"'}, [("routing.reflex.endpoint", 8)]),
    ("reflex endpoint after a space", {8: 'endpoint = " http://h"'}, [("routing.reflex.endpoint", 8)]),
    ("reflex endpoint https", {8: 'endpoint = "https://reflex.example/v1"'}, ACCEPTED),
    ("reflex endpoint with a newline", {8: 'endpoint = "http://h/v1\\nforged: ok"'}, [("routing.reflex.endpoint", 8)]),
    ("reflex endpoint with CSI (C1)", {8: 'endpoint = "http://h\\u009b2J"'}, [("routing.reflex.endpoint", 8)]),
    ("reflex endpoint with a control character for a host", {8: 'endpoint = "http://\\u001ch"'},
     [("routing.reflex.endpoint", 8)]),
    ("reflex endpoint in capitals", {8: 'endpoint = "HTTP://REFLEX.EXAMPLE"'}, ACCEPTED),
    ("reflex endpoint not a string", {8: "endpoint = 3009"}, [("routing.reflex.endpoint", 8)]),
    ("reflex model blank", {9: 'model = " "'}, [("routing.reflex.model", 9)]),
    ("reflex model with ESC", {9: 'model = "q\\u001b]0;t\\u0007"'}, [("routing.reflex.model", 9)]),
    ("reflex model with CSI (C1)", {9: 'model = "q\\u009b"'}, [("routing.reflex.model", 9)]),
    ("an unknown reflex key", {10: 'url = "http://h"'}, [("routing.reflex.url", 10)]),
    # capture
    ("capture mode missing", {12: ""}, [("capture.mode", 11)]),
    ("capture mode unknown", {12: 'mode = "everything"'}, [("capture.mode", 12)]),
    ("capture mode not a string", {12: "mode = 1"}, [("capture.mode", 12)]),
    ("capture mode none", {12: 'mode = "none"'}, ACCEPTED),
    ("capture mode full_io", {12: 'mode = "full_io"'}, ACCEPTED),
    ("store_embeddings absent", {13: ""}, ACCEPTED),
    ("store_embeddings not a boolean", {13: 'store_embeddings = "yes"'}, [("capture.store_embeddings", 13)]),
    ("a misspelt capture key", {13: "store_embedings = true"}, [("capture.store_embedings", 13)]),
    # budgets
    ("tokens zero", {15: "plan = 0"}, [("budgets.tokens.plan", 15)]),
    ("tokens one", {15: "plan = 1"}, ACCEPTED),
    ("tokens negative", {15: "plan = -1"}, [("budgets.tokens.plan", 15)]),
    ("tokens a float", {15: "plan = 8000.0"}, [("budgets.tokens.plan", 15)]),
    ("tokens a boolean", {15: "plan = true"}, [("budgets.tokens.plan", 15)]),
    ("tokens at 2^53 - 1", {15: f"plan = {2**53 - 1}"}, ACCEPTED),
    ("tokens at 2^53", {15: f"plan = {2**53}"}, [("budgets.tokens.plan", 15)]),
    ("no token budgets", {15: "", 16: ""}, ACCEPTED),
    ("cost warn above hard", {18: "warn_threshold = 30"}, [("budgets.cost", 17)]),
    ("cost warn equal to hard", {18: "warn_threshold = 25"}, ACCEPTED),
    ("cost zero", {18: "warn_threshold = 0", 19: "hard_limit = 0"}, ACCEPTED),
    ("cost negative", {18: "warn_threshold = -0.5"}, [("budgets.cost.warn_threshold", 18)]),
    ("cost missing", {19: ""}, [("budgets.cost.hard_limit", 17)]),
    ("cost not a number", {19: 'hard_limit = "25"'}, [("budgets.cost.hard_limit", 19)]),
    ("cost a boolean", {19: "hard_limit = true"}, [("budgets.cost.hard_limit", 19)]),
    ("cost nan", {19: "hard_limit = nan"}, [("budgets.cost.hard_limit", 19)]),
    ("cost infinite", {19: "hard_limit = inf"}, [("budgets.cost.hard_limit", 19)]),
    ("cost beyond a double", {19: f"hard_limit = {10**400}"}, [("budgets.cost.hard_limit", 19)]),
    ("cost an integer beyond 2^53", {19: f"hard_limit = {2**60}"}, ACCEPTED),
    # gates
    ("p95 zero", {21: "p95_latency_ms = 0"}, [("gates.reflex_promotion.p95_latency_ms", 21)]),
    ("p95 zero as a float", {21: "p95_latency_ms = 0.0"}, [("gates.reflex_promotion.p95_latency_ms", 21)]),
    ("p95 negative", {21: "p95_latency_ms = -5"}, [("gates.reflex_promotion.p95_latency_ms", 21)]),
    ("p95 tiny", {21: "p95_latency_ms = 1e-9"}, ACCEPTED),
    ("p95 infinite", {21: "p95_latency_ms = inf"}, [("gates.reflex_promotion.p95_latency_ms", 21)]),
    ("p95 missing", {21: ""}, [("gates.reflex_promotion.p95_latency_ms", 20)]),
    ("parity 0", {22: "success_parity_percent = 0"}, ACCEPTED),
    ("parity 100", {22: "success_parity_percent = 100"}, ACCEPTED),
    ("parity above 100", {22: "success_parity_percent = 100.5"},
     [("gates.reflex_promotion.success_parity_percent", 22)]),
    ("parity below 0", {22: "success_parity_percent = -1"},
     [("gates.reflex_promotion.success_parity_percent", 22)]),
    ("retrieval parity not a boolean", {24: "retrieval_p95_parity = 1"},
     [("gates.local_memory_sunset.retrieval_p95_parity", 24)]),
    ("stability_days zero", {25: "stability_days = 0"}, ACCEPTED),
    ("stability_days negative", {25: "stability_days = -1"}, [("gates.local_memory_sunset.stability_days", 25)]),
    ("stability_days a float", {25: "stability_days = 1.5"}, [("gates.local_memory_sunset.stability_days", 25)]),
    # free-form tables
    ("model_config nested tables and arrays", {28: 'nested = {list = [1, 2.5, "x", true, {a = []}]}'}, ACCEPTED),
    ("model_config a date-time", {27: "temperature = 1979-05-27T07:32:00Z"}, [("model_config.temperature", 27)]),
    ("weights a local date", {30: "judge_agreement = 1979-05-27"}, [("weights.judge_agreement", 30)]),
    ("prompts a time in an array", {32: "judge_system = [07:32:00]"}, [("prompts.judge_system[0]", 32)]),
    ("model_config an integer beyond 2^53", {28: f"max_output_tokens = {2**53}"},
     [("model_config.max_output_tokens", 28)]),
    ("model_config nan", {27: "temperature = nan"}, [("model_config.temperature", 27)]),
    ("weights -inf in a table", {30: "judge_agreement = {low = -inf}"}, [("weights.judge_agreement.low", 30)]),
    ("model_config not a table", {1: "model_config = 1", 26: "", 27: "", 28: ""}, [("model_config", 1)]),
    # the document
    ("a required table missing", {11: "", 12: "", 13: ""}, [("capture", 0)]),
    ("an unknown table", {29: "[weight]"}, [("weight", 29)]),
    ("the Python name of model_config", {26: "[model_settings]"}, [("model_settings", 26)]),
    ("a top-level scalar", {1: "version = 2"}, [("version", 1)]),
    ("several issues at once", {4: "judge = []", 15: "plan = 0", 25: "stability_days = -1"},
     [("routing.cloud.judge", 4), ("budgets.tokens.plan", 15), ("gates.local_memory_sunset.stability_days", 25)]),
]
IDS = [case[0] for case in CASES]


def checker_outcome(text: str) -> list[tuple[str, int]]:
    try:
        check_policy_bytes(text.encode(), FILE)
    except PolicyInvalid as e:
        assert all(issue.file == FILE and issue.message for issue in e.issues)
        return [(issue.key, issue.line or 0) for issue in e.issues]
    return ACCEPTED


def pydantic_keys(text: str) -> set[str]:
    try:
        Policy.model_validate(tomllib.loads(text))
    except ValidationError as e:
        return {"".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"]
                        if not (isinstance(p, str) and p.startswith("function-"))).lstrip(".")
                for error in e.errors()}
    return set()


@pytest.mark.parametrize("name,edits,expected", CASES, ids=IDS)
def test_the_checker_alone(name: str, edits: dict[int, str], expected: list[tuple[str, int]]) -> None:
    assert sorted(checker_outcome(document(edits))) == sorted(expected)


@pytest.mark.parametrize("name,edits,expected", CASES, ids=IDS)
def test_the_pydantic_models_alone(name: str, edits: dict[int, str], expected: list[tuple[str, int]]) -> None:
    assert pydantic_keys(document(edits)) == {key for key, _line in expected}


def test_the_base_blocks_are_normalized() -> None:
    blocks = check_policy_bytes(document({8: "", 9: "", 13: ""}).encode(), FILE)
    assert blocks["routing"]["reflex"] == {"enabled": False, "endpoint": None, "model": None}
    assert blocks["capture"] == {"mode": "prompts_only", "store_embeddings": False}
    assert blocks["gates"]["reflex_promotion"] == {"p95_latency_ms": 2000.0, "success_parity_percent": 85.0}
    assert isinstance(blocks["gates"]["reflex_promotion"]["p95_latency_ms"], float)
    assert isinstance(blocks["gates"]["local_memory_sunset"]["stability_days"], int)
    assert blocks["model_config"] == {"temperature": 0.2, "max_output_tokens": 4096}
    assert isinstance(blocks["model_config"]["max_output_tokens"], int)  # free-form values stay as written
    no_free_form = check_policy_bytes(document({n: "" for n in range(26, 33)}).encode(), FILE)
    assert (no_free_form["model_config"], no_free_form["weights"], no_free_form["prompts"]) == ({}, {}, {})


# ---- the table must notice a weakened checker -------------------------------------------


def _at(schema: dict[str, Any], *path: str) -> dict[str, Any]:
    node: Any = schema
    for part in path:
        node = node[int(part)] if isinstance(node, list) else node[part]
    result: dict[str, Any] = node
    return result


def _drop(*path: str) -> Callable[[dict[str, Any]], None]:
    def mutate(schema: dict[str, Any]) -> None:
        del _at(schema, *path[:-1])[path[-1]]

    return mutate


def _unrequire(definition: str, key: str) -> Callable[[dict[str, Any]], None]:
    def mutate(schema: dict[str, Any]) -> None:
        _at(schema, "$defs", definition, "required").remove(key)

    return mutate


MUTANTS: dict[str, Callable[[dict[str, Any]], None]] = {
    "p95_latency_ms > 0 dropped": _drop("$defs", "ReflexPromotion", "properties", "p95_latency_ms",
                                        "exclusiveMinimum"),
    "capture.mode no longer required": _unrequire("Capture", "mode"),
    "[routing.cloud] may be empty": _drop("$defs", "Routing", "properties", "cloud", "minProperties"),
    "the reflex endpoint need not be http(s)": _drop("$defs", "Reflex", "properties", "endpoint", "anyOf", "0",
                                                     "pattern"),
    "candidate lists may be empty": _drop("$defs", "Routing", "properties", "cloud", "additionalProperties",
                                          "minItems"),
    "candidates may repeat": _drop("$defs", "Routing", "properties", "cloud", "additionalProperties",
                                   "uniqueItems"),
    "model ids may be blank": _drop("$defs", "ModelId", "pattern"),
    "model ids may hold control characters": _drop("$defs", "ModelId", "allOf"),
    "reflex needs nothing when enabled": _drop("$defs", "Reflex", "then"),
    "the reflex endpoint may hold control characters": _drop("$defs", "Reflex", "properties", "endpoint", "anyOf",
                                                             "0", "allOf"),
    "tokens may be zero": _drop("$defs", "Budgets", "properties", "tokens", "additionalProperties",
                                "exclusiveMinimum"),
    "tokens beyond 2^53": _drop("$defs", "Budgets", "properties", "tokens", "additionalProperties", "maximum"),
    "cost may be negative": _drop("$defs", "Cost", "properties", "warn_threshold", "minimum"),
    "parity above 100": _drop("$defs", "ReflexPromotion", "properties", "success_parity_percent", "maximum"),
    "parity below 0": _drop("$defs", "ReflexPromotion", "properties", "success_parity_percent", "minimum"),
    "stability_days may be negative": _drop("$defs", "LocalMemorySunset", "properties", "stability_days",
                                            "minimum"),
    "any capture mode": _drop("$defs", "Capture", "properties", "mode", "enum"),
    "unknown keys allowed": _drop("$defs", "Capture", "additionalProperties"),
    "unknown tables allowed": _drop("additionalProperties"),
    "the tables not required": _drop("required"),
    "store_embeddings any type": _drop("$defs", "Capture", "properties", "store_embeddings", "type"),
}


@pytest.mark.parametrize("mutant", list(MUTANTS))
def test_the_table_kills_each_mutant(monkeypatch: pytest.MonkeyPatch, mutant: str) -> None:
    schema = copy.deepcopy(checker.load_schema())
    MUTANTS[mutant](schema)
    monkeypatch.setattr(checker, "_loaded", schema)
    assert not _table_passes(), f"the rule table does not notice: {mutant}"


def _table_passes() -> bool:
    return all(sorted(checker_outcome(document(edits))) == sorted(expected) for _name, edits, expected in CASES)


# The rules that are code rather than schema data, and the interpreter's own keywords.
CODE_MUTANTS: dict[str, tuple[str, Any]] = {
    "warn <= hard not checked": ("CROSS_FIELD", {}),
    "free-form values not checked": ("CODE_CHECKED", {"JsonValue": lambda value, loc, errors: value}),
    "exclusiveMinimum ignored": ("RANGES", tuple(r for r in checker.RANGES if r[0] != "exclusiveMinimum")),
    "minimum ignored": ("RANGES", tuple(r for r in checker.RANGES if r[0] != "minimum")),
    "maximum ignored": ("RANGES", tuple(r for r in checker.RANGES if r[0] != "maximum")),
}


@pytest.mark.parametrize("mutant", list(CODE_MUTANTS))
def test_the_table_kills_each_code_mutant(monkeypatch: pytest.MonkeyPatch, mutant: str) -> None:
    name, value = CODE_MUTANTS[mutant]
    monkeypatch.setattr(checker, name, value)
    assert not _table_passes(), f"the rule table does not notice: {mutant}"
